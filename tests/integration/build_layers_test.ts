/**
 * What goes into an image (issue 16): `.dockerignore`, `--exclude`, `--layer` with `dest`,
 * `chown` and `chmod`, checked by unpacking the image with umoci (as root, so owners are
 * kept) and comparing the tree, owners and modes.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { writeTree } from "../_harness/tree.ts";
import { readJson, withTempDir } from "../_harness/store.ts";

/** path → "type mode uid:gid" of everything under `root`. */
async function owners(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string) {
    const names = [];
    for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) names.push(e.name);
    for (const name of names.sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await Deno.lstat(`${root}/${path}`);
      const type = info.isDirectory ? "dir" : info.isSymlink ? "link" : "file";
      const mode = type === "link" ? "-" : ((info.mode ?? 0) & 0o7777).toString(8);
      out[path] = `${type} ${mode} ${info.uid}:${info.gid}`;
      if (info.isDirectory) await walk(path);
    }
  }
  await walk("");
  return out;
}

/** Unpacks `name` from the OCI layout `layout` with umoci; returns the rootfs path. */
async function umociUnpack(layout: string, name: string, bundle: string): Promise<string> {
  await runOk("umoci", ["unpack", "--image", `${layout}:${name}`, bundle]);
  return `${bundle}/rootfs`;
}

Deno.test("build honours CONTEXT/.dockerignore with Docker's semantics, --ignore-file and --exclude", async () => {
  await withTempDir("ocistream-ignore-", async (work) => {
    const ctx = `${work}/ctx`;
    await writeTree(ctx, {
      ".dockerignore": "# local only\n.git\n/.env.local\n**/*.log\n!keep.log\n" +
        "node_modules\n!node_modules/kept/**\ncache/\n",
      ".git/HEAD": "ref",
      ".env.local": "SECRET=1",
      "app.js": "app",
      "a.log": "x",
      "keep.log": "kept",
      "src/deep/b.log": "x",
      "src/main.js": "main",
      "node_modules/dropped/index.js": "x",
      "node_modules/kept/index.js": "kept",
      "cache/blob": "x",
    });
    const layout = `${work}/store`;
    const r = await runCli([
      "build",
      ctx,
      "--exclude",
      "src/main.js",
      "--source-date-epoch",
      "0",
      "--store",
      layout,
      "--output",
      "type=image,name=example.com/ignore:1,oci-mediatypes=true",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rootfs = await umociUnpack(layout, "example.com/ignore:1", `${work}/bundle`);
    assert.deepEqual(Object.keys(await owners(rootfs)), [
      ".dockerignore",
      "app.js",
      "keep.log",
      // Excluded, but walked for the exception inside it: written because something in it is.
      "node_modules",
      "node_modules/kept",
      "node_modules/kept/index.js",
      "src",
      "src/deep",
    ]);

    // --ignore-file replaces .dockerignore; a missing one is an error naming it.
    await Deno.writeTextFile(`${work}/other.ignore`, "*\n!app.js\n");
    const r2 = await runCli([
      "build",
      ctx,
      "--ignore-file",
      `${work}/other.ignore`,
      "--store",
      layout,
      "--output",
      "type=image,name=example.com/ignore:2,oci-mediatypes=true",
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const rootfs2 = await umociUnpack(layout, "example.com/ignore:2", `${work}/bundle2`);
    assert.deepEqual(Object.keys(await owners(rootfs2)), ["app.js"]);
    const missing = await runCli(["build", ctx, "--ignore-file", `${work}/nope`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ignore file .*nope/);
    const bad = await runCli(["build", ctx, "--exclude", "[oops", "--store", `${work}/s`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /\[oops/);
    assert.equal(readJson(`${layout}/index.json`).manifests.length, 2);
  });
});
