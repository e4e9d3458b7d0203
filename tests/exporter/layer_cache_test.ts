import assert from "node:assert/strict";
import { assertRoot } from "../_harness/root.ts";
import { LayerCache, type LayerCacheOptions } from "../../src/exporter/layer_cache.ts";
import { exportImage } from "../../src/exporter/export_image.ts";
import { parseOutputSpec } from "../../src/exporter/output_spec.ts";
import type { ProgressEvent } from "../../src/exporter/progress.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { memoryEntries } from "../../src/sources/memory_source.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import type { FileSystem } from "../../src/types/file_system.ts";
import type { TarEntry } from "../../src/types/tar_entry.ts";

const OLD = 1_600_000_000; // files older than the racy window
const platform = { os: "linux", architecture: "amd64" };

/** A file system counting the files opened for reading under `under`. */
function countingFs(under: string): FileSystem & { opened: string[] } {
  const opened: string[] = [];
  const fs = Object.create(denoFileSystem) as FileSystem & { opened: string[] };
  fs.opened = opened;
  fs.openRead = (path: string) => {
    if (path.startsWith(under)) opened.push(path);
    return denoFileSystem.openRead(path);
  };
  fs.readInto = (path: string, target: Uint8Array) => {
    if (path.startsWith(under)) opened.push(path);
    return denoFileSystem.readInto(path, target);
  };
  return fs;
}

async function makeTree(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/a.txt`, "hello\n");
  await Deno.writeTextFile(`${dir}/sub/b.bin`, "x".repeat(5000));
  await Deno.symlink("a.txt", `${dir}/link`);
  await Deno.link(`${dir}/a.txt`, `${dir}/sub/hard`);
  for (const f of ["a.txt", "sub/b.bin"]) await Deno.utime(`${dir}/${f}`, OLD, OLD);
}

async function withStore(
  fn: (ctx: { dir: string; store: OciLayout; events: ProgressEvent[]; notes: string[] }) => Promise<
    void
  >,
): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/ctx`;
    await makeTree(dir);
    const store = await OciLayout.open(denoFileSystem, `${root}/store`, webCodecs);
    await fn({ dir, store, events: [], notes: [] });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function build(
  fs: FileSystem,
  dir: string,
  store: OciLayout,
  options: {
    compression?: string;
    cache?: boolean;
    notes?: string[];
    sbom?: boolean;
    verify?: "stamp" | "size" | "digest";
    /** The layer's `source`; `walks` counts the calls of its `entries()`. */
    source?: string;
    walks?: { count: number };
  } = {},
) {
  const events: ProgressEvent[] = [];
  const layerCache = new LayerCache(denoFileSystem, store, webCodecs, {
    onDiscard: (_k, reason) => options.notes?.push(reason),
    verify: options.verify,
  });
  const [result] = await exportImage(
    {
      platforms: [{
        platform,
        layers: [{
          entries: () => {
            if (options.walks) options.walks.count++;
            return directoryEntries(fs, dir);
          },
          source: options.source,
        }],
      }],
      sourceDateEpoch: 0,
      cache: options.cache,
      attest: options.sbom ? { sbom: true } : undefined,
    },
    [parseOutputSpec(`type=image,name=t/x:1,compression=${options.compression ?? "gzip"}`)],
    { codecs: webCodecs, store, layerCache, onProgress: (e) => events.push(e) },
  );
  const done = events.find((e) => e.type === "layer-done") as
    | Extract<ProgressEvent, { type: "layer-done" }>
    | undefined;
  return {
    result: result!,
    cached: done?.cached === true,
    layer: result!.manifests[0]!.layers[0]!,
  };
}

Deno.test("LayerCache: re-export of an unchanged folder opens no file and gives the same image", async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store);
    assert.equal(first.cached, false);
    const fs = countingFs(dir);
    const second = await build(fs, dir, store);
    assert.equal(second.cached, true);
    assert.deepEqual(fs.opened, []);
    assert.equal(second.result.digest, first.result.digest);
    assert.deepEqual(second.layer, first.layer);
  });
});

