package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testIssuer   = "https://127.0.0.1:8443/" + testTenant + "/v2.0"
	testAudience = "https://vault.azure.net"
)

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

// env is one store and root key shared by the issuers of a test.
type env struct {
	store store.Store
	root  *seal.RootKey
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatalf("embedded.Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: db, root: root}
}

func (e *env) issuer(t testing.TB, opts ...func(*IssuerOptions)) *Issuer {
	t.Helper()
	o := IssuerOptions{Store: e.store, Sealer: e.root.Derive("token-signing")}
	for _, f := range opts {
		f(&o)
	}
	i, err := NewIssuer(context.Background(), o)
	if err != nil {
		t.Fatalf("NewIssuer() error = %v", err)
	}
	return i
}

func (e *env) update(t testing.TB, clientID string, f func(*store.Principal)) {
	t.Helper()
	err := e.store.Update(context.Background(), func(tx store.Tx) error {
		p, err := tx.Principal(clientID)
		if err != nil {
			return err
		}
		f(&p)
		return tx.PutPrincipal(p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) remove(t testing.TB, clientID string) {
	t.Helper()
	if err := e.store.Update(context.Background(), func(tx store.Tx) error { return tx.DeletePrincipal(clientID) }); err != nil {
		t.Fatal(err)
	}
}

func createPrincipal(t testing.TB, i *Issuer) (store.Principal, secret.Bytes) {
	t.Helper()
	p, cs, err := i.CreatePrincipal(context.Background(), testNow, "app", nil)
	if err != nil {
		t.Fatalf("CreatePrincipal() error = %v", err)
	}
	return p, cs
}

func issue(t testing.TB, i *Issuer, p store.Principal, now time.Time) string {
	t.Helper()
	tok, _, err := i.IssueToken(context.Background(), now, p, testTenant, testIssuer, testAudience)
	if err != nil {
		t.Fatalf("IssueToken() error = %v", err)
	}
	return tok
}

func verify(i *Issuer, now time.Time, tok string) (Identity, error) {
	return i.Verify(context.Background(), now, tok, is(testIssuer), is(testAudience))
}

// decodePart decodes one base64url JSON part of a compact JWS.
func decodePart(t *testing.T, tok string, n int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[n])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	i := e.issuer(t)
	p, cs := createPrincipal(t, i)

	got, err := i.Authenticate(ctx, testNow, p.ClientID, string(cs.Expose()))
	if err != nil {
		t.Fatalf("Authenticate(right secret) error = %v", err)
	}
	if got.ClientID != p.ClientID {
		t.Errorf("Authenticate() = %s, want %s", got.ClientID, p.ClientID)
	}
	tok, expiresIn, err := i.IssueToken(ctx, testNow, got, testTenant, testIssuer, testAudience)
	if err != nil {
		t.Fatalf("IssueToken() error = %v", err)
	}
	if expiresIn != 3600 {
		t.Errorf("IssueToken() expiresIn = %d, want 3600", expiresIn)
	}

	header := decodePart(t, tok, 0)
	if diff := cmp.Diff(map[string]any{"alg": "ES256", "kid": i.KeyID(), "typ": "JWT"}, header); diff != "" {
		t.Errorf("token header mismatch (-want +got):\n%s", diff)
	}
	claims := decodePart(t, tok, 1)
	wantClaims := map[string]any{
		"aud": testAudience, "iss": testIssuer,
		"sub": p.ObjectID, "oid": p.ObjectID,
		"appid": p.ClientID, "azp": p.ClientID,
		"tid": testTenant, "ver": "2.0",
		"iat": float64(testNow.Unix()), "nbf": float64(testNow.Unix()),
		"exp": float64(testNow.Add(time.Hour).Unix()),
	}
	if diff := cmp.Diff(wantClaims, claims); diff != "" {
		t.Errorf("token claims mismatch (-want +got):\n%s", diff)
	}

	want := Identity{
		ObjectID: p.ObjectID, ClientID: p.ClientID, TenantID: testTenant,
		Issuer:    testIssuer,
		ExpiresAt: testNow.Add(time.Hour),
	}
	for _, name := range []string{"uncached", "cached"} {
		id, err := verify(i, testNow.Add(time.Minute), tok)
		if err != nil {
			t.Fatalf("Verify(%s) error = %v", name, err)
		}
		if diff := cmp.Diff(want, id); diff != "" {
			t.Errorf("Verify(%s) mismatch (-want +got):\n%s", name, diff)
		}
	}
	// Within the 60 s leeway after exp the token is still accepted.
	if _, err := verify(i, testNow.Add(time.Hour+30*time.Second), tok); err != nil {
		t.Errorf("Verify(30 s after exp) = %v, want nil (leeway)", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t)
	p, _ := createPrincipal(t, i)
	pub := i.key.PublicKey
	pubDER, err := x509.MarshalPKIXPublicKey(&pub)
	if err != nil {
		t.Fatal(err)
	}
	jwksJSON, err := json.Marshal(i.JWKS().Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	validClaims := func() (jwt.Claims, tokenClaims) {
		return jwt.Claims{
				Issuer: testIssuer, Subject: p.ObjectID, Audience: jwt.Audience{testAudience},
				IssuedAt: jwt.NewNumericDate(testNow), NotBefore: jwt.NewNumericDate(testNow),
				Expiry: jwt.NewNumericDate(testNow.Add(time.Hour)),
			}, tokenClaims{
				OID: p.ObjectID, AppID: p.ClientID, AZP: p.ClientID, TID: testTenant, Ver: "2.0",
			}
	}
	// sign builds a token with the given algorithm and key, claims edited by
	// edit, and kid set to the issuer's.
	sign := func(t *testing.T, alg jose.SignatureAlgorithm, key any, edit func(*jwt.Claims, *tokenClaims)) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: i.KeyID()}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		std, ext := validClaims()
		if edit != nil {
			edit(&std, &ext)
		}
		tok, err := jwt.Signed(s).Claims(std).Claims(ext).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	tests := []struct {
		name      string
		token     func(t *testing.T) string
		now       time.Time
		issuer    func(string) bool
		audience  func(string) bool
		wantInErr string
	}{
		{
			name:      "wrong audience",
			token:     func(t *testing.T) string { return issue(t, i, p, testNow) },
			audience:  is("https://managedhsm.azure.net"),
			wantInErr: "audience",
		},
		{
			name:      "wrong issuer",
			token:     func(t *testing.T) string { return issue(t, i, p, testNow) },
			issuer:    is("https://sts.windows.net/" + testTenant + "/"),
			wantInErr: "issuer",
		},
		{
			name:      "nil checks",
			token:     func(t *testing.T) string { return issue(t, i, p, testNow) },
			issuer:    func(string) bool { return false },
			audience:  func(string) bool { return false },
			wantInErr: "not accepted",
		},
		{
			name:      "expired",
			token:     func(t *testing.T) string { return issue(t, i, p, testNow) },
			now:       testNow.Add(time.Hour + 61*time.Second),
			wantInErr: "expired",
		},
		{
			name:      "nbf in the future",
			token:     func(t *testing.T) string { return issue(t, i, p, testNow.Add(10*time.Minute)) },
			wantInErr: "not valid yet",
		},
		{
			name: "iat in the future",
			token: func(t *testing.T) string {
				return sign(t, jose.ES256, i.key, func(c *jwt.Claims, _ *tokenClaims) {
					c.IssuedAt = jwt.NewNumericDate(testNow.Add(10 * time.Minute))
				})
			},
			wantInErr: "future",
		},
		{
			name: "tampered signature",
			token: func(t *testing.T) string {
				tok := issue(t, i, p, testNow)
				parts := strings.Split(tok, ".")
				sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
				sig[10] ^= 1
				return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			},
			wantInErr: "signature",
		},
		{
			name: "tampered payload",
			token: func(t *testing.T) string {
				tok := issue(t, i, p, testNow)
				parts := strings.Split(tok, ".")
				c, _ := base64.RawURLEncoding.DecodeString(parts[1])
				c = []byte(strings.Replace(string(c), testTenant, "00000000-0000-0000-0000-000000000000", 1))
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
			},
			wantInErr: "signature",
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				tok := issue(t, i, p, testNow)
				h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + i.KeyID() + `","typ":"JWT"}`))
				return h + "." + strings.Split(tok, ".")[1] + "."
			},
			wantInErr: "ES256",
		},
		{
			name:      "HS256 keyed with the public key DER",
			token:     func(t *testing.T) string { return sign(t, jose.HS256, pubDER, nil) },
			wantInErr: "ES256",
		},
		{
			name:      "HS256 keyed with the JWKS entry",
			token:     func(t *testing.T) string { return sign(t, jose.HS256, jwksJSON, nil) },
			wantInErr: "ES256",
		},
		{
			name:      "RS256",
			token:     func(t *testing.T) string { return sign(t, jose.RS256, rsaKey, nil) },
			wantInErr: "ES256",
		},
		{
			name:      "ES256 by another key with our kid",
			token:     func(t *testing.T) string { return sign(t, jose.ES256, otherEC, nil) },
			wantInErr: "signature",
		},
		{
			name: "unknown kid",
			token: func(t *testing.T) string {
				s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: i.key, KeyID: "other"}}, nil)
				std, ext := validClaims()
				tok, _ := jwt.Signed(s).Claims(std).Claims(ext).Serialize()
				return tok
			},
			wantInErr: "signing key",
		},
		{
			name: "missing exp",
			token: func(t *testing.T) string {
				return sign(t, jose.ES256, i.key, func(c *jwt.Claims, _ *tokenClaims) { c.Expiry = nil })
			},
			wantInErr: "missing exp",
		},
		{
			name: "sub differs from oid",
			token: func(t *testing.T) string {
				return sign(t, jose.ES256, i.key, func(c *jwt.Claims, _ *tokenClaims) { c.Subject = "someone-else" })
			},
			wantInErr: "oid",
		},
		{
			name: "object id of another principal",
			token: func(t *testing.T) string {
				return sign(t, jose.ES256, i.key, func(c *jwt.Claims, x *tokenClaims) {
					c.Subject, x.OID = "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000"
				})
			},
			wantInErr: "another object id",
		},
		{
			name: "wrong version",
			token: func(t *testing.T) string {
				return sign(t, jose.ES256, i.key, func(_ *jwt.Claims, x *tokenClaims) { x.Ver = "1.0" })
			},
			wantInErr: "version",
		},
		{
			name:      "garbage",
			token:     func(t *testing.T) string { return "not.a.token" },
			wantInErr: "malformed",
		},
		{
			name:      "empty",
			token:     func(t *testing.T) string { return "" },
			wantInErr: "malformed",
		},
		{
			name:      "too long",
			token:     func(t *testing.T) string { return strings.Repeat("a", maxTokenLen+1) },
			wantInErr: "too long",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, iss, aud := tt.now, tt.issuer, tt.audience
			if now.IsZero() {
				now = testNow.Add(time.Minute)
			}
			if iss == nil {
				iss = is(testIssuer)
			}
			if aud == nil {
				aud = is(testAudience)
			}
			tok := tt.token(t)
			id, err := i.Verify(context.Background(), now, tok, iss, aud)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify() = %+v, %v; want %v", id, err, ErrInvalidToken)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("Verify() = %q, want reason containing %q", err, tt.wantInErr)
			}
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("Verify() error echoes the token")
			}
		})
	}

	t.Run("nil validators", func(t *testing.T) {
		tok := issue(t, i, p, testNow)
		for _, f := range []struct{ iss, aud func(string) bool }{{nil, is(testAudience)}, {is(testIssuer), nil}} {
			if _, err := i.Verify(context.Background(), testNow, tok, f.iss, f.aud); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(nil check) = %v, want %v", err, ErrInvalidToken)
			}
		}
	})
}

