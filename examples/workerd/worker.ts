/**
 * A Cloudflare worker that turns posted files into a container image and
 * pushes it to a registry, with ocistream's portable core (no Node APIs,
 * no `nodejs_compat`).
 *
 * POST a body in one of three forms:
 * - `application/json`: `{ "image": "host/repo:tag", "files": { "index.html": "<h1>hi</h1>" } }`;
 *   `files` may also be a list of `{ path, content | base64, type?, linkName?, mode? }`.
 * - `multipart/form-data`: each file field is a file, its field name the path;
 *   text fields `image`, `epoch`, `prefix`, `compression`.
 * - `application/x-tar`: a tar of the site; `?image=...&epoch=...&prefix=...` in the URL.
 *
 * `compression` (`gzip`, the default, or `uncompressed`; `zstd` needs run-time
 * WebAssembly, which workerd forbids) is a field or query parameter too.
 * `image` falls back to the `IMAGE` binding; `epoch` (seconds) to the
 * `SOURCE_DATE_EPOCH` binding. With an epoch the image is reproducible:
 * timestamps are clamped (`rewrite-timestamp=true`). Registry credentials
 * come from the `REGISTRY_USERNAME` / `REGISTRY_PASSWORD` bindings. The
 * answer is JSON: `{ image, digest, configDigest, layers, sha256, milliseconds }`.
 *
 * Build and run: see examples/README.md.
 * @module
 */
import { exportFiles } from "../../src/edge/export_files.ts";
import { createEdgeEnvironment } from "../../src/edge/edge.ts";
import { edgeSha256Kind } from "../../src/edge/edge_codecs.ts";
import type { MemoryFile } from "../../src/sources/memory_source.ts";
import { UntarStream } from "../../src/stages/untar_stream.ts";
import { parseReference } from "../../src/types/reference.ts";

/** The worker's bindings (all optional text). */
export interface WorkerEnv {
  /** Default image name to push to, e.g. `registry.example.com/site:latest`. */
  IMAGE?: string;
  /** Default epoch in seconds. */
  SOURCE_DATE_EPOCH?: string;
  /** Registry user for the image's registry. */
  REGISTRY_USERNAME?: string;
  /** Registry password or token. */
  REGISTRY_PASSWORD?: string;
}

/** What one request asks for. */
interface PushRequest {
  image?: string;
  epoch?: string | number;
  prefix?: string;
  compression?: string;
  files: MemoryFile[];
}

/** Posted sites are held in memory; refuse anything bigger. */
const MAX_BYTES = 64 * 1024 * 1024;

class BadRequest extends Error {}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

async function readJson(request: Request): Promise<PushRequest> {
  const body = await request.json() as {
    image?: string;
    epoch?: number | string;
    prefix?: string;
    compression?: string;
    files?: Record<string, string> | (MemoryFile & { base64?: string })[];
  };
  if (!body || typeof body !== "object" || !body.files || typeof body.files !== "object") {
    throw new BadRequest('The JSON body needs "files": { "path": "content", ... } or a list');
  }
  const files: MemoryFile[] = Array.isArray(body.files)
    ? body.files.map(({ base64, ...f }) =>
      base64 === undefined ? f : { ...f, content: fromBase64(base64) }
    )
    : Object.entries(body.files).map(([path, content]) => ({ path, content }));
  return {
    image: body.image,
    epoch: body.epoch,
    prefix: body.prefix,
    compression: body.compression,
    files,
  };
}

async function readMultipart(request: Request): Promise<PushRequest> {
  const form = await request.formData();
  const files: MemoryFile[] = [];
  const text = (name: string) => {
    const v = form.get(name);
    return typeof v === "string" ? v : undefined;
  };
  for (const [name, value] of form.entries()) {
    if (typeof value !== "string") files.push({ path: name, content: value });
  }
  return {
    image: text("image"),
    epoch: text("epoch"),
    prefix: text("prefix"),
    compression: text("compression"),
    files,
  };
}

