/**
 * What goes into an image (issue 16): `.dockerignore`, `--exclude`, `--layer` with `dest`,
 * `chown` and `chmod`, checked by unpacking the image with umoci (as root, so owners are
 * kept) and comparing the tree, owners and modes.
 */
import assert from "node:assert/strict";
import { runCli, runOk } from "../_harness/cli.ts";
import { writeTree } from "../_harness/tree.ts";
import { readJson, withTempDir } from "../_harness/store.ts";
import { startRegistry } from "../_harness/registry.ts";

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

Deno.test("build --layer places folders at dest with chown/chmod as COPY does, one history entry per layer", async () => {
  await withTempDir("ocistream-layers-", async (work) => {
    await writeTree(`${work}/ctx`, { "README": "root file" });
    await writeTree(`${work}/deps`, { "lib/a.js": "a", "lib/b.js": "b" });
    await writeTree(`${work}/dist`, {
      ".dockerignore": "*.map\n",
      "server.js": "s",
      "server.js.map": "m",
      "static/x.css": "c",
    });
    await Deno.symlink("server.js", `${work}/dist/main.js`);
    const store = `${work}/store`;
    const r = await runCli([
      "build",
      `${work}/ctx`,
      "--chown",
      "1000",
      "--layer",
      `src=${work}/deps,dest=/app/node_modules,chmod=0640`,
      "--layer",
      `${work}/dist:/app`,
      "--layer",
      `src=${work}/dist,dest=/srv/www,chown=0:0,exclude=static,created-by=copy the site`,
      "--source-date-epoch",
      "100",
      "--store",
      store,
      "--output",
      "type=image,name=example.com/layers:1,oci-mediatypes=true",
    ], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const rootfs = await umociUnpack(store, "example.com/layers:1", `${work}/bundle`);
    const tree = await owners(rootfs);
    assert.deepEqual(tree, {
      README: "file 644 1000:1000",
      // Made by the first --layer (chmod=0640): the next layer into /app keeps it as it is,
      // as BuildKit's copy only makes missing folders.
      app: "dir 640 1000:1000",
      // The ignore file itself is copied unless it names itself, as in Docker.
      "app/.dockerignore": "file 644 1000:1000",
      "app/main.js": "link - 1000:1000",
      // --chmod sets the folders `dest` creates too, as BuildKit's copy does (0640 & 0777).
      "app/node_modules": "dir 640 1000:1000",
      "app/node_modules/lib": "dir 640 1000:1000",
      "app/node_modules/lib/a.js": "file 640 1000:1000",
      "app/node_modules/lib/b.js": "file 640 1000:1000",
      "app/server.js": "file 644 1000:1000",
      "app/static": "dir 755 1000:1000",
      "app/static/x.css": "file 644 1000:1000",
      srv: "dir 755 0:0",
      "srv/www": "dir 755 0:0",
      "srv/www/.dockerignore": "file 644 0:0",
      "srv/www/main.js": "link - 0:0",
      "srv/www/server.js": "file 644 0:0",
    });
    // The created folders' mtime is the build time clamped by the epoch.
    assert.equal((await Deno.lstat(`${rootfs}/srv/www`)).mtime?.getTime(), 100_000);

    const index = readJson(`${store}/index.json`);
    const manifest = readJson(`${store}/blobs/${index.manifests[0].digest.replace(":", "/")}`);
    const config = readJson(`${store}/blobs/${manifest.config.digest.replace(":", "/")}`);
    assert.equal(manifest.layers.length, 4);
    assert.deepEqual(
      config.history.map((h: { created_by: string }) => h.created_by),
      [
        "COPY --chown=1000 . / # buildkit",
        "COPY --chown=1000 --chmod=0640 . /app/node_modules # buildkit",
        "COPY --chown=1000 . /app # buildkit",
        "copy the site",
      ],
    );
  });
});

Deno.test("build --layer rejects bad specs before any work", async () => {
  await withTempDir("ocistream-layers-bad-", async (work) => {
    await Deno.mkdir(`${work}/ctx`);
    const store = `${work}/store`;
    for (
      const [flags, code, message] of [
        [["--layer", "src=ctx,chown=www"], 1, /numeric UID\[:GID\]/],
        [["--layer", "src=ctx,chmod=u+x"], 1, /octal mode/],
        [["--layer", "src=ctx,size=1"], 1, /Invalid --layer field "size=1"/],
        [["--layer", "dest=/app"], 1, /no src=/],
        [["--layer", "missing:/app"], 1, /missing does not exist/],
        [["--chmod", "999"], 1, /octal mode/],
        [["--layer", "src=ctx,exclude=[x"], 1, /\[x/],
      ] as const
    ) {
      const r = await runCli(["build", "ctx", "--store", store, ...flags], { cwd: work });
      assert.equal(r.code, code, `${flags.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.equal(await Deno.stat(store).then(() => true, () => false), false, "nothing written");
  });
});

Deno.test("the README's CLI recipe: --layer only, a store name as base offline, pushed; an app change pushes the app layer only", async () => {
  const reg = await startRegistry();
  try {
    await withTempDir("ocistream-recipe-", async (work) => {
      const store = `${work}/store`;
      // A stand-in for node:22-slim, kept in the store under that Docker Hub name.
      await writeTree(`${work}/base`, { "usr/local/bin/node": "#!/bin/sh\n" });
      const base = await runCli([
        "build",
        `${work}/base`,
        "--store",
        store,
        "--output",
        "type=image,name=node:22-slim",
      ]);
      assert.equal(base.code, 0, base.stderr);
      await writeTree(`${work}/node_modules`, { "dep/index.js": "dep" });
      await writeTree(`${work}/dist`, {
        ".git/HEAD": "ref",
        "server.js": "v1",
        "logs/today.log": "x",
      });
      const recipe = () =>
        runCli([
          "build",
          "--from",
          "node:22-slim",
          "--layer",
          "node_modules:/app/node_modules",
          "--layer",
          "dist:/app",
          "--chown",
          "1000:1000",
          "--exclude",
          "**/*.log",
          "--exclude",
          ".git",
          "--workdir",
          "/app",
          "--user",
          "1000",
          "--cmd",
          '["node","server.js"]',
          "--source-date-epoch",
          "0",
          "--store",
          store,
          "--progress",
          "json",
          "--output",
          `type=registry,name=${reg.host}/team/app:1`,
        ], { cwd: work });
      const first = await recipe();
      assert.equal(first.code, 0, first.stderr);
      await runOk("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${reg.host}/team/app:1`,
        `oci:${work}/pulled:app`,
      ]);
      const rootfs = await umociUnpack(`${work}/pulled`, "app", `${work}/bundle`);
      assert.deepEqual(await owners(rootfs), {
        app: "dir 755 1000:1000",
        "app/logs": "dir 755 1000:1000",
        "app/node_modules": "dir 755 1000:1000",
        "app/node_modules/dep": "dir 755 1000:1000",
        "app/node_modules/dep/index.js": "file 644 1000:1000",
        "app/server.js": "file 644 1000:1000",
        usr: "dir 755 0:0",
        "usr/local": "dir 755 0:0",
        "usr/local/bin": "dir 755 0:0",
        "usr/local/bin/node": "file 644 0:0",
      });

      await Deno.writeTextFile(`${work}/dist/server.js`, "v2");
      const second = await recipe();
      assert.equal(second.code, 0, second.stderr);
      const events = second.stderr.trim().split("\n").map((l) => JSON.parse(l));
      const layers = events.filter((e) => e.type === "layer-done").map((e) => e.digest);
      const pushed = events.filter((e) => e.type === "blob-upload").map((e) => e.digest);
      const firstLayers = first.stderr.trim().split("\n").map((l) => JSON.parse(l))
        .filter((e) => e.type === "layer-done").map((e) => e.digest);
      assert.equal(layers[0], firstLayers[0], "dependencies layer unchanged");
      assert.notEqual(layers[1], firstLayers[1], "app layer changed");
      assert.ok(!pushed.includes(layers[0]), "dependencies layer not pushed again");
      assert.ok(pushed.includes(layers[1]), "app layer pushed");
    });
  } finally {
    await reg.stop();
  }
});
