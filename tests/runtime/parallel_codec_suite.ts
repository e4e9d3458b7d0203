/**
 * The conformance tests every `Codecs` implementation must pass, checked
 * against the gzip, pigz and zstd CLIs. Registered by the web and native
 * codec test files.
 * @module
 */
import assert from "node:assert/strict";
import type { Codecs } from "../../src/types/codecs.ts";
import {
  collect,
  compressWith,
  concat,
  dataBytes,
  decompressWith,
  runCli,
  sha256Hex,
} from "./parallel_helpers.ts";

const MIB = 1024 * 1024;

/** Registers the shared codec tests under `label` (e.g. "webCodecs"). */
export function defineCodecTests(label: string, codecs: Codecs): void {
  const data = dataBytes(3 * MIB + 12345, 7);
  const dataHex = sha256Hex(data);
  const small = dataBytes(300 * 1024 + 7, 11);
  const smallHex = sha256Hex(small);

  Deno.test(`${label}.compress() gzip levels 0, 1, 6, 9 decompress with gzip -dc`, async () => {
    for (const level of [0, 1, 6, 9]) {
      const gz = await compressWith(codecs, "gzip", level, data);
      assert.deepEqual([...gz.subarray(0, 3)], [0x1f, 0x8b, 8], `level ${level} gzip magic`);
      assert.equal(new DataView(gz.buffer).getUint32(4, true), 0, "mtime 0");
      assert.equal(sha256Hex(await runCli("gzip", ["-dc"], gz)), dataHex, `gzip -${level}`);
      if (level === 0) assert.ok(gz.byteLength > data.byteLength, "level 0 stores");
      if (level === 9) assert.ok(gz.byteLength < data.byteLength * 0.6, "level 9 compresses");
    }
  });

  Deno.test(`${label}.compress() zstd levels 0, 1, 3, 19, 22 decompress with zstd -dc`, async () => {
    for (const level of [0, 1, 3]) {
      const zst = await compressWith(codecs, "zstd", level, data);
      assert.equal(sha256Hex(await runCli("zstd", ["-dc"], zst)), dataHex, `zstd -${level}`);
    }
    for (const level of [19, 22]) {
      const zst = await compressWith(codecs, "zstd", level, small);
      assert.equal(sha256Hex(await runCli("zstd", ["-dc"], zst)), smallHex, `zstd -${level}`);
    }
  });

  Deno.test(`${label}.compress() output depends only on the bytes, not the chunking`, async () => {
    for (const [algorithm, level] of [["gzip", 6], ["zstd", 3]] as const) {
      const a = sha256Hex(await compressWith(codecs, algorithm, level, data, 1000));
      const b = sha256Hex(await compressWith(codecs, algorithm, level, data, MIB + 1));
      const c = sha256Hex(await compressWith(codecs, algorithm, level, data, data.byteLength));
      assert.equal(a, b, `${algorithm} 1000-byte vs 1 MiB chunks`);
      assert.equal(a, c, `${algorithm} 1000-byte chunks vs one chunk`);
    }
  });

  Deno.test(`${label}.compress() handles empty input`, async () => {
    for (const [algorithm, cli] of [["gzip", "gzip"], ["zstd", "zstd"]] as const) {
      const out = await compressWith(codecs, algorithm, 3, new Uint8Array(0));
      assert.ok(out.byteLength > 0, `${algorithm} writes a valid empty stream`);
      assert.equal((await runCli(cli, ["-dc"], out)).byteLength, 0);
      assert.equal((await decompressWith(codecs, algorithm, out)).byteLength, 0);
    }
  });

  Deno.test(`${label}.compress() throws RangeError naming the range for bad levels`, () => {
    for (const level of [-1, 10, 1.5, Number.NaN]) {
      assert.throws(() => codecs.compress("gzip", level), (e: Error) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, /gzip compression level .* from 0 to 9/);
        return true;
      });
    }
    for (const level of [-1, 23]) {
      assert.throws(() => codecs.compress("zstd", level), /RangeError|from 0 to 22/);
      assert.throws(() => codecs.compress("zstd", level), RangeError);
    }
    // deno-lint-ignore no-explicit-any
    assert.throws(() => codecs.compress("brotli" as any, 1), TypeError);
    // deno-lint-ignore no-explicit-any
    assert.throws(() => codecs.decompress("brotli" as any), TypeError);
  });

  Deno.test(`${label}.decompress() reads gzip and pigz output, also several members`, async () => {
    const gz = await runCli("gzip", ["-c", "-6"], data);
    const pigz = await runCli("pigz", ["-c", "-6", "-p", "2"], data);
    const pigzIndependent = await runCli("pigz", ["-c", "-1", "-i", "-b", "128"], small);
    assert.equal(sha256Hex(await decompressWith(codecs, "gzip", gz)), dataHex);
    assert.equal(sha256Hex(await decompressWith(codecs, "gzip", pigz, 7777)), dataHex);
    assert.equal(sha256Hex(await decompressWith(codecs, "gzip", pigzIndependent)), smallHex);
    const members = concat(gz, pigzIndependent, await runCli("gzip", ["-c"], new Uint8Array(0)));
    const out = await decompressWith(codecs, "gzip", members, 5000);
    assert.equal(sha256Hex(out), sha256Hex(concat(data, small)));
  });

  Deno.test(`${label}.decompress() reads zstd output, also several frames`, async () => {
    const one = await runCli("zstd", ["-c", "-3"], data);
    const mt = await runCli("zstd", ["-c", "-3", "-T2", "--no-check"], data);
    const piped = await runCli("bash", ["-c", "cat | zstd -c -19"], small); // no content size
    assert.equal(sha256Hex(await decompressWith(codecs, "zstd", one)), dataHex);
    assert.equal(sha256Hex(await decompressWith(codecs, "zstd", mt, 3333)), dataHex);
    // A skippable frame (magic 0x184D2A50, 5 bytes) between frames is ignored.
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]);
    const frames = concat(piped, skippable, one, piped);
    for (const chunk of [4099, 64 * 1024]) {
      const out = await decompressWith(codecs, "zstd", frames, chunk);
      assert.equal(sha256Hex(out), sha256Hex(concat(small, data, small)), `chunks of ${chunk}`);
    }
    // Byte by byte: every header field split across chunks.
    const out = await decompressWith(codecs, "zstd", concat(skippable, piped, skippable, piped), 1);
    assert.equal(sha256Hex(out), sha256Hex(concat(small, small)), "byte by byte");
  });

  Deno.test(`${label}.decompress() round-trips its own output`, async () => {
    for (const algorithm of ["gzip", "zstd"] as const) {
      const packed = await compressWith(codecs, algorithm, 1, data);
      assert.equal(sha256Hex(await decompressWith(codecs, algorithm, packed, 10_000)), dataHex);
    }
  });

  Deno.test(`${label}.decompress() rejects corrupt and truncated input`, async () => {
    for (const algorithm of ["gzip", "zstd"] as const) {
      const packed = await compressWith(codecs, algorithm, 6, small);
      const truncated = packed.subarray(0, packed.byteLength - 20);
      await assert.rejects(decompressWith(codecs, algorithm, truncated), TypeError);
      const garbage = new TextEncoder().encode("this is not compressed at all, no no no");
      await assert.rejects(decompressWith(codecs, algorithm, garbage), TypeError);
      await assert.rejects(decompressWith(codecs, algorithm, new Uint8Array(0)), /empty/);
    }
  });

  Deno.test(`${label}.sha256() matches sha256sum`, async () => {
    const expected = new TextDecoder().decode(await runCli("sha256sum", [], data)).split(" ")[0];
    const hasher = await codecs.sha256();
    for (let i = 0; i < data.byteLength; i += 100_000) hasher.update(data.subarray(i, i + 100_000));
    assert.equal(hasher.digestHex(), expected);
    const empty = await codecs.sha256();
    assert.equal(
      empty.digestHex(),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });

  Deno.test(`${label}.compress() keeps output flowing under backpressure`, async () => {
    // A slow reader: the stage must not run ahead and buffer the whole input.
    const stage = codecs.compress("gzip", 1);
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const pieces: Uint8Array[] = [];
    const writing = (async () => {
      for (let i = 0; i < data.byteLength; i += 256 * 1024) {
        await writer.write(data.slice(i, i + 256 * 1024));
      }
      await writer.close();
    })();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      pieces.push(value);
      await new Promise((r) => setTimeout(r, 1));
    }
    await writing;
    assert.equal(sha256Hex(await runCli("gzip", ["-dc"], concat(...pieces))), dataHex);
    assert.equal(
      sha256Hex(
        await collect(
          new Blob([concat(...pieces) as BlobPart]).stream()
            .pipeThrough(codecs.decompress("gzip")),
        ),
      ),
      dataHex,
    );
  });
}
