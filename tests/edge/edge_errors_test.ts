import assert from "node:assert/strict";
import { startRegistry } from "../_harness/registry.ts";
import { createEdgeEnvironment } from "../../src/edge/edge.ts";
import { exportFiles } from "../../src/edge/export_files.ts";

const SITE = { "index.html": "<h1>hello</h1>\n" };

// Its own file: while a failed streamed push leaves an unhandled rejection in the exporter,
// the runner aborts every test of the module.
Deno.test("createEdgeEnvironment() without credentials reports the registry's 401", async () => {
  const registry = await startRegistry({ auth: "htpasswd" });
  try {
    await assert.rejects(
      exportFiles(SITE, `type=registry,name=${registry.host}/edge/denied:1`, {
        environment: createEdgeEnvironment({ registry: { retries: { attempts: 1 } } }),
      }),
      {
        name: "RegistryError",
        message: /Cannot push blob \(streamed layer\) to .*registry answered 401 UNAUTHORIZED/,
      },
    );
  } finally {
    await registry.stop();
  }
});
