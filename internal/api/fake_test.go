package api

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// call records one Vaults method call made by a handler.
type call struct {
	Method  string
	Vault   string
	Name    string
	Version string
	Marker  string
	Limit   int
	Op      vault.Operation
	Alg     string
}

// fakeVaults is a hand-written Vaults for routing and mapping tests: it
// records calls and answers canned values. It does no crypto.
type fakeVaults struct {
	mu     sync.Mutex
	vaults map[string]bool
	// skus and network override a vault's SKU (default premium) and
	// network rules (default none).
	skus    map[string]vault.SKU
	network map[string]*vault.NetworkRules
	calls   []call
	err     error  // returned by every key method when set
	next    string // Page.Next of listings
	kv      vault.KeyVersion
	valid   bool // Verify result
}

func newFakeVaults() *fakeVaults {
	return &fakeVaults{
		vaults:  map[string]bool{"dev": true, "other": true, "hsm": true},
		skus:    map[string]vault.SKU{"hsm": vault.ManagedHSM},
		network: map[string]*vault.NetworkRules{},
		kv: vault.KeyVersion{
			Name: "k1", Version: "0123456789abcdef0123456789abcdef",
			Spec:    keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.Software},
			Public:  &rsa.PublicKey{N: big.NewInt(0).SetBytes([]byte{0xc5, 0x01, 0x02, 0x03}), E: 65537},
			Ops:     []vault.Operation{vault.OpSign, vault.OpVerify},
			Enabled: true, Created: time.Unix(1700000000, 0), Updated: time.Unix(1700000100, 0),
			RecoveryLevel: "Recoverable+Purgeable", RecoverableDays: 90,
		},
	}
}

func (f *fakeVaults) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err
}

