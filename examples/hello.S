# A static x86-64 Linux program that prints a greeting: the entrypoint of the
# examples/hello image. Built with: gcc -nostdlib -static -s -Wl,-n,--build-id=none -o examples/hello/hello examples/hello.S
.globl _start
.text
_start:
  mov $1, %eax
  mov $1, %edi
  lea msg(%rip), %rsi
  mov $len, %edx
  syscall
  mov $60, %eax
  xor %edi, %edi
  syscall
.section .rodata
msg: .ascii "Hello from ocistream!\n"
len = . - msg