// TestVerifyCachedRechecks shows that a cached token is still checked
// against each call's issuer, audience and time.
func TestVerifyCachedRechecks(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t)
	p, _ := createPrincipal(t, i)
	tok := issue(t, i, p, testNow)
	if _, err := verify(i, testNow, tok); err != nil {
		t.Fatal(err)
	}
	if n := i.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries after Verify, want 1", n)
	}
	tests := []struct {
		name     string
		now      time.Time
		iss, aud func(string) bool
	}{
		{"other audience", testNow, is(testIssuer), is("https://managedhsm.azure.net")},
		{"other issuer", testNow, is("https://example.com/"), is(testAudience)},
		{"expired", testNow.Add(2 * time.Hour), is(testIssuer), is(testAudience)},
		{"before nbf", testNow.Add(-2 * time.Minute), is(testIssuer), is(testAudience)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := i.Verify(context.Background(), tt.now, tok, tt.iss, tt.aud); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(cached, %s) = %v, want %v", tt.name, err, ErrInvalidToken)
			}
		})
	}
}

func TestVerifyPrincipalState(t *testing.T) {
	tests := []struct {
		name      string
		change    func(t *testing.T, e *env, p store.Principal)
		wantInErr string
	}{
		{"deleted", func(t *testing.T, e *env, p store.Principal) { e.remove(t, p.ClientID) }, "unknown principal"},
		{"disabled", func(t *testing.T, e *env, p store.Principal) {
			e.update(t, p.ClientID, func(p *store.Principal) { p.Disabled = true })
		}, "disabled"},
		{"recreated with another object id", func(t *testing.T, e *env, p store.Principal) {
			e.update(t, p.ClientID, func(p *store.Principal) { p.ObjectID = "00000000-0000-4000-8000-000000000000" })
		}, "another object id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			i := e.issuer(t)
			p, _ := createPrincipal(t, i)
			cached := issue(t, i, p, testNow)
			if _, err := verify(i, testNow, cached); err != nil {
				t.Fatal(err)
			}
			fresh := issue(t, i, p, testNow.Add(time.Second))

			tt.change(t, e, p)
			if _, err := verify(i, testNow, fresh); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("Verify(uncached token) = %v, want %v containing %q", err, ErrInvalidToken, tt.wantInErr)
			}
			// The hot path reads no store: the cached token stays valid
			// until the principal is invalidated.
			if _, err := verify(i, testNow, cached); err != nil {
				t.Errorf("Verify(cached token) before InvalidatePrincipal = %v, want nil", err)
			}
			i.InvalidatePrincipal(p.ClientID)
			if _, err := verify(i, testNow, cached); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify(cached token) after InvalidatePrincipal = %v, want %v", err, ErrInvalidToken)
			}
		})
	}
}