Deno.test('LayerCache: a hit re-reads the stored blob only when its stamp changed or verify is "digest"', async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store);
    const read: string[] = [];
    const fetch = store.fetch.bind(store);
    store.fetch = (d) => {
      read.push(d.digest);
      return fetch(d);
    };
    const stamped = await build(denoFileSystem, dir, store);
    assert.equal(stamped.cached, true);
    assert.ok(!read.includes(first.layer.digest), "stamp unchanged: the blob is not hashed again");

    const checked = await build(denoFileSystem, dir, store, { verify: "digest" });
    assert.equal(checked.cached, true);
    assert.ok(read.includes(first.layer.digest), "verify=digest hashes the blob on every hit");

    // A blob file replaced in place (new inode and mtime) is re-hashed under the default.
    read.length = 0;
    const blob = store.blobPath(first.layer.digest);
    await Deno.copyFile(blob, `${blob}.copy`);
    await Deno.rename(`${blob}.copy`, blob);
    const restamped = await build(denoFileSystem, dir, store);
    assert.equal(restamped.cached, true);
    assert.ok(read.includes(first.layer.digest), "a changed stamp makes the hit verify the digest");
    assert.equal(restamped.result.digest, first.result.digest);
  });
});

Deno.test("LayerCache: a hit on a freshly stored blob writes nothing; on an older one it refreshes the blob and its stamp", async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store);
    const blob = store.blobPath(first.layer.digest);
    const [entry] = await Array.fromAsync(Deno.readDir(`${store.root}/cache/layers`));
    const entryPath = `${store.root}/cache/layers/${entry!.name}`;
    const before = await Deno.lstat(entryPath);
    const blobBefore = await Deno.lstat(blob);

    const fresh = await build(denoFileSystem, dir, store);
    assert.equal(fresh.cached, true);
    const after = await Deno.lstat(entryPath);
    assert.equal(after.ino, before.ino, "the cache entry is not rewritten");
    assert.equal((await Deno.lstat(blob)).mtime?.getTime(), blobBefore.mtime?.getTime());

    // An hour-old blob: the hit checks it (its stamp changed), refreshes its time, records it.
    await Deno.utime(blob, OLD, OLD);
    const old = await build(denoFileSystem, dir, store);
    assert.equal(old.cached, true);
    assert.equal(old.result.digest, first.result.digest);
    assert.ok((await Deno.lstat(blob)).mtime!.getTime() > Date.now() - 60_000, "blob refreshed");
    assert.notEqual((await Deno.lstat(entryPath)).ino, before.ino, "new stamp recorded");
  });
});

Deno.test("LayerCache: a source never cached is a miss without a metadata walk", async () => {
  await withStore(async ({ dir, store }) => {
    // Without a source, a miss costs two walks: the key, then the build.
    const unnamed = { count: 0 };
    await build(denoFileSystem, dir, store, { compression: "zstd", walks: unnamed });
    assert.equal(unnamed.count, 2);

    const first = { count: 0 };
    const built = await build(denoFileSystem, dir, store, { source: dir, walks: first });
    assert.equal(built.cached, false);
    assert.equal(first.count, 1, "the build's own walk only");

    // Once cached, the source is known: the key walk runs and finds the layer.
    const again = { count: 0 };
    const hit = await build(countingFs(dir), dir, store, { source: dir, walks: again });
    assert.equal(hit.cached, true);
    assert.equal(again.count, 1, "the key walk only");
    assert.equal(hit.result.digest, built.result.digest);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(`${store.root}/cache/sources`)).then((e) => e.length),
      1,
    );
  });
});

Deno.test("LayerCache: --no-cache (cache: false) rebuilds and reads the files", async () => {
  await withStore(async ({ dir, store }) => {
    await build(denoFileSystem, dir, store);
    const fs = countingFs(dir);
    const again = await build(fs, dir, store, { cache: false });
    assert.equal(again.cached, false);
    assert.equal(fs.opened.length, 2);
  });
});

Deno.test("LayerCache: a different compression or level is a miss", async () => {
  await withStore(async ({ dir, store }) => {
    const gzip = await build(denoFileSystem, dir, store);
    const zstd = await build(denoFileSystem, dir, store, { compression: "zstd" });
    assert.equal(zstd.cached, false);
    assert.notEqual(zstd.layer.digest, gzip.layer.digest);
    const level = await build(denoFileSystem, dir, store, {
      compression: "gzip,compression-level=1",
    });
    assert.equal(level.cached, false);
    assert.equal((await build(denoFileSystem, dir, store, { compression: "zstd" })).cached, true);
  });
});

