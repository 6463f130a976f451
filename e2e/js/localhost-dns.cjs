// Preloaded with `node --require ./localhost-dns.cjs`: resolves every
// *.localhost name to 127.0.0.1, as the README's /etc/hosts line does.
//
// The Go tests cannot edit /etc/hosts, and glibc's getaddrinfo (what
// Node 20's dns.lookup uses) does not resolve dev.localhost by itself unless
// the machine runs systemd-resolved or nss-myhostname. The SDK is left
// unmodified: Node's net.connect calls dns.lookup for every connection, so
// patching the function on the dns module is enough; TLS still checks the
// certificate against the requested name (SNI dev.localhost).
"use strict";
const dns = require("node:dns");

const original = dns.lookup;

function isLocalhostName(hostname) {
  const h = String(hostname).toLowerCase().replace(/\.$/, "");
  return h.endsWith(".localhost");
}

dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  } else if (typeof options === "number") {
    options = { family: options };
  } else if (options == null) {
    options = {};
  }
  if (!isLocalhostName(hostname) || options.family === 6) {
    return original.call(this, hostname, options, callback);
  }
  process.nextTick(() => {
    if (options.all) {
      callback(null, [{ address: "127.0.0.1", family: 4 }]);
    } else {
      callback(null, "127.0.0.1", 4);
    }
  });
  return {};
};