func TestVerifyCacheTTL(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t, func(o *IssuerOptions) { o.CacheTTL = time.Minute })
	p, _ := createPrincipal(t, i)
	tok := issue(t, i, p, testNow)
	if _, err := verify(i, testNow, tok); err != nil {
		t.Fatal(err)
	}
	// Disabled elsewhere (another node): no InvalidatePrincipal here.
	e.update(t, p.ClientID, func(p *store.Principal) { p.Disabled = true })
	if _, err := verify(i, testNow.Add(30*time.Second), tok); err != nil {
		t.Errorf("Verify(within CacheTTL) = %v, want nil (cached)", err)
	}
	if _, err := verify(i, testNow.Add(61*time.Second), tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(after CacheTTL) = %v, want %v", err, ErrInvalidToken)
	}
}

func TestVerifyCacheBounded(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t, func(o *IssuerOptions) { o.CacheSize = 3 })
	p, _ := createPrincipal(t, i)
	for n := range 10 {
		tok := issue(t, i, p, testNow.Add(time.Duration(n)*time.Second))
		if _, err := verify(i, testNow.Add(time.Minute), tok); err != nil {
			t.Fatal(err)
		}
		if got := i.cache.len(); got > 3 {
			t.Fatalf("cache holds %d entries, want at most 3", got)
		}
	}

	off := e.issuer(t, func(o *IssuerOptions) { o.CacheSize = -1 })
	tok := issue(t, off, p, testNow)
	for range 2 {
		if _, err := verify(off, testNow, tok); err != nil {
			t.Fatalf("Verify(cache disabled) error = %v", err)
		}
	}
	if off.cache != nil {
		t.Error("CacheSize -1 left a cache in place")
	}
}

