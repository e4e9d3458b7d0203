import assert from "node:assert/strict";
import { memoryEntries } from "../../src/sources/memory_source.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import { collect, sha256, tarOk } from "../fixtures/tar_tools.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SITE = {
  "index.html": "<h1>hello</h1>\n",
  "a-b.txt": "dash sorts before slash\n",
  "a/b.txt": "inside a\n",
  "css/site.css": "h1 { color: red }\n",
  "img/dot.bin": new Uint8Array([0, 1, 2, 255]),
  "ünïcode.txt": "utf-8 name\n",
};

Deno.test("memoryEntries() sorts depth first by UTF-8 bytes and implies parent folders", async () => {
  const got = (await Array.fromAsync(memoryEntries(SITE))).map((e) => `${e.type} ${e.path}`);
  assert.deepEqual(got, [
    "directory a",
    "file a/b.txt",
    "file a-b.txt",
    "directory css",
    "file css/site.css",
    "directory img",
    "file img/dot.bin",
    "file index.html",
    "file ünïcode.txt",
  ]);
});

Deno.test("memoryEntries() gives the same tar as directoryEntries() of the same tree", async () => {
  await withTemp(async (dir) => {
    for (const [path, content] of Object.entries(SITE)) {
      const file = `${dir}/${path}`;
      await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(
        file,
        typeof content === "string" ? new TextEncoder().encode(content) : content,
      );
      await Deno.chmod(file, 0o644);
      await Deno.utime(file, 1700000000, 1700000000);
    }
    for (const d of ["a", "css", "img"]) {
      await Deno.chmod(`${dir}/${d}`, 0o755);
      await Deno.utime(`${dir}/${d}`, 1700000000, 1700000000);
    }
    const fromDisk = await collect(
      directoryEntries(denoFileSystem, dir).pipeThrough(new TarStream()),
    );
    const fromMemory = await collect(
      memoryEntries(SITE, { mtime: 1700000000 }).pipeThrough(new TarStream()),
    );
    assert.equal(sha256(fromMemory), sha256(fromDisk));
  });
});

Deno.test("memoryEntries() keeps modes, mtimes, symlinks, Blobs and prefix; GNU tar agrees", async () => {
  await withTemp(async (dir) => {
    const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    const stream = memoryEntries([
      { path: "/run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755, mtime: 1600000000 },
      { path: "./data/big.bin", content: new Blob([big]) },
      { path: "data", type: "directory", mode: 0o700, mtime: 1500000000 },
      { path: "latest", type: "symlink", linkName: "run.sh" },
    ], { prefix: "/srv/www/", mtime: 1700000000 });
    const tar = await collect(stream.pipeThrough(new TarStream()));
    const listing = await tarOk(["-tvf", "-", "--numeric-owner"], tar);
    const lines = listing.trim().split("\n").map((l) => l.replace(/\s+/g, " "));
    assert.deepEqual(lines, [
      "drwxr-xr-x 0/0 0 2023-11-14 22:13 srv/",
      "drwxr-xr-x 0/0 0 2023-11-14 22:13 srv/www/",
      "drwx------ 0/0 0 2017-07-14 02:40 srv/www/data/",
      "-rw-r--r-- 0/0 200000 2023-11-14 22:13 srv/www/data/big.bin",
      "lrwxrwxrwx 0/0 0 2023-11-14 22:13 srv/www/latest -> run.sh",
      "-rwxr-xr-x 0/0 18 2020-09-13 12:26 srv/www/run.sh",
    ]);
    await Deno.writeFile(`${dir}/layer.tar`, tar);
    await tarOk(["-xf", `${dir}/layer.tar`, "-C", dir]);
    assert.deepEqual(await Deno.readFile(`${dir}/srv/www/data/big.bin`), big);
    assert.equal(await Deno.readTextFile(`${dir}/srv/www/run.sh`), "#!/bin/sh\necho hi\n");
    assert.equal(await Deno.readLink(`${dir}/srv/www/latest`), "run.sh");
  });
});

Deno.test("memoryEntries() returns identical tars on every call", async () => {
  const one = await collect(memoryEntries(SITE).pipeThrough(new TarStream()));
  const two = await collect(memoryEntries(SITE).pipeThrough(new TarStream()));
  assert.deepEqual(one, two);
});

Deno.test("memoryEntries() rejects bad input before streaming, naming the path", () => {
  assert.throws(() => memoryEntries({ "../etc/passwd": "x" }), {
    name: "TypeError",
    message: /"\.\.\/etc\/passwd": it must not contain "\.\."/,
  });
  assert.throws(() => memoryEntries([{ path: "a", content: "1" }, { path: "/a", content: "2" }]), {
    name: "TypeError",
    message: /Duplicate path "a"/,
  });
  assert.throws(() => memoryEntries({ "a": "file", "a/b": "inside a file" }), {
    name: "TypeError",
    message: /"a" is a file, not a folder/,
  });
  assert.throws(() => memoryEntries({ "a/b": "x", "a": "file over folder" }), {
    name: "TypeError",
    message: /other files are inside "a"/,
  });
  assert.throws(() => memoryEntries([{ path: "l", type: "symlink" }]), {
    name: "TypeError",
    message: /Invalid symlink "l"/,
  });
  assert.throws(() => memoryEntries([{ path: "f", content: "x", mode: 0o10000 }]), {
    name: "RangeError",
    message: /Invalid mode 4096 for "f"/,
  });
  assert.throws(() => memoryEntries({ "/": "root" }), { name: "TypeError", message: /layer root/ });
});
