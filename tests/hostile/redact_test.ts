import assert from "node:assert/strict";
import { redactSecrets, registerCredentials } from "../../src/registry/redact.ts";

Deno.test("redactSecrets() masks every form of a configured user:password", () => {
  registerCredentials("bob", "Tr1cky+/pass=word");
  const pair = btoa("bob:Tr1cky+/pass=word");
  const forms = [
    pair,
    pair.replace(/=+$/, ""),
    pair.replace(/\+/g, "-").replace(/\//g, "_"),
    encodeURIComponent("Tr1cky+/pass=word"),
    btoa("Tr1cky+/pass=word"),
  ];
  for (const f of forms) assert.equal(redactSecrets(`x ${f} y`), "x *** y", f);
  assert.equal(redactSecrets(`Basic:${pair}`), "Basic:***");
  assert.equal(redactSecrets(`basic "${pair}"`), 'basic "***"');
});

Deno.test("redactSecrets() keeps the word realm after Basic or Bearer", () => {
  assert.equal(
    redactSecrets('its Bearer realm "https://a/token" and Basic realm=x'),
    'its Bearer realm "https://a/token" and Basic realm=x',
  );
  assert.equal(redactSecrets("Authorization: Bearer abc.def"), "Authorization: Bearer ***");
});
