/**
 * The byte stages between a tar and a blob: sha256 digests measured or
 * verified as bytes flow, byte counting, compression (gzip, zstd; web
 * codecs or a runtime's), eStargz, and the layer encoder that chains them
 * into a blob with its digest, diffID and annotations.
 *
 * @example Digest a stream while passing it on
 * ```ts
 * import { DigestStream, webCodecs } from "@ocistream/ocistream/stages";
 * const digest = new DigestStream(webCodecs);
 * await new Response(new Blob(["{}"]).stream().pipeThrough(digest)).arrayBuffer();
 * const { digest: d } = await digest.result;
 * if (d !== "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a") {
 *   throw new Error(d);
 * }
 * ```
 *
 * @module
 */
export * from "./src/stages/digest_stream.ts";
export * from "./src/stages/verify_digest_stream.ts";
export * from "./src/stages/count_stream.ts";
export * from "./src/stages/estargz_stream.ts";
export * from "./src/stages/layer_encoder.ts";
export * from "./src/stages/web_codecs.ts";
export * from "./src/edge/edge_codecs.ts";
export * from "./src/types/codecs.ts";
