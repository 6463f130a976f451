package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// rootKeyStatus is `keywarden rootkey ... -o json`.
type rootKeyStatus struct {
	Mode     string         `json:"mode"`
	Active   string         `json:"activeKeyId"`
	Keys     []string       `json:"keyIds"`
	State    string         `json:"state"`
	Resealed map[string]int `json:"resealed"`
	Error    string         `json:"error"`
}

func rootKeyCLI(t *testing.T, s *server, args ...string) rootKeyStatus {
	t.Helper()
	args = append(append([]string{"rootkey"}, args...), "-o", "json", "--env-file", filepath.Join(s.dataDir, "dev.env"))
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keywarden %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var st rootKeyStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("keywarden %s = %q: %v", strings.Join(args, " "), out, err)
	}
	return st
}

// ecKey is an EC key created through the SDK with its public key.
type ecKey struct {
	name string
	pub  *ecdsa.PublicKey
}

func createECKeys(t *testing.T, c *azkeys.Client, prefix string, n int) []ecKey {
	t.Helper()
	var out []ecKey
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		r, err := c.CreateKey(context.Background(), name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil)
		if err != nil {
			t.Fatalf("CreateKey(%s): %v", name, err)
		}
		out = append(out, ecKey{name: name, pub: &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(r.Key.X), Y: new(big.Int).SetBytes(r.Key.Y)}})
	}
	return out
}

// signVerify signs with k in the server and verifies with its original
// public key.
func signVerify(c *azkeys.Client, k ecKey) error {
	digest := sha256.Sum256([]byte("root key rotation " + k.name))
	r, err := c.Sign(context.Background(), k.name, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	if err != nil {
		return fmt.Errorf("Sign(%s): %w", k.name, err)
	}
	if len(r.Result) != 64 || !ecdsa.Verify(k.pub, digest[:], new(big.Int).SetBytes(r.Result[:32]), new(big.Int).SetBytes(r.Result[32:])) {
		return fmt.Errorf("the signature of %s does not verify with its public key", k.name)
	}
	return nil
}

// loadWhileRotating signs and creates keys until stop is closed and
// returns how many operations succeeded and the first failure.
func loadWhileRotating(c *azkeys.Client, keys []ecKey, stop <-chan struct{}) (*atomic.Int64, *error, *sync.WaitGroup) {
	var ok atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%5 == 4 {
					_, err = c.CreateKey(context.Background(), fmt.Sprintf("during-%d-%d", g, i), azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
				} else {
					err = signVerify(c, keys[(g+i)%len(keys)])
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ok.Add(1)
			}
		})
	}
	return &ok, &firstErr, &wg
}