func (f *fakeVaults) last() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeVaults) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func (f *fakeVaults) Vault(ctx context.Context, name string) (vault.Vault, error) {
	if !f.vaults[name] {
		return vault.Vault{}, &vault.Error{Kind: vault.ErrNotFound, Code: "VaultNotFound", Msg: "Vault " + name + " was not found."}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sku := f.skus[name]
	if sku == "" {
		sku = vault.Premium
	}
	return vault.Vault{Name: name, SKU: sku, RetentionDays: 90, Network: f.network[name]}, nil
}

func (f *fakeVaults) keyVersion(name, version string) vault.KeyVersion {
	kv := f.kv
	kv.Name = name
	if version != "" {
		kv.Version = version
	}
	return kv
}

func (f *fakeVaults) CreateKey(ctx context.Context, now time.Time, v, name string, p vault.CreateParams) (vault.KeyVersion, error) {
	return f.keyVersion(name, ""), f.record(call{Method: "CreateKey", Vault: v, Name: name})
}

func (f *fakeVaults) ImportKey(ctx context.Context, now time.Time, v, name string, p vault.ImportParams) (vault.KeyVersion, error) {
	return f.keyVersion(name, ""), f.record(call{Method: "ImportKey", Vault: v, Name: name})
}

func (f *fakeVaults) GetKey(ctx context.Context, now time.Time, ref vault.Ref) (vault.KeyVersion, error) {
	return f.keyVersion(ref.Name, ref.Version), f.record(call{Method: "GetKey", Vault: ref.Vault, Name: ref.Name, Version: ref.Version})
}

func (f *fakeVaults) UpdateKey(ctx context.Context, now time.Time, ref vault.Ref, p vault.UpdateParams) (vault.KeyVersion, error) {
	return f.keyVersion(ref.Name, ref.Version), f.record(call{Method: "UpdateKey", Vault: ref.Vault, Name: ref.Name, Version: ref.Version})
}

func (f *fakeVaults) ListKeys(ctx context.Context, v, marker string, limit int) (vault.Page[vault.KeyVersion], error) {
	err := f.record(call{Method: "ListKeys", Vault: v, Marker: marker, Limit: limit})
	return vault.Page[vault.KeyVersion]{Items: []vault.KeyVersion{f.kv}, Next: f.nextAfter(marker)}, err
}

func (f *fakeVaults) ListVersions(ctx context.Context, v, name, marker string, limit int) (vault.Page[vault.KeyVersion], error) {
	err := f.record(call{Method: "ListVersions", Vault: v, Name: name, Marker: marker, Limit: limit})
	return vault.Page[vault.KeyVersion]{Items: []vault.KeyVersion{f.keyVersion(name, "")}, Next: f.nextAfter(marker)}, err
}

// nextAfter gives listings two pages: the first continues with f.next.
func (f *fakeVaults) nextAfter(marker string) string {
	if marker != "" {
		return ""
	}
	return f.next
}

func (f *fakeVaults) deleted(name string) vault.DeletedKey {
	return vault.DeletedKey{KeyVersion: f.keyVersion(name, ""), DeletedDate: time.Unix(1700000200, 0), ScheduledPurgeDate: time.Unix(1700000200+90*86400, 0)}
}

func (f *fakeVaults) DeleteKey(ctx context.Context, now time.Time, v, name string) (vault.DeletedKey, error) {
	return f.deleted(name), f.record(call{Method: "DeleteKey", Vault: v, Name: name})
}

func (f *fakeVaults) GetDeletedKey(ctx context.Context, v, name string) (vault.DeletedKey, error) {
	return f.deleted(name), f.record(call{Method: "GetDeletedKey", Vault: v, Name: name})
}

func (f *fakeVaults) ListDeletedKeys(ctx context.Context, v, marker string, limit int) (vault.Page[vault.DeletedKey], error) {
	err := f.record(call{Method: "ListDeletedKeys", Vault: v, Marker: marker, Limit: limit})
	return vault.Page[vault.DeletedKey]{Items: []vault.DeletedKey{f.deleted("k1")}, Next: f.nextAfter(marker)}, err
}

func (f *fakeVaults) RecoverKey(ctx context.Context, now time.Time, v, name string) (vault.KeyVersion, error) {
	return f.keyVersion(name, ""), f.record(call{Method: "RecoverKey", Vault: v, Name: name})
}

func (f *fakeVaults) PurgeKey(ctx context.Context, now time.Time, v, name string) error {
	return f.record(call{Method: "PurgeKey", Vault: v, Name: name})
}

func (f *fakeVaults) BackupKey(ctx context.Context, v, name string) ([]byte, error) {
	return []byte("blob\xff\xfe"), f.record(call{Method: "BackupKey", Vault: v, Name: name})
}

func (f *fakeVaults) RestoreKey(ctx context.Context, now time.Time, v string, blob []byte) (vault.KeyVersion, error) {
	return f.kv, f.record(call{Method: "RestoreKey", Vault: v})
}

func (f *fakeVaults) RotateKey(ctx context.Context, now time.Time, v, name string) (vault.KeyVersion, error) {
	return f.keyVersion(name, ""), f.record(call{Method: "RotateKey", Vault: v, Name: name})
}

func (f *fakeVaults) RotationPolicy(ctx context.Context, v, name string) (vault.RotationPolicy, error) {
	return vault.RotationPolicy{Actions: []vault.LifetimeAction{{Type: "Notify", TimeBeforeExpiry: "P30D"}}}, f.record(call{Method: "RotationPolicy", Vault: v, Name: name})
}

func (f *fakeVaults) SetRotationPolicy(ctx context.Context, now time.Time, v, name string, p vault.RotationPolicy) (vault.RotationPolicy, error) {
	p.Created, p.Updated = now, now
	return p, f.record(call{Method: "SetRotationPolicy", Vault: v, Name: name})
}

func (f *fakeVaults) Encrypt(ctx context.Context, now time.Time, ref vault.Ref, op vault.Operation, in keys.CipherInput) (string, keys.CipherOutput, error) {
	err := f.record(call{Method: "Encrypt", Vault: ref.Vault, Name: ref.Name, Version: ref.Version, Op: op, Alg: string(in.Algorithm)})
	return f.kv.Version, keys.CipherOutput{Value: []byte("ct")}, err
}

func (f *fakeVaults) Decrypt(ctx context.Context, now time.Time, ref vault.Ref, op vault.Operation, in keys.CipherInput) (string, secret.Bytes, error) {
	err := f.record(call{Method: "Decrypt", Vault: ref.Vault, Name: ref.Name, Version: ref.Version, Op: op, Alg: string(in.Algorithm)})
	return f.kv.Version, secret.New([]byte("pt")), err
}

func (f *fakeVaults) Sign(ctx context.Context, now time.Time, ref vault.Ref, alg keys.SignatureAlgorithm, digest []byte) (string, []byte, error) {
	err := f.record(call{Method: "Sign", Vault: ref.Vault, Name: ref.Name, Version: ref.Version, Alg: string(alg)})
	return f.kv.Version, []byte("sig"), err
}

func (f *fakeVaults) Verify(ctx context.Context, now time.Time, ref vault.Ref, alg keys.SignatureAlgorithm, digest, sig []byte) (string, bool, error) {
	err := f.record(call{Method: "Verify", Vault: ref.Vault, Name: ref.Name, Version: ref.Version, Alg: string(alg)})
	return f.kv.Version, f.valid, err
}

func (f *fakeVaults) RandomBytes(count int) ([]byte, error) {
	return make([]byte, count), f.record(call{Method: "RandomBytes", Limit: count})
}

// fakeTokens is a hand-written TokenAuthority: a token is
// "iss|aud[|subject[|group,group…[|principal issuer]]]", valid when both
// predicates accept iss and aud; the subject defaults to "oid-1", the
// principal issuer to the built-in one (""). The one client is
// "app"/"s3cret".
type fakeTokens struct{}

func (fakeTokens) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rsa.PublicKey{N: big.NewInt(0xc5010203), E: 65537}, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
}

