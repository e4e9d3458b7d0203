import assert from "node:assert/strict";
import { file, withTempStore, writeImage } from "../sinks/_image_fixture.ts";
import { runCli as cli } from "../_harness/cli.ts";

Deno.test("ocistream verify exits 0 on a sound store and 1 naming each problem", () =>
  withTempStore("ocistream-verify-cli-", async ({ tmp, store, layout }) => {
    const image = await writeImage(layout, [[file("a", "a")]]);
    await layout.setNames(image, ["docker.io/library/app:1"]);
    await Deno.writeTextFile(`${store}/blobs/sha256/.tmp-interrupted`, "partial");

    const ok = await cli(["verify", "--store", store]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, "");
    assert.match(ok.stderr, /note: 1 leftover temp file/);
    assert.match(ok.stderr, /1 image\(s\), 3 blob\(s\) checked: ok/);

    const manifest = JSON.parse(new TextDecoder().decode(await layout.readBlob(image)));
    await Deno.writeTextFile(layout.blobPath(manifest.layers[0].digest), "tampered");
    await Deno.remove(layout.blobPath(manifest.config.digest));
    const bad = await cli(["verify", "--store", store]);
    assert.equal(bad.code, 1);
    const problems = bad.stdout.trim().split("\n");
    assert.equal(problems.length, 2, bad.stdout);
    assert.match(problems[0]!, /^problem: blob sha256:[0-9a-f]{64} is corrupt/);
    assert.match(
      problems[1]!,
      /^problem: image docker.io\/library\/app:1: config sha256:[0-9a-f]{64} is missing/,
    );

    const json = await cli(["verify", "--store", store, "--json"]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).problems.length, 2);

    const none = await cli(["verify", "--store", `${tmp}/nothing`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /Cannot open the store/);
  }));
