/**
 * A registry answer body read through the timeouts is not held in memory: reading a 256 MiB
 * body must not grow the process by anything near 256 MiB. It once did: every read raced one
 * never-settling abort promise, and V8 kept each chunk until a full collection that streaming
 * never triggered (peak RSS 392 MB for this body, 85 MB after the fix). Run in a child
 * process so the measure is of that read alone.
 */
import assert from "node:assert/strict";

const TIMEOUTS = new URL("../../src/registry/timeouts.ts", import.meta.url).href;
const MIB = 1024 * 1024;
const BODY_MIB = 256;

const SCRIPT = `
import { registryTimeouts, timedFetch } from ${JSON.stringify(TIMEOUTS)};
const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
  let i = 0;
  return new Response(new ReadableStream({
    pull(c) {
      if (i++ === ${BODY_MIB}) return c.close();
      c.enqueue(new Uint8Array(${MIB}).fill(i));
    },
  }));
});
const before = Deno.memoryUsage().rss;
const res = await timedFetch(fetch, registryTimeouts())(
  "http://127.0.0.1:" + server.addr.port + "/v2/x/blobs/y",
  {},
);
let bytes = 0;
for await (const chunk of res.body) bytes += chunk.byteLength;
console.log(JSON.stringify({ bytes, grown: Deno.memoryUsage().rss - before }));
await server.shutdown();
`;

Deno.test("timedFetch() streams an answer body without holding it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", SCRIPT],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const { bytes, grown } = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(bytes, BODY_MIB * MIB);
  assert.ok(
    grown < (BODY_MIB / 2) * MIB,
    `reading a ${BODY_MIB} MiB body grew the process by ${Math.round(grown / MIB)} MiB`,
  );
});
