package main

import (
	"context"
	"crypto/rand"
	"errors"
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

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// oneToken accepts the bearer token "t" for every audience.
type oneToken struct{}

func (oneToken) JWKS() jose.JSONWebKeySet { return jose.JSONWebKeySet{} }
func (oneToken) IssueToken(context.Context, time.Time, api.TokenRequest) (string, int, error) {
	return "", 0, api.ErrInvalidClient
}
func (oneToken) Verify(_ context.Context, _ time.Time, tok string, _, _ func(string) bool) (api.Caller, error) {
	if tok != "t" {
		return api.Caller{}, errors.New("bad token")
	}
	return api.Caller{Subject: "oid"}, nil
}

// flakyFile fails writes and syncs while broken is set.
type flakyFile struct {
	*os.File
	broken *atomic.Bool
}

func (f flakyFile) Write(p []byte) (int, error) {
	if f.broken.Load() {
		return 0, errors.New("injected: no space left on device")
	}
	return f.File.Write(p)
}

func (f flakyFile) Sync() error {
	if f.broken.Load() {
		return errors.New("injected: sync failed")
	}
	return f.File.Sync()
}

// TestAuditFailClosedWithRealVault drives the real handler, vault service
// and audit log: while the audit file cannot be written, a create answers
// 503 and creates nothing; once it can, requests work again.
func TestAuditFailClosedWithRealVault(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	root, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(filepath.Join(dir, "kw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vs := vault.New(vault.Options{Store: db, Material: root.Derive("material"), Backup: root.Derive("backup"), Software: software.New(rand.Reader)})
	if _, err := vs.EnsureVault(ctx, time.Now(), vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateSigningKey(ctx, db, root.Derive("audit-signing"))
	if err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	log, err := audit.Open(audit.Options{
		Dir: filepath.Join(dir, "audit"), MACKey: root.DeriveKey(auditChainPurpose, 32), SigningKey: key, Now: now,
		OpenFile: func(path string) (audit.File, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return nil, err
			}
			return flakyFile{f, &broken}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	h := api.New(api.Config{TenantID: "t1", DefaultVault: "dev", Throttle: api.Throttle{VaultRPS: -1, PrincipalRPS: -1}},
		api.Deps{Vaults: vs, Tokens: oneToken{}, Audit: auditor{l: log}, Authorizer: api.AllowAll})
	do := func(method, path, body string) int {
		req := httptest.NewRequest(method, "https://127.0.0.1"+path+"?api-version=7.5", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if c := do("POST", "/keys/before/create", `{"kty":"EC"}`); c != http.StatusOK {
		t.Fatalf("create = %d", c)
	}
	broken.Store(true)
	// The first request after the failure finds it (its record fails).
	if c := do("GET", "/keys/before", ""); c != http.StatusServiceUnavailable {
		t.Fatalf("get with a failing audit sink = %d, want 503", c)
	}
	if c := do("POST", "/keys/during/create", `{"kty":"EC"}`); c != http.StatusServiceUnavailable {
		t.Fatalf("create with a failed audit sink = %d, want 503", c)
	}
	if _, err := vs.GetKey(ctx, time.Now(), vault.Ref{Vault: "dev", Name: "during"}); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the key created while the audit failed exists (%v)", err)
	}
	broken.Store(false)
	mu.Lock()
	clock = clock.Add(2 * time.Second)
	mu.Unlock()
	if c := do("POST", "/keys/after/create", `{"kty":"EC"}`); c != http.StatusOK {
		t.Fatalf("create after recovery = %d", c)
	}
	log.Close()
	files, _ := audit.LogFiles(filepath.Join(dir, "audit"))
	res, err := audit.Verify(files, audit.VerifyOptions{MACKey: root.DeriveKey(auditChainPurpose, 32)})
	if err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	// before, the refused get (kept and written on recovery), after.
	if res.Records != 3 {
		t.Errorf("Verify = %d records, want 3", res.Records)
	}
}
