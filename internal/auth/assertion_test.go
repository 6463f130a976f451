package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keywarden/keywarden/internal/store"
)

const testTokenEndpoint = "https://127.0.0.1:8443/" + testTenant + "/oauth2/v2.0/token"

// Test keys, generated once: RSA generation is slow under -race.
var (
	testKeysOnce sync.Once
	testRSA      *rsa.PrivateKey
	testRSA2     *rsa.PrivateKey
	testEC       *ecdsa.PrivateKey
)

func testKeys() (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	testKeysOnce.Do(func() {
		testRSA, _ = rsa.GenerateKey(rand.Reader, 2048)
		testRSA2, _ = rsa.GenerateKey(rand.Reader, 2048)
		testEC, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	return testRSA, testRSA2, testEC
}

// selfSigned returns a self-signed certificate (DER) for key, valid from
// notBefore to notAfter.
func selfSigned(t testing.TB, key crypto.Signer, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "keywarden test client"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// assertion describes a client assertion to sign.
type assertion struct {
	alg     jose.SignatureAlgorithm
	key     any               // signing key
	headers map[string]any    // extra headers (x5t, x5t#S256, x5c)
	claims  map[string]any    // claims; nil values are removed
	edit    func(*jwt.Claims) // edits the standard claims
}

// sign builds the assertion for clientID as MSAL would unless edited.
func (a assertion) sign(t testing.TB, clientID string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range a.headers {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: a.alg, Key: a.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jti, _ := newUUID(rand.Reader)
	std := jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{testTokenEndpoint}, ID: jti,
		NotBefore: jwt.NewNumericDate(testNow), Expiry: jwt.NewNumericDate(testNow.Add(10 * time.Minute)),
	}
	if a.edit != nil {
		a.edit(&std)
	}
	b := jwt.Signed(s).Claims(std)
	if a.claims != nil {
		b = b.Claims(a.claims)
	}
	tok, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// msalHeaders are the headers MSAL sends for a certificate: x5t#S256 as
// standard base64 of the SHA-256 of the DER.
func msalHeaders(der []byte) map[string]any {
	sum := sha256.Sum256(der)
	return map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(sum[:])}
}

// adfsHeaders are the headers MSAL sends to ADFS: x5t, SHA-1.
func adfsHeaders(der []byte) map[string]any {
	sum := sha1.Sum(der)
	return map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(sum[:])}
}

func TestAddCertificate(t *testing.T) {
	ctx := context.Background()
	rsaKey, _, ecKey := testKeys()
	i := newEnv(t).issuer(t)
	p, _ := createPrincipal(t, i)
	notAfter := testNow.Add(365 * 24 * time.Hour).Truncate(time.Second)
	rsaDER := selfSigned(t, rsaKey, testNow.Add(-time.Hour), notAfter)

	cred, err := i.AddCertificate(ctx, testNow, p.ClientID, rsaDER)
	if err != nil {
		t.Fatalf("AddCertificate(RSA) = %v", err)
	}
	s1, s256 := sha1.Sum(rsaDER), sha256.Sum256(rsaDER)
	if cred.Thumbprint != strings.ToUpper(hex.EncodeToString(s1[:])) || cred.ThumbprintSHA256 != strings.ToUpper(hex.EncodeToString(s256[:])) {
		t.Errorf("AddCertificate() thumbprints = %s, %s; want SHA-1 and SHA-256 of the DER in hex", cred.Thumbprint, cred.ThumbprintSHA256)
	}
	if cred.Expires == nil || !cred.Expires.Equal(notAfter) || string(cred.DER) != string(rsaDER) || !uuidV4.MatchString(cred.ID) {
		t.Errorf("AddCertificate() = %+v, want DER stored, expiry %v, UUID id", cred, notAfter)
	}
	got, err := i.Principal(ctx, p.ClientID)
	if err != nil || len(got.Certificates) != 1 || got.Certificates[0].ID != cred.ID {
		t.Fatalf("Principal().Certificates = %+v, %v; want the new certificate", got.Certificates, err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name     string
		clientID string
		der      []byte
		wantErr  error
	}{
		{"ECDSA P-256", p.ClientID, selfSigned(t, ecKey, testNow, notAfter), nil},
		{"already registered", p.ClientID, rsaDER, ErrInvalidArgument},
		{"expired", p.ClientID, selfSigned(t, ecKey, testNow.Add(-2*time.Hour), testNow), ErrInvalidArgument},
		{"ECDSA P-384", p.ClientID, selfSigned(t, p384, testNow, notAfter), ErrInvalidArgument},
		{"Ed25519", p.ClientID, selfSigned(t, edKey, testNow, notAfter), ErrInvalidArgument},
		{"RSA 1024", p.ClientID, selfSigned(t, small, testNow, notAfter), ErrInvalidArgument},
		{"garbage", p.ClientID, []byte("-----BEGIN CERTIFICATE-----"), ErrInvalidArgument},
		{"trailing data", p.ClientID, append(selfSigned(t, ecKey, testNow, notAfter), 0), ErrInvalidArgument},
		{"unknown principal", "00000000-0000-4000-8000-000000000000", selfSigned(t, ecKey, testNow, notAfter), ErrPrincipalNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := i.AddCertificate(ctx, testNow, tt.clientID, tt.der)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("AddCertificate() = %v, want %v", err, tt.wantErr)
			}
		})
	}

	for n := 2; n < MaxCertificates; n++ {
		if _, err := i.AddCertificate(ctx, testNow, p.ClientID, selfSigned(t, ecKey, testNow, notAfter)); err != nil {
			t.Fatalf("AddCertificate(#%d) = %v", n+1, err)
		}
	}
	if _, err := i.AddCertificate(ctx, testNow, p.ClientID, selfSigned(t, ecKey, testNow, notAfter)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("AddCertificate(beyond MaxCertificates) = %v, want %v", err, ErrInvalidArgument)
	}

	if err := i.RemoveCredential(ctx, p.ClientID, cred.ID); err != nil {
		t.Fatalf("RemoveCredential(certificate) = %v", err)
	}
	if got, _ := i.Principal(ctx, p.ClientID); len(got.Certificates) != MaxCertificates-1 {
		t.Errorf("after RemoveCredential, %d certificates, want %d", len(got.Certificates), MaxCertificates-1)
	}
}

func TestAuthenticateAssertion(t *testing.T) {
	ctx := context.Background()
	rsaKey, otherRSA, ecKey := testKeys()
	e := newEnv(t)
	i := e.issuer(t)
	p, _ := createPrincipal(t, i)
	notAfter := testNow.Add(30 * 24 * time.Hour)
	rsaDER := selfSigned(t, rsaKey, testNow.Add(-time.Hour), notAfter)
	ecDER := selfSigned(t, ecKey, testNow.Add(-time.Hour), notAfter)
	for _, der := range [][]byte{rsaDER, ecDER} {
		if _, err := i.AddCertificate(ctx, testNow, p.ClientID, der); err != nil {
			t.Fatal(err)
		}
	}
	otherDER := selfSigned(t, otherRSA, testNow.Add(-time.Hour), notAfter)
	otherPrincipal, _ := createPrincipal(t, i)
	if _, err := i.AddCertificate(ctx, testNow, otherPrincipal.ClientID, otherDER); err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	msal := assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER)}

	tests := []struct {
		name      string
		a         assertion
		clientID  string // default p
		endpoint  string // default testTokenEndpoint
		now       time.Time
		wantInErr string // "" for success
	}{
		{name: "PS256 with x5t#S256 (MSAL)", a: msal},
		{name: "PS256 with x5t#S256 and x5c chain", a: assertion{alg: jose.PS256, key: rsaKey, headers: map[string]any{
			"x5t#S256": msalHeaders(rsaDER)["x5t#S256"], "x5c": []string{base64.StdEncoding.EncodeToString(rsaDER)}}}},
		{name: "RS256 with x5t (ADFS)", a: assertion{alg: jose.RS256, key: rsaKey, headers: adfsHeaders(rsaDER)}},
		{name: "ES256 without thumbprint", a: assertion{alg: jose.ES256, key: ecKey}},
		{name: "within leeway after exp", a: msal, now: testNow.Add(10*time.Minute + 30*time.Second)},

		{name: "alg none", a: msal, wantInErr: "algorithm"}, // rewritten below
		{name: "HS256 keyed with the public key", a: assertion{alg: jose.HS256, key: pubDER, headers: msalHeaders(rsaDER)}, wantInErr: "algorithm"},
		{name: "HS256 keyed with the certificate", a: assertion{alg: jose.HS256, key: rsaDER, headers: msalHeaders(rsaDER)}, wantInErr: "algorithm"},
		{name: "RS384", a: assertion{alg: jose.RS384, key: rsaKey, headers: msalHeaders(rsaDER)}, wantInErr: "algorithm"},
		{name: "signed by another key with our thumbprint", a: assertion{alg: jose.PS256, key: otherRSA, headers: msalHeaders(rsaDER)}, wantInErr: "bad signature"},
		{name: "another principal's certificate", a: assertion{alg: jose.PS256, key: otherRSA, headers: msalHeaders(otherDER)}, wantInErr: "thumbprint"},
		{name: "another principal's certificate without thumbprint", a: assertion{alg: jose.PS256, key: otherRSA}, wantInErr: "bad signature"},
		{name: "x5c naming another certificate", a: assertion{alg: jose.PS256, key: otherRSA, headers: map[string]any{
			"x5c": []string{base64.StdEncoding.EncodeToString(otherDER)}}}, wantInErr: "bad signature"},
		{name: "malformed thumbprint", a: assertion{alg: jose.PS256, key: rsaKey, headers: map[string]any{"x5t#S256": "!!"}}, wantInErr: "malformed x5t"},
		{name: "ES256 by the RSA certificate's thumbprint", a: assertion{alg: jose.ES256, key: ecKey, headers: msalHeaders(rsaDER)}, wantInErr: "does not fit"},
		{name: "wrong aud", a: msal, endpoint: "https://127.0.0.1:8443/" + testTenant + "/oauth2/token", wantInErr: "aud"},
		{name: "aud of another host", a: msal, endpoint: "https://dev.localhost:8443/" + testTenant + "/oauth2/v2.0/token", wantInErr: "aud"},
		{name: "wrong iss", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) { c.Issuer = "someone" }}, wantInErr: "iss"},
		{name: "wrong sub", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) { c.Subject = "someone" }}, wantInErr: "sub"},
		{name: "expired", a: msal, now: testNow.Add(10*time.Minute + 61*time.Second), wantInErr: "expired"},
		{name: "nbf in the future", a: msal, now: testNow.Add(-2 * time.Minute), wantInErr: "not valid yet"},
		{name: "no exp", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) { c.Expiry = nil }}, wantInErr: "exp"},
		{name: "no jti", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) { c.ID = "" }}, wantInErr: "jti"},
		{name: "lifetime over an hour", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) {
			c.Expiry = jwt.NewNumericDate(testNow.Add(61 * time.Minute))
		}}, wantInErr: "lifetime"},
		{name: "backdated nbf", a: assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER), edit: func(c *jwt.Claims) {
			c.NotBefore = jwt.NewNumericDate(testNow.Add(-2 * time.Hour))
		}}, wantInErr: "lifetime"},
		{name: "certificate expired", a: msal, now: notAfter.Add(time.Minute), wantInErr: "expired certificate"},
		{name: "unknown client", a: msal, clientID: "00000000-0000-4000-8000-000000000000", wantInErr: "unknown client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientID, endpoint, now := tt.clientID, tt.endpoint, tt.now
			if clientID == "" {
				clientID = p.ClientID
			}
			if endpoint == "" {
				endpoint = testTokenEndpoint
			}
			if now.IsZero() {
				now = testNow.Add(time.Second)
			}
			a := tt.a
			if tt.name == "certificate expired" {
				a.edit = func(c *jwt.Claims) {
					c.NotBefore = jwt.NewNumericDate(now)
					c.Expiry = jwt.NewNumericDate(now.Add(10 * time.Minute))
				}
			}
			tok := a.sign(t, clientID)
			if tt.name == "alg none" {
				parts := strings.Split(tok, ".")
				h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
				tok = h + "." + parts[1] + "."
			}
			got, err := i.AuthenticateAssertion(ctx, now, clientID, tok, endpoint)
			if tt.wantInErr == "" {
				if err != nil || got.ClientID != p.ClientID {
					t.Fatalf("AuthenticateAssertion() = %s, %v; want %s", got.ClientID, err, p.ClientID)
				}
				return
			}
			if !errors.Is(err, ErrInvalidClient) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("AuthenticateAssertion() = %v, want %v containing %q", err, ErrInvalidClient, tt.wantInErr)
			}
			if strings.Contains(err.Error(), tok) {
				t.Error("AuthenticateAssertion() error echoes the assertion")
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		tok := msal.sign(t, p.ClientID)
		if _, err := i.AuthenticateAssertion(ctx, testNow, p.ClientID, tok, testTokenEndpoint); err != nil {
			t.Fatalf("AuthenticateAssertion(first use) = %v", err)
		}
		if _, err := i.AuthenticateAssertion(ctx, testNow.Add(time.Minute), p.ClientID, tok, testTokenEndpoint); !errors.Is(err, ErrInvalidClient) || !strings.Contains(err.Error(), "replayed") {
			t.Errorf("AuthenticateAssertion(replay) = %v, want %v (replayed)", err, ErrInvalidClient)
		}
	})

	t.Run("refused assertion leaves its jti unused", func(t *testing.T) {
		tok := msal.sign(t, p.ClientID)
		if _, err := i.AuthenticateAssertion(ctx, testNow, p.ClientID, tok, "https://elsewhere/token"); !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("AuthenticateAssertion(wrong aud) = %v, want %v", err, ErrInvalidClient)
		}
		if _, err := i.AuthenticateAssertion(ctx, testNow, p.ClientID, tok, testTokenEndpoint); err != nil {
			t.Errorf("AuthenticateAssertion(after refusal) = %v, want nil", err)
		}
	})

	t.Run("disabled principal", func(t *testing.T) {
		e.update(t, p.ClientID, func(p *store.Principal) { p.Disabled = true })
		defer e.update(t, p.ClientID, func(p *store.Principal) { p.Disabled = false })
		if _, err := i.AuthenticateAssertion(ctx, testNow, p.ClientID, msal.sign(t, p.ClientID), testTokenEndpoint); !errors.Is(err, ErrInvalidClient) || !strings.Contains(err.Error(), "disabled") {
			t.Errorf("AuthenticateAssertion(disabled) = %v, want %v (disabled)", err, ErrInvalidClient)
		}
	})

	t.Run("removed certificate", func(t *testing.T) {
		q, _ := createPrincipal(t, i)
		cred, err := i.AddCertificate(ctx, testNow, q.ClientID, rsaDER)
		if err != nil {
			t.Fatal(err)
		}
		if err := i.RemoveCredential(ctx, q.ClientID, cred.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := i.AuthenticateAssertion(ctx, testNow, q.ClientID, msal.sign(t, q.ClientID), testTokenEndpoint); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("AuthenticateAssertion(removed certificate) = %v, want %v", err, ErrInvalidClient)
		}
	})

	t.Run("oversized", func(t *testing.T) {
		if _, err := i.AuthenticateAssertion(ctx, testNow, p.ClientID, strings.Repeat("a", maxAssertionLen+1), testTokenEndpoint); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("AuthenticateAssertion(oversized) = %v, want %v", err, ErrInvalidClient)
		}
	})
}

