/**
 * A Node app as an image, the README's first library example made runnable: a base image,
 * the dependencies and the app code as two layers under /app owned by a non-root user,
 * pushed to a registry. Each folder's `.dockerignore` is honoured; with the epoch, an app
 * change leaves the dependencies layer's digest alone, so only the app layer is pushed again.
 *
 *     deno run -A examples/node_app.ts [APP_DIR] [NAME] [FROM]
 *
 * APP_DIR (default `.`) holds `node_modules/` and `dist/`; NAME defaults to
 * `127.0.0.1:5000/team/app:1`, FROM to `node:22-slim` (taken from the local store when it holds
 * that name, else from Docker Hub). Tested by `tests/examples/node_app_test.ts`.
 *
 * @module
 */
import { buildImage } from "../deno.ts";

const [dir = ".", name = "127.0.0.1:5000/team/app:1", from = "node:22-slim"] = Deno.args;

const { digest } = await buildImage({
  from,
  layers: [
    { src: `${dir}/node_modules`, dest: "/app/node_modules", chown: "1000:1000" },
    { src: `${dir}/dist`, dest: "/app", chown: "1000:1000", exclude: ["**/*.map"] },
  ],
  config: {
    workdir: "/app",
    user: "1000",
    cmd: ["node", "server.js"],
    env: ["NODE_ENV=production"],
  },
  outputs: [`type=registry,name=${name}`],
  sourceDateEpoch: 0,
});
console.log(digest);
