import assert from "node:assert/strict";
import { readXattrs, xattrsAvailable } from "../../src/runtime/xattrs.ts";

const MODULE = new URL("../../src/runtime/xattrs.ts", import.meta.url).href;

Deno.test("readXattrs() reads a file's user xattr through libc, or {} where it cannot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-xattrs-" });
  try {
    const file = `${dir}/f`;
    await Deno.writeTextFile(file, "x");
    const set = await new Deno.Command("setfattr", { args: ["-n", "user.k", "-v", "v<&>", file] })
      .output().catch(() => ({ success: false }));
    if (!xattrsAvailable() || !set.success) {
      assert.deepEqual(readXattrs(file), {});
      return;
    }
    assert.deepEqual(readXattrs(file), { "user.k": "v<&>" });
    assert.deepEqual(readXattrs(file, ["user.k", "user.missing"]), { "user.k": "v<&>" });
    assert.deepEqual(readXattrs(dir), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readXattrs() without --allow-ffi reads {} and does not fail", async () => {
  const code = `import { readXattrs, xattrsAvailable } from "${MODULE}";
console.log(JSON.stringify([xattrsAvailable(), readXattrs("/")]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // `deno eval` has every permission; run the same through `deno run` with only --allow-read.
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, code);
    const limited = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", "--allow-read", file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(limited.success, new TextDecoder().decode(limited.stderr));
    assert.equal(new TextDecoder().decode(limited.stdout).trim(), "[false,{}]");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("readXattrs() returns a value that is not UTF-8 as its bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocistream-xattrs-" });
  try {
    const file = `${dir}/f`;
    await Deno.writeTextFile(file, "x");
    const set = await new Deno.Command("setfattr", {
      args: ["-n", "user.b", "-v", "0x80ff00", file],
    })
      .output().catch(() => ({ success: false }));
    if (!xattrsAvailable() || !set.success) {
      assert.deepEqual(readXattrs(file), {});
      return;
    }
    assert.deepEqual(readXattrs(file), { "user.b": new Uint8Array([0x80, 0xff, 0x00]) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