Deno.test("LayerCache: SBOM inventory is kept with the entry, so a cached export attests the same files", async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store, { sbom: true });
    const second = await build(countingFs(dir), dir, store, { sbom: true });
    assert.equal(second.cached, true);
    assert.equal(second.result.digest, first.result.digest);
  });
});

Deno.test("LayerCache: a corrupt cache entry is deleted and the layer rebuilt", async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store);
    const folder = `${store.root}/cache/layers`;
    const [name] = [...Deno.readDirSync(folder)].map((e) => e.name);
    const path = `${folder}/${name}`;
    // Valid JSON, wrong digest: the self-check catches it.
    const doc = JSON.parse(await Deno.readTextFile(path));
    doc.layer.digest = `sha256:${"0".repeat(64)}`;
    await Deno.writeTextFile(path, JSON.stringify(doc));
    const notes: string[] = [];
    const second = await build(denoFileSystem, dir, store, { notes });
    assert.equal(second.cached, false);
    assert.equal(second.layer.digest, first.layer.digest);
    assert.match(notes.join("\n"), /corrupt/);
    // Rewritten, good again.
    assert.equal((await build(denoFileSystem, dir, store)).cached, true);
    await Deno.writeTextFile(path, "{not json");
    assert.equal((await build(denoFileSystem, dir, store)).cached, false);
  });
});

Deno.test("LayerCache: a missing or damaged blob is never exported: entry dropped, layer rebuilt", async () => {
  await withStore(async ({ dir, store }) => {
    const first = await build(denoFileSystem, dir, store);
    const blob = store.blobPath(first.layer.digest);
    await Deno.remove(blob);
    const notes: string[] = [];
    const second = await build(denoFileSystem, dir, store, { notes });
    assert.equal(second.cached, false);
    assert.match(notes.join("\n"), /no longer in the store/);
    await store.readBlob(second.layer); // back, verified

    // Same size, other bytes: found by the digest check, blob removed and rebuilt.
    const bytes = await Deno.readFile(blob);
    bytes[bytes.length - 1] ^= 0xff;
    await Deno.chmod(blob, 0o644);
    await Deno.writeFile(blob, bytes);
    const third = await build(denoFileSystem, dir, store, { notes });
    assert.equal(third.cached, false);
    assert.match(notes.join("\n"), /damaged/);
    await store.readBlob(third.layer);

    // Wrong size.
    await Deno.writeFile(blob, bytes.subarray(1));
    assert.equal((await build(denoFileSystem, dir, store, { notes })).cached, false);
    await store.readBlob(third.layer);
  });
});

/** The key of the folder as it is now. */
async function keyOf(
  cache: LayerCache,
  dir: string,
  options: LayerCacheOptions = { compression: "gzip" },
) {
  return await cache.key(directoryEntries(denoFileSystem, dir), options);
}