func TestCacheInvalidateDuringVerify(t *testing.T) {
	c := newTokenCache(10)
	h := sha256.Sum256([]byte("token"))
	gen := c.generation()
	c.invalidate("client") // runs while a Verify reads the principal
	c.put(h, &cacheEntry{id: Identity{ClientID: "client", ExpiresAt: testNow.Add(time.Hour)}, until: testNow.Add(time.Hour)}, testNow, gen)
	if _, ok := c.get(h, testNow); ok {
		t.Error("put after a concurrent invalidate stored the entry, want dropped")
	}
}

func TestVerifyConcurrent(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t)
	p, _ := createPrincipal(t, i)
	toks := make([]string, 4)
	for n := range toks {
		toks[n] = issue(t, i, p, testNow.Add(time.Duration(n)*time.Second))
	}
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := verify(i, testNow.Add(time.Minute), toks[n%len(toks)]); err != nil {
					t.Errorf("Verify() error = %v", err)
					return
				}
				if n == 0 {
					i.InvalidatePrincipal(p.ClientID)
				}
			}
		})
	}
	wg.Wait()
}

func TestIssueTokenRejects(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t)
	p, _ := createPrincipal(t, i)
	disabled := p
	disabled.Disabled = true
	tests := []struct {
		name                     string
		p                        store.Principal
		tenant, issuer, audience string
	}{
		{"disabled", disabled, testTenant, testIssuer, testAudience},
		{"no ids", store.Principal{}, testTenant, testIssuer, testAudience},
		{"no tenant", p, "", testIssuer, testAudience},
		{"no issuer", p, testTenant, "", testAudience},
		{"no audience", p, testTenant, testIssuer, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := i.IssueToken(context.Background(), testNow, tt.p, tt.tenant, tt.issuer, tt.audience)
			if err == nil || tok != "" {
				t.Errorf("IssueToken() = %q, %v; want error", tok, err)
			}
		})
	}
}

