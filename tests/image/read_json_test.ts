import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readDocumentBytes, readJson } from "../../src/image/read_json.ts";
import { DigestMismatchError } from "../../src/stages/verify_digest_stream.ts";
import type { ContentSource, FetchOptions } from "../../src/types/content.ts";

const doc = new TextEncoder().encode('{"schemaVersion":2}');
const descriptor = {
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: `sha256:${createHash("sha256").update(doc).digest("hex")}`,
  size: doc.length,
};

/** A source serving `bytes` for any descriptor, recording the fetch options it was given. */
function sourceOf(bytes: Uint8Array, asked: (FetchOptions | undefined)[]): ContentSource {
  return {
    fetch: (_d, options) => {
      asked.push(options);
      return Promise.resolve(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream());
    },
  };
}

Deno.test("readDocumentBytes() checks a document's digest itself, whole, and names a mismatch", async () => {
  const asked: (FetchOptions | undefined)[] = [];
  assert.deepEqual(await readDocumentBytes(sourceOf(doc, asked), descriptor), doc);
  assert.deepEqual(await readJson(sourceOf(doc, asked), descriptor), { schemaVersion: 2 });
  // The source need not hash: the bytes are checked here, through Web Crypto.
  assert.deepEqual(asked, [{ verify: false }, { verify: false }]);

  const tampered = doc.slice();
  tampered[2] = "S".charCodeAt(0); // same size, other bytes
  await assert.rejects(readDocumentBytes(sourceOf(tampered, []), descriptor), (e) => {
    assert.ok(e instanceof DigestMismatchError);
    assert.match(
      (e as Error).message,
      new RegExp(
        `content digest is sha256:[0-9a-f]{64} \\(19 bytes\\), expected ${descriptor.digest}`,
      ),
    );
    return true;
  });
  await assert.rejects(
    readDocumentBytes(sourceOf(doc.subarray(1), []), descriptor),
    /got 18 bytes, its descriptor says 19/,
  );
});
