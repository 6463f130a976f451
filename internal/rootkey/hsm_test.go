//go:build cgo

package rootkey_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/vault"
)

func TestMain(m *testing.M) {
	code := m.Run()
	softhsmtest.Remove()
	os.Exit(code)
}

// TestHSMRootKey moves a file-mode deployment into the HSM (the token key
// becomes active and the key file is retired), rotates inside the HSM, and
// shows that the store is useless without the token.
func TestHSMRootKey(t *testing.T) {
	p, err := pkcs11.Open(softhsmtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")

	const label = "kw-root-rootkey-test"
	if _, _, _, err := rootkey.OpenHSM(ctx, p, rootkey.HSMOptions{Label: label}, t0, nil); err != rootkey.ErrNoHSMRootKey {
		t.Fatalf("OpenHSM without keys = %v, want ErrNoHSMRootKey", err)
	}

	// A file-mode deployment with a key.
	ring, src, _, err := rootkey.OpenFile(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := openDeployment(t, dir, ring, src)
	if _, err := d.vaults.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
		t.Fatal(err)
	}
	sign(t, d, "k")
	d.db.Close()

	// Switched to HSM mode: the file key is kept until the move is done.
	// A check-only open (restore) changes nothing in the token.
	if _, _, created, err := rootkey.OpenHSM(ctx, p, rootkey.HSMOptions{Label: label, LegacyPath: path, CheckOnly: true}, t0, nil); err != nil || created {
		t.Fatalf("check-only OpenHSM = %v, created %v", err, created)
	}
	if ks, _ := p.RootKeys(ctx, label); len(ks) != 0 {
		t.Fatalf("a check-only open created %d token keys", len(ks))
	}
	ring, hsrc, created, err := rootkey.OpenHSM(ctx, p, rootkey.HSMOptions{Label: label, LegacyPath: path}, t0, nil)
	if err != nil || !created {
		t.Fatalf("OpenHSM = %v, created %v", err, created)
	}
	t.Cleanup(func() {
		ks, _ := p.RootKeys(ctx, label)
		for _, k := range ks {
			_ = p.DestroyRootKey(ctx, label, k.ID())
		}
	})
	if ids := ring.IDs(); len(ids) != 2 || !strings.HasPrefix(ids[0], "file-") || !strings.HasPrefix(ids[1], "hsm-") {
		t.Fatalf("keyring %v, want the file key then the HSM key", ids)
	}
	d = openDeployment(t, dir, ring, hsrc)
	rot := rootkey.New(rootkey.Options{Ring: ring, Source: hsrc, Resealers: d.resealers(), Grace: time.Millisecond})
	if !rot.Resume(ctx) {
		t.Fatal("the move into the HSM did not start")
	}
	st, _ := rot.Wait(ctx)
	if st.State != rootkey.StateIdle || len(st.Keys) != 1 || st.Mode != rootkey.ModeHSM {
		t.Fatalf("status %+v", st)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the key file is still there after the move: %v", err)
	}
	sign(t, d, "k")
	if d.staleVersions(t) != 0 {
		t.Error("versions not under the HSM key")
	}

	// Rotation inside the HSM destroys the old token key.
	first := ring.Active()
	if _, err := rot.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = rot.Wait(ctx)
	if st.State != rootkey.StateIdle || len(st.Keys) != 1 || st.Active == first {
		t.Fatalf("status %+v", st)
	}
	ks, err := p.RootKeys(ctx, label)
	if err != nil || len(ks) != 1 || ks[0].ID() != st.Active {
		t.Fatalf("token root keys after rotation: %v %v", ks, err)
	}
	sign(t, d, "k")
	d.db.Close()

	// A restart finds the key in the token alone.
	ring2, hsrc2, created, err := rootkey.OpenHSM(ctx, p, rootkey.HSMOptions{Label: label, LegacyPath: path}, t0, nil)
	if err != nil || created || ring2.Active() != st.Active {
		t.Fatalf("reopen: %v created %v", err, created)
	}
	d2 := openDeployment(t, dir, ring2, hsrc2)
	sign(t, d2, "k")

	// Every record is sealed by the token's key, which never leaves the
	// token (pkcs11 TestRootKeyInToken): the store alone opens nothing.
	n := 0
	_, err = d2.vaults.ResealMaterial(ctx, func(b []byte) bool {
		if id, err := seal.KeyID(b); err != nil || id != st.Active {
			t.Errorf("a version is sealed under %q (%v), want the token key %s", id, err, st.Active)
		}
		n++
		return false
	})
	if err != nil || n == 0 {
		t.Fatalf("checked %d versions: %v", n, err)
	}
}
