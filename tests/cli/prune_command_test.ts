import assert from "node:assert/strict";
import { file, withTempStore, writeImage } from "../sinks/_image_fixture.ts";
import { runCli as cli } from "../_harness/cli.ts";

Deno.test("ocistream prune deletes what no name reaches, honouring --grace and --dry-run", () =>
  withTempStore("ocistream-prune-cli-", async ({ store, layout }) => {
    const kept = await writeImage(layout, [[file("kept", "kept")]]);
    await layout.setNames(kept, ["docker.io/library/kept:1"]);
    const gone = await writeImage(layout, [[file("gone", "gone")]]);
    const count = async () => (await Array.fromAsync(Deno.readDir(`${store}/blobs/sha256`))).length;
    assert.equal(await count(), 6);

    const recent = await cli(["prune", "--store", store]);
    assert.equal(recent.code, 0, recent.stderr);
    assert.match(
      recent.stderr,
      /deleted 0 blob\(s\), 0 bytes; kept 3 unreferenced blob\(s\) younger/,
    );

    const dry = await cli(["prune", "--store", store, "--grace", "0", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout.trim().split("\n").length, 3);
    assert.match(dry.stdout, new RegExp(`would delete ${gone.digest}`));
    assert.equal(await count(), 6);

    const real = await cli(["prune", "--store", store, "--grace", "0"]);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, new RegExp(`deleted ${gone.digest}`));
    assert.equal(await count(), 3);
    assert.equal((await cli(["verify", "--store", store])).code, 0);

    const bad = await cli(["prune", "--store", store, "--grace", "soon"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--grace "soon" is not a number of minutes/);
  }));