Deno.test("LayerCache.key() changes with every attribute of every entry", async () => {
  await withStore(async ({ dir, store }) => {
    const cache = new LayerCache(denoFileSystem, store, webCodecs);
    const seen = new Set<string>();
    const expectNew = async (what: string) => {
      const key = await keyOf(cache, dir);
      assert.ok(key, `${what}: cacheable`);
      assert.ok(!seen.has(key), `${what} changes the key`);
      seen.add(key);
    };
    await expectNew("start");
    assert.equal(await keyOf(cache, dir), [...seen][0], "stable when nothing changes");

    await Deno.writeTextFile(`${dir}/a.txt`, "hello!\n"); // size (a.txt and its hardlink)
    await Deno.utime(`${dir}/a.txt`, OLD, OLD);
    await expectNew("size");
    await Deno.utime(`${dir}/a.txt`, OLD, OLD + 1);
    await expectNew("mtime");
    await Deno.chmod(`${dir}/a.txt`, 0o600);
    await expectNew("mode");
    // Same content, size and mtime, new inode (an editor's write-and-rename).
    await Deno.writeTextFile(`${dir}/sub/b.tmp`, "y".repeat(5000));
    await Deno.utime(`${dir}/sub/b.tmp`, OLD, OLD);
    await Deno.rename(`${dir}/sub/b.tmp`, `${dir}/sub/b.bin`);
    await expectNew("inode");
    await Deno.remove(`${dir}/link`);
    await Deno.symlink("sub", `${dir}/link`);
    await expectNew("symlink target");
    await Deno.rename(`${dir}/sub/hard`, `${dir}/sub/hard2`);
    await expectNew("rename");
    await Deno.writeTextFile(`${dir}/new`, "");
    await Deno.utime(`${dir}/new`, OLD, OLD);
    await expectNew("new file");
    await Deno.remove(`${dir}/new`);
    await Deno.mkdir(`${dir}/empty`);
    await expectNew("new folder");
    await Deno.remove(`${dir}/empty`);
    await Deno.utime(`${dir}/sub`, OLD, OLD + 7);
    await expectNew("folder mtime");
    assertRoot("changing a file's owner");
    await Deno.chown(`${dir}/sub/b.bin`, 1234, 5678);
    // Owners are 0:0 in the layer unless preserved, but the key still sees the inode's change.
    const preserved = (d: string) =>
      directoryEntries(denoFileSystem, d, { preserveOwnership: true });
    const k1 = await cache.key(preserved(dir), { compression: "gzip" });
    await Deno.chown(`${dir}/sub/b.bin`, 1234, 5679);
    assert.notEqual(await cache.key(preserved(dir), { compression: "gzip" }), k1, "gid");
  });
});

Deno.test("LayerCache.key() includes the encoding options", async () => {
  await withStore(async ({ dir, store }) => {
    const cache = new LayerCache(denoFileSystem, store, webCodecs);
    const keys = await Promise.all(
      ([
        { compression: "gzip" },
        { compression: "gzip", level: 6 }, // the default level: same layer, same key
        { compression: "gzip", level: 9 },
        { compression: "zstd" },
        { compression: "estargz" },
        { compression: "estargz", prioritizedFiles: ["a.txt"] },
        { compression: "uncompressed" },
        { compression: "gzip", clampEpoch: 0 },
        { compression: "gzip", clampEpoch: 1 },
        { compression: "gzip", files: true },
      ] as LayerCacheOptions[]).map((o) => keyOf(cache, dir, o)),
    );
    assert.equal(keys[0], keys[1]);
    const rest = [keys[0], ...keys.slice(2)];
    assert.equal(new Set(rest).size, rest.length);
  });
});

Deno.test("LayerCache.key() refuses files modified within the racy window and entries not from a folder walk", async () => {
  await withStore(async ({ dir, store }) => {
    await Deno.writeTextFile(`${dir}/fresh`, "now");
    // The clock stands one second after the write, however long a loaded machine takes here.
    const written = (await Deno.lstat(`${dir}/fresh`)).mtime!.getTime();
    const cache = new LayerCache(denoFileSystem, store, webCodecs, { now: () => written + 1000 });
    assert.equal(await keyOf(cache, dir), undefined);
    const memory = memoryEntries({ "a.txt": "hello\n" });
    assert.equal(await cache.key(memory, { compression: "gzip" }), undefined);
    // A rewritten entry (a copy of a walked one) is not proof of the file either.
    const copied = directoryEntries(denoFileSystem, dir).pipeThrough(
      new TransformStream<TarEntry, TarEntry>({ transform: (e, c) => c.enqueue({ ...e }) }),
    );
    await Deno.remove(`${dir}/fresh`);
    assert.equal(await cache.key(copied, { compression: "gzip" }), undefined);
  });
});

Deno.test("LayerCache: a fresh folder is exported but not cached; memory layers never are", async () => {
  await withStore(async ({ dir, store }) => {
    await Deno.writeTextFile(`${dir}/fresh`, "now");
    await build(denoFileSystem, dir, store);
    assert.equal((await build(denoFileSystem, dir, store)).cached, false);
    const entries = [...Deno.readDirSync(store.root)].map((e) => e.name);
    assert.ok(!entries.includes("cache"), "no entry written");
  });
});

Deno.test("LayerCache.get()/put() reject malformed keys", async () => {
  await withStore(async ({ store }) => {
    const cache = new LayerCache(denoFileSystem, store, webCodecs);
    await assert.rejects(() => cache.get("../../etc/passwd"), TypeError);
    assert.equal(await cache.get("a".repeat(64)), undefined);
  });
});
