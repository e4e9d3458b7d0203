import assert from "node:assert/strict";
import { file, withTempStore, writeImage } from "../sinks/_image_fixture.ts";
import { runCli as cli } from "../_harness/cli.ts";

Deno.test("ocistream rm removes names (short or full) and reports unknown ones", () =>
  withTempStore("ocistream-rm-cli-", async ({ store, layout }) => {
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
  }));
