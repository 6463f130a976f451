package rootkey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// deployment is a store, a keyring and a vault service over them, as the
// server wires them.
type deployment struct {
	dir    string
	db     *embedded.DB
	ring   *seal.Keyring
	src    rootkey.Source
	vaults *vault.Service
}

func openDeployment(t *testing.T, dir string, ring *seal.Keyring, src rootkey.Source) *deployment {
	t.Helper()
	db, err := embedded.Open(filepath.Join(dir, "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := &deployment{dir: dir, db: db, ring: ring, src: src}
	d.vaults = vault.New(vault.Options{Store: db, Material: ring.Derive("material"), Backup: ring.Derive("backup"), Software: software.New(rand.Reader)})
	if _, err := d.vaults.EnsureVault(t.Context(), t0, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *deployment) resealers() []rootkey.Resealer {
	return []rootkey.Resealer{
		{Name: "key material", Reseal: d.vaults.ResealMaterial},
		rootkey.BlobResealer(d.db, "some-secret", d.ring.Derive("some-secret"), []byte("aad")),
		rootkey.DataKeyResealer(d.db, d.ring.Derive(rootkey.DataKeySealerPurpose), "backup-key"),
	}
}

// staleVersions counts versions whose material is not under the active
// key.
func (d *deployment) staleVersions(t *testing.T) int {
	t.Helper()
	n := 0
	_, err := d.vaults.ResealMaterial(t.Context(), func(b []byte) bool {
		if d.ring.Stale(b) {
			n++
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sign(t *testing.T, d *deployment, name string) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte("message"))
	_, sig, err := d.vaults.Sign(t.Context(), t0, vault.Ref{Vault: "dev", Name: name}, keys.ES256, digest[:])
	if err != nil {
		t.Fatalf("Sign(%s): %v", name, err)
	}
	return sig
}

func TestRotateFileKeyWhileServing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	ring, src, created, err := rootkey.OpenFile(path, true, nil)
	if err != nil || !created {
		t.Fatalf("OpenFile = %v, created %v", err, created)
	}
	d := openDeployment(t, dir, ring, src)
	ctx := t.Context()
	for _, name := range []string{"a", "b", "gone"} {
		if _, err := d.vaults.CreateKey(ctx, t0, "dev", name, vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.vaults.DeleteKey(ctx, t0, "dev", "gone"); err != nil {
		t.Fatal(err)
	}
	secretRec, _ := ring.Derive("some-secret").Seal([]byte("token key"), []byte("aad"))
	if err := d.db.Update(ctx, func(tx store.Tx) error { return tx.PutBlob("some-secret", secretRec) }); err != nil {
		t.Fatal(err)
	}
	dataKey, err := rootkey.DataKey(ctx, d.db, ring.Derive(rootkey.DataKeySealerPurpose), "backup-key", rootkey.LegacyDerived(src, "backup", nil))
	if err != nil {
		t.Fatal(err)
	}
	oldID := ring.Active()

	rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: d.resealers(), Grace: 10 * time.Millisecond})
	// Keys are created and used throughout the rotation.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var made atomic.Int32
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			name := fmt.Sprintf("during-%d", i)
			if _, err := d.vaults.CreateKey(ctx, t0, "dev", name, vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
				t.Errorf("CreateKey during rotation: %v", err)
				return
			}
			made.Add(1)
			sign(t, d, "a")
		}
	})
	st, err := rot.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != rootkey.StateRotating || st.Active == oldID || len(st.Keys) != 2 {
		t.Errorf("status after Rotate = %+v", st)
	}
	if _, err := rot.Rotate(ctx); !errors.Is(err, rootkey.ErrRotating) {
		t.Errorf("second Rotate = %v, want ErrRotating", err)
	}
	st, err = rot.Wait(ctx)
	stop.Store(true)
	wg.Wait()
	if err != nil || st.State != rootkey.StateIdle || st.Error != "" {
		t.Fatalf("rotation ended %+v, %v", st, err)
	}
	if len(st.Keys) != 1 || st.Keys[0] == oldID || st.Resealed["key material"] < 3 {
		t.Errorf("status = %+v", st)
	}
	if made.Load() == 0 {
		t.Error("no key was created during the rotation")
	}
	if n := d.staleVersions(t); n != 0 {
		t.Errorf("%d versions still sealed under the old key", n)
	}
	// The key file now holds the new key only, and a restart opens
	// everything with it.
	if fi, err := os.Stat(path); err != nil || fi.Size() != seal.KeySize {
		t.Fatalf("key file: %v size %d", err, fi.Size())
	}
	ring2, src2, _, err := rootkey.OpenFile(path, false, nil)
	if err != nil || ring2.Active() != st.Active {
		t.Fatalf("reopened keyring %v, %v", ring2.IDs(), err)
	}
	d.db.Close()
	d2 := openDeployment(t, dir, ring2, src2)
	sign(t, d2, "a")
	sign(t, d2, "b")
	if _, err := d2.vaults.RecoverKey(ctx, t0, "dev", "gone"); err != nil {
		t.Fatal(err)
	}
	sign(t, d2, "gone")
	var blob []byte
	d2.db.View(ctx, func(tx store.Tx) error { blob, err = tx.Blob("some-secret"); return err })
	if pt, err := ring2.Derive("some-secret").Open(blob, []byte("aad")); err != nil || string(pt.Expose()) != "token key" {
		t.Errorf("blob after rotation: %q %v", pt.Expose(), err)
	}
	dataKey2, err := rootkey.DataKey(ctx, d2.db, ring2.Derive(rootkey.DataKeySealerPurpose), "backup-key", func() (secret.Bytes, error) {
		t.Error("the data key was created again")
		return secret.Bytes{}, errors.New("no")
	})
	if err != nil || !dataKey2.Equal(dataKey) {
		t.Errorf("data key changed across the rotation: %v", err)
	}
}

func TestLegacyRecordsAndDataKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	legacy, _, err := seal.LoadOrCreateFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A store written by a build before keyrings: format-1 records.
	db, err := embedded.Open(filepath.Join(dir, "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	old := vault.New(vault.Options{Store: db, Material: legacy.Derive("material"), Backup: legacy.Derive("backup"), Software: software.New(rand.Reader)})
	ctx := t.Context()
	if _, err := old.EnsureVault(ctx, t0, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
		t.Fatal(err)
	}
	oldBackup, err := old.BackupKey(ctx, "dev", "k")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	ring, src, _, err := rootkey.OpenFile(path, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := openDeployment(t, dir, ring, src)
	// The backup data key of a legacy deployment is what its root key
	// derived for "backup", so backups made before still restore.
	bk, err := rootkey.DataKey(ctx, d.db, ring.Derive(rootkey.DataKeySealerPurpose), "backup-key", rootkey.LegacyDerived(src, "backup", nil))
	if err != nil {
		t.Fatal(err)
	}
	backupSealer, err := seal.NewSealer(bk, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.vaults = vault.New(vault.Options{Store: d.db, Material: ring.Derive("material"), Backup: backupSealer, Software: software.New(rand.Reader)})
	sign(t, d, "k")
	if d.staleVersions(t) != 1 {
		t.Fatal("the legacy version is not stale")
	}
	rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: d.resealers(), Grace: time.Millisecond})
	if _, err := rot.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := rot.Wait(ctx); st.State != rootkey.StateIdle || len(st.Keys) != 1 {
		t.Fatalf("status %+v", st)
	}
	if d.staleVersions(t) != 0 {
		t.Fatal("the legacy version was not re-sealed")
	}
	sign(t, d, "k")
	if _, err := d.vaults.DeleteKey(ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}
	if err := d.vaults.PurgeKey(ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.vaults.RestoreKey(ctx, t0, "dev", oldBackup); err != nil {
		t.Fatalf("a backup from before keyrings does not restore after a rotation: %v", err)
	}
	sign(t, d, "k")
}

// failing re-seals nothing and fails until ok is set.
type failing struct{ ok atomic.Bool }

func (f *failing) reseal(ctx context.Context, stale func([]byte) bool) (int, error) {
	if !f.ok.Load() {
		return 0, errors.New("store unavailable")
	}
	return 0, nil
}

func TestFailedRotationKeepsOldKeyAndResumes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	ring, src, _, err := rootkey.OpenFile(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := openDeployment(t, dir, ring, src)
	ctx := t.Context()
	if _, err := d.vaults.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
		t.Fatal(err)
	}
	f := &failing{}
	rs := append(d.resealers(), rootkey.Resealer{Name: "flaky", Reseal: f.reseal})
	rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: rs, Grace: time.Millisecond})
	if _, err := rot.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := rot.Wait(ctx)
	if st.State != rootkey.StateFailed || len(st.Keys) != 2 || st.Error == "" {
		t.Fatalf("status %+v, want failed with both keys", st)
	}
	if fi, _ := os.Stat(path); fi.Size() != 2*seal.KeySize {
		t.Fatalf("key file has %d bytes, want both keys", fi.Size())
	}
	sign(t, d, "k")

	// A restart finds two keys in the file and finishes the rotation.
	ring2, src2, _, err := rootkey.OpenFile(path, false, nil)
	if err != nil || len(ring2.IDs()) != 2 || ring2.Active() != st.Active {
		t.Fatalf("reopened %v %v", ring2.IDs(), err)
	}
	d.db.Close()
	d2 := openDeployment(t, dir, ring2, src2)
	f.ok.Store(true)
	rot2 := rootkey.New(rootkey.Options{Ring: ring2, Source: src2, Resealers: append(d2.resealers(), rootkey.Resealer{Name: "flaky", Reseal: f.reseal}), Grace: time.Millisecond})
	if !rot2.Resume(ctx) {
		t.Fatal("Resume did not resume")
	}
	if st, _ := rot2.Wait(ctx); st.State != rootkey.StateIdle || len(st.Keys) != 1 {
		t.Fatalf("after Resume %+v", st)
	}
	if rot2.Resume(ctx) {
		t.Error("Resume with one key resumed")
	}
	sign(t, d2, "k")
	if d2.staleVersions(t) != 0 {
		t.Error("stale versions after Resume")
	}
}

