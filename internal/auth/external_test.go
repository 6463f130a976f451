package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

const testExternalAudience = "api://keywarden"

// testSigner is a key of the test OIDC issuer.
type testSigner struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // private key
}

func (s testSigner) public() jose.JSONWebKey {
	k := jose.JSONWebKey{Key: s.key, KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
	return k.Public()
}

// oidcIssuer is a tiny OpenID Connect issuer: discovery and JWKS over TLS,
// shaped like Keycloak's (issuer with a path).
type oidcIssuer struct {
	srv     *httptest.Server
	issuer  string
	fetches atomic.Int32 // JWKS fetches

	mu              sync.Mutex
	keys            []jose.JSONWebKey
	discoveryIssuer string // issuer the discovery document names
}

func newOIDCIssuer(t *testing.T, signers ...testSigner) *oidcIssuer {
	t.Helper()
	o := &oidcIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/test/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		iss := o.discoveryIssuer
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":   iss,
			"jwks_uri": o.srv.URL + "/realms/test/protocol/openid-connect/certs",
		})
	})
	mux.HandleFunc("GET /realms/test/protocol/openid-connect/certs", func(w http.ResponseWriter, r *http.Request) {
		o.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		o.mu.Lock()
		defer o.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: o.keys})
	})
	o.srv = httptest.NewUnstartedServer(mux)
	o.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the "untrusted TLS" case fails
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	o.issuer = o.srv.URL + "/realms/test"
	o.discoveryIssuer = o.issuer
	o.publish(signers...)
	return o
}

// publish replaces the published keys.
func (o *oidcIssuer) publish(signers ...testSigner) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.keys = nil
	for _, s := range signers {
		o.keys = append(o.keys, s.public())
	}
}

func (o *oidcIssuer) config() ExternalIssuer {
	return ExternalIssuer{
		Issuer:      o.issuer,
		Audiences:   []string{"https://localhost:8443", testExternalAudience},
		GroupsClaim: "groups",
		HTTPClient:  o.srv.Client(),
	}
}

