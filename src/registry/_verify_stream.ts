/** Streams bytes through while hashing them; errors at the end if digest or size differ. Private helper. */
import type { Hasher } from "../types/codecs.ts";

/** A SHA-256 hasher factory (Codecs.sha256 shape). */
export type HasherFactory = () => Hasher | Promise<Hasher>;

/** The portable default: hash-wasm, loaded on first use (callers usually pass a native hasher). */
export const wasmSha256: HasherFactory = async (): Promise<Hasher> => {
  const { createSHA256 } = await import("hash-wasm");
  const h = await createSHA256();
  h.init();
  return { update: (d: Uint8Array) => void h.update(d), digestHex: () => h.digest("hex") };
};

/** Hex SHA-256 of a small buffer (manifests). */
export async function sha256Hex(bytes: Uint8Array, factory: HasherFactory): Promise<string> {
  const h = await factory();
  h.update(bytes);
  return h.digestHex();
}

/** Wraps `body` so reading it verifies `digest` and `size`. */
export function verifyStream(
  body: ReadableStream<Uint8Array>,
  digest: string,
  size: number | undefined,
  factory: HasherFactory,
  what: string,
): ReadableStream<Uint8Array> {
  let hasher: Hasher | undefined;
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async start() {
        hasher = await factory();
      },
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (size !== undefined && seen > size) {
          throw new Error(`${what}: received more than the expected ${size} bytes`);
        }
        hasher!.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        if (size !== undefined && seen !== size) {
          throw new Error(`${what}: received ${seen} bytes, expected ${size}`);
        }
        const got = `sha256:${hasher!.digestHex()}`;
        if (got !== digest) {
          throw new Error(`${what}: content digest is ${got}, expected ${digest}`);
        }
      },
    }),
  );
}