func TestFileDataKey(t *testing.T) {
	ring, _, _, err := rootkey.OpenFile(filepath.Join(t.TempDir(), "root.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain.key")
	s := ring.Derive(rootkey.DataKeySealerPurpose)
	k1, err := rootkey.FileDataKey(path, s, func() (secret.Bytes, error) { return secret.New(bytes.Repeat([]byte{7}, 32)), nil })
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, bytes.Repeat([]byte{7}, 32)) {
		t.Fatal("the data key file holds the key in plaintext")
	}
	if err := ring.Add(mustGenerate(t)); err != nil {
		t.Fatal(err)
	}
	n, err := rootkey.FileDataKeyResealer(path, s).Reseal(t.Context(), ring.Stale)
	if err != nil || n != 1 {
		t.Fatalf("Reseal = %d, %v", n, err)
	}
	k2, err := rootkey.FileDataKey(path, s, nil)
	if err != nil || !k2.Equal(k1) {
		t.Fatalf("data key after re-seal: %v", err)
	}
	raw2, _ := os.ReadFile(path)
	if id, _ := seal.KeyID(raw2); id != ring.Active() {
		t.Errorf("file sealed under %s, want %s", id, ring.Active())
	}
}

func mustGenerate(t *testing.T) *seal.RootKey {
	k, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCachedUnloadedKeyAfterRotation reads a key (caching its record) but
// uses it only after the rotation destroyed the old root key: the cached
// record must not hold the old sealed bytes.
func TestCachedUnloadedKeyAfterRotation(t *testing.T) {
	dir := t.TempDir()
	ring, src, _, err := rootkey.OpenFile(filepath.Join(dir, "root.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := openDeployment(t, dir, ring, src)
	ctx := t.Context()
	if _, err := d.vaults.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.vaults.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "k"}); err != nil {
		t.Fatal(err)
	}
	rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: d.resealers(), Grace: time.Millisecond})
	if _, err := rot.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := rot.Wait(ctx); st.State != rootkey.StateIdle || len(st.Keys) != 1 {
		t.Fatalf("status %+v", st)
	}
	sign(t, d, "k")
}

