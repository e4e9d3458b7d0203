import assert from "node:assert/strict";
import { DigestStream } from "../../src/stages/digest_stream.ts";
import { webCodecs } from "../../src/stages/web_codecs.ts";
import { nativeCodecs } from "../../src/runtime/native_codecs.ts";
import type { Codecs, Hasher } from "../../src/types/codecs.ts";
import { chunked, collect, dataBytes, runCli, sha256Hex } from "../runtime/parallel_helpers.ts";

const data = dataBytes(2 * 1024 * 1024 + 3, 17);

Deno.test("DigestStream() digest equals sha256sum and bytes pass unchanged", async () => {
  const expected = new TextDecoder().decode(await runCli("sha256sum", [], data)).split(" ")[0];
  for (const codecs of [webCodecs, nativeCodecs]) {
    const digest = new DigestStream(codecs);
    const out = await collect(chunked(data, 65_000).pipeThrough(digest));
    assert.deepEqual(await digest.result, { digest: `sha256:${expected}`, size: data.byteLength });
    assert.equal(sha256Hex(out), expected);
  }
});

Deno.test("DigestStream() digests empty input", async () => {
  const digest = new DigestStream(webCodecs);
  await new Blob([]).stream().pipeThrough(digest).pipeTo(new WritableStream());
  assert.deepEqual(await digest.result, {
    digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    size: 0,
  });
});

Deno.test("DigestStream() result rejects when the stream is cancelled or aborted", async () => {
  const cancelled = new DigestStream(nativeCodecs);
  await cancelled.readable.cancel(new Error("reader gave up"));
  await assert.rejects(cancelled.result, /reader gave up/);

  const aborted = new DigestStream(nativeCodecs);
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new Error("source broke"));
    },
  });
  await assert.rejects(source.pipeThrough(aborted).pipeTo(new WritableStream()), /source broke/);
  await assert.rejects(aborted.result, /source broke/);
});

Deno.test("DigestStream() result rejects when the hasher cannot be made", async () => {
  const broken: Codecs = {
    ...webCodecs,
    sha256(): Promise<Hasher> {
      return Promise.reject(new Error("no wasm here"));
    },
  };
  const digest = new DigestStream(broken);
  await assert.rejects(
    new Blob(["x"]).stream().pipeThrough(digest).pipeTo(new WritableStream()),
    /no wasm/,
  );
  await assert.rejects(digest.result, /no wasm/);
});
