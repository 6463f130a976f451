// Drives a running keywarden server with the unmodified Azure SDK for
// JavaScript (@azure/keyvault-keys + @azure/identity), on the named vault
// origin (challenge resource verification on) and on the bare origin
// (verification off). Run by e2e/js_test.go; by hand:
//
//   set -a; . ../../keywarden-data/dev.env; set +a
//   NODE_EXTRA_CA_CERTS=$KEYWARDEN_CA_CERT node --require ./localhost-dns.cjs keys.test.mjs
//
// Exits 0 when every check passes, 1 with a message naming the failed step
// otherwise.

import { strict as assert } from "node:assert";
import { constants, createHash, createPublicKey, generateKeyPairSync, randomBytes, verify as nodeVerify } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`environment variable ${name} is not set`);
  }
  return v;
}

const settings = {
  dnsUrl: env("KEYWARDEN_VAULT_DNS_URL"),
  bareUrl: env("KEYWARDEN_VAULT_URL"),
  tenant: env("AZURE_TENANT_ID"),
  clientId: env("AZURE_CLIENT_ID"),
  secret: env("AZURE_CLIENT_SECRET"),
  authority: env("AZURE_AUTHORITY_HOST"),
};
if (!process.env.NODE_EXTRA_CA_CERTS) {
  console.warn("warning: NODE_EXTRA_CA_CERTS is not set; TLS to the dev CA will fail");
}

const credential = new ClientSecretCredential(settings.tenant, settings.clientId, settings.secret, {
  authorityHost: settings.authority,
  disableInstanceDiscovery: true,
});

// Fail fast: one retry, so that a broken server shows up as an error, not as
// minutes of back-off.
const retryOptions = { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 500 };
const pollOptions = { intervalInMs: 100 };

const suffix = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

let current = "";
let checks = 0;

async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  await fn();
  checks++;
  if (process.env.KEYWARDEN_JS_VERBOSE) {
    console.log(`  ok ${name} (${Date.now() - t0} ms)`);
  }
}

function sha(alg, data) {
  return createHash(alg).update(data).digest();
}

// publicKey turns the SDK's JsonWebKey (byte arrays) into a node KeyObject,
// to check the server's signatures and ciphertexts independently of the SDK.
function publicKey(jwk) {
  const b64u = (b) => Buffer.from(b).toString("base64url");
  const k = jwk.kty.startsWith("EC")
    ? { kty: "EC", crv: jwk.crv, x: b64u(jwk.x), y: b64u(jwk.y) }
    : { kty: "RSA", n: b64u(jwk.n), e: b64u(jwk.e) };
  return createPublicKey({ key: k, format: "jwk" });
}

function bytesEqual(a, b, msg) {
  assert.ok(a instanceof Uint8Array, `${msg}: not bytes`);
  assert.equal(Buffer.from(a).toString("hex"), Buffer.from(b).toString("hex"), msg);
}

async function expectRestError(promise, status, code, what) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.statusCode, status, `${what}: status ${e.statusCode} (${e.code}): ${e.message}`);
    if (code) {
      assert.equal(e.code, code, `${what}: error.code ${e.code}: ${e.message}`);
    }
    return e;
  }
  assert.fail(`${what}: expected ${status} ${code ?? ""}, got success`);
}