func TestJTICacheBounded(t *testing.T) {
	c := newJTICache(2)
	exp := testNow.Add(time.Minute)
	for _, jti := range []string{"a", "b"} {
		if err := c.use("client", jti, exp, testNow); err != nil {
			t.Fatalf("use(%s) = %v", jti, err)
		}
	}
	if err := c.use("other", "a", exp, testNow); err == nil {
		t.Error("use(third id, cache full) = nil, want error")
	}
	if err := c.use("client", "a", exp, testNow); err == nil {
		t.Error("use(replay) = nil, want error")
	}
	// Once the remembered ids expire they are dropped to make room, and a
	// jti may be used again (its assertion has expired anyway).
	if err := c.use("client", "a", exp.Add(time.Minute), exp); err != nil {
		t.Errorf("use(after expiry) = %v, want nil", err)
	}
	if len(c.seen) > 2 {
		t.Errorf("cache holds %d ids, want at most 2", len(c.seen))
	}
}

func FuzzAuthenticateAssertion(f *testing.F) {
	rsaKey, _, ecKey := testKeys()
	i := newEnv(f).issuer(f)
	p, _ := createPrincipal(f, i)
	rsaDER := selfSigned(f, rsaKey, testNow.Add(-time.Hour), testNow.Add(time.Hour))
	for _, der := range [][]byte{rsaDER, selfSigned(f, ecKey, testNow.Add(-time.Hour), testNow.Add(time.Hour))} {
		if _, err := i.AddCertificate(context.Background(), testNow, p.ClientID, der); err != nil {
			f.Fatal(err)
		}
	}
	good := assertion{alg: jose.PS256, key: rsaKey, headers: msalHeaders(rsaDER)}.sign(f, p.ClientID)
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(assertion{alg: jose.ES256, key: ecKey}.sign(f, p.ClientID))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"PS256","x5t#S256":5,"x5c":["AAAA"]}`)) + "." + parts[1] + "." + parts[2])
	f.Add("..")
	f.Fuzz(func(t *testing.T, a string) {
		got, err := i.AuthenticateAssertion(context.Background(), testNow, p.ClientID, a, testTokenEndpoint)
		if err != nil {
			if !errors.Is(err, ErrInvalidClient) {
				t.Fatalf("AuthenticateAssertion() = %v, want nil or %v", err, ErrInvalidClient)
			}
			return
		}
		if got.ClientID != p.ClientID {
			t.Fatalf("AuthenticateAssertion() = %s, want %s", got.ClientID, p.ClientID)
		}
	})
}
