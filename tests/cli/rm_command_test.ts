import assert from "node:assert/strict";
import { OciLayout } from "../../src/sinks/oci_layout.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { file, testCodecs, writeImage } from "../sinks/_image_fixture.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("ocistream rm removes names (short or full) and reports unknown ones", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ocistream-rm-cli-" });
  try {
    const store = `${tmp}/store`;
    const layout = await OciLayout.open(denoFileSystem, store, testCodecs);
    const image = await writeImage(layout, [[file("a", "a")]]);
    await layout.setNames(image, [
      "docker.io/library/app:1",
      "example.com/x/y:2",
      "docker.io/library/keep:1",
    ]);
    const ok = await cli(["rm", "app:1", "example.com/x/y:2", "--store", store]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split("\n"), [
      "removed docker.io/library/app:1",
      "removed example.com/x/y:2",
    ]);
    assert.deepEqual((await layout.images()).map((i) => i.name), ["docker.io/library/keep:1"]);
    // Blobs stay until prune.
    assert.equal(await layout.hasBlob(image.digest), true);

    const unknown = await cli(["rm", "app:1", "keep:1", "--store", store]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no image named "app:1"/);
    assert.deepEqual(await layout.images(), []);

    assert.equal((await cli(["rm", "--store", store])).code, 2);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
