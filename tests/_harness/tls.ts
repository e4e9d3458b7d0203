/**
 * Test certificates made with `openssl`: a CA and a leaf for 127.0.0.1
 * signed by it (rustls rejects a self-signed end-entity certificate), and a
 * self-signed EC key pair for signing registry tokens.
 * @module
 */

/** Files of a CA and a server certificate for 127.0.0.1. */
export interface TestTls {
  /** CA certificate (PEM file). */
  caFile: string;
  /** CA certificate PEM text. */
  caPem: string;
  /** Server certificate (PEM file). */
  certFile: string;
  /** Server key (PEM file). */
  keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes a CA and a leaf for IP 127.0.0.1 in `dir`. */
export async function makeTls(dir: string): Promise<TestTls> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=ocistream test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await openssl(
    ["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"],
    dir,
  );
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.crt",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
  ], dir);
  return {
    caFile: `${dir}/ca.crt`,
    caPem: await Deno.readTextFile(`${dir}/ca.crt`),
    certFile: `${dir}/leaf.crt`,
    keyFile: `${dir}/leaf.key`,
  };
}

/** A self-signed P-256 certificate and its PKCS#8 key, for signing tokens. */
export async function makeSigningCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "token.key",
    "-out",
    "token.crt",
    "-days",
    "2",
    "-subj",
    "/CN=ocistream token signer",
  ], dir);
  return { certFile: `${dir}/token.crt`, keyFile: `${dir}/token.key` };
}

/** The DER bytes of the first PEM block in `pem`. */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
