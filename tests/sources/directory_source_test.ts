import assert from "node:assert/strict";
import { assertRoot } from "../_harness/root.ts";
import { directoryEntries, entryBatches } from "../../src/sources/directory_source.ts";
import { DenoFileSystem, denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { TarStream } from "../../src/stages/tar_stream.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";
import type { FileSystem } from "../../src/types/file_system.ts";
import { LONG_NAME, LONG_PATH, makeFixtureTree, UNICODE_NAME } from "../fixtures/fixture_tree.ts";
import { sha256Stream, tarOk } from "../fixtures/tar_tools.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function entries(
  root: string,
  fs: FileSystem = denoFileSystem,
  options = {},
): Promise<TarEntry[]> {
  return await Array.fromAsync(directoryEntries(fs, root, options));
}

Deno.test("directoryEntries() walks in sorted order, folders before their children", async () => {
  await withTemp(async (dir) => {
    await makeFixtureTree(dir);
    const got = (await entries(dir)).map((e) => `${e.type} ${e.path}`);
    const longParts = LONG_PATH.split("/");
    const longDirs = longParts.slice(0, -1).map((_, i) => longParts.slice(0, i + 1).join("/"));
    assert.deepEqual(got, [
      "directory dir",
      "file dir/hard-b",
      "directory dir/sub",
      "directory dir/sub/deep",
      "file dir/sub/deep/file.txt",
      "directory empty",
      "file empty.txt",
      "fifo fifo",
      "hardlink hard-a",
      `file ${UNICODE_NAME}`,
      "symlink link-abs",
      "symlink link-dangling",
      "symlink link-rel",
      ...longDirs.map((d) => `directory ${d}`),
      `file ${LONG_PATH}`,
      `file ${LONG_NAME}`,
      "file random.bin",
      "file run.sh",
      "file secret",
    ]);
  });
});

Deno.test("directoryEntries() gives a byte-identical tar whatever the creation order", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await makeFixtureTree(`${dir}/a`);
    await makeFixtureTree(`${dir}/b`, { reverse: true });
    const digest = (root: string) =>
      sha256Stream(directoryEntries(denoFileSystem, root).pipeThrough(new TarStream()));
    const [a, b] = await Promise.all([digest(`${dir}/a`), digest(`${dir}/b`)]);
    assert.equal(a, b);
    assert.equal(await digest(`${dir}/a`), a);
  });
});

Deno.test("directoryEntries() tar matches the tree according to GNU tar --compare", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/tree`);
    await makeFixtureTree(`${dir}/tree`);
    const tar = directoryEntries(denoFileSystem, `${dir}/tree`).pipeThrough(new TarStream());
    await Deno.writeFile(`${dir}/layer.tar`, tar);
    // Compares contents, modes, owners, mtimes, symlink targets and hardlinks.
    await tarOk(["--compare", "-f", `${dir}/layer.tar`, "-C", `${dir}/tree`]);
    await Deno.mkdir(`${dir}/out`);
    await tarOk(["-xf", `${dir}/layer.tar`, "-C", `${dir}/out`]);
    const a = await Deno.stat(`${dir}/out/hard-a`);
    const b = await Deno.stat(`${dir}/out/dir/hard-b`);
    assert.equal(a.ino, b.ino);
    assert.equal(await Deno.readLink(`${dir}/out/link-dangling`), "does/not/exist");
    assert.equal(await Deno.readLink(`${dir}/out/link-abs`), "/etc/hostname");
    assert.equal((await Deno.lstat(`${dir}/out/fifo`)).isFifo, true);
  });
});

Deno.test("directoryEntries() records hardlinks and symlinks without following them", async () => {
  await withTemp(async (dir) => {
    await makeFixtureTree(dir, { fifo: false });
    const byPath = new Map((await entries(dir)).map((e) => [e.path, e]));
    assert.equal(byPath.get("dir/hard-b")?.type, "file");
    assert.equal(byPath.get("dir/hard-b")?.size, 20);
    const hard = byPath.get("hard-a")!;
    assert.equal(hard.type, "hardlink");
    assert.equal(hard.linkName, "dir/hard-b");
    assert.equal(hard.open, undefined);
    assert.equal(byPath.get("link-dangling")?.linkName, "does/not/exist");
    assert.equal(byPath.get("run.sh")?.mode, 0o755);
    assert.equal(byPath.get("secret")?.mode, 0o600);
    assert.equal(byPath.get("dir")?.mode, 0o755);
    assert.equal(byPath.get("secret")?.mtime, 1700000000);
  });
});

Deno.test("directoryEntries() fails on a socket, naming it", async () => {
  await withTemp(async (dir) => {
    const listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
    try {
      await assert.rejects(
        entries(dir),
        new RegExp(`cannot add socket ${dir}/sock to a layer: remove it or exclude it`),
      );
    } finally {
      listener.close();
    }
  });
});

Deno.test("directoryEntries() names a file that cannot be read", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/locked`, "x");
    // Tests run as root, which reads chmod-000 files: inject the failure instead, once on the
    // small-file path (readInto) and once on the streaming one (a file system without it).
    const denied = () => Promise.reject(new Deno.errors.PermissionDenied("Permission denied"));
    const small = new DenoFileSystem();
    small.readInto = denied;
    const streamed: FileSystem = new DenoFileSystem();
    streamed.openRead = denied;
    streamed.readInto = undefined;
    for (const fs of [small, streamed]) {
      const tar = directoryEntries(fs, dir).pipeThrough(new TarStream());
      await assert.rejects(
        new Response(tar).arrayBuffer(),
        new RegExp(`Cannot read file ${dir}/locked for the layer: Permission denied`),
      );
    }
  });
});

