/**
 * Docker's own reference parser as a peer: `reference_oracle/main.go` over
 * `github.com/docker/distribution/reference` (Debian's golang-github-docker-distribution-dev),
 * built on first use like the shared oracles and cached by the hash of its source.
 * @module
 */
import { createHash } from "node:crypto";

/** What Docker's `ParseNormalizedNamed` made of one name. */
export interface DockerReference {
  ok: boolean;
  registry?: string;
  repository?: string;
  tag?: string;
  digest?: string;
  error?: string;
}

let built: Promise<string> | undefined;

async function build(): Promise<string> {
  const source = await Deno.readFile(new URL("./reference_oracle/main.go", import.meta.url));
  const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const cache = Deno.env.get("OCISTREAM_ORACLE_CACHE") ??
    `${Deno.env.get("TMPDIR") ?? "/tmp"}/ocistream-oracles`;
  const binary = `${cache}/reference-parse-${key}`;
  if (await Deno.stat(binary).then(() => true, () => false)) return binary;
  const work = await Deno.makeTempDir({ prefix: "ocistream-refparse-" });
  try {
    await Deno.mkdir(`${work}/src/refparse`, { recursive: true });
    await Deno.writeFile(`${work}/src/refparse/main.go`, source);
    await Deno.mkdir(cache, { recursive: true });
    // Build beside the final path, then rename: concurrent test processes never see half a file.
    const partial = `${binary}.${Deno.pid}.${crypto.randomUUID()}`;
    const out = await new Deno.Command("go", {
      args: ["build", "-o", partial, "."],
      cwd: `${work}/src/refparse`,
      env: {
        GO111MODULE: "off",
        GOPATH: `${work}:/usr/share/gocode`,
        GOCACHE: `${work}/cache`,
        GOFLAGS: "",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot build the reference oracle: ${new TextDecoder().decode(out.stderr)}` +
          "install golang-go and golang-github-docker-distribution-dev",
      );
    }
    await Deno.rename(partial, binary);
    return binary;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Parses each name with Docker's reference package (names must not contain NUL). */
export async function dockerParse(names: string[]): Promise<DockerReference[]> {
  built ??= build();
  const child = new Deno.Command(await built, {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(names.join("\0")));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  if (lines.length !== names.length) {
    throw new Error(`reference oracle answered ${lines.length} lines for ${names.length} names`);
  }
  return lines.map((l) => JSON.parse(l));
}