// TestRootKeyRotationWhileServing rotates the file root key through
// `keywarden rootkey rotate --wait` while clients sign and create keys:
// no request fails, every record is re-sealed, the old key is destroyed
// (the store no longer opens with it), a restart opens everything with
// the new key, a backup made before the rotation still restores, and the
// audit chain still verifies.
func TestRootKeyRotationWhileServing(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(false)
	ctx := context.Background()
	keys := createECKeys(t, c, "rot", 6)
	backup, err := c.BackupKey(ctx, keys[0].name, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootPath := filepath.Join(s.dataDir, "root.key")
	oldRoot, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(t.TempDir(), "before-rotation.db")
	if out, err := exec.Command(binary, "backup", "--out", snapshot, "--env-file", filepath.Join(s.dataDir, "dev.env")).CombinedOutput(); err != nil {
		t.Fatalf("keywarden backup: %v\n%s", err, out)
	}
	before := rootKeyCLI(t, s, "show")
	if before.Mode != "file" || len(before.Keys) != 1 || before.State != "idle" {
		t.Fatalf("rootkey show = %+v", before)
	}

	stop := make(chan struct{})
	ok, firstErr, wg := loadWhileRotating(c, keys, stop)
	time.Sleep(300 * time.Millisecond)
	after := rootKeyCLI(t, s, "rotate", "--wait")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if *firstErr != nil {
		t.Fatalf("a request failed during the rotation (after %d good ones): %v", ok.Load(), *firstErr)
	}
	if ok.Load() < 20 {
		t.Errorf("only %d operations ran during the rotation", ok.Load())
	}
	if after.State != "idle" || after.Active == before.Active || len(after.Keys) != 1 || after.Keys[0] != after.Active {
		t.Fatalf("after rotate --wait: %+v (before %+v)", after, before)
	}
	if after.Resealed["key material"] < len(keys) {
		t.Errorf("re-sealed %v, want at least %d key versions", after.Resealed, len(keys))
	}
	newRoot, err := os.ReadFile(rootPath)
	if err != nil || len(newRoot) != 32 || bytes.Equal(newRoot, oldRoot) {
		t.Fatalf("root.key after rotation: %d bytes, changed %v (%v)", len(newRoot), !bytes.Equal(newRoot, oldRoot), err)
	}
	s.stop()

	// The old root key opens nothing any more: the server refuses to start.
	bad := t.TempDir()
	copyTree(t, s.dataDir, bad)
	if err := os.WriteFile(filepath.Join(bad, "root.key"), oldRoot, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "dev", "--data-dir", bad, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))).CombinedOutput(); err == nil || !strings.Contains(string(out), "sealed under a root key this keyring does not hold") {
		t.Errorf("dev with the retired root key: err %v, output:\n%s", err, out)
	}

	// A restart opens everything with the new key.
	s2 := startDev(t, s.dataDir, s.port)
	c2 := s2.client(false)
	for _, k := range keys {
		if err := signVerify(c2, k); err != nil {
			t.Error(err)
		}
	}
	if _, err := c2.DeleteKey(ctx, keys[0].name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.PurgeDeletedKey(ctx, keys[0].name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil); err != nil {
		t.Fatalf("a backup made before the rotation does not restore: %v", err)
	}
	if err := signVerify(c2, keys[0]); err != nil {
		t.Error(err)
	}
	s2.stop()
	out, err := exec.Command(binary, "audit", "verify", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Errorf("audit verify after rotation: %v\n%s", err, out)
	}

	// Restoring the snapshot taken before the rotation (docs/operations.md):
	// the current key alone does not open it; the key file with the old
	// key first and the current one last does, and the server then
	// finishes moving everything under the current key.
	restore := func() ([]byte, error) {
		return exec.Command(binary, "restore", "--snapshot", snapshot, "--data-dir", s.dataDir, "--force").CombinedOutput()
	}
	if out, err := restore(); err == nil || !strings.Contains(string(out), "nothing was installed") {
		t.Fatalf("restore of a pre-rotation snapshot with the current key only: %v\n%s", err, out)
	}
	if err := os.WriteFile(rootPath, append(append([]byte(nil), oldRoot...), newRoot...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := restore(); err != nil {
		t.Fatalf("restore with the old and the current key: %v\n%s", err, out)
	}
	s3 := startDev(t, s.dataDir, s.port)
	c3 := s3.client(false)
	deadline := time.Now().Add(30 * time.Second)
	for st := rootKeyCLI(t, s3, "show"); len(st.Keys) != 1 || st.State != "idle"; st = rootKeyCLI(t, s3, "show") {
		if time.Now().After(deadline) {
			t.Fatalf("the restored deployment did not finish the rotation: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, k := range keys {
		if err := signVerify(c3, k); err != nil {
			t.Error(err)
		}
	}
	if got, _ := os.ReadFile(rootPath); !bytes.Equal(got, newRoot) {
		t.Errorf("root.key after the restored deployment finished the rotation: %d bytes, want the current key only", len(got))
	}
}

// copyTree copies the regular files of src, recursively, into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRootKeyInHSM moves a file-mode dev deployment's root key into the
// dev SoftHSM2 token (--seal hsm), rotates it inside the token while
// clients sign, and shows that the data directory without the token opens
// nothing.
func TestRootKeyInHSM(t *testing.T) {
	requireSoftHSM(t)
	s := startDev(t, "", 0)
	keys := createECKeys(t, s.client(false), "hsmroot", 4)
	s.stop()

	s2 := startDev(t, s.dataDir, s.port, "--seal", "hsm")
	c := s2.client(false)
	deadline := time.Now().Add(30 * time.Second)
	var st rootKeyStatus
	for {
		st = rootKeyCLI(t, s2, "show")
		if st.State == "idle" && len(st.Keys) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Mode != "hsm" || len(st.Keys) != 1 || !strings.HasPrefix(st.Active, "hsm-") {
		t.Fatalf("after the move into the HSM: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "root.key")); !os.IsNotExist(err) {
		t.Errorf("root.key still exists after the move into the HSM: %v", err)
	}
	for _, k := range keys {
		if err := signVerify(c, k); err != nil {
			t.Error(err)
		}
	}

	stop := make(chan struct{})
	ok, firstErr, wg := loadWhileRotating(c, keys, stop)
	rotated := rootKeyCLI(t, s2, "rotate", "--wait")
	close(stop)
	wg.Wait()
	if *firstErr != nil {
		t.Fatalf("a request failed during the HSM rotation (after %d good ones): %v", ok.Load(), *firstErr)
	}
	if rotated.State != "idle" || rotated.Active == st.Active || !strings.HasPrefix(rotated.Active, "hsm-") || len(rotated.Keys) != 1 {
		t.Fatalf("after rotate: %+v", rotated)
	}
	s2.stop()

	// audit verify --data-dir has no root key file to read: it proves the
	// log with the signed checkpoints.
	if out, err := exec.Command(binary, "audit", "verify", "--data-dir", s.dataDir).CombinedOutput(); err != nil || !strings.Contains(string(out), "intact") || !strings.Contains(string(out), "HSM seal mode") {
		t.Errorf("audit verify in HSM seal mode: %v\n%s", err, out)
	}

	// With the token the deployment restarts; without it, nothing opens.
	s3 := startDev(t, s.dataDir, s.port, "--seal", "hsm")
	for _, k := range keys {
		if err := signVerify(s3.client(false), k); err != nil {
			t.Error(err)
		}
	}
	s3.stop()
	stolen := t.TempDir()
	copyTree(t, s.dataDir, stolen)
	if err := os.RemoveAll(filepath.Join(stolen, "softhsm")); err != nil {
		t.Fatal(err)
	}
	for _, seal := range []string{"hsm", "file"} {
		out, err := exec.Command(binary, "dev", "--data-dir", stolen, "--seal", seal, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))).CombinedOutput()
		if err == nil {
			t.Errorf("dev --seal %s on the data directory without its token started:\n%s", seal, out)
		}
	}
}

// TestRootKeyRotationCrash kills the server (SIGKILL) right after a
// rotation made its new key active, before the re-sealing: the key file
// holds both keys, and the next start finishes the rotation.
func TestRootKeyRotationCrash(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(false)
	keys := createECKeys(t, c, "crash", 3)
	started := rootKeyCLI(t, s, "rotate")
	s.kill()
	if started.State != "rotating" || len(started.Keys) != 2 {
		t.Fatalf("rotate = %+v, want rotating with two keys", started)
	}
	rootPath := filepath.Join(s.dataDir, "root.key")
	if b, err := os.ReadFile(rootPath); err != nil || len(b) != 64 {
		t.Fatalf("root.key after the crash: %d bytes (%v), want both keys", len(b), err)
	}
	s2 := startDev(t, s.dataDir, s.port)
	deadline := time.Now().Add(30 * time.Second)
	st := rootKeyCLI(t, s2, "show")
	for ; len(st.Keys) != 1 || st.State != "idle"; st = rootKeyCLI(t, s2, "show") {
		if time.Now().After(deadline) {
			t.Fatalf("the rotation was not finished after the restart: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Active != started.Active {
		t.Errorf("active key after the restart %s, want the rotation's new key %s", st.Active, started.Active)
	}
	for _, k := range keys {
		if err := signVerify(s2.client(false), k); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(rootPath); len(b) != 32 {
		t.Errorf("root.key after the finished rotation: %d bytes, want one key", len(b))
	}
	if !strings.Contains(s2.output(), "interrupted") {
		t.Errorf("the restart did not say it finished an interrupted rotation")
	}
}
