package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// restoreFixture is a store file made under a root key file, with keyCount
// EC keys and a sealed token-signing key.
type restoreFixture struct {
	snapshot, rootKey string
}

func newRestoreFixture(t *testing.T, keyCount int) restoreFixture {
	t.Helper()
	dir := t.TempDir()
	f := restoreFixture{snapshot: filepath.Join(dir, "snapshot.db"), rootKey: filepath.Join(dir, "root.key")}
	ring, _, _, err := rootkey.OpenFile(f.rootKey, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(f.snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	svc := vault.New(vault.Options{Store: db, Material: ring.Derive(purposeMaterial), Backup: ring.Derive("backup"), Software: software.New(rand.Reader)})
	if _, err := svc.EnsureVault(ctx, time.Now(), vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	for i := range keyCount {
		if _, err := svc.CreateKey(ctx, time.Now(), "dev", "k"+string(rune('a'+i)), vault.CreateParams{Spec: keys.Spec{Type: keys.EC}}); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := ring.Derive(purposeTokenSigning).Seal([]byte("token signing key"), []byte(auth.SigningKeyBlob))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(auth.SigningKeyBlob, sealed) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// wrongRootKey writes another root key file.
func wrongRootKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wrong.key")
	if _, _, _, err := rootkey.OpenFile(path, true, rand.Reader); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRestore(t *testing.T) {
	f := newRestoreFixture(t, 3)
	dataDir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := runRestore(t.Context(), restoreOptions{snapshot: f.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey}, now, &out); err != nil {
		t.Fatalf("restore = %v", err)
	}
	if !strings.Contains(out.String(), "vaults 1, keys 3, key versions 3, principals 0") {
		t.Errorf("restore printed %q, want the counts", out.String())
	}
	want, _ := os.ReadFile(f.snapshot)
	dest := filepath.Join(dataDir, storeFile)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, want) {
		t.Error("the installed store is not the snapshot byte for byte")
	}

	// Again: refused without --force; with it, the old store is kept.
	err := runRestore(t.Context(), restoreOptions{snapshot: f.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey}, now, &out)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over a store without --force = %v, want a refusal naming --force", err)
	}
	other := newRestoreFixture(t, 1)
	otherKey, _ := os.ReadFile(other.rootKey)
	if err := os.WriteFile(f.rootKey, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runRestore(t.Context(), restoreOptions{snapshot: other.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey, force: true}, now, &out); err != nil {
		t.Fatalf("restore --force = %v", err)
	}
	aside := dest + ".pre-restore-20261126T120000Z"
	if got, _ := os.ReadFile(aside); !bytes.Equal(got, want) {
		t.Errorf("restore --force did not keep the replaced store as %s", aside)
	}
	if !strings.Contains(out.String(), aside) {
		t.Errorf("restore --force printed %q, want the name of the kept store", out.String())
	}
}

func TestRestoreRefused(t *testing.T) {
	withKeys := newRestoreFixture(t, 2)
	noKeys := newRestoreFixture(t, 0)
	notStore := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notStore, bytes.Repeat([]byte("not a store\n"), 1000), 0o600)
	tests := []struct {
		name              string
		snapshot, rootKey string
		wantErr           string
	}{
		{"wrong root key", withKeys.snapshot, wrongRootKey(t), "does not open with this root key"},
		{"wrong root key, no key versions", noKeys.snapshot, wrongRootKey(t), "sealed token-signing-key does not open"},
		{"not a store", notStore, withKeys.rootKey, "not a Keywarden store"},
		{"missing snapshot", filepath.Join(t.TempDir(), "missing.db"), withKeys.rootKey, "no such file"},
		{"missing root key", withKeys.snapshot, filepath.Join(t.TempDir(), "root.key"), "root key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			var out bytes.Buffer
			err := runRestore(t.Context(), restoreOptions{snapshot: tt.snapshot, dataDir: dataDir, rootKeyFile: tt.rootKey}, time.Now(), &out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("restore = %v, want an error with %q", err, tt.wantErr)
			}
			if ents, _ := os.ReadDir(dataDir); len(ents) != 0 {
				t.Errorf("a refused restore left %d files in the data directory", len(ents))
			}
			if out.Len() != 0 {
				t.Errorf("a refused restore printed %q", out.String())
			}
		})
	}
}

func TestRestoreWhileServing(t *testing.T) {
	f := newRestoreFixture(t, 1)
	dataDir := t.TempDir()
	db, err := embedded.Open(filepath.Join(dataDir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = runRestore(t.Context(), restoreOptions{snapshot: f.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey, force: true}, time.Now(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("restore --force while the store is open = %v, want a refusal", err)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		t.Errorf("restore error %v is a raw file error", err)
	}
}

// TestRestoreChecksChainKey checks that restore refuses, installing
// nothing, when the data directory's audit chain key (which a restore
// does not roll back) does not open with the root key given — the server
// would not start — and accepts it when it opens.
func TestRestoreChecksChainKey(t *testing.T) {
	f := newRestoreFixture(t, 1)
	dataDir := filepath.Join(t.TempDir(), "data")
	auditDir := filepath.Join(dataDir, "audit")
	if err := os.MkdirAll(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	other, _, _, err := rootkey.OpenFile(wrongRootKey(t), false, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(auditDir, chainKeyFile)
	if _, err := rootkey.FileDataKey(chain, other.Derive(rootkey.DataKeySealerPurpose), rootkey.Random(rand.Reader)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var out bytes.Buffer
	err = runRestore(t.Context(), restoreOptions{snapshot: f.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey}, now, &out)
	if err == nil || !strings.Contains(err.Error(), chainKeyFile) || !strings.Contains(err.Error(), "nothing was installed") {
		t.Fatalf("restore with a chain key under another root key = %v, want a refusal naming %s", err, chainKeyFile)
	}
	if _, err := os.Stat(filepath.Join(dataDir, storeFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore installed the store: %v", err)
	}
	ring, _, _, err := rootkey.OpenFile(f.rootKey, false, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(chain)
	if _, err := rootkey.FileDataKey(chain, ring.Derive(rootkey.DataKeySealerPurpose), rootkey.Random(rand.Reader)); err != nil {
		t.Fatal(err)
	}
	if err := runRestore(t.Context(), restoreOptions{snapshot: f.snapshot, dataDir: dataDir, rootKeyFile: f.rootKey}, now, &out); err != nil {
		t.Fatalf("restore with the chain key under the same root key = %v", err)
	}
}