// claims returns valid claims of the issuer; edit changes them (nil values
// are deleted).
func (o *oidcIssuer) claims(edit map[string]any) map[string]any {
	c := map[string]any{
		"iss": o.issuer, "aud": testExternalAudience,
		"sub": "sub-1", "oid": "oid-1", "azp": "client-app", "tid": "tenant-1",
		"groups": []string{"group-a", "group-b"},
		"iat":    testNow.Unix(), "nbf": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range edit {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// mint signs claims with s, kid in the header.
func mint(t *testing.T, s testSigner, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newTestVerifier(t *testing.T, i *Issuer, ext ...ExternalIssuer) *Verifier {
	t.Helper()
	v, err := NewVerifier(i, ext, VerifierOptions{})
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}
	return v
}

func verifyWith(v *Verifier, now time.Time, tok string) (Identity, error) {
	return v.Verify(context.Background(), now, tok, is(testIssuer), is(testAudience))
}

func TestExternalIssuer(t *testing.T) {
	rsaKey, otherRSA, ecKey := testKeys()
	rs := testSigner{"rsa-1", jose.RS256, rsaKey}
	es := testSigner{"ec-1", jose.ES256, ecKey}
	o := newOIDCIssuer(t, rs, es)
	i := newEnv(t).issuer(t)
	v := newTestVerifier(t, i, o.config())
	now := testNow.Add(time.Minute)

	want := Identity{
		ObjectID: "oid-1", ClientID: "client-app", TenantID: "tenant-1",
		Groups: []string{"group-a", "group-b"}, Issuer: o.issuer, External: true, ExpiresAt: testNow.Add(time.Hour),
	}
	for _, s := range []testSigner{rs, es} {
		tok := mint(t, s, o.claims(nil))
		for _, pass := range []string{"uncached", "cached"} {
			id, err := verifyWith(v, now, tok)
			if err != nil {
				t.Fatalf("Verify(%s %s) = %v", s.alg, pass, err)
			}
			if diff := cmp.Diff(want, id); diff != "" {
				t.Errorf("Verify(%s %s) (-want +got):\n%s", s.alg, pass, diff)
			}
			id.Groups[0] = "mutated" // must not reach the cache
		}
	}
	if n := o.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}

	t.Run("claims", func(t *testing.T) {
		tests := []struct {
			name string
			edit map[string]any
			want func(Identity) Identity
		}{
			{"sub without oid", map[string]any{"oid": nil}, func(id Identity) Identity { id.ObjectID = "sub-1"; return id }},
			{"appid without azp", map[string]any{"azp": nil, "appid": "app-2"}, func(id Identity) Identity { id.ClientID = "app-2"; return id }},
			{"one group as a string", map[string]any{"groups": "group-c"}, func(id Identity) Identity { id.Groups = []string{"group-c"}; return id }},
			{"no groups", map[string]any{"groups": nil}, func(id Identity) Identity { id.Groups = nil; return id }},
			{"aud list with the accepted one", map[string]any{"aud": []string{"other", testExternalAudience}}, func(id Identity) Identity { return id }},
			{"no nbf", map[string]any{"nbf": nil}, func(id Identity) Identity { return id }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id, err := verifyWith(v, now, mint(t, rs, o.claims(tt.edit)))
				if err != nil {
					t.Fatalf("Verify() = %v", err)
				}
				if diff := cmp.Diff(tt.want(want), id); diff != "" {
					t.Errorf("Verify() (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("custom principal claim", func(t *testing.T) {
		cfg := o.config()
		cfg.PrincipalClaim = "preferred_username"
		cfg.GroupsClaim = ""
		v := newTestVerifier(t, i, cfg)
		id, err := verifyWith(v, now, mint(t, rs, o.claims(map[string]any{"preferred_username": "alice"})))
		if err != nil || id.ObjectID != "alice" || id.Groups != nil {
			t.Errorf("Verify() = %+v, %v; want principal alice, no groups", id, err)
		}
		if _, err := verifyWith(v, now, mint(t, rs, o.claims(nil))); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(no preferred_username) = %v, want %v", err, ErrInvalidToken)
		}
	})

	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwkJSON, _ := json.Marshal(rs.public())
	forgeries := []struct {
		name      string
		token     func(t *testing.T) string
		now       time.Time
		wantInErr string
	}{
		{"alg none", func(t *testing.T) string {
			parts := strings.Split(mint(t, rs, o.claims(nil)), ".")
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"rsa-1","typ":"JWT"}`))
			return h + "." + parts[1] + "."
		}, time.Time{}, "algorithm"},
		{"HS256 keyed with the RSA public key DER", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.HS256, pubDER}, o.claims(nil))
		}, time.Time{}, "algorithm"},
		{"HS256 keyed with the RSA public key PEM", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.HS256, pubPEM}, o.claims(nil))
		}, time.Time{}, "algorithm"},
		{"HS256 keyed with the JWK", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.HS256, jwkJSON}, o.claims(nil))
		}, time.Time{}, "algorithm"},
		{"wrong aud", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"aud": "https://vault.azure.net"}))
		}, time.Time{}, "audience"},
		{"no aud", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"aud": nil}))
		}, time.Time{}, "audience"},
		{"wrong iss (trailing slash)", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"iss": o.issuer + "/"}))
		}, time.Time{}, "ES256"}, // not an external issuer: the built-in issuer refuses it
		{"expired", func(t *testing.T) string { return mint(t, rs, o.claims(nil)) }, testNow.Add(time.Hour + 61*time.Second), "expired"},
		{"no exp", func(t *testing.T) string { return mint(t, rs, o.claims(map[string]any{"exp": nil})) }, time.Time{}, "exp"},
		{"nbf in the future", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"nbf": testNow.Add(10 * time.Minute).Unix()}))
		}, time.Time{}, "not valid yet"},
		{"bad signature (another key, published kid)", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.RS256, otherRSA}, o.claims(nil))
		}, time.Time{}, "signature"},
		{"tampered payload", func(t *testing.T) string {
			parts := strings.Split(mint(t, rs, o.claims(nil)), ".")
			c, _ := json.Marshal(o.claims(map[string]any{"oid": "admin"}))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
		}, time.Time{}, "signature"},
		{"ES256 under the RSA key's kid", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.ES256, ecKey}, o.claims(nil))
		}, time.Time{}, "no key"},
		{"PS256 under a key published for RS256", func(t *testing.T) string {
			return mint(t, testSigner{"rsa-1", jose.PS256, rsaKey}, o.claims(nil))
		}, time.Time{}, "no key"},
		{"no principal", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"oid": nil, "sub": nil}))
		}, time.Time{}, "principal"},
		{"groups with a number", func(t *testing.T) string {
			return mint(t, rs, o.claims(map[string]any{"groups": []any{"a", 1}}))
		}, time.Time{}, "groups"},
	}
	for _, tt := range forgeries {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.now
			if at.IsZero() {
				at = now
			}
			tok := tt.token(t)
			id, err := verifyWith(v, at, tok)
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("Verify() = %+v, %v; want %v containing %q", id, err, ErrInvalidToken, tt.wantInErr)
			}
			if strings.Contains(err.Error(), tok) {
				t.Error("Verify() error echoes the token")
			}
		})
	}
}

// TestExternalKeyAlgorithmPinned checks that a JWKS key published with an
// alg verifies only tokens of that alg.
func TestExternalKeyAlgorithmPinned(t *testing.T) {
	rsaKey, _, _ := testKeys()
	o := newOIDCIssuer(t, testSigner{"rsa-1", jose.RS256, rsaKey})
	v := newTestVerifier(t, newEnv(t).issuer(t), o.config())
	tok := mint(t, testSigner{"rsa-1", jose.PS256, rsaKey}, o.claims(nil))
	if _, err := verifyWith(v, testNow, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(PS256 under an RS256 key) = %v, want %v", err, ErrInvalidToken)
	}
	// Without alg in the JWKS, the key type decides.
	o.mu.Lock()
	o.keys = []jose.JSONWebKey{{Key: &rsaKey.PublicKey, KeyID: "rsa-1", Use: "sig"}}
	o.mu.Unlock()
	v = newTestVerifier(t, newEnv(t).issuer(t), o.config())
	if _, err := verifyWith(v, testNow, tok); err != nil {
		t.Errorf("Verify(PS256 under an RSA key without alg) = %v, want nil", err)
	}
}

func TestExternalKeyRotation(t *testing.T) {
	rsaKey, otherRSA, _ := testKeys()
	old := testSigner{"key-1", jose.RS256, rsaKey}
	next := testSigner{"key-2", jose.RS256, otherRSA}
	o := newOIDCIssuer(t, old)
	v, err := NewVerifier(newEnv(t).issuer(t), []ExternalIssuer{o.config()}, VerifierOptions{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := testNow.Add(time.Minute)
	check := func(name string, at time.Time, s testSigner, wantOK bool, wantFetches int32) {
		t.Helper()
		_, err := verifyWith(v, at, mint(t, s, o.claims(map[string]any{"nbf": at.Unix(), "exp": at.Add(time.Hour).Unix()})))
		if wantOK && err != nil || !wantOK && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify(kid %s) = %v, want ok %v", name, s.kid, err, wantOK)
		}
		if got := o.fetches.Load(); got != wantFetches {
			t.Errorf("%s: %d JWKS fetches, want %d", name, got, wantFetches)
		}
	}
	check("first token", t0, old, true, 1)
	check("known kid", t0.Add(time.Second), old, true, 1)

	// Unknown kids trigger a fetch at most once per 30 s.
	unknown := testSigner{"unknown", jose.RS256, otherRSA}
	check("unknown kid within 30 s of the last fetch", t0.Add(10*time.Second), unknown, false, 1)
	check("unknown kid after 30 s", t0.Add(31*time.Second), unknown, false, 2)
	for n := range 20 {
		check("unknown kid, flood", t0.Add(32*time.Second+time.Duration(n)*time.Millisecond), unknown, false, 2)
	}

	// The issuer rotates: key-2 published, key-1 withdrawn.
	o.publish(next)
	check("new kid within 30 s", t0.Add(40*time.Second), next, false, 2)
	check("new kid after 30 s", t0.Add(62*time.Second), next, true, 3)
	check("withdrawn kid", t0.Add(63*time.Second), old, false, 3)

	// Keys older than JWKSMaxAge are fetched again even for a known kid.
	o.publish(old, next)
	check("known kid after max age", t0.Add(62*time.Second+DefaultJWKSMaxAge), next, true, 4)
	check("restored kid", t0.Add(62*time.Second+DefaultJWKSMaxAge+time.Second), old, true, 4)
}

func TestExternalConcurrentRefresh(t *testing.T) {
	rsaKey, _, _ := testKeys()
	s := testSigner{"key-1", jose.RS256, rsaKey}
	o := newOIDCIssuer(t, s)
	v, err := NewVerifier(newEnv(t).issuer(t), []ExternalIssuer{o.config()}, VerifierOptions{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, s, o.claims(nil))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := verifyWith(v, testNow, tok); err != nil {
				t.Errorf("Verify() = %v", err)
			}
		})
	}
	wg.Wait()
	if n := o.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches for concurrent first tokens, want 1", n)
	}
}

func TestExternalKeySources(t *testing.T) {
	rsaKey, _, _ := testKeys()
	s := testSigner{"key-1", jose.RS256, rsaKey}
	o := newOIDCIssuer(t, s)
	tok := mint(t, s, o.claims(nil))
	i := newEnv(t).issuer(t)

	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: []byte("a symmetric key is ignored"), KeyID: "hmac", Algorithm: "HS256"},
		s.public(),
	}})
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(*ExternalIssuer)
		before func()
		wantOK bool
	}{
		{"discovery", func(*ExternalIssuer) {}, nil, true},
		{"JWKS URL", func(e *ExternalIssuer) { e.JWKSURL = o.srv.URL + "/realms/test/protocol/openid-connect/certs" }, nil, true},
		{"JWKS file", func(e *ExternalIssuer) { e.JWKSFile = file; e.HTTPClient = nil }, nil, true},
		{"missing JWKS file", func(e *ExternalIssuer) { e.JWKSFile = file + ".missing" }, nil, false},
		{"untrusted TLS", func(e *ExternalIssuer) { e.HTTPClient = nil }, nil, false},
		{"discovery names another issuer", func(*ExternalIssuer) {}, func() {
			o.mu.Lock()
			o.discoveryIssuer = "https://evil.example"
			o.mu.Unlock()
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			cfg := o.config()
			tt.edit(&cfg)
			v := newTestVerifier(t, i, cfg)
			_, err := verifyWith(v, testNow, tok)
			if tt.wantOK && err != nil || !tt.wantOK && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify() = %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

func TestNewVerifierRejects(t *testing.T) {
	i := newEnv(t).issuer(t)
	good := ExternalIssuer{Issuer: "https://idp.example/realms/a", Audiences: []string{"api://keywarden"}}
	tests := []struct {
		name    string
		builtin *Issuer
		ext     []ExternalIssuer
	}{
		{"no built-in issuer", nil, nil},
		{"no issuer", i, []ExternalIssuer{{Audiences: []string{"a"}}}},
		{"no audiences", i, []ExternalIssuer{{Issuer: "https://idp.example"}}},
		{"empty audience", i, []ExternalIssuer{{Issuer: "https://idp.example", Audiences: []string{""}}}},
		{"http issuer", i, []ExternalIssuer{{Issuer: "http://idp.example", Audiences: []string{"a"}}}},
		{"http JWKS URL", i, []ExternalIssuer{{Issuer: "https://idp.example", JWKSURL: "http://idp.example/keys", Audiences: []string{"a"}}}},
		{"twice", i, []ExternalIssuer{good, good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.builtin, tt.ext, VerifierOptions{}); err == nil {
				t.Error("NewVerifier() = nil error, want error")
			}
		})
	}
}

// TestVerifierBuiltin checks that the built-in issuer's tokens pass through
// a Verifier with external issuers unchanged, and that disabling their
// principal refuses them at once.
func TestVerifierBuiltin(t *testing.T) {
	rsaKey, _, _ := testKeys()
	o := newOIDCIssuer(t, testSigner{"key-1", jose.RS256, rsaKey})
	i := newEnv(t).issuer(t)
	v := newTestVerifier(t, i, o.config())
	p, _ := createPrincipal(t, i)
	tok := issue(t, i, p, testNow)
	want := Identity{ObjectID: p.ObjectID, ClientID: p.ClientID, TenantID: testTenant, Issuer: testIssuer, ExpiresAt: testNow.Add(time.Hour)}
	for _, pass := range []string{"uncached", "cached"} {
		id, err := verifyWith(v, testNow, tok)
		if err != nil {
			t.Fatalf("Verify(built-in token, %s) = %v", pass, err)
		}
		if diff := cmp.Diff(want, id); diff != "" {
			t.Errorf("Verify(built-in token, %s) (-want +got):\n%s", pass, diff)
		}
	}
	if _, err := v.Verify(context.Background(), testNow, tok, is(testIssuer), is("https://other")); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(built-in token, other audience) = %v, want %v", err, ErrInvalidToken)
	}
	if n := o.fetches.Load(); n != 0 {
		t.Errorf("built-in tokens fetched the external JWKS %d times, want 0", n)
	}
	if _, err := i.SetDisabled(context.Background(), testNow, p.ClientID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(v, testNow, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(token of disabled principal) = %v, want %v", err, ErrInvalidToken)
	}

	// Without external issuers a Verifier is the built-in issuer.
	plain := newTestVerifier(t, i)
	if _, err := verifyWith(plain, testNow, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(no externals, disabled principal) = %v, want %v", err, ErrInvalidToken)
	}
}

func TestParseJWKS(t *testing.T) {
	rsaKey, _, ecKey := testKeys()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "rsa", Use: "sig"},
		{Key: &ecKey.PublicKey, KeyID: "ec"},
		{Key: &p384.PublicKey, KeyID: "p384"},
		{Key: &rsaKey.PublicKey, KeyID: "enc", Use: "enc"},
		{Key: &small.PublicKey, KeyID: "small"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct"},
		{Key: ecKey, KeyID: "private"},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	// An unparseable key must not hide the others.
	b = []byte(strings.Replace(string(b), `"keys":[`, `"keys":[{"kty":"XYZ","kid":"odd"},`, 1))
	keys, err := parseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KeyID)
	}
	if diff := cmp.Diff([]string{"rsa", "ec", "p384"}, kids); diff != "" {
		t.Errorf("parseJWKS() kept (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"keys":[]}`, `{"keys":[{"kty":"oct","k":"AAAA"}]}`, `not json`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("parseJWKS(%s) = nil error, want error", bad)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	rsaKey, _, ecKey := testKeys()
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "rsa", Algorithm: "RS256", Use: "sig"},
		{Key: &ecKey.PublicKey, KeyID: "ec"},
	}})
	f.Add(b)
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err != nil {
			return
		}
		for _, k := range keys {
			switch k.Key.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
			default:
				t.Fatalf("parseJWKS() kept a %T key", k.Key)
			}
			if k.Use != "" && k.Use != "sig" {
				t.Fatalf("parseJWKS() kept a key for %q", k.Use)
			}
		}
	})
}