Deno.test("directoryEntries() names a folder that cannot be listed, with or without readDirInfo", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/closed`);
    const denied = (p: string) =>
      p.endsWith("/closed")
        ? Promise.reject(new Deno.errors.PermissionDenied("Permission denied"))
        : undefined;
    const withInfo = new DenoFileSystem();
    const readDirInfo = withInfo.readDirInfo.bind(withInfo);
    withInfo.readDirInfo = (p) => denied(p) ?? readDirInfo(p);
    const namesOnly: FileSystem = new DenoFileSystem();
    const readDir = namesOnly.readDir.bind(namesOnly);
    namesOnly.readDir = (p) => denied(p) ?? readDir(p);
    namesOnly.readDirInfo = undefined;
    for (const fs of [withInfo, namesOnly]) {
      await assert.rejects(
        entries(dir, fs),
        new RegExp(`Cannot read folder ${dir}/closed for the layer: Permission denied`),
      );
    }
  });
});

Deno.test("directoryEntries() gives the same entries with and without readDirInfo", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/d/e`, { recursive: true });
    await Deno.writeTextFile(`${dir}/d/e/f`, "f");
    await Deno.writeTextFile(`${dir}/b`, "bb");
    await Deno.link(`${dir}/b`, `${dir}/d/h`);
    await Deno.symlink("b", `${dir}/a`);
    await Deno.writeTextFile(`${dir}/\u00e9`, "");
    const namesOnly: FileSystem = new DenoFileSystem();
    namesOnly.readDirInfo = undefined;
    const strip = (list: TarEntry[]) => list.map(({ open: _open, ...rest }) => rest);
    const listed = await entries(dir, denoFileSystem, { prefix: "app" });
    assert.deepEqual(strip(listed), strip(await entries(dir, namesOnly, { prefix: "app" })));
    assert.deepEqual(listed.map((e) => [e.path, e.type, e.linkName ?? ""]), [
      ["app", "directory", ""],
      ["app/a", "symlink", "b"],
      ["app/b", "file", ""],
      ["app/d", "directory", ""],
      ["app/d/e", "directory", ""],
      ["app/d/e/f", "file", ""],
      ["app/d/h", "hardlink", "app/b"],
      ["app/\u00e9", "file", ""],
    ]);
  });
});

Deno.test("entryBatches() takes over an unread walk, and only that", async () => {
  await withTemp(async (dir) => {
    for (let i = 0; i < 150; i++) await Deno.writeTextFile(`${dir}/f${i}`, "");
    const next = entryBatches(directoryEntries(denoFileSystem, dir))!;
    const batches: number[] = [];
    for (let batch; (batch = await next()) !== undefined;) batches.push(batch.length);
    // Batches of 64, every entry once.
    assert.deepEqual(batches, [64, 64, 22]);
    const started = directoryEntries(denoFileSystem, dir);
    const reader = started.getReader();
    await reader.read();
    reader.releaseLock();
    assert.equal(entryBatches(started), undefined);
    assert.equal(entryBatches(new ReadableStream<TarEntry>()), undefined);
    const taken = directoryEntries(denoFileSystem, dir);
    entryBatches(taken);
    assert.equal(taken.locked, true);
  });
});

