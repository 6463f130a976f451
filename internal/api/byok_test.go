package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

func TestTransferIn(t *testing.T) {
	s, _ := newTestServer(t)
	kek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := rsa.GenerateKey(rand.Reader, 2048)
	blob := func(kid string) string {
		b, err := byok.Package(rand.Reader, &kek.PublicKey, target, kid, "gen 1")
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	const ver = "0123456789abcdef0123456789abcdef"
	// rq is an import into vault name of sku, sent to host on a
	// connection to 127.0.0.1:8443.
	rq := func(host, name string, sku vault.SKU) *request {
		r := httptest.NewRequest("PUT", "https://"+host+"/keys/byok", nil)
		r.Host = host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}))
		return &request{r: r, vault: name, sku: sku}
	}
	ok := []struct {
		name, jwk string
		spec      keys.Spec
		ref       vault.Ref
		kekID     string // version-less, host in lower case
	}{
		{"named vault", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://dev.localhost:8443/keys/kek/"+ver) + `"}`,
			keys.Spec{Type: keys.RSA, Protection: keys.HSM}, vault.Ref{Vault: "dev", Name: "kek", Version: ver}, "https://dev.localhost:8443/keys/kek"},
		{"other vault", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://other.localhost/keys/kek/"+ver) + `"}`,
			keys.Spec{Type: keys.RSA, Protection: keys.HSM}, vault.Ref{Vault: "other", Name: "kek", Version: ver}, "https://other.localhost/keys/kek"},
		{"bare origin, no version", `{"kty":"EC-HSM","crv":"P-256","key_hsm":"` + blob("https://127.0.0.1:8443/keys/kek") + `"}`,
			keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.HSM}, vault.Ref{Vault: "dev", Name: "kek"}, "https://127.0.0.1:8443/keys/kek"},
		{"kty without -HSM", `{"kty":"RSA","key_hsm":"` + blob("https://Dev.LocalHost/keys/kek/"+ver) + `"}`,
			keys.Spec{Type: keys.RSA, Protection: keys.HSM}, vault.Ref{Vault: "dev", Name: "kek", Version: ver}, "https://dev.localhost/keys/kek"},
		{"bare DNS suffix", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://localhost:8443/keys/kek/"+ver) + `"}`,
			keys.Spec{Type: keys.RSA, Protection: keys.HSM}, vault.Ref{Vault: "dev", Name: "kek", Version: ver}, "https://localhost:8443/keys/kek"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			var k JSONWebKey
			if err := json.Unmarshal([]byte(tt.jwk), &k); err != nil {
				t.Fatal(err)
			}
			spec, tr, err := s.transferIn(rq(namedHost, "dev", vault.Premium), &k)
			if err != nil {
				t.Fatalf("transferIn() = %v", err)
			}
			if spec != tt.spec || tr.KEK != tt.ref || tr.KEKID != tt.kekID || tr.Generator != "gen 1" || len(tr.Ciphertext) <= 256 {
				t.Errorf("transferIn() = %+v, %+v, %s; want %+v, %+v, %s", spec, tr.KEK, tr.KEKID, tt.spec, tt.ref, tt.kekID)
			}
			if want := "https://" + strings.ToLower(namedHost); tr.Origin != want {
				t.Errorf("transferIn().Origin = %s, want the request's origin %s", tr.Origin, want)
			}
		})
	}
	bad := []struct{ name, jwk, want string }{
		{"not a blob", `{"kty":"RSA-HSM","key_hsm":"eyJ9"}`, "not a .byok JSON object"},
		{"kid not a key id", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://dev.localhost/secrets/kek") + `"}`, "is not a key identifier"},
		{"kid over http", `{"kty":"RSA-HSM","key_hsm":"` + blob("http://dev.localhost/keys/kek") + `"}`, "is not a key identifier"},
		{"private members too", `{"kty":"RSA-HSM","d":"AQAB","key_hsm":"` + blob("https://dev.localhost/keys/kek") + `"}`, "no private JWK members"},
		{"crv on RSA", `{"kty":"RSA-HSM","crv":"P-256","key_hsm":"` + blob("https://dev.localhost/keys/kek") + `"}`, "Invalid crv"},
		{"foreign host", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://evil.example/keys/kek/"+ver) + `"}`, "not a key identifier of this server"},
		{"foreign host ending in the suffix", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://evil-localhost/keys/kek") + `"}`, "not a key identifier of this server"},
		{"two labels under the suffix", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://a.dev.localhost/keys/kek") + `"}`, "not a key identifier of this server"},
		{"escaped slash in the name", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://dev.localhost/keys/kek%2F"+ver) + `"}`, "not a key identifier of this server"},
		{"escaped slash before keys", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://dev.localhost/x%2F..%2Fkeys/kek") + `"}`, "not a key identifier of this server"},
		{"an IP address this server was not reached at", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://192.0.2.10/keys/kek/"+ver) + `"}`, "not a key identifier of this server"},
		{"premium vault on the HSM suffix", `{"kty":"RSA-HSM","key_hsm":"` + blob("https://dev.managedhsm.localhost/keys/kek") + `"}`, "not a key identifier of this server"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var k JSONWebKey
			if err := json.Unmarshal([]byte(tt.jwk), &k); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.transferIn(rq(namedHost, "dev", vault.Premium), &k)
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.msg, tt.want) {
				t.Errorf("transferIn() = %v, want a 400 saying %q", err, tt.want)
			}
		})
	}
}

// TestTransferInOrigins checks the kid hosts that depend on the request:
// the request's own bare host names the default vault, a managed HSM has
// no bare origin and lives on the HSM suffix only.
func TestTransferInOrigins(t *testing.T) {
	s, _ := newTestServer(t)
	kek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, vault string
		sku               vault.SKU
		kid               string
		want              vault.Ref // zero: refused
	}{
		{"request's own bare host", "kv.corp.example:8443", "dev", vault.Premium, "https://KV.corp.example:8443/keys/kek", vault.Ref{Vault: "dev", Name: "kek"}},
		{"another bare host", "kv.corp.example:8443", "dev", vault.Premium, "https://kv2.corp.example/keys/kek", vault.Ref{}},
		{"request's own IP host", "192.0.2.7:8443", "dev", vault.Premium, "https://192.0.2.7:8443/keys/kek", vault.Ref{Vault: "dev", Name: "kek"}},
		{"an IP address of neither the Host nor the connection", "192.0.2.7:8443", "dev", vault.Premium, "https://192.0.2.8/keys/kek", vault.Ref{}},
		{"managed HSM on its suffix", "hsm.managedhsm.localhost", "hsm", vault.ManagedHSM, "https://hsm.managedhsm.localhost/keys/kek", vault.Ref{Vault: "hsm", Name: "kek"}},
		{"managed HSM on the vault suffix", "hsm.managedhsm.localhost", "hsm", vault.ManagedHSM, "https://hsm.localhost/keys/kek", vault.Ref{}},
		{"managed HSM at a bare origin", "hsm.managedhsm.localhost", "hsm", vault.ManagedHSM, "https://127.0.0.1/keys/kek", vault.Ref{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := byok.Package(rand.Reader, &kek.PublicKey, make([]byte, 32), tt.kid, "gen")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("PUT", "https://"+tt.host+"/keys/byok", nil)
			r.Host = tt.host
			k := JSONWebKey{KTY: "oct-HSM", T: b}
			_, tr, err := s.transferIn(&request{r: r, vault: tt.vault, sku: tt.sku}, &k)
			if tt.want == (vault.Ref{}) {
				var he *httpError
				if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.Contains(he.msg, "not a key identifier of this server") {
					t.Errorf("transferIn(kid %s) = %v, want a 400", tt.kid, err)
				}
				return
			}
			if err != nil || tr.KEK != tt.want {
				t.Fatalf("transferIn(kid %s) = %v, want %+v", tt.kid, err, tt.want)
			}
		})
	}
}

// TestProvenanceAttribute checks that an imported version's provenance is
// sent as the attribute provenance (a Keywarden extension) and that a
// generated one has none.
func TestProvenanceAttribute(t *testing.T) {
	s, f := newTestServer(t)
	w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	if strings.Contains(w.Body.String(), "provenance") {
		t.Errorf("GET of a generated key = %s, want no provenance", w.Body)
	}
	f.kv.Provenance = &vault.Provenance{Method: "byok", Generator: "gen", KEK: "https://dev.localhost/keys/kek/1", Imported: time.Unix(1700000000, 0)}
	w = do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	want := `"provenance":{"method":"byok","generator":"gen","kek":"https://dev.localhost/keys/kek/1","imported":1700000000}`
	if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
		t.Errorf("GET = %d %s, want it to hold %s", w.Code, w.Body, want)
	}
}