async function suite(label, vaultUrl, clientOptions) {
  console.log(`--- ${label}: ${vaultUrl}`);
  const client = new KeyClient(vaultUrl, credential, { ...clientOptions, retryOptions });
  const cryptoOptions = { ...clientOptions, retryOptions };
  const origin = new URL(vaultUrl).origin;
  const name = (base) => `js-${label}-${base}-${suffix}`;
  const rsaName = name("rsa");
  const ecName = name("ec");
  const lifeName = name("life");
  const importName = name("import");

  let rsa;
  let ec;
  await step(`${label}: createRsaKey`, async () => {
    rsa = await client.createRsaKey(rsaName, { keySize: 2048, tags: { purpose: "js-e2e" } });
    assert.equal(rsa.name, rsaName);
    assert.equal(rsa.keyType, "RSA");
    assert.ok(rsa.id.startsWith(`${origin}/keys/${rsaName}/`), `kid ${rsa.id} not on ${origin}`);
    assert.ok(rsa.properties.version, "no version");
    assert.equal(rsa.properties.enabled, true);
    assert.ok(rsa.properties.createdOn instanceof Date, "createdOn not a date");
    assert.equal(rsa.key.n.length, 256, "RSA-2048 modulus length");
    assert.equal(rsa.properties.tags?.purpose, "js-e2e");
  });
  await step(`${label}: createEcKey`, async () => {
    ec = await client.createEcKey(ecName, { curve: "P-256" });
    assert.equal(ec.keyType, "EC");
    assert.equal(ec.key.crv, "P-256");
    assert.equal(ec.key.x.length, 32);
    assert.equal(ec.key.y.length, 32);
  });
  await step(`${label}: getKey latest and by version`, async () => {
    const got = await client.getKey(rsaName);
    assert.equal(got.id, rsa.id);
    bytesEqual(got.key.n, rsa.key.n, "modulus");
    const byVersion = await client.getKey(ecName, { version: ec.properties.version });
    assert.equal(byVersion.id, ec.id);
  });
  await step(`${label}: listPropertiesOfKeys`, async () => {
    const seen = new Set();
    let n = 0;
    for await (const p of client.listPropertiesOfKeys()) {
      seen.add(p.name);
      n++;
      if (n > 10000) throw new Error("listPropertiesOfKeys does not end");
    }
    assert.ok(seen.has(rsaName) && seen.has(ecName), `list misses ${rsaName} or ${ecName}`);
  });
  await step(`${label}: listPropertiesOfKeys by pages (maxPageSize 1)`, async () => {
    let pages = 0;
    const seen = new Set();
    for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 1 })) {
      assert.ok(page.length <= 1, `page of ${page.length} items with maxPageSize 1`);
      for (const p of page) seen.add(p.name);
      if (++pages > 10000) throw new Error("paging does not end");
    }
    assert.ok(pages >= 2, `only ${pages} page(s)`);
    assert.ok(seen.has(rsaName) && seen.has(ecName), "paged list misses a key");
  });
  await step(`${label}: updateKeyProperties`, async () => {
    const updated = await client.updateKeyProperties(rsaName, rsa.properties.version, {
      tags: { purpose: "js-e2e", updated: "yes" },
    });
    assert.equal(updated.properties.tags?.updated, "yes");
    const latest = await client.updateKeyProperties(ecName, { tags: { env: "test" } });
    assert.equal(latest.properties.tags?.env, "test");
    assert.equal(latest.id, ec.id);
  });

  // Cryptography: a client from a key id fetches the key and then does
  // encrypt/wrap/verifyData for RSA locally with the public key; verify,
  // sign, decrypt, unwrap, RSA-OAEP-256 and everything EC go to the server.
  const rsaCrypto = new CryptographyClient(rsa.id, credential, cryptoOptions);
  const ecCrypto = client.getCryptographyClient(ecName, { keyVersion: ec.properties.version });
  const message = Buffer.from(`keywarden js e2e ${label}`);

  await step(`${label}: ES256 sign (remote) / verify (remote)`, async () => {
    const digest = sha("sha256", message);
    const sig = await ecCrypto.sign("ES256", digest);
    assert.equal(sig.algorithm, "ES256");
    assert.equal(sig.result.length, 64, "ES256 signature is raw r||s, 64 bytes");
    assert.ok(nodeVerify("sha256", message, { key: publicKey(ec.key), dsaEncoding: "ieee-p1363" }, sig.result),
      "ES256 signature does not verify with node:crypto");
    const ok = await ecCrypto.verify("ES256", digest, sig.result);
    assert.equal(ok.result, true, "ES256 verify of a good signature");
    const bad = Buffer.from(sig.result);
    bad[5] ^= 0xff;
    const notOk = await ecCrypto.verify("ES256", digest, bad);
    assert.equal(notOk.result, false, "ES256 verify of a bad signature");
    const sd = await ecCrypto.signData("ES256", message);
    const vd = await ecCrypto.verifyData("ES256", message, sd.result);
    assert.equal(vd.result, true, "ES256 verifyData");
  });
  await step(`${label}: RS256/PS256 sign (remote) / verify (remote and local)`, async () => {
    for (const alg of ["RS256", "PS256"]) {
      const digest = sha("sha256", message);
      const sig = await rsaCrypto.sign(alg, digest);
      assert.equal(sig.result.length, 256, `${alg} signature length`);
      const ok = await rsaCrypto.verify(alg, digest, sig.result);
      assert.equal(ok.result, true, `${alg} verify (remote)`);
      const pss = alg.startsWith("PS");
      assert.ok(nodeVerify("sha256", message, {
        key: publicKey(rsa.key),
        padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
        saltLength: 32, // PS salt length = hash length
      }, sig.result), `${alg} signature does not verify with node:crypto`);
      const sd = await rsaCrypto.signData(alg, message);
      if (!pss) {
        // Local verifyData (the SDK's RsaCryptographyProvider) checks
        // PKCS#1 v1.5 only: in 4.10.2 it builds a plain createVerify for PS*
        // too, so a correct PS256 signature fails locally (an SDK bug,
        // whatever the server). PS256 is checked by remote verify above and
        // by node:crypto.
        const local = await rsaCrypto.verifyData(alg, message, sd.result);
        assert.equal(local.result, true, `${alg} verifyData (local, public key)`);
      }
      const tampered = Buffer.from(sd.result);
      tampered[0] ^= 1;
      const notOk = await rsaCrypto.verify(alg, digest, tampered);
      assert.equal(notOk.result, false, `${alg} verify of a bad signature`);
    }
  });
  await step(`${label}: encrypt/decrypt RSA-OAEP (local encrypt) and RSA-OAEP-256 (remote)`, async () => {
    for (const algorithm of ["RSA-OAEP", "RSA-OAEP-256"]) {
      const plaintext = randomBytes(32);
      const enc = await rsaCrypto.encrypt({ algorithm, plaintext });
      assert.equal(enc.result.length, 256, `${algorithm} ciphertext length`);
      const dec = await rsaCrypto.decrypt({ algorithm, ciphertext: enc.result });
      bytesEqual(dec.result, plaintext, `${algorithm} round trip`);
    }
  });
  await step(`${label}: wrapKey/unwrapKey RSA-OAEP and RSA-OAEP-256`, async () => {
    for (const alg of ["RSA-OAEP", "RSA-OAEP-256"]) {
      const cek = randomBytes(32);
      const wrapped = await rsaCrypto.wrapKey(alg, cek);
      const unwrapped = await rsaCrypto.unwrapKey(alg, wrapped.result);
      bytesEqual(unwrapped.result, cek, `${alg} wrap round trip`);
    }
  });
  await step(`${label}: version-less key id (POST /keys/{name}//op)`, async () => {
    // A version-less id: the SDK calls POST /keys/{name}//decrypt etc.
    const versionless = `${origin}/keys/${rsaName}`;
    const c = new CryptographyClient(versionless, credential, cryptoOptions);
    const plaintext = randomBytes(16);
    const enc = await c.encrypt("RSA-OAEP-256", plaintext);
    const dec = await c.decrypt("RSA-OAEP-256", enc.result);
    bytesEqual(dec.result, plaintext, "version-less RSA-OAEP-256 round trip");
    const sig = await c.sign("PS256", sha("sha256", message));
    assert.equal((await c.verify("PS256", sha("sha256", message), sig.result)).result, true);
  });

  await step(`${label}: importKey (EC P-256 JWK with d) and sign`, async () => {
    const { privateKey, publicKey: pub } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const j = privateKey.export({ format: "jwk" });
    const bytes = (v) => Buffer.from(v, "base64url");
    const imported = await client.importKey(importName, {
      kty: "EC", crv: "P-256", x: bytes(j.x), y: bytes(j.y), d: bytes(j.d), keyOps: ["sign", "verify"],
    });
    assert.equal(imported.keyType, "EC");
    assert.equal(imported.key.d, undefined, "private member d returned");
    const sig = await client.getCryptographyClient(importName).sign("ES256", sha("sha256", message));
    assert.ok(nodeVerify("sha256", message, { key: pub, dsaEncoding: "ieee-p1363" }, sig.result),
      "signature of the imported key does not verify with the original public key");
  });
  await step(`${label}: rotateKey and rotation policy`, async () => {
    const policy = await client.updateKeyRotationPolicy(rsaName, {
      expiresIn: "P90D",
      lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }],
    });
    assert.equal(policy.expiresIn, "P90D");
    const got = await client.getKeyRotationPolicy(rsaName);
    assert.equal(got.expiresIn, "P90D");
    const rotate = got.lifetimeActions?.find((a) => a.action === "Rotate");
    assert.ok(rotate, `no Rotate action in ${JSON.stringify(got.lifetimeActions)}`);
    assert.equal(rotate.timeBeforeExpiry, "P30D");
    const rotated = await client.rotateKey(rsaName);
    assert.notEqual(rotated.properties.version, rsa.properties.version, "rotate kept the version");
    const latest = await client.getKey(rsaName);
    assert.equal(latest.properties.version, rotated.properties.version);
    const versions = [];
    for await (const v of client.listPropertiesOfKeyVersions(rsaName)) versions.push(v.version);
    assert.ok(versions.includes(rsa.properties.version) && versions.includes(rotated.properties.version),
      `versions ${versions}`);
  });

  let backup;
  await step(`${label}: backupKey`, async () => {
    backup = await client.backupKey(ecName);
    assert.ok(backup instanceof Uint8Array && backup.length > 0, "empty backup");
  });
  await step(`${label}: restoreKeyBackup over an existing name is 409`, async () => {
    await expectRestError(client.restoreKeyBackup(backup), 409, "Conflict", "restore over existing key");
  });

  await step(`${label}: beginDeleteKey, getDeletedKey, beginRecoverDeletedKey`, async () => {
    const poller = await client.beginDeleteKey(ecName, pollOptions);
    const deleted = await poller.pollUntilDone();
    assert.equal(deleted.name, ecName);
    assert.ok(deleted.properties.recoveryId, "no recoveryId");
    assert.ok(deleted.properties.deletedOn instanceof Date, "deletedOn not a date");
    const got = await client.getDeletedKey(ecName);
    assert.equal(got.name, ecName);
    await expectRestError(client.getKey(ecName), 404, "KeyNotFound", "get of a deleted key");
    await expectRestError(client.createEcKey(ecName), 409, "Conflict", "create over a soft-deleted name");
    let listed = false;
    for await (const d of client.listDeletedKeys()) if (d.name === ecName) listed = true;
    assert.ok(listed, "listDeletedKeys misses the deleted key");
    const recover = await client.beginRecoverDeletedKey(ecName, pollOptions);
    const recovered = await recover.pollUntilDone();
    assert.equal(recovered.name, ecName);
    const back = await client.getKey(ecName);
    assert.equal(back.id, ec.id);
  });
  await step(`${label}: delete again, purgeDeletedKey, restoreKeyBackup`, async () => {
    const poller = await client.beginDeleteKey(ecName, pollOptions);
    await poller.pollUntilDone();
    await client.purgeDeletedKey(ecName);
    await expectRestError(client.getDeletedKey(ecName), 404, "KeyNotFound", "get of a purged key");
    const restored = await client.restoreKeyBackup(backup);
    assert.equal(restored.name, ecName);
    assert.equal(restored.properties.version, ec.properties.version);
    const sig = await client.getCryptographyClient(ecName).sign("ES256", sha("sha256", message));
    assert.equal(sig.result.length, 64);
  });
  await step(`${label}: getRandomBytes`, async () => {
    const r = await client.getRandomBytes(32);
    assert.ok(r instanceof Uint8Array, "not bytes");
    assert.equal(r.length, 32);
  });
  await step(`${label}: 404 KeyNotFound`, async () => {
    await expectRestError(client.getKey(name("missing")), 404, "KeyNotFound", "get of a missing key");
    await expectRestError(client.getCryptographyClient(name("missing")).sign("ES256", sha("sha256", message)),
      404, "KeyNotFound", "sign with a missing key");
  });
  await step(`${label}: key_ops and enabled enforced by the server (403 Forbidden)`, async () => {
    const k = await client.createEcKey(lifeName, { curve: "P-256" });
    // A CryptographyClient built from a KeyVaultKey never refetches it, so
    // its local checks (key_ops, nbf/exp) pass on the stale copy and the
    // server must refuse on its own.
    const stale = new CryptographyClient(k, credential, cryptoOptions);
    const digest = sha("sha256", message);
    const good = await stale.sign("ES256", digest);
    await client.updateKeyProperties(lifeName, k.properties.version, { keyOps: ["verify"] });
    await expectRestError(stale.sign("ES256", digest), 403, "Forbidden", "sign outside key_ops");
    assert.equal((await stale.verify("ES256", digest, good.result)).result, true, "verify within key_ops");
    await client.updateKeyProperties(lifeName, k.properties.version, { keyOps: ["sign", "verify"], enabled: false });
    await expectRestError(stale.sign("ES256", digest), 403, "Forbidden", "sign with a disabled key");
    await client.updateKeyProperties(lifeName, k.properties.version, { enabled: true });
    assert.equal((await stale.sign("ES256", digest)).result.length, 64, "sign after re-enabling");
  });
  await step(`${label}: cleanup`, async () => {
    for (const n of [rsaName, ecName, lifeName, importName]) {
      await (await client.beginDeleteKey(n, pollOptions)).pollUntilDone();
      await client.purgeDeletedKey(n);
    }
  });
}

const started = Date.now();
try {
  await suite("named", settings.dnsUrl, {});
  await suite("bare", settings.bareUrl, { disableChallengeResourceVerification: true });
} catch (e) {
  console.error(`FAIL: ${current}`);
  console.error(e?.stack ?? String(e));
  if (e?.request) {
    console.error(`request: ${e.request.method} ${e.request.url}`);
  }
  if (e?.response) {
    console.error(`response: ${e.response.status} ${e.response.bodyAsText ?? ""}`);
  }
  process.exit(1);
}
console.log(`PASS: ${checks} checks in ${Date.now() - started} ms`);
