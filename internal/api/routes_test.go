package api

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/vault"
)

func TestRouting(t *testing.T) {
	const ver = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name   string
		method string
		host   string
		target string
		body   string
		status int
		want   call
	}{
		{"list keys", "GET", namedHost, "/keys?api-version=7.5", "", 200, call{Method: "ListKeys", Vault: "dev", Limit: 25}},
		{"list keys trailing slash", "GET", namedHost, "/keys/?api-version=7.5", "", 200, call{Method: "ListKeys", Vault: "dev", Limit: 25}},
		{"list keys bare origin", "GET", bareHost, "/keys?api-version=7.5", "", 200, call{Method: "ListKeys", Vault: "dev", Limit: 25}},
		{"other vault by host", "GET", "other.localhost:8443", "/keys?api-version=7.5", "", 200, call{Method: "ListKeys", Vault: "other", Limit: 25}},
		{"create", "POST", namedHost, "/keys/k1/create?api-version=7.5", `{"kty":"RSA"}`, 200, call{Method: "CreateKey", Vault: "dev", Name: "k1"}},
		{"create verb case", "POST", namedHost, "/keys/k1/CREATE?api-version=7.5", `{"kty":"EC"}`, 200, call{Method: "CreateKey", Vault: "dev", Name: "k1"}},
		{"import", "PUT", namedHost, "/keys/k1?api-version=7.5", `{"key":{"kty":"oct","k":"AAAA"}}`, 200, call{Method: "ImportKey", Vault: "dev", Name: "k1"}},
		{"get latest", "GET", namedHost, "/keys/k1?api-version=7.5", "", 200, call{Method: "GetKey", Vault: "dev", Name: "k1"}},
		{"get empty version", "GET", namedHost, "/keys/k1/?api-version=7.5", "", 200, call{Method: "GetKey", Vault: "dev", Name: "k1"}},
		{"get version", "GET", namedHost, "/keys/k1/" + ver + "?api-version=7.5", "", 200, call{Method: "GetKey", Vault: "dev", Name: "k1", Version: ver}},
		{"get escaped name", "GET", namedHost, "/keys/my%2Dkey?api-version=7.5", "", 200, call{Method: "GetKey", Vault: "dev", Name: "my-key"}},
		{"percent-encoded query key", "GET", namedHost, "/keys/k1?api%2Dversion=7.5", "", 200, call{Method: "GetKey", Vault: "dev", Name: "k1"}},
		{"update", "PATCH", namedHost, "/keys/k1/" + ver + "?api-version=7.5", `{"attributes":{"enabled":false}}`, 200, call{Method: "UpdateKey", Vault: "dev", Name: "k1", Version: ver}},
		{"update latest empty body", "PATCH", namedHost, "/keys/k1?api-version=7.5", "", 200, call{Method: "UpdateKey", Vault: "dev", Name: "k1"}},
		{"delete", "DELETE", namedHost, "/keys/k1?api-version=7.5", "", 200, call{Method: "DeleteKey", Vault: "dev", Name: "k1"}},
		{"delete trailing slash", "DELETE", namedHost, "/keys/k1/?api-version=7.5", "", 200, call{Method: "DeleteKey", Vault: "dev", Name: "k1"}},
		{"versions", "GET", namedHost, "/keys/k1/versions?api-version=7.5", "", 200, call{Method: "ListVersions", Vault: "dev", Name: "k1", Limit: 25}},
		{"versions literal wins", "GET", namedHost, "/keys/k1/Versions/?api-version=7.5&maxresults=3", "", 200, call{Method: "ListVersions", Vault: "dev", Name: "k1", Limit: 3}},
		{"backup", "POST", namedHost, "/keys/k1/backup?api-version=7.5", "", 200, call{Method: "BackupKey", Vault: "dev", Name: "k1"}},
		{"restore", "POST", namedHost, "/keys/restore?api-version=7.5", `{"value":"YmxvYg"}`, 200, call{Method: "RestoreKey", Vault: "dev"}},
		{"rotate", "POST", namedHost, "/keys/k1/rotate?api-version=7.5", "", 200, call{Method: "RotateKey", Vault: "dev", Name: "k1"}},
		{"get rotation policy", "GET", namedHost, "/keys/k1/rotationpolicy?api-version=7.5", "", 200, call{Method: "RotationPolicy", Vault: "dev", Name: "k1"}},
		{"set rotation policy", "PUT", namedHost, "/keys/k1/rotationpolicy?api-version=7.5", `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"rotate"}}]}`, 200, call{Method: "SetRotationPolicy", Vault: "dev", Name: "k1"}},
		{"sign versioned", "POST", namedHost, "/keys/k1/" + ver + "/sign?api-version=7.5", `{"alg":"RS256","value":"AAAA"}`, 200, call{Method: "Sign", Vault: "dev", Name: "k1", Version: ver, Alg: "RS256"}},
		{"sign double slash", "POST", namedHost, "/keys/k1//sign?api-version=7.5", `{"alg":"PS256","value":"AAAA"}`, 200, call{Method: "Sign", Vault: "dev", Name: "k1", Alg: "PS256"}},
		{"sign no version", "POST", namedHost, "/keys/k1/sign?api-version=7.5", `{"alg":"ES256","value":"AAAA"}`, 200, call{Method: "Sign", Vault: "dev", Name: "k1", Alg: "ES256"}},
		{"verify", "POST", namedHost, "/keys/k1//verify?api-version=7.5", `{"alg":"ES256","digest":"AAAA","value":"AAAA"}`, 200, call{Method: "Verify", Vault: "dev", Name: "k1", Alg: "ES256"}},
		{"encrypt", "POST", namedHost, "/keys/k1//encrypt?api-version=7.5", `{"alg":"RSA-OAEP","value":"AAAA"}`, 200, call{Method: "Encrypt", Vault: "dev", Name: "k1", Op: vault.OpEncrypt, Alg: "RSA-OAEP"}},
		{"decrypt", "POST", namedHost, "/keys/k1/" + ver + "/decrypt?api-version=7.5", `{"alg":"RSA-OAEP","value":"AAAA"}`, 200, call{Method: "Decrypt", Vault: "dev", Name: "k1", Version: ver, Op: vault.OpDecrypt, Alg: "RSA-OAEP"}},
		{"wrapkey", "POST", namedHost, "/keys/k1/wrapkey?api-version=7.5", `{"alg":"RSA1_5","value":"AAAA"}`, 200, call{Method: "Encrypt", Vault: "dev", Name: "k1", Op: vault.OpWrapKey, Alg: "RSA1_5"}},
		{"wrapKey camel case", "POST", namedHost, "/keys/k1//wrapKey?api-version=7.5", `{"alg":"RSA1_5","value":"AAAA"}`, 200, call{Method: "Encrypt", Vault: "dev", Name: "k1", Op: vault.OpWrapKey, Alg: "RSA1_5"}},
		{"unwrapkey", "POST", namedHost, "/keys/k1/" + ver + "/unwrapkey?api-version=7.5", `{"alg":"RSA-OAEP-256","value":"AAAA"}`, 200, call{Method: "Decrypt", Vault: "dev", Name: "k1", Version: ver, Op: vault.OpUnwrapKey, Alg: "RSA-OAEP-256"}},
		{"deleted list", "GET", namedHost, "/deletedkeys?api-version=7.5", "", 200, call{Method: "ListDeletedKeys", Vault: "dev", Limit: 25}},
		{"deleted get", "GET", namedHost, "/deletedkeys/k1?api-version=7.5", "", 200, call{Method: "GetDeletedKey", Vault: "dev", Name: "k1"}},
		{"recover", "POST", namedHost, "/deletedkeys/k1/recover?api-version=7.5", "", 200, call{Method: "RecoverKey", Vault: "dev", Name: "k1"}},
		{"purge", "DELETE", namedHost, "/deletedkeys/k1?api-version=7.5", "", 204, call{Method: "PurgeKey", Vault: "dev", Name: "k1"}},
		{"rng", "POST", namedHost, "/rng?api-version=7.5", `{"count":16}`, 200, call{Method: "RandomBytes", Limit: 16}},
		{"unknown path", "GET", namedHost, "/secrets/s1?api-version=7.5", "", 404, call{}},
		{"wrong method", "POST", namedHost, "/keys/k1/versions?api-version=7.5", "", 405, call{}},
		{"name required", "POST", namedHost, "/keys//create?api-version=7.5", `{"kty":"RSA"}`, 404, call{}},
		{"release not supported", "POST", namedHost, "/keys/k1//release?api-version=7.5", `{"target":"x"}`, 501, call{}},
		{"attestation not supported", "GET", namedHost, "/keys/k1/attestation?api-version=7.6", "", 501, call{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t)
			w := do(s, tt.method, tt.host, tt.target, namedToken, tt.body)
			if w.Code != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.target, w.Code, w.Body, tt.status)
			}
			if diff := cmp.Diff(tt.want, f.last()); diff != "" {
				t.Errorf("%s %s: call mismatch (-want +got):\n%s", tt.method, tt.target, diff)
			}
			if tt.status == http.StatusNoContent && w.Body.Len() != 0 {
				t.Errorf("%s %s body = %q, want empty", tt.method, tt.target, w.Body)
			}
		})
	}
}

