/**
 * OciLayout, the store's foundation: content-addressed atomic blob writes
 * (also when the body was hashed upstream), verified reads, names in
 * index.json under a lock that concurrent writers share and a killed writer
 * cannot hold forever.
 */
import assert from "node:assert/strict";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { DigestStream, measuredDigest } from "../../src/stages/digest_stream.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";
import { DigestMismatchError } from "../../src/stages/verify_digest_stream.ts";
import type { Codecs } from "../../src/types/codecs.ts";
import { blobNames } from "../_harness/store.ts";
import { sha256Digest } from "../fixtures/tar_tools.ts";

function idOf(text: string) {
  const bytes = new TextEncoder().encode(text);
  return { bytes, id: { digest: sha256Digest(bytes), size: bytes.length } };
}

async function withLayout(
  fn: (layout: OciLayout, root: string) => Promise<void>,
  codecs: Codecs = nativeCodecs,
) {
  const root = await Deno.makeTempDir({ prefix: "ocistream-layout-" });
  try {
    await fn(await OciLayout.open(denoFileSystem, root, codecs), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function leftovers(root: string): Promise<string[]> {
  return (await blobNames(root)).sort();
}

Deno.test("OciLayout.putBlob() stores content under its digest and refuses a mismatch, leaving nothing", async () => {
  await withLayout(async (layout, root) => {
    const { bytes, id } = idOf("hello");
    await layout.putBlob(new Blob([bytes]).stream(), id);
    assert.equal(await Deno.readTextFile(layout.blobPath(id.digest)), "hello");

    const other = idOf("other");
    await assert.rejects(
      () => layout.putBlob(new Blob(["not other"]).stream(), other.id),
      (e: Error) =>
        e instanceof DigestMismatchError && /does not match its descriptor/.test(e.message),
    );
    assert.equal(await layout.hasBlob(other.id.digest), false);
    assert.deepEqual(await leftovers(root), [id.digest.slice(7)]);
  });
});

Deno.test("OciLayout.putBlob() trusts a DigestStream's own hash of the body but still checks it", async () => {
  // The layout's own hashers, counted: a body hashed upstream is not hashed again.
  let hashed = 0;
  const counting: Codecs = {
    ...nativeCodecs,
    sha256: () => {
      hashed++;
      return nativeCodecs.sha256();
    },
  };
  await withLayout(async (layout, root) => {
    const { bytes, id } = idOf("layer bytes");
    const body = new Blob([bytes]).stream().pipeThrough(new DigestStream(nativeCodecs));
    assert.ok(measuredDigest(body), "the body carries its measured digest");
    await layout.putBlob(body, Promise.resolve(id));
    assert.equal(await Deno.readTextFile(layout.blobPath(id.digest)), "layer bytes");
    assert.equal(hashed, 0, "the measured body is not hashed a second time");
    const plain = idOf("plain");
    await layout.putBlob(new Blob([plain.bytes]).stream(), plain.id);
    assert.equal(hashed, 1, "a body without a measured digest is hashed");

    // The promised digest (the encoder's) disagrees with the measured bytes: refused.
    const wrong = idOf("something else").id;
    const measured = new Blob(["layer bytes 2"]).stream().pipeThrough(
      new DigestStream(nativeCodecs),
    );
    await assert.rejects(
      () => layout.putBlob(measured, Promise.resolve(wrong)),
      DigestMismatchError,
    );
    assert.equal(await layout.hasBlob(wrong.digest), false);
    assert.deepEqual(await leftovers(root), [id.digest.slice(7), plain.id.digest.slice(7)].sort());
  }, counting);
});

Deno.test("OciLayout.fetch() fails when a stored blob was corrupted", async () => {
  await withLayout(async (layout) => {
    const { bytes, id } = idOf("precious");
    await layout.putBlob(new Blob([bytes]).stream(), id);
    await Deno.writeTextFile(layout.blobPath(id.digest), "tampered");
    await assert.rejects(
      async () => await new Response(await layout.fetch({ mediaType: "x", ...id })).text(),
      DigestMismatchError,
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
