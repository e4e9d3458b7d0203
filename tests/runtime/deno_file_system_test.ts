import assert from "node:assert/strict";
import { assertRoot } from "../_harness/root.ts";
import { denoFileSystem as fs } from "../../src/runtime/deno_file_system.ts";
import { joinDevice, splitDevice } from "../../src/stages/_tar_device.ts";
import { AlreadyExistsError, NotFoundError } from "../../src/types/file_system.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DenoFileSystem.lstat() reports type, mode, links and inode", async () => {
  await withTemp(async (dir) => {
    await fs.writeFile(`${dir}/f`, new TextEncoder().encode("abc"), { mode: 0o640 });
    await fs.chmod(`${dir}/f`, 0o4750);
    await fs.link(`${dir}/f`, `${dir}/g`);
    await fs.symlink("f", `${dir}/l`);
    await fs.mkdir(`${dir}/d/e`, { recursive: true });
    const f = await fs.lstat(`${dir}/f`);
    const g = await fs.lstat(`${dir}/g`);
    assert.deepEqual([f.type, f.size, f.mode, f.nlink], ["file", 3, 0o4750, 2]);
    assert.deepEqual([g.dev, g.ino], [f.dev, f.ino]);
    assert.equal((await fs.lstat(`${dir}/l`)).type, "symlink");
    assert.equal((await fs.lstat(`${dir}/d`)).type, "directory");
    assert.equal(await fs.readLink(`${dir}/l`), "f");
    assert.deepEqual((await fs.readDir(dir)).sort(), ["d", "f", "g", "l"]);
    const nul = await fs.lstat("/dev/null");
    assert.equal(nul.type, "char");
    assert.deepEqual(splitDevice(nul.rdev), { major: 1, minor: 3 });
  });
});

Deno.test("DenoFileSystem.readDirInfo() lists names with the same lstat as lstat()", async () => {
  await withTemp(async (dir) => {
    await fs.writeFile(`${dir}/f`, new TextEncoder().encode("abc"));
    await fs.symlink("missing", `${dir}/l`);
    await fs.mkdir(`${dir}/d`);
    const listed = (await fs.readDirInfo(dir)).sort((a, b) => a.name < b.name ? -1 : 1);
    assert.deepEqual(listed.map((e) => e.name), ["d", "f", "l"]);
    for (const { name, info } of listed) assert.deepEqual(info, await fs.lstat(`${dir}/${name}`));
    await assert.rejects(fs.readDirInfo(`${dir}/none`), NotFoundError);
  });
});

Deno.test("DenoFileSystem maps missing and existing paths to the shared errors", async () => {
  await withTemp(async (dir) => {
    await assert.rejects(fs.lstat(`${dir}/nope`), NotFoundError);
    await assert.rejects(fs.openRead(`${dir}/nope`), NotFoundError);
    await fs.createExclusive(`${dir}/once`, new Uint8Array([1]));
    await assert.rejects(
      fs.createExclusive(`${dir}/once`, new Uint8Array([2])),
      AlreadyExistsError,
    );
    assert.deepEqual(await fs.readFile(`${dir}/once`), new Uint8Array([1]));
    await fs.remove(`${dir}/nope`); // no error when missing
  });
});

Deno.test("DenoFileSystem streams writes and reads, renames and fsyncs", async () => {
  await withTemp(async (dir) => {
    const chunks = [new Uint8Array(100_000).fill(1), new Uint8Array(5).fill(2)];
    await fs.writeFile(`${dir}/tmp`, ReadableStream.from(chunks));
    await fs.fsync(`${dir}/tmp`);
    await fs.rename(`${dir}/tmp`, `${dir}/final`);
    const back = new Uint8Array(
      await new Response(await fs.openRead(`${dir}/final`)).arrayBuffer(),
    );
    assert.equal(back.length, 100_005);
    assert.equal(back[100_004], 2);
    await fs.remove(`${dir}/final`);
    await assert.rejects(fs.lstat(`${dir}/final`), NotFoundError);
  });
});

Deno.test("DenoFileSystem.utime() and lchown() do not follow symlinks", async () => {
  await withTemp(async (dir) => {
    await fs.writeFile(`${dir}/t`, new Uint8Array(0));
    await fs.symlink("t", `${dir}/l`);
    await fs.utime(`${dir}/t`, 1000, 2000.5);
    await fs.utime(`${dir}/l`, 3000, 4000);
    assert.equal((await fs.lstat(`${dir}/t`)).mtime, 2000.5);
    assert.equal((await fs.lstat(`${dir}/l`)).mtime, 4000);
    await fs.lchown(`${dir}/l`, 1234, 5678);
    const l = await fs.lstat(`${dir}/l`);
    const t = await fs.lstat(`${dir}/t`);
    assert.deepEqual([l.uid, l.gid], [1234, 5678]);
    assert.deepEqual([t.uid, t.gid], [0, 0]);
  });
});

Deno.test("DenoFileSystem.mknod() makes fifos and (as root) devices", async () => {
  await withTemp(async (dir) => {
    await fs.mknod(`${dir}/p`, "fifo", 0o640, 0);
    const p = await fs.lstat(`${dir}/p`);
    assert.deepEqual([p.type, p.mode], ["fifo", 0o640]);
    assertRoot("making a character device");
    await fs.mknod(`${dir}/c`, "char", 0o600, joinDevice(1, 3));
    const c = await fs.lstat(`${dir}/c`);
    assert.equal(c.type, "char");
    assert.deepEqual(splitDevice(c.rdev), { major: 1, minor: 3 });
  });
});

Deno.test("splitDevice() and joinDevice() round-trip large numbers", () => {
  for (const [major, minor] of [[0, 0], [1, 3], [8, 17], [259, 1048575], [4095, 255], [65536, 7]]) {
    assert.deepEqual(splitDevice(joinDevice(major, minor)), { major, minor });
  }
});

Deno.test("DenoFileSystem.getXattrs() returns an empty record", async () => {
  assert.deepEqual(await fs.getXattrs("/"), {});
});

Deno.test("DenoFileSystem.readFile() and readInto() read whole files, small and large, and report a changed size", async () => {
  await withTemp(async (dir) => {
    for (const size of [0, 1, 4096, 70_000, 1 << 20, (1 << 20) + 1, 3 << 20]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
      await Deno.writeFile(`${dir}/f`, bytes);
      assert.deepEqual(await fs.readFile(`${dir}/f`), bytes, `readFile ${size}`);
      const target = new Uint8Array(size);
      assert.equal(await fs.readInto(`${dir}/f`, target), size);
      assert.deepEqual(target, bytes, `readInto ${size}`);
    }
    // The length returned tells a file that is not the size expected, either way.
    await Deno.writeFile(`${dir}/f`, new Uint8Array(100));
    assert.equal(await fs.readInto(`${dir}/f`, new Uint8Array(150)), 100);
    assert.equal(await fs.readInto(`${dir}/f`, new Uint8Array(60)), 100);
    await assert.rejects(fs.readInto(`${dir}/nope`, new Uint8Array(1)), NotFoundError);
    await assert.rejects(fs.readFile(`${dir}/nope`), NotFoundError);
  });
});
