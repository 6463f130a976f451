package vault_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/vault"
)

func TestVerifySealed(t *testing.T) {
	e := newEnv(t)
	e.create(t, "rsa", rsaSpec())
	e.create(t, "ec", ecSpec())
	if _, err := e.svc.RotateKey(e.ctx, t0, "dev", "ec"); err != nil {
		t.Fatal(err)
	}
	e.create(t, "gone", ecSpec())
	if _, err := e.svc.DeleteKey(e.ctx, t0, "dev", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Update(e.ctx, func(tx store.Tx) error {
		return tx.PutPrincipal(store.Principal{ClientID: "c", ObjectID: "o", Name: "p"})
	}); err != nil {
		t.Fatal(err)
	}

	inv, err := vault.VerifySealed(e.ctx, e.db, e.root.Derive("material"))
	if err != nil {
		t.Fatalf("VerifySealed(right root key) = %v, want nil", err)
	}
	if want := (vault.Inventory{Vaults: 1, Keys: 3, Versions: 4, Principals: 1}); inv != want {
		t.Errorf("VerifySealed(right root key) = %+v, want %+v", inv, want)
	}

	other, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vault.VerifySealed(e.ctx, e.db, other.Derive("material"))
	var ue *vault.UnsealError
	if !errors.As(err, &ue) || !errors.Is(err, seal.ErrOpen) || ue.Vault != "dev" || ue.Key != "ec" {
		t.Fatalf("VerifySealed(other root key) = %v, want an *UnsealError for dev/ec wrapping seal.ErrOpen", err)
	}
	if _, err := vault.VerifySealed(e.ctx, e.db, e.root.Derive("backup")); !errors.As(err, &ue) {
		t.Errorf("VerifySealed(backup sealer) = %v, want an *UnsealError", err)
	}
}

// TestVerifySealedMovedRecord finds material moved to another version: it
// opens under the root key, but not bound to that version.
func TestVerifySealedMovedRecord(t *testing.T) {
	e := newEnv(t)
	a := e.create(t, "a", ecSpec())
	b := e.create(t, "b", ecSpec())
	if err := e.db.Update(e.ctx, func(tx store.Tx) error {
		ra, err := tx.Version("dev", "a", a.Version)
		if err != nil {
			return err
		}
		rb, err := tx.Version("dev", "b", b.Version)
		if err != nil {
			return err
		}
		rb.SealedPrivate = ra.SealedPrivate
		return tx.PutVersion(rb)
	}); err != nil {
		t.Fatal(err)
	}
	inv, err := vault.VerifySealed(e.ctx, e.db, e.root.Derive("material"))
	var ue *vault.UnsealError
	if !errors.As(err, &ue) || ue.Key != "b" || ue.Version != b.Version {
		t.Fatalf("VerifySealed(moved record) = %v, want an *UnsealError for dev/b/%s", err, b.Version)
	}
	if inv.Versions != 1 {
		t.Errorf("VerifySealed(moved record) counted %d versions before the bad one, want 1", inv.Versions)
	}
	if msg := err.Error(); !strings.Contains(msg, "dev/b/"+b.Version) {
		t.Errorf("VerifySealed error %q does not name the version", msg)
	}
}