func TestSigningKeyPersists(t *testing.T) {
	e := newEnv(t)
	i1 := e.issuer(t)
	p, _ := createPrincipal(t, i1)
	tok := issue(t, i1, p, testNow)

	i2 := e.issuer(t)
	if i1.KeyID() != i2.KeyID() {
		t.Errorf("NewIssuer(same store).KeyID() = %s, want %s", i2.KeyID(), i1.KeyID())
	}
	if diff := cmp.Diff(jwksJSON(t, i1), jwksJSON(t, i2)); diff != "" {
		t.Errorf("JWKS differs across restarts (-first +second):\n%s", diff)
	}
	if _, err := verify(i2, testNow, tok); err != nil {
		t.Errorf("Verify(token of previous issuer) = %v, want nil", err)
	}

	// The stored blob is sealed and bound to its name.
	var blob []byte
	if err := e.store.View(context.Background(), func(tx store.Tx) error {
		var err error
		blob, err = tx.Blob(SigningKeyBlob)
		return err
	}); err != nil {
		t.Fatalf("stored signing key blob: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(i1.key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), string(der[len(der)-40:])) {
		t.Error("stored signing key blob contains the plaintext key")
	}
	sealer := e.root.Derive("token-signing")
	if _, err := sealer.Open(blob, []byte(SigningKeyBlob)); err != nil {
		t.Errorf("Open(blob, %q) = %v, want nil", SigningKeyBlob, err)
	}
	if _, err := sealer.Open(blob, []byte("other")); err == nil {
		t.Error("Open(blob, other aad) succeeded, want error")
	}

	// Another root key cannot open it, and NewIssuer says so.
	other, _ := seal.Generate(nil)
	if _, err := NewIssuer(context.Background(), IssuerOptions{Store: e.store, Sealer: other.Derive("token-signing")}); err == nil {
		t.Error("NewIssuer(wrong root key) = nil error, want error")
	}
}

func TestNewIssuerConcurrentStart(t *testing.T) {
	e := newEnv(t)
	const n = 4
	kids := make([]string, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() { kids[k] = e.issuer(t).KeyID() })
	}
	wg.Wait()
	for k := range n {
		if kids[k] != kids[0] {
			t.Errorf("issuer %d has key %s, issuer 0 has %s; want one shared key", k, kids[k], kids[0])
		}
	}
}

