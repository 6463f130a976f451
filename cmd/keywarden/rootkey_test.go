package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

// TestDataKeysOfExistingDeployments checks that a deployment from before
// data keys keeps its key backups and audit chain (the data keys are what
// its root key derived), and that a new deployment's data keys are random.
func TestDataKeysOfExistingDeployments(t *testing.T) {
	ctx := context.Background()
	for _, existing := range []bool{true, false} {
		dir := t.TempDir()
		ring, src, _, err := rootkey.OpenFile(filepath.Join(dir, "root.key"), true, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, keys, err := seal.LoadKeyring(filepath.Join(dir, "root.key"), nil)
		if err != nil {
			t.Fatal(err)
		}
		old := keys[0]
		db, err := embedded.Open(filepath.Join(dir, "keywarden.db"))
		if err != nil {
			t.Fatal(err)
		}
		auditDir := filepath.Join(dir, "audit")
		os.MkdirAll(auditDir, 0o700)
		oldBackup, _ := old.Derive("backup").Seal([]byte("backup made by an older build"), []byte("m"))
		if existing {
			db.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(tenantBlob, []byte("contoso")) })
			os.WriteFile(filepath.Join(auditDir, audit.FilePrefix+"20260101T000000Z"+audit.FileSuffix), []byte("{}\n"), 0o600)
		}
		k, err := chainKey(ctx, auditDir, db, ring, src)
		if err != nil {
			t.Fatal(err)
		}
		legacy := old.DeriveKey(auditChainPurpose, 32)
		if got := k.Equal(legacy); got != existing {
			t.Errorf("existing=%v: chain key equals the root key's derivation: %v", existing, got)
		}
		b, err := backupSealer(ctx, db, ring, src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Open(oldBackup, []byte("m"))
		if existing && err != nil {
			t.Errorf("an existing deployment's backup does not open with its backup data key: %v", err)
		}
		if !existing && err == nil {
			t.Error("a new deployment's backup data key is the root key's derivation")
		}
		// Log files without their chain key, in a deployment that has data
		// keys: the chain key was lost, and the server refuses to start.
		os.Remove(filepath.Join(auditDir, chainKeyFile))
		os.WriteFile(filepath.Join(auditDir, audit.FilePrefix+"20260102T000000Z"+audit.FileSuffix), []byte("{}\n"), 0o600)
		if _, err := chainKey(ctx, auditDir, db, ring, src); err == nil || !strings.Contains(err.Error(), "not chain.key") {
			t.Errorf("log files without chain.key = %v, want a refusal", err)
		}
		db.Close()
	}
}

// TestEverySealerPurposeIsResealed reads this package's sources: every
// keyring purpose sealed with must be re-sealed by a rotation (the key
// material, a sealed blob of sealedBlobs, the data keys) or never stored
// (readiness). A new purpose must be added to sealedBlobs — or here, with
// its re-sealing — or a rotation would destroy the only key that opens it.
func TestEverySealerPurposeIsResealed(t *testing.T) {
	covered := map[string]bool{
		"purposeMaterial":              true, // vault.ResealMaterial
		"purposeReadiness":             true, // never stored
		"rootkey.DataKeySealerPurpose": true, // DataKeyResealer, FileDataKeyResealer
		"b.purpose":                    true, // the sealedBlobs table itself
	}
	for _, b := range sealedBlobs() {
		for name, value := range map[string]string{"purposeTokenSigning": purposeTokenSigning, "purposeAuditSigning": purposeAuditSigning, "purposeDevCredentials": purposeDevCredentials} {
			if b.purpose == value {
				covered[name] = true
			}
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\.Derive\(([^)]*)\)`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			seen++
			if !covered[m[1]] {
				t.Errorf("%s seals with purpose %s, which no rotation re-seals", f, m[1])
			}
		}
	}
	if seen < 8 {
		t.Fatalf("found only %d Derive calls; is the pattern stale?", seen)
	}
}
