import assert from "node:assert/strict";
import { dir, file, withTempStore, writeImage, writeIndex } from "../sinks/_image_fixture.ts";
import { runCli as cli } from "../_harness/cli.ts";

Deno.test("ocistream unpack REF DIR unpacks a store image, a platform of an index, and a layout", () =>
  withTempStore("ocistream-unpack-cli-", async ({ tmp, store, layout }) => {
    const amd = await writeImage(layout, [[dir("etc"), file("etc/arch", "amd64\n")]]);
    const arm = await writeImage(layout, [[dir("etc"), file("etc/arch", "arm64\n")]], {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const index = await writeIndex(layout, [amd, arm]);
    await layout.setNames(index, ["docker.io/library/app:1"]);
    await layout.setNames(arm, ["example.com/arm:1"]);

    const a = await cli([
      "unpack",
      "app:1",
      `${tmp}/a`,
      "--store",
      store,
      "--platform",
      "linux/arm64",
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await Deno.readTextFile(`${tmp}/a/etc/arch`), "arm64\n");
    assert.match(a.stderr, /unpacked 1 layer\(s\), 2 entries/);

    // A single-platform image unpacks whatever the host platform.
    const b = await cli(["unpack", "example.com/arm:1", `${tmp}/b`, "--store", store]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(await Deno.readTextFile(`${tmp}/b/etc/arch`), "arm64\n");

    const c = await cli([
      "unpack",
      `oci-layout://${store}@${index.digest}`,
      `${tmp}/c`,
      "--platform",
      "linux/amd64",
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await Deno.readTextFile(`${tmp}/c/etc/arch`), "amd64\n");

    const again = await cli(["unpack", "app:1", `${tmp}/a`, "--store", store]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot unpack into .*\/a: it is not empty/);

    const missing = await cli(["unpack", "nope:1", `${tmp}/d`, "--store", store]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No image "nope:1"/);

    const usage = await cli(["unpack", "app:1"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unpack needs REF and DIR/);
  }));