func TestFeatureGating(t *testing.T) {
	tests := []struct {
		method, target, body string
		status               int
	}{
		{"POST", "/keys/k1/rotate?api-version=7.2", "", 400},
		{"GET", "/keys/k1/rotationpolicy?api-version=7.1", "", 400},
		{"PUT", "/keys/k1/rotationpolicy?api-version=2016-10-01", `{}`, 400},
		{"POST", "/rng?api-version=7.2", `{"count":1}`, 400},
		{"POST", "/keys/k1/release?api-version=7.2", `{}`, 400},
		{"GET", "/keys/k1/attestation?api-version=7.5", "", 400},
		{"POST", "/keys/k1/create?api-version=7.2", `{"kty":"RSA","attributes":{"exportable":true}}`, 400},
		{"POST", "/keys/k1/create?api-version=7.2", `{"kty":"RSA","release_policy":{"data":"e30"}}`, 400},
		{"POST", "/keys/k1/create?api-version=7.3", `{"kty":"RSA","attributes":{"exportable":true},"release_policy":{"data":"e30"}}`, 200},
		{"POST", "/keys/k1/rotate?api-version=7.3-preview", "", 200},
	}
	for _, tt := range tests {
		s, _ := newTestServer(t)
		w := do(s, tt.method, namedHost, tt.target, namedToken, tt.body)
		if w.Code != tt.status {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.target, w.Code, w.Body, tt.status)
		}
		if tt.status == 400 {
			if got := errorCode(t, w); got != "BadParameter" {
				t.Errorf("%s %s error.code = %q, want BadParameter", tt.method, tt.target, got)
			}
		}
	}
}

func TestRouteTableLiteralsFirst(t *testing.T) {
	s, _ := newTestServer(t)
	for i := 1; i < len(s.routes); i++ {
		if s.routes[i].literals > s.routes[i-1].literals {
			t.Fatalf("routes[%d] %s has more literals than routes[%d] %s", i, s.routes[i].pattern, i-1, s.routes[i-1].pattern)
		}
	}
}