// heldSealer seals with inner; its first Seal then waits on hold: a
// request that sealed its material and has not committed it yet.
type heldSealer struct {
	inner  seal.Sealer
	sealed chan struct{}
	hold   chan struct{}
	once   sync.Once
}

func (h *heldSealer) Seal(pt, aad []byte) ([]byte, error) {
	out, err := h.inner.Seal(pt, aad)
	h.once.Do(func() {
		h.sealed <- struct{}{}
		<-h.hold
	})
	return out, err
}

func (h *heldSealer) Open(sealed, aad []byte) (secret.Bytes, error) { return h.inner.Open(sealed, aad) }

func (h *heldSealer) Stale(sealed []byte) bool {
	return h.inner.(interface{ Stale([]byte) bool }).Stale(sealed)
}

// TestWriteInFlightDuringRotation holds a create between sealing (under
// the old key) and its commit while a rotation runs: committed after the
// switch, it is sealed again under the new key; committed after the old
// key is gone, it fails (and nothing is stored) rather than store what
// nothing can open.
func TestWriteInFlightDuringRotation(t *testing.T) {
	for _, late := range []bool{false, true} {
		dir := t.TempDir()
		ring, src, _, err := rootkey.OpenFile(filepath.Join(dir, "root.key"), true, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := openDeployment(t, dir, ring, src)
		h := &heldSealer{inner: ring.Derive("material"), sealed: make(chan struct{}), hold: make(chan struct{})}
		d.vaults = vault.New(vault.Options{Store: d.db, Material: h, Backup: ring.Derive("backup"), Software: software.New(rand.Reader)})
		ctx := t.Context()
		errc := make(chan error, 1)
		go func() {
			_, err := d.vaults.CreateKey(ctx, t0, "dev", "inflight", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}})
			errc <- err
		}()
		<-h.sealed
		rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: d.resealers(), Grace: time.Millisecond})
		if _, err := rot.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		if late {
			if st, _ := rot.Wait(ctx); len(st.Keys) != 1 {
				t.Fatalf("status %+v", st)
			}
		}
		close(h.hold)
		err = <-errc
		if st, _ := rot.Wait(ctx); len(st.Keys) != 1 || st.State != rootkey.StateIdle {
			t.Fatalf("status %+v", st)
		}
		_, getErr := d.vaults.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "inflight"})
		if late {
			if err == nil || getErr == nil {
				t.Errorf("a create committed after the old key was destroyed: err %v, key exists %v", err, getErr == nil)
			}
			continue
		}
		if err != nil {
			t.Fatalf("a create committed after the switch failed: %v", err)
		}
		if n := d.staleVersions(t); n != 0 {
			t.Errorf("%d versions under the old key", n)
		}
		sign(t, d, "inflight")
	}
}

