/**
 * OciLayout, the store's foundation: content-addressed atomic blob writes
 * (also when the body was hashed upstream), verified reads, names in
 * index.json under a lock that concurrent writers share and a killed writer
 * cannot hold forever.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { DigestStream, measuredDigest } from "../../src/stages/digest_stream.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";

function idOf(text: string) {
  const bytes = new TextEncoder().encode(text);
  return {
    bytes,
    id: {
      digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
      size: bytes.length,
    },
  };
}

async function withLayout(fn: (layout: OciLayout, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "ocistream-layout-" });
  try {
    await fn(await OciLayout.open(denoFileSystem, root, nativeCodecs), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function leftovers(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(`${root}/blobs/sha256`)) names.push(e.name);
  return names.sort();
}

Deno.test("OciLayout.putBlob() stores content under its digest and refuses a mismatch, leaving nothing", async () => {
  await withLayout(async (layout, root) => {
    const { bytes, id } = idOf("hello");
    await layout.putBlob(new Blob([bytes]).stream(), id);
    assert.equal(await Deno.readTextFile(layout.blobPath(id.digest)), "hello");

    const other = idOf("other");
    await assert.rejects(
      () => layout.putBlob(new Blob(["not other"]).stream(), other.id),
      /does not match its descriptor/,
    );
    assert.equal(await layout.hasBlob(other.id.digest), false);
    assert.deepEqual(await leftovers(root), [id.digest.slice(7)]);
  });
});

Deno.test("OciLayout.putBlob() trusts a DigestStream's own hash of the body but still checks it", async () => {
  await withLayout(async (layout, root) => {
    const { bytes, id } = idOf("layer bytes");
    const body = new Blob([bytes]).stream().pipeThrough(new DigestStream(nativeCodecs));
    assert.ok(measuredDigest(body), "the body carries its measured digest");
    await layout.putBlob(body, Promise.resolve(id));
    assert.equal(await Deno.readTextFile(layout.blobPath(id.digest)), "layer bytes");

    // The promised digest (the encoder's) disagrees with the measured bytes: refused.
    const wrong = idOf("something else").id;
    const measured = new Blob(["layer bytes 2"]).stream().pipeThrough(
      new DigestStream(nativeCodecs),
    );
    await assert.rejects(() => layout.putBlob(measured, Promise.resolve(wrong)), /does not match/);
    assert.equal(await layout.hasBlob(wrong.digest), false);
    assert.deepEqual(await leftovers(root), [id.digest.slice(7)]);
  });
});

Deno.test("OciLayout.fetch() fails when a stored blob was corrupted", async () => {
  await withLayout(async (layout) => {
    const { bytes, id } = idOf("precious");
    await layout.putBlob(new Blob([bytes]).stream(), id);
    await Deno.writeTextFile(layout.blobPath(id.digest), "tampered");
    await assert.rejects(
      async () => await new Response(await layout.fetch({ mediaType: "x", ...id })).text(),
      /digest/,
    );
  });
});

Deno.test("OciLayout.setNames() from many writers at once keeps every name", async () => {
  await withLayout(async (layout) => {
    const { bytes, id } = idOf("{}");
    await layout.putBlob(new Blob([bytes]).stream(), id);
    const root = { mediaType: "application/vnd.oci.image.manifest.v1+json", ...id };
    const names = Array.from({ length: 16 }, (_, i) => `example.com/app:${i}`);
    // Separate OciLayout objects, as separate processes would have.
    await Promise.all(names.map(async (name) => {
      const other = await OciLayout.open(denoFileSystem, layout.root, nativeCodecs);
      await other.setNames(root, [name]);
    }));
    const stored = (await layout.images()).map((i) => i.name).sort();
    assert.deepEqual(stored, [...names].sort());
  });
});

Deno.test("OciLayout breaks a lock left by a killed writer", async () => {
  await withLayout(async (layout, root) => {
    const lock = `${root}/index.json.lock`;
    await Deno.writeTextFile(lock, "12345");
    const old = Date.now() / 1000 - 3600;
    await Deno.utime(lock, old, old);
    const { id } = idOf("{}");
    await layout.setNames({ mediaType: "application/vnd.oci.image.manifest.v1+json", ...id }, [
      "example.com/a:1",
    ]);
    assert.deepEqual((await layout.images()).map((i) => i.name), ["example.com/a:1"]);
    await assert.rejects(() => Deno.lstat(lock), Deno.errors.NotFound);
  });
});
