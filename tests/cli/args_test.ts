import assert from "node:assert/strict";
import { parseFlags } from "../../src/cli/args.ts";
import { UsageError } from "../../src/cli/errors.ts";

const spec = {
  output: { type: "string", short: "o", multiple: true },
  store: { type: "string" },
  quiet: { type: "boolean" },
} as const;

Deno.test("parseFlags() reads long, short, repeated and = forms, in any order", () => {
  const { values, positionals } = parseFlags(
    ["ctx", "-o", "type=oci,dest=-", "--store=/s", "--output", "-", "--quiet", "more"],
    spec,
  );
  assert.deepEqual(values, { output: ["type=oci,dest=-", "-"], store: "/s", quiet: true });
  assert.deepEqual(positionals, ["ctx", "more"]);
  assert.deepEqual(parseFlags(["-h"], spec).values, { help: true });
  assert.deepEqual(parseFlags(["--help"], spec).values, { help: true });
  // A later single-valued flag wins; `--` and a lone `-` are positionals.
  assert.equal(parseFlags(["--store", "a", "--store", "b"], spec).values.store, "b");
  assert.deepEqual(parseFlags(["-", "--", "--quiet", "-o"], spec).positionals, [
    "-",
    "--quiet",
    "-o",
  ]);
  assert.equal(parseFlags(["--store="], spec).values.store, "");
});

Deno.test("parseFlags() rejects unknown flags, missing values and values for booleans", () => {
  for (
    const [args, message] of [
      [["--nope"], "unknown option --nope: see --help"],
      [["--stor", "x"], "unknown option --stor (did you mean --store?): see --help"],
      [["-x"], "unknown option -x: see --help"],
      [["-oq"], "unknown option -oq: see --help"],
      [["--store"], "option --store needs a value: see --help"],
      [["-o"], "option -o needs a value: see --help"],
      [["--quiet=yes"], "option --quiet takes no value: see --help"],
    ] as const
  ) {
    assert.throws(() => parseFlags([...args], spec), (e) => {
      assert.ok(e instanceof UsageError);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
});