// TestRotateAfterFailureFinishes checks that rotating again after a
// failed rotation finishes it instead of adding another key.
func TestRotateAfterFailureFinishes(t *testing.T) {
	dir := t.TempDir()
	ring, src, _, err := rootkey.OpenFile(filepath.Join(dir, "root.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := openDeployment(t, dir, ring, src)
	ctx := t.Context()
	f := &failing{}
	rot := rootkey.New(rootkey.Options{Ring: ring, Source: src, Resealers: append(d.resealers(), rootkey.Resealer{Name: "flaky", Reseal: f.reseal}), Grace: time.Millisecond})
	for i := 0; i < 5; i++ { // more failures than a key file holds keys
		if _, err := rot.Rotate(ctx); err != nil {
			t.Fatalf("Rotate %d: %v", i, err)
		}
		if st, _ := rot.Wait(ctx); st.State != rootkey.StateFailed || len(st.Keys) != 2 {
			t.Fatalf("after failed rotation %d: %+v", i, st)
		}
	}
	active := ring.Active()
	f.ok.Store(true)
	if _, err := rot.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := rot.Wait(ctx); st.State != rootkey.StateIdle || len(st.Keys) != 1 || st.Active != active {
		t.Fatalf("the retried rotation = %+v, want the pending key %s alone", st, active)
	}
}
