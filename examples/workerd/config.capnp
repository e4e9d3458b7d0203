# workerd configuration for the ocistream example worker.
#
#   deno bundle --platform browser -o examples/workerd/dist/worker.js examples/workerd/worker.ts
#   npx workerd serve examples/workerd/config.capnp
#
# No nodejs_compat: ocistream's core needs only web APIs.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # workerd's default outbound refuses private and loopback addresses; this
    # one allows them so the worker can push to a registry on 127.0.0.1, and
    # trusts the usual public CAs for HTTPS registries (ghcr.io, Docker Hub).
    (name = "internet", network = (
      allow = ["public", "private", "local"],
      tlsOptions = (trustBrowserCas = true),
    )),
  ],
  sockets = [
    # Override with: workerd serve config.capnp --socket-addr http=127.0.0.1:PORT
    (name = "http", address = "127.0.0.1:8787", http = (), service = "main"),
  ],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "dist/worker.js")],
  compatibilityDate = "2025-09-01",
  globalOutbound = "internet",
  bindings = [
    # Default image when a request names none (empty: the request must name one).
    (name = "IMAGE", text = ""),
  ],
);