Deno.test("directoryEntries() opens bodies only when the tar writer reaches them", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/a`, "a");
    await Deno.writeTextFile(`${dir}/b`, "b");
    const opened: string[] = [];
    const fs = new DenoFileSystem();
    const openRead = fs.openRead.bind(fs);
    fs.openRead = (p) => {
      opened.push(p.slice(dir.length + 1));
      return openRead(p);
    };
    const readInto = fs.readInto.bind(fs);
    fs.readInto = (p, target) => {
      opened.push(p.slice(dir.length + 1));
      return readInto(p, target);
    };
    const list = await entries(dir, fs);
    assert.deepEqual(opened, []);
    await new Response(ReadableStream.from(list).pipeThrough(new TarStream())).arrayBuffer();
    assert.deepEqual(opened, ["a", "b"]);
  });
});

Deno.test("directoryEntries() applies prefix, ownership and filter options", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/src`);
    await Deno.writeTextFile(`${dir}/src/main.ts`, "x");
    await Deno.writeTextFile(`${dir}/skip.log`, "x");
    await Deno.chown(`${dir}/src/main.ts`, 1234, 5678);
    const opts = { prefix: "/usr/src/app/", filter: (p: string) => !p.endsWith(".log") };
    const plain = await entries(dir, denoFileSystem, opts);
    assert.deepEqual(plain.map((e) => [e.path, e.uid, e.gid]), [
      ["usr", 0, 0],
      ["usr/src", 0, 0],
      ["usr/src/app", 0, 0],
      ["usr/src/app/src", 0, 0],
      ["usr/src/app/src/main.ts", 0, 0],
    ]);
    const kept = await entries(dir, denoFileSystem, { preserveOwnership: true });
    assert.deepEqual(
      kept.filter((e) => e.path === "src/main.ts").map((e) => [e.uid, e.gid]),
      [[1234, 5678]],
    );
    const forced = await entries(dir, denoFileSystem, { uid: 7, gid: 8, uname: "u", gname: "g" });
    assert.ok(
      forced.every((e) => e.uid === 7 && e.gid === 8 && e.uname === "u" && e.gname === "g"),
    );
    assert.throws(() => directoryEntries(denoFileSystem, dir, { prefix: "../x" }), TypeError);
  });
});

Deno.test("directoryEntries() keeps device nodes with their numbers", async () => {
  await withTemp(async (dir) => {
    assertRoot("making a character device");
    const made = await new Deno.Command("mknod", { args: [`${dir}/null`, "c", "1", "3"] })
      .output();
    assert.ok(made.success, `mknod failed: ${new TextDecoder().decode(made.stderr)}`);
    const [e] = await entries(dir);
    assert.deepEqual([e.type, e.devMajor, e.devMinor], ["char", 1, 3]);
    const tar = directoryEntries(denoFileSystem, dir).pipeThrough(new TarStream());
    const listing = await tarOk(
      ["-tvf", "-"],
      new Uint8Array(await new Response(tar).arrayBuffer()),
    );
    assert.match(listing, /^c.* 1,3 .* null\n$/);
  });
});

Deno.test("directoryEntries() rejects a root that is not a folder", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await assert.rejects(entries(`${dir}/f`), /not a folder/);
  });
});

Deno.test("directoryEntries() leaves out excluded paths, walking excluded folders only for exceptions", async () => {
  await withTemp(async (dir) => {
    for (const d of ["logs", "vendor/a", "vendor/b"]) {
      await Deno.mkdir(`${dir}/${d}`, { recursive: true });
    }
    for (const f of ["app.js", "x.log", "logs/1.txt", "vendor/a/keep.js", "vendor/b/drop.js"]) {
      await Deno.writeTextFile(`${dir}/${f}`, f);
    }
    const paths = async (exclude: string[]) =>
      (await entries(dir, denoFileSystem, { exclude })).map((e) => e.path);
    assert.deepEqual(await paths(["*.log", "logs"]), [
      "app.js",
      "vendor",
      "vendor/a",
      "vendor/a/keep.js",
      "vendor/b",
      "vendor/b/drop.js",
    ]);
    // vendor and vendor/a are excluded but hold an exception: written, vendor/b is not.
    assert.deepEqual(await paths(["vendor", "!vendor/a/keep.js", "logs", "*.log"]), [
      "app.js",
      "vendor",
      "vendor/a",
      "vendor/a/keep.js",
    ]);
    assert.deepEqual(await paths(["**", "!app.js"]), ["app.js"]);
    assert.throws(() => directoryEntries(denoFileSystem, dir, { exclude: ["a["] }), SyntaxError);
  });
});

Deno.test("directoryEntries() applies mode to all but symlinks, and prefixMode/prefixMtime to the prefix folders", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/d`);
    await Deno.writeTextFile(`${dir}/d/f`, "f");
    await Deno.symlink("d/f", `${dir}/l`);
    const got = await entries(dir, denoFileSystem, {
      prefix: "srv/app",
      mode: 0o640,
      prefixMode: 0o755,
      prefixMtime: 42,
    });
    assert.deepEqual(got.map((e) => [e.path, e.mode.toString(8)]), [
      ["srv", "755"],
      ["srv/app", "755"],
      ["srv/app/d", "640"],
      ["srv/app/d/f", "640"],
      ["srv/app/l", "777"],
    ]);
    assert.deepEqual(got.slice(0, 2).map((e) => e.mtime), [42, 42]);
    assert.throws(() => directoryEntries(denoFileSystem, dir, { mode: 0o10000 }), RangeError);
  });
});
