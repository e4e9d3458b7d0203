import assert from "node:assert/strict";
import { applyLayer } from "../../src/sinks/unpack_layers.ts";
import { denoFileSystem } from "../../src/runtime/deno_file_system.ts";
import { encodeTarHeader } from "../../src/stages/tar_header.ts";
import {
  describeTree,
  dir,
  file,
  hardlink,
  layerTar,
  runBytes,
  type Spec,
  symlink,
} from "./_image_fixture.ts";

/**
 * Each case applies crafted layers onto `<tmp>/target` next to `<tmp>/outside`
 * (a folder with a secret file) and checks that the layer was refused with
 * an error naming the entry, or contained, and that `outside` is unchanged.
 */
interface Attack {
  name: string;
  /** Layers; `OUT` in paths and link targets is replaced by the absolute outside folder. */
  layers: (Spec[] | ((outside: string) => Promise<Uint8Array>))[];
  /** The error expected (refused); otherwise the layers must apply (contained). */
  refused?: RegExp;
  /** Checks inside the target after a contained attack. */
  contained?: (target: string, outside: string) => Promise<void>;
}

const ATTACKS: Attack[] = [
  {
    name: "a path with ..",
    layers: [[file("../outside/secret", "pwned")]],
    refused: /Refusing tar entry "\.\.\/outside\/secret" in layer 1: a "\.\." path component/,
  },
  {
    name: "a path with .. in the middle",
    layers: [[dir("a"), file("a/../../outside/new", "pwned")]],
    refused: /Refusing tar entry "a\/\.\.\/\.\.\/outside\/new"/,
  },
  {
    name: "an absolute path (GNU tar -P)",
    layers: [async (outside) => {
      return await runBytes("tar", ["-P", "-c", "-f", "-", `${outside}/secret`]);
    }],
    contained: async (target, outside) => {
      assert.equal(await Deno.readTextFile(`${target}${outside}/secret`), "secret\n");
    },
  },
  {
    name: "writing through an absolute symlink that points outside",
    layers: [[symlink("evil", "OUT")], [file("evil/secret", "pwned"), file("evil/new", "pwned")]],
    contained: async (target, outside) => {
      assert.equal(await Deno.readTextFile(`${target}${outside}/secret`), "pwned");
      assert.equal(await Deno.readTextFile(`${target}${outside}/new`), "pwned");
    },
  },
  {
    name: "writing through a relative symlink with many ..",
    layers: [[symlink("evil", "../../../../../../../../OUT"), file("evil/new", "pwned")]],
    contained: async (target, outside) => {
      assert.equal(await Deno.readTextFile(`${target}${outside}/new`), "pwned");
    },
  },
  {
    name: "a symlink chain and a loop",
    layers: [[
      symlink("one", "two/.."),
      symlink("two", "/../OUT"),
      file("one/x", "pwned"),
      symlink("loop", "loop"),
    ], [file("loop/x", "never")]],
    refused: /"loop\/x" in layer 2: more than 255 symlinks/,
  },
  {
    name: "a symlink replacing a folder mid-layer",
    layers: [[
      dir("d", { mode: 0o700 }),
      dir("d/sub", { mode: 0o700 }),
      symlink("d", "OUT"),
      file("d/new", "pwned"),
    ]],
    contained: async (target, outside) => {
      assert.equal((await Deno.lstat(`${target}/d`)).isSymlink, true);
      assert.equal(await Deno.readTextFile(`${target}${outside}/new`), "pwned");
    },
  },
  {
    name: "a file over an existing symlink to an outside file",
    layers: [[symlink("s", "OUT/secret")], [file("s", "pwned")]],
    contained: async (target) => {
      assert.equal((await Deno.lstat(`${target}/s`)).isFile, true);
      assert.equal(await Deno.readTextFile(`${target}/s`), "pwned");
    },
  },
  {
    name: "a hardlink to an outside file via ..",
    layers: [[hardlink("hl", "../outside/secret")]],
    refused: /Refusing tar entry "hl" in layer 1: a "\.\." path component/,
  },
  {
    name: "a hardlink to an absolute outside path",
    layers: [[hardlink("hl", "OUT/secret")]],
    refused:
      /hardlink "hl" in layer 1: its target ".*\/outside\/secret" does not exist in the image/,
  },
  {
    name: "a hardlink through a symlink that points outside",
    layers: [[symlink("evil", "OUT"), hardlink("hl", "evil/secret")]],
    refused: /hardlink "hl" in layer 1: its target "evil\/secret" does not exist/,
  },
  {
    name: "a whiteout through a symlink that points outside",
    layers: [[symlink("evil", "OUT")], [
      file("evil/.wh.secret", ""),
      file("evil/.wh..wh..opq", ""),
    ]],
    contained: async (target) => {
      assert.equal((await Deno.lstat(`${target}/evil`)).isSymlink, true);
    },
  },
  {
    name: "a whiteout of ..",
    layers: [[dir("a"), file("a/.wh..", "")]],
    refused: /a "\.\." path component|Refusing whiteout "a\/\.wh\.\." in layer 1: it names no file/,
  },
  {
    name: "a huge declared size",
    layers: [() => {
      const header = encodeTarHeader({
        path: "big",
        type: "file",
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 1e12,
      });
      return Promise.resolve(concat([header, new Uint8Array(4096)]));
    }],
    refused: /truncated: entry big ends \d+ bytes short of its size 1000000000000/,
  },
  {
    name: "a truncated tar",
    layers: [async () => {
      const tar = await layerTar([file("ok", "ok"), file("cut", "x".repeat(5000))]);
      return tar.subarray(0, 512 * 4);
    }],
    refused: /truncated: entry cut ends \d+ bytes short of its size 5000/,
  },
];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** `OUT` in link targets becomes the outside folder (absolute at the start, else relative). */
function substitute(specs: Spec[], outside: string): Spec[] {
  return specs.map((s) => {
    if (s.linkName === undefined) return s;
    const linkName = s.linkName.startsWith("OUT")
      ? s.linkName.replace("OUT", outside)
      : s.linkName.replace("OUT", outside.slice(1));
    return { ...s, linkName };
  });
}

for (const attack of ATTACKS) {
  Deno.test(`applyLayer() refuses or contains ${attack.name}`, async () => {
    const tmp = await Deno.makeTempDir({ prefix: "ocistream-attack-" });
    try {
      const outside = `${tmp}/outside`;
      const target = `${tmp}/target`;
      await Deno.mkdir(outside, { mode: 0o755 });
      await Deno.chmod(outside, 0o755);
      await Deno.writeTextFile(`${outside}/secret`, "secret\n");
      await Deno.mkdir(target);
      const before = await describeTree(outside);
      const beforeStat = await Deno.stat(outside);
      const apply = async () => {
        for (const [i, layer] of attack.layers.entries()) {
          const tar = typeof layer === "function"
            ? await layer(outside)
            : await layerTar(substitute(layer, outside));
          await applyLayer(ReadableStream.from([tar]), target, {
            fs: denoFileSystem,
            layerName: `layer ${i + 1}`,
          });
        }
      };
      if (attack.refused) {
        await assert.rejects(apply(), attack.refused);
      } else {
        await apply();
        await attack.contained?.(target, outside);
      }
      assert.deepEqual(await describeTree(outside), before, "the outside folder changed");
      const afterStat = await Deno.stat(outside);
      assert.equal(afterStat.mode, beforeStat.mode);
      assert.equal(afterStat.mtime?.getTime(), beforeStat.mtime?.getTime());
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), ["outside", "target"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
