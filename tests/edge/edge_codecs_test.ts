import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { edgeCodecs, edgeSha256Kind } from "../../src/edge/edge_codecs.ts";
import { ROOT, run } from "./_tools.ts";

Deno.test("edgeCodecs uses hash-wasm where WebAssembly works and round-trips gzip", async () => {
  assert.equal(await edgeSha256Kind(), "wasm");
  const data = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const h = await edgeCodecs.sha256();
  h.update(data);
  assert.equal(h.digestHex(), createHash("sha256").update(data).digest("hex"));
  const gz = new Blob([data]).stream().pipeThrough(edgeCodecs.compress("gzip", 6));
  const back = new Uint8Array(
    await new Response(gz.pipeThrough(edgeCodecs.decompress("gzip"))).arrayBuffer(),
  );
  assert.deepEqual(back, data);
});

Deno.test("edgeCodecs falls back to pure-JS SHA-256 where wasm compilation is forbidden", async () => {
  // As in workerd: WebAssembly exists, but compiling bytes at run time throws.
  const script = `
    const no = () => { throw new WebAssembly.CompileError("Wasm code generation disallowed by embedder"); };
    const W = WebAssembly;
    W.compile = async () => no(); W.instantiate = async () => no();
    W.compileStreaming = async () => no(); W.instantiateStreaming = async () => no();
    W.Module = function () { no(); };
    const m = await import(${JSON.stringify(`${ROOT}src/edge/edge_codecs.ts`)});
    const h = await m.edgeCodecs.sha256();
    h.update(new TextEncoder().encode("hello"));
    const gz = new Blob(["hello"]).stream().pipeThrough(m.edgeCodecs.compress("gzip", 9));
    const text = await new Response(gz.pipeThrough(m.edgeCodecs.decompress("gzip"))).text();
    console.log(await m.edgeSha256Kind(), h.digestHex(), text);
  `;
  const out = await run(Deno.execPath(), ["eval", "--config", `${ROOT}deno.json`, script], {
    cwd: ROOT,
  });
  assert.equal(
    out.trim(),
    "js 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 hello",
  );
});
