import assert from "node:assert/strict";
import { LayerCache } from "../../src/exporter/layer_cache.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { directoryEntries } from "../../src/sources/directory_source.ts";
import { entryBatches, observeBatches } from "../../src/stages/entry_batches.ts";
import { TarStream, tarStream } from "../../src/stages/tar_stream.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { makeFixtureTree } from "../fixtures/fixture_tree.ts";
import { collect, sha256 } from "../fixtures/tar_tools.ts";

async function withTree(fn: (dir: string, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await makeFixtureTree(`${root}/tree`);
    // Enough files for several batches of the walk.
    await Deno.mkdir(`${root}/tree/many`);
    for (let i = 0; i < 300; i++) {
      await Deno.writeTextFile(`${root}/tree/many/f${i}.txt`, "x".repeat(i));
    }
    await fn(`${root}/tree`, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("tarStream() of a folder walk (taken by batches) gives the bytes TarStream gives", async () => {
  await withTree(async (dir) => {
    const batched = await collect(tarStream(directoryEntries(denoFileSystem, dir)));
    const streamed = await collect(
      directoryEntries(denoFileSystem, dir).pipeThrough(new TarStream()),
    );
    assert.equal(sha256(batched), sha256(streamed));
    // A stream read one by one, and one already being read, still work.
    const once = directoryEntries(denoFileSystem, dir);
    const reader = once.getReader();
    const first = await reader.read();
    reader.releaseLock();
    assert.equal(entryBatches(once), undefined);
    assert.ok(!first.done);
  });
});

Deno.test("observeBatches() shows every entry once and then the end", async () => {
  await withTree(async (dir) => {
    const all = await Array.fromAsync(directoryEntries(denoFileSystem, dir));
    const seen: string[] = [];
    let ends = 0;
    const observed = observeBatches(directoryEntries(denoFileSystem, dir), (batch) => {
      if (batch === undefined) ends++;
      else for (const e of batch) seen.push(e.path);
    })!;
    const passed = (await Array.fromAsync(observed)).map((e) => e.path);
    assert.deepEqual(passed, all.map((e) => e.path));
    assert.deepEqual(seen, passed);
    assert.equal(ends, 1);
    assert.equal(observeBatches(ReadableStream.from(all), () => {}), undefined);
  });
});

Deno.test("a layer cache recorder keys a walk the same by batches, by stream and by key()", async () => {
  await withTree(async (dir, root) => {
    // Old enough for the racy-file rule.
    const now = () => Date.now() + 3600_000;
    const store = await OciLayout.open(denoFileSystem, `${root}/store`, webCodecs);
    const cache = new LayerCache(denoFileSystem, store, webCodecs, { now });
    const options = { compression: "gzip" as const };
    const viaRecord = await cache.recorder(options);
    const recorded = viaRecord.record(directoryEntries(denoFileSystem, dir));
    await collect(tarStream(recorded));
    const viaStream = await cache.recorder(options);
    await Array.fromAsync(directoryEntries(denoFileSystem, dir).pipeThrough(viaStream.stream));
    const key = await cache.key(directoryEntries(denoFileSystem, dir), options);
    assert.ok(key);
    assert.equal(await viaRecord.key, key);
    assert.equal(await viaStream.key, key);
  });
});