async function readTar(request: Request, url: URL): Promise<PushRequest> {
  if (!request.body) throw new BadRequest("The tar body is empty");
  const files: MemoryFile[] = [];
  let total = 0;
  for await (const entry of request.body.pipeThrough(new UntarStream())) {
    if (/^[./]*$/.test(entry.path)) {
      // The root folder itself (`./` from `tar -C site .`): the layer root is implied.
      await entry.body.cancel();
      continue;
    }
    if (entry.type === "file") {
      const bytes = new Uint8Array(await new Response(entry.body).arrayBuffer());
      total += bytes.byteLength;
      if (total > MAX_BYTES) throw new BadRequest(`The tar holds more than ${MAX_BYTES} bytes`);
      files.push({ path: entry.path, content: bytes, mode: entry.mode });
    } else {
      await entry.body.cancel();
      if (entry.type === "directory") {
        files.push({ path: entry.path, type: "directory", mode: entry.mode });
      } else if (entry.type === "symlink") {
        files.push({
          path: entry.path,
          type: "symlink",
          linkName: entry.linkName,
          mode: entry.mode,
        });
      } else throw new BadRequest(`Unsupported ${entry.type} entry "${entry.path}" in the tar`);
    }
  }
  const q = (name: string) => url.searchParams.get(name) ?? undefined;
  return {
    image: q("image"),
    epoch: q("epoch"),
    prefix: q("prefix"),
    compression: q("compression"),
    files,
  };
}

async function push(request: Request, env: WorkerEnv): Promise<Response> {
  const started = Date.now();
  const url = new URL(request.url);
  const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BYTES) throw new BadRequest(`The body is larger than ${MAX_BYTES} bytes`);
  const body = type === "application/json"
    ? await readJson(request)
    : type === "multipart/form-data"
    ? await readMultipart(request)
    : type === "application/x-tar"
    ? await readTar(request, url)
    : undefined;
  if (!body) {
    throw new BadRequest(
      `Unsupported content-type "${type}": post application/json, multipart/form-data or application/x-tar`,
    );
  }
  const image = body.image || url.searchParams.get("image") || env.IMAGE;
  if (!image) {
    throw new BadRequest('No image to push to: give "image" in the request or the IMAGE binding');
  }
  const host = parseReference(image).registry;
  const epochText = body.epoch ?? env.SOURCE_DATE_EPOCH;
  const epoch = epochText === undefined || epochText === "" ? undefined : Number(epochText);
  if (epoch !== undefined && (!Number.isInteger(epoch) || epoch < 0)) {
    throw new BadRequest(`Invalid epoch "${epochText}": use whole seconds since 1970`);
  }
  const environment = createEdgeEnvironment({
    credentials: env.REGISTRY_USERNAME
      ? { [host]: { username: env.REGISTRY_USERNAME, password: env.REGISTRY_PASSWORD ?? "" } }
      : undefined,
  });
  if (body.compression !== undefined && !/^[a-z]+$/.test(body.compression)) {
    throw new BadRequest(`Invalid compression "${body.compression}": use gzip or uncompressed`);
  }
  const output = `type=registry,"name=${image}"` +
    (body.compression ? `,compression=${body.compression}` : "") +
    (epoch === undefined ? "" : `,rewrite-timestamp=true,source-date-epoch=${epoch}`);
  const result = await exportFiles(body.files, output, {
    environment,
    prefix: body.prefix ?? "",
    // Files "written now"; an epoch clamps them, so the digest does not depend on it.
    mtime: Math.floor(Date.now() / 1000),
  });
  return json({
    image,
    digest: result.digest,
    configDigest: result.configDigest,
    layers: result.manifests[0]!.layers.map((l) => l.digest),
    sha256: await edgeSha256Kind(),
    milliseconds: Date.now() - started,
  });
}

export default {
  async fetch(request: Request, env: WorkerEnv): Promise<Response> {
    if (request.method !== "POST") {
      return json(
        { usage: "POST files as JSON, multipart/form-data or a tar; see worker.ts" },
        405,
      );
    }
    try {
      return await push(request, env);
    } catch (e) {
      const error = e as Error;
      const status = e instanceof BadRequest || e instanceof TypeError || e instanceof RangeError ||
          e instanceof SyntaxError
        ? 400
        : 502;
      return json({ error: error.message }, status);
    }
  },
};
