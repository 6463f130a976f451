package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// backedUpKey is a key version created before the snapshot: its public key
// and a signature it made, to compare after the restore.
type backedUpKey struct {
	name, version string
	alg           azkeys.SignatureAlgorithm
	jwk           *azkeys.JSONWebKey
}

// runKeywarden runs the keywarden binary with args and extra environment
// variables and returns stdout, stderr and the error.
func runKeywarden(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestBackupRestore follows docs/operations.md: an online backup while the
// server serves, then a restore into a new data directory that holds only
// the copied root key and TLS directory, checked through azkeys.
func TestBackupRestore(t *testing.T) {
	ctx := t.Context()
	dataDir := t.TempDir()
	s := startDev(t, dataDir, 0, "--pkcs11-module", "off")
	c := s.client(false)

	// Software keys of every type the premium dev vault takes (software
	// oct keys exist only as oct-HSM in managedhsm vaults, which need an
	// HSM: keys of HSM protection live in the token, not in the store).
	specs := []struct {
		name string
		p    azkeys.CreateKeyParameters
		alg  azkeys.SignatureAlgorithm
	}{
		{"rsa-2048", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, azkeys.SignatureAlgorithmRS256},
		{"rsa-3072", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072)}, azkeys.SignatureAlgorithmPS384},
		{"ec-p256", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, azkeys.SignatureAlgorithmES256},
		{"ec-p384", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP384)}, azkeys.SignatureAlgorithmES384},
	}
	var before []backedUpKey
	for _, sp := range specs {
		r, err := c.CreateKey(ctx, sp.name, sp.p, nil)
		if err != nil {
			t.Fatalf("CreateKey(%s): %v", sp.name, err)
		}
		before = append(before, backedUpKey{name: sp.name, version: r.Key.KID.Version(), alg: sp.alg, jwk: r.Key})
	}
	// A rotated key: both versions must come back.
	rot, err := c.RotateKey(ctx, "ec-p256", nil)
	if err != nil {
		t.Fatalf("RotateKey(ec-p256): %v", err)
	}
	before = append(before, backedUpKey{name: "ec-p256", version: rot.Key.KID.Version(), alg: azkeys.SignatureAlgorithmES256, jwk: rot.Key})
	// A soft-deleted key comes back soft-deleted.
	if _, err := c.CreateKey(ctx, "deleted", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKey(ctx, "deleted", nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range before {
		signAndCheck(t, c, k)
	}

	// Load while the backup runs: creating keys and signing. Keys created
	// before the backup started must be in the snapshot.
	load, stopLoad := context.WithCancel(ctx)
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		loadErrs      []error
		created       []string
		backupStarted bool
		inSnapshot    []string // created before the backup started
	)
	for w := range 3 {
		wg.Go(func() {
			lc := s.client(false)
			for i := 0; load.Err() == nil; i++ {
				name := fmt.Sprintf("load-%d-%d", w, i)
				if _, err := lc.CreateKey(load, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
					if load.Err() == nil {
						mu.Lock()
						loadErrs = append(loadErrs, fmt.Errorf("CreateKey(%s): %w", name, err))
						mu.Unlock()
					}
					return
				}
				digest := sha256.Sum256([]byte(name))
				if _, err := lc.Sign(load, "rsa-2048", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil); err != nil && load.Err() == nil {
					mu.Lock()
					loadErrs = append(loadErrs, fmt.Errorf("Sign during backup: %w", err))
					mu.Unlock()
					return
				}
				mu.Lock()
				created = append(created, name)
				if !backupStarted {
					inSnapshot = append(inSnapshot, name)
				}
				mu.Unlock()
			}
		})
	}
	// Let the load get going.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(created)
		mu.Unlock()
		if n >= 6 {
			break
		}
	}
	mu.Lock()
	backupStarted = true
	if len(inSnapshot) == 0 {
		t.Fatal("no key was created under load before the backup")
	}
	mu.Unlock()
	backupDir := t.TempDir()
	snapshot := filepath.Join(backupDir, "keywarden-snapshot.db")
	envFile := filepath.Join(dataDir, "dev.env")
	stdout, stderr, err := runKeywarden(t, nil, "backup", "--out", snapshot, "--env-file", envFile, "--output", "json")
	if err != nil {
		t.Fatalf("keywarden backup: %v\n%s", err, stderr)
	}
	// The server keeps serving after the snapshot too.
	time.Sleep(200 * time.Millisecond)
	stopLoad()
	wg.Wait()
	for _, err := range loadErrs {
		t.Errorf("request during backup failed: %v", err)
	}
	var doc struct {
		File   string `json:"file"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("keywarden backup output %q: %v", stdout, err)
	}
	checkBackupFile(t, snapshot, doc.Size, doc.SHA256)

	// Created after the snapshot: must be absent after the restore.
	if _, err := c.CreateKey(ctx, "after-snapshot", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	// A principal without Keywarden Administrator may not take a snapshot.
	a := newAdmin(t, s)
	_, p := a.principalWithRole("not-admin", keyVaultAdministrator, "/")
	_, stderr, err = runKeywarden(t, []string{"AZURE_CLIENT_ID=" + p.ClientID, "AZURE_CLIENT_SECRET=" + p.ClientSecret},
		"backup", "--out", filepath.Join(backupDir, "refused.db"), "--env-file", envFile)
	if err == nil || !strings.Contains(stderr, "Forbidden") {
		t.Errorf("keywarden backup as a Key Vault Administrator: err %v, stderr %q; want Forbidden", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(backupDir, "refused.db")); err == nil {
		t.Error("refused backup wrote its file")
	}
	s.stop()

	// The new data directory: the root key and TLS directory from their
	// own backups, then the store from the snapshot.
	newDir := t.TempDir()
	copyFile(t, filepath.Join(dataDir, "root.key"), filepath.Join(newDir, "root.key"))
	copyDir(t, filepath.Join(dataDir, "tls"), filepath.Join(newDir, "tls"))
	restoredStore := filepath.Join(newDir, "keywarden.db")

	wrongKey := filepath.Join(backupDir, "wrong.key")
	wrong := make([]byte, 32)
	rand.Read(wrong)
	if err := os.WriteFile(wrongKey, wrong, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = runKeywarden(t, nil, "restore", "--snapshot", snapshot, "--data-dir", newDir, "--root-key-file", wrongKey)
	if err == nil || !strings.Contains(stderr, "does not open with this root key") || !strings.Contains(stderr, "nothing was installed") {
		t.Errorf("restore with a wrong root key: err %v, stderr %q; want a clear refusal", err, stderr)
	}
	if ents, _ := os.ReadDir(newDir); len(ents) != 2 {
		t.Errorf("restore with a wrong root key left %d entries in the data directory, want root.key and tls only", len(ents))
	}

	stdout, stderr, err = runKeywarden(t, nil, "restore", "--snapshot", snapshot, "--data-dir", newDir)
	if err != nil {
		t.Fatalf("keywarden restore: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "vaults 1, keys ") || !strings.Contains(stdout, doc.SHA256) {
		t.Errorf("keywarden restore output %q lacks the counts or the SHA-256", stdout)
	}
	installed, err := os.ReadFile(restoredStore)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(installed); hex.EncodeToString(sum[:]) != doc.SHA256 {
		t.Error("the installed store is not the snapshot")
	}
	_, stderr, err = runKeywarden(t, nil, "restore", "--snapshot", snapshot, "--data-dir", newDir)
	if err == nil || !strings.Contains(stderr, "--force") {
		t.Errorf("second restore without --force: err %v, stderr %q; want a refusal naming --force", err, stderr)
	}

	r := startDev(t, newDir, 0, "--pkcs11-module", "off")
	_, stderr, err = runKeywarden(t, nil, "restore", "--snapshot", snapshot, "--data-dir", newDir, "--force")
	if err == nil || !strings.Contains(stderr, "in use") {
		t.Errorf("restore --force while the server runs: err %v, stderr %q; want a refusal", err, stderr)
	}
	if r.env["AZURE_CLIENT_ID"] != s.env["AZURE_CLIENT_ID"] || r.env["AZURE_TENANT_ID"] != s.env["AZURE_TENANT_ID"] {
		t.Error("the restored server has another tenant or dev principal")
	}
	rc := r.client(false)
	for _, k := range before {
		got, err := rc.GetKey(ctx, k.name, k.version, nil)
		if err != nil {
			t.Errorf("GetKey(%s/%s) after restore: %v", k.name, k.version, err)
			continue
		}
		if !samePublic(got.Key, k.jwk) {
			t.Errorf("GetKey(%s/%s) after restore: another public key", k.name, k.version)
		}
		signAndCheck(t, rc, k)
	}
	for _, name := range inSnapshot {
		if _, err := rc.GetKey(ctx, name, "", nil); err != nil {
			t.Errorf("GetKey(%s), created before the backup: %v", name, err)
		}
	}
	if _, err := rc.GetDeletedKey(ctx, "deleted", nil); err != nil {
		t.Errorf("GetDeletedKey(deleted) after restore: %v", err)
	}
	_, err = rc.GetKey(ctx, "after-snapshot", "", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("GetKey(after-snapshot) after restore = %v, want 404", err)
	}
}

// keyVaultAdministrator is the Key Vault Administrator role: every vault
// data action, no Keywarden administration.
const keyVaultAdministrator = "00482a5a-887f-4fb3-b363-3b7fe8e74483"

// signAndCheck signs with k's version and verifies the signature with the
// public key recorded before the backup.
func signAndCheck(t *testing.T, c *azkeys.Client, k backedUpKey) {
	t.Helper()
	digest := hashFor(k.alg, []byte("backup "+k.name))
	r, err := c.Sign(t.Context(), k.name, k.version, azkeys.SignParameters{Algorithm: to.Ptr(k.alg), Value: digest}, nil)
	if err != nil {
		t.Errorf("Sign(%s/%s): %v", k.name, k.version, err)
		return
	}
	switch *k.jwk.Kty {
	case azkeys.KeyTypeRSA:
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(k.jwk.N), E: int(new(big.Int).SetBytes(k.jwk.E).Int64())}
		if err := verifyRSA(pub, k.alg, digest, r.Result); err != nil {
			t.Errorf("signature of %s/%s does not verify with its public key: %v", k.name, k.version, err)
		}
	case azkeys.KeyTypeEC:
		curve := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384()}[*k.jwk.Crv]
		pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(k.jwk.X), Y: new(big.Int).SetBytes(k.jwk.Y)}
		n := len(r.Result) / 2
		if !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(r.Result[:n]), new(big.Int).SetBytes(r.Result[n:])) {
			t.Errorf("signature of %s/%s does not verify with its public key", k.name, k.version)
		}
	}
}

// samePublic compares the public parts of two JWKs.
func samePublic(a, b *azkeys.JSONWebKey) bool {
	return *a.Kty == *b.Kty && bytes.Equal(a.N, b.N) && bytes.Equal(a.E, b.E) && bytes.Equal(a.X, b.X) && bytes.Equal(a.Y, b.Y)
}

// checkBackupFile checks the file keywarden backup wrote: mode 0600, the
// size and SHA-256 it printed, no temporary file beside it.
func checkBackupFile(t *testing.T, path string, size int64, sha string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	if sum := sha256.Sum256(b); int64(len(b)) != size || hex.EncodeToString(sum[:]) != sha {
		t.Errorf("backup file has %d bytes, printed %d; or another SHA-256", len(b), size)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("backup directory holds %d files, want the snapshot only", len(ents))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files of a directory, keeping their modes.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
		}
	}
}