func (fakeTokens) IssueToken(ctx context.Context, now time.Time, req TokenRequest) (string, int, error) {
	if req.ClientID != "app" || req.ClientSecret != "s3cret" {
		return "", 0, fmt.Errorf("client %q: %w", req.ClientID, ErrInvalidClient)
	}
	return req.Issuer + "|" + req.Audience, 3600, nil
}

func (fakeTokens) Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (Caller, error) {
	parts := strings.Split(token, "|")
	if len(parts) < 2 || !validIssuer(parts[0]) || !validAudience(parts[1]) {
		return Caller{}, errors.New("fake: token refused")
	}
	c := Caller{Subject: "oid-1", ClientID: "app", Issuer: parts[0]}
	if len(parts) > 2 {
		c.Subject = parts[2]
	}
	if len(parts) > 3 && parts[3] != "" {
		c.Groups = strings.Split(parts[3], ",")
	}
	if len(parts) > 4 {
		c.PrincipalIssuer = parts[4]
	}
	return c, nil
}

const (
	testTenant = "Contoso-Tenant"
	namedHost  = "dev.localhost:8443"
	bareHost   = "127.0.0.1:8443"
	// namedToken and bareToken are valid fake tokens for the two origins.
	namedToken = "https://127.0.0.1:8443/" + testTenant + "/v2.0|https://localhost:8443"
	bareToken  = "https://127.0.0.1:8443/" + testTenant + "/v2.0|https://localhost:8443"
)

// newTestServer returns a Server over a fake Vaults serving "dev" at the
// bare origin, with a fixed clock, an AllowAll Authorizer and no throttling (the
// clock never refills a bucket).
func newTestServer(t testing.TB) (*Server, *fakeVaults) {
	t.Helper()
	f := newFakeVaults()
	s := New(Config{
		TenantID:     testTenant,
		Port:         8443,
		DefaultVault: "dev",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:          func() time.Time { return time.Unix(1700000500, 0) },
		Throttle:     Throttle{VaultRPS: -1, PrincipalRPS: -1},
	}, Deps{Vaults: f, Tokens: fakeTokens{}, Authorizer: AllowAll})
	return s, f
}

// do sends one request through s. token "" sends no Authorization header.
func do(s http.Handler, method, host, target, token, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "https://"+host+"/", r)
	req.Host = host
	req.URL.Opaque = ""
	// Set the raw target after construction so "//" and escapes survive.
	path, rawQuery, _ := strings.Cut(target, "?")
	req.URL.RawQuery = rawQuery
	if err := setRawPath(req, path); err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

// setRawPath sets req's path from an escaped path, keeping "//" and escapes.
func setRawPath(req *http.Request, escaped string) error {
	u, err := url.Parse("https://h" + escaped)
	if err != nil {
		return err
	}
	req.URL.Path, req.URL.RawPath = u.Path, u.RawPath
	req.RequestURI = escaped
	return nil
}