func jwksJSON(t *testing.T, i *Issuer) string {
	t.Helper()
	b, err := json.Marshal(i.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJWKS(t *testing.T) {
	i := newEnv(t).issuer(t)
	set := i.JWKS()
	if len(set.Keys) != 1 {
		t.Fatalf("len(JWKS().Keys) = %d, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if !k.IsPublic() || k.KeyID != i.KeyID() || k.Algorithm != "ES256" || k.Use != "sig" {
		t.Errorf("JWKS().Keys[0] = public %v kid %s alg %s use %s; want public, %s, ES256, sig",
			k.IsPublic(), k.KeyID, k.Algorithm, k.Use, i.KeyID())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(jwksJSON(t, i)), &m); err != nil {
		t.Fatal(err)
	}
	key := m["keys"].([]any)[0].(map[string]any)
	if _, ok := key["d"]; ok {
		t.Error("JWKS JSON holds a private key (d)")
	}

	// kid is the RFC 7638 thumbprint: SHA-256 of the required members in
	// lexicographic order, no whitespace.
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, key["x"], key["y"])
	sum := sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); i.KeyID() != want {
		t.Errorf("KeyID() = %s, want RFC 7638 thumbprint %s", i.KeyID(), want)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreatePrincipal(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t)
	p, cs := createPrincipal(t, i)

	for name, id := range map[string]string{"ClientID": p.ClientID, "ObjectID": p.ObjectID, "Secrets[0].ID": p.Secrets[0].ID} {
		if !uuidV4.MatchString(id) {
			t.Errorf("CreatePrincipal().%s = %q, want a UUIDv4", name, id)
		}
	}
	if p.ClientID == p.ObjectID {
		t.Error("CreatePrincipal() client id == object id, want distinct")
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(string(cs.Expose())); err != nil || len(b) != 32 {
		t.Errorf("client secret decodes to %d bytes, %v; want 32 bytes of base64url", len(b), err)
	}
	var stored store.Principal
	if err := e.store.View(context.Background(), func(tx store.Tx) error {
		var err error
		stored, err = tx.Principal(p.ClientID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, stored); diff != "" {
		t.Errorf("stored principal mismatch (-returned +stored):\n%s", diff)
	}
	if dump := fmt.Sprintf("%+v", stored); strings.Contains(dump, string(cs.Expose())) {
		t.Error("stored principal holds the plaintext client secret")
	}
	if !strings.HasPrefix(stored.Secrets[0].Hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored hash = %q, want $argon2id$v=19$m=19456,t=2,p=1$...", stored.Secrets[0].Hash)
	}
	if _, _, err := i.CreatePrincipal(context.Background(), testNow, "", nil); err == nil {
		t.Error("CreatePrincipal(empty name) = nil error, want error")
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	i := e.issuer(t)
	p, cs := createPrincipal(t, i)
	good := string(cs.Expose())
	// wrong differs from good in its last character (replacing it with a
	// fixed letter would leave it unchanged one time in 64).
	wrong := good[:len(good)-1] + "A"
	if wrong == good {
		wrong = good[:len(good)-1] + "B"
	}

	disabled, dcs := createPrincipal(t, i)
	e.update(t, disabled.ClientID, func(p *store.Principal) { p.Disabled = true })

	expired, ecs := createPrincipal(t, i)
	e.update(t, expired.ClientID, func(p *store.Principal) {
		exp := testNow.Add(time.Hour)
		p.Secrets[0].Expires = &exp
	})

	corrupt, ccs := createPrincipal(t, i)
	e.update(t, corrupt.ClientID, func(p *store.Principal) { p.Secrets[0].Hash = "$argon2id$garbage" })

	tests := []struct {
		name             string
		clientID, secret string
		now              time.Time
		wantErr          bool
		wantInErr        string
	}{
		{name: "right secret", clientID: p.ClientID, secret: good, now: testNow},
		{name: "wrong secret", clientID: p.ClientID, secret: wrong, now: testNow, wantErr: true, wantInErr: "wrong secret"},
		{name: "other principal's secret", clientID: p.ClientID, secret: string(dcs.Expose()), now: testNow, wantErr: true, wantInErr: "wrong secret"},
		{name: "unknown client", clientID: "00000000-0000-4000-8000-000000000000", secret: good, now: testNow, wantErr: true, wantInErr: "unknown client"},
		{name: "empty secret", clientID: p.ClientID, secret: "", now: testNow, wantErr: true, wantInErr: "malformed"},
		{name: "empty client id", clientID: "", secret: good, now: testNow, wantErr: true, wantInErr: "malformed"},
		{name: "oversized secret", clientID: p.ClientID, secret: strings.Repeat("a", 1000), now: testNow, wantErr: true, wantInErr: "malformed"},
		{name: "disabled", clientID: disabled.ClientID, secret: string(dcs.Expose()), now: testNow, wantErr: true, wantInErr: "disabled"},
		{name: "credential not yet expired", clientID: expired.ClientID, secret: string(ecs.Expose()), now: testNow.Add(59 * time.Minute)},
		{name: "credential expired", clientID: expired.ClientID, secret: string(ecs.Expose()), now: testNow.Add(time.Hour), wantErr: true, wantInErr: "expired"},
		{name: "corrupt stored hash", clientID: corrupt.ClientID, secret: string(ccs.Expose()), now: testNow, wantErr: true, wantInErr: "unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := i.Authenticate(ctx, tt.now, tt.clientID, tt.secret)
			if !tt.wantErr {
				if err != nil || got.ClientID != tt.clientID {
					t.Errorf("Authenticate() = %s, %v; want %s", got.ClientID, err, tt.clientID)
				}
				return
			}
			if !errors.Is(err, ErrInvalidClient) {
				t.Fatalf("Authenticate() = %s, %v; want %v", got.ClientID, err, ErrInvalidClient)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("Authenticate() = %q, want reason containing %q", err, tt.wantInErr)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Error("Authenticate() error echoes the secret")
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		// Fill the hash slots so that Authenticate has to wait.
		for range cap(i.hashSem) {
			i.hashSem <- struct{}{}
		}
		defer func() {
			for range cap(i.hashSem) {
				<-i.hashSem
			}
		}()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := i.Authenticate(cctx, testNow, p.ClientID, good); !errors.Is(err, context.Canceled) {
			t.Errorf("Authenticate(cancelled) = %v, want %v", err, context.Canceled)
		}
	})
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u, err := newUUID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !uuidV4.MatchString(u) || seen[u] {
			t.Fatalf("newUUID() = %q, want a fresh UUIDv4", u)
		}
		seen[u] = true
	}
}

func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	i := e.issuer(f)
	p, _ := createPrincipal(f, i)
	good := issue(f, i, p, testNow)
	want, err := verify(i, testNow, good)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1])
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := verify(i, testNow, tok)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify() = %v, want nil or %v", err, ErrInvalidToken)
			}
			return
		}
		// Only a token carrying the original claims can be accepted
		// (ECDSA signatures are malleable, so the bytes may differ).
		if diff := cmp.Diff(want, id); diff != "" {
			t.Fatalf("Verify(fuzzed) accepted other claims (-want +got):\n%s", diff)
		}
	})
}

func BenchmarkVerifyCached(b *testing.B) {
	benchmarkVerify(b, 0)
}

func BenchmarkVerifyUncached(b *testing.B) {
	benchmarkVerify(b, -1)
}

func benchmarkVerify(b *testing.B, cacheSize int) {
	e := newEnv(b)
	i := e.issuer(b, func(o *IssuerOptions) { o.CacheSize = cacheSize })
	p, _ := createPrincipal(b, i)
	tok := issue(b, i, p, testNow)
	now := testNow.Add(time.Minute)
	if _, err := verify(i, now, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify(i, now, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b)
	i := e.issuer(b)
	p, cs := createPrincipal(b, i)
	secret := string(cs.Expose())
	for b.Loop() {
		if _, err := i.Authenticate(context.Background(), testNow, p.ClientID, secret); err != nil {
			b.Fatal(err)
		}
	}
}
