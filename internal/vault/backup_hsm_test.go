package vault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

func TestHSMBackupRestore(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, vault string
		spec        keys.Spec
	}{
		{"RSA-HSM in premium", "dev", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM}},
		{"EC-HSM in premium", "dev", keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.HSM}},
		{"oct-HSM in managedhsm", "hsm1", keys.Spec{Type: keys.Oct, Size: 256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHSMEnv(t)
			first, err := e.svc.CreateKey(ctx, t0, tt.vault, "k", vault.CreateParams{Spec: tt.spec})
			if err != nil {
				t.Fatal(err)
			}
			second, err := e.svc.RotateKey(ctx, t0, tt.vault, "k")
			if err != nil {
				t.Fatal(err)
			}
			keysBefore := e.hsm.privateKeys()
			blob, err := e.svc.BackupKey(ctx, tt.vault, "k")
			if err != nil {
				t.Fatalf("BackupKey(HSM key) = %v", err)
			}
			if _, err := e.svc.DeleteKey(ctx, t0, tt.vault, "k"); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.PurgeKey(ctx, t0, tt.vault, "k"); err != nil {
				t.Fatal(err)
			}
			if len(e.hsm.objects) != 0 {
				t.Fatalf("objects after purge = %d, want 0", len(e.hsm.objects))
			}
			before := len(e.hsm.owners)
			got, err := e.svc.RestoreKey(ctx, t0, tt.vault, blob)
			if err != nil {
				t.Fatalf("RestoreKey() = %v", err)
			}
			if got.Version != second.Version || got.Spec.Protection != keys.HSM {
				t.Errorf("RestoreKey() = version %s, %s; want %s, hsm", got.Version, got.Spec.Protection, second.Version)
			}
			if owners := e.hsm.owners[before:]; !slices.Equal(owners, []string{tt.vault, tt.vault}) {
				t.Errorf("restored object owners = %q, want two owned by %s", owners, tt.vault)
			}
			if len(e.hsm.objects) != 2 {
				t.Errorf("objects after restore = %d, want 2", len(e.hsm.objects))
			}
			if got := e.hsm.privateKeys(); !slices.Equal(got, keysBefore) {
				t.Errorf("restored objects hold other keys than the backed-up ones")
			}
			for _, kv := range []vault.KeyVersion{first, second} {
				ref := vault.Ref{Vault: tt.vault, Name: "k", Version: kv.Version}
				if tt.spec.Type == keys.Oct {
					continue // the software engine behind the fake has no AES operations
				}
				alg := keys.RS256
				if tt.spec.Type == keys.EC {
					alg = keys.ES256
				}
				_, sig, err := e.svc.Sign(ctx, t0, ref, alg, digest("restored"))
				if err != nil {
					t.Fatalf("Sign(restored %s) = %v", kv.Version, err)
				}
				if ok, err := keys.VerifyPublic(kv.Public, alg, digest("restored"), sig); err != nil || !ok {
					t.Errorf("VerifyPublic(original public key of %s, restored signature) = %v, %v; want true", kv.Version, ok, err)
				}
			}
		})
	}
}

func TestHSMRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	e := newHSMEnv(t)
	if _, err := e.svc.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Protection: keys.HSM}}); err != nil {
		t.Fatal(err)
	}
	blob, err := e.svc.BackupKey(ctx, "dev", "k")
	if err != nil {
		t.Fatal(err)
	}
	objects := func() int {
		e.hsm.mu.Lock()
		defer e.hsm.mu.Unlock()
		return len(e.hsm.objects)
	}
	before := objects()

	// Refused before anything reaches the HSM.
	_, err = e.svc.RestoreKey(ctx, t0, "std", blob)
	wantErr(t, "RestoreKey(RSA-HSM backup, standard vault)", err, vault.ErrInvalid, "KeyTypeNotSupported")
	_, err = e.svc.RestoreKey(ctx, t0, "hsm1", blob)
	wantErr(t, "RestoreKey(key vault backup, managedhsm)", err, vault.ErrInvalid, "")
	if got := objects(); got != before {
		t.Errorf("objects after refused restores = %d, want %d", got, before)
	}

	// Refused after the objects were made: they are destroyed.
	destroyed := len(e.hsm.destroyed)
	_, err = e.svc.RestoreKey(ctx, t0, "dev", blob)
	wantErr(t, "RestoreKey(name in use)", err, vault.ErrConflict, "")
	if got := objects(); got != before || len(e.hsm.destroyed) != destroyed+1 {
		t.Errorf("after a conflicting restore: %d objects, %d destroyed; want %d objects, one destroyed", got, len(e.hsm.destroyed)-destroyed, before)
	}
}

func TestHSMRestoreFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	e := newHSMEnv(t)
	for range 3 {
		if _, err := e.svc.CreateKey(ctx, t0, "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Protection: keys.HSM}}); err != nil {
			t.Fatal(err)
		}
	}
	blob, err := e.svc.BackupKey(ctx, "dev", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteKey(ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PurgeKey(ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}

	// The third unwrap fails: the two objects made before it go.
	e.hsm.importErr, e.hsm.importOK = fmt.Errorf("%w: token unplugged", keys.ErrUnavailable), 2
	_, err = e.svc.RestoreKey(ctx, t0, "dev", blob)
	wantErr(t, "RestoreKey(HSM failing)", err, vault.ErrUnavailable, "")
	if len(e.hsm.objects) != 0 || len(e.hsm.destroyed) != 3+2 {
		t.Errorf("after a failed restore: %d objects, destroyed %q; want none left, the two new ones destroyed", len(e.hsm.objects), e.hsm.destroyed)
	}
	if _, err := e.svc.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "k"}); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("GetKey(after failed restore) = %v, want ErrNotFound", err)
	}

	// A wrapped key the HSM cannot unwrap is a bad backup.
	e.hsm.importErr, e.hsm.importOK = fmt.Errorf("%w: wrapped by another token", keys.ErrCorrupt), 1
	_, err = e.svc.RestoreKey(ctx, t0, "dev", blob)
	wantErr(t, "RestoreKey(unwrap refused)", err, vault.ErrInvalid, "")
	if len(e.hsm.objects) != 0 {
		t.Errorf("objects after a refused unwrap = %d, want 0", len(e.hsm.objects))
	}

	// Objects the HSM made and could not destroy are reported, and the
	// restore is refused as the unwrap's failure says.
	e.hsm.importErr, e.hsm.importOK = errors.Join(fmt.Errorf("%w: altered", keys.ErrCorrupt), &keys.LeftoverError{Op: "restore of a wrapped key", Err: errors.New("injected")}), 1
	_, err = e.svc.RestoreKey(ctx, t0, "dev", blob)
	wantErr(t, "RestoreKey(unwrap refused, objects left over)", err, vault.ErrInvalid, "")
	var le *keys.LeftoverError
	if len(e.destroyErrors) != 1 || !errors.As(e.destroyErrors[0], &le) || !strings.Contains(e.destroyErrors[0].Error(), "dev/k") {
		t.Errorf("OnDestroyError got %v, want the provider's *keys.LeftoverError naming dev/k", e.destroyErrors)
	}
	e.destroyErrors = nil

	// And once the HSM answers, the same blob restores.
	e.hsm.importErr = nil
	if _, err := e.svc.RestoreKey(ctx, t0, "dev", blob); err != nil {
		t.Fatalf("RestoreKey(HSM back) = %v", err)
	}
	if len(e.hsm.objects) != 3 || len(e.destroyErrors) != 0 {
		t.Errorf("after restore: %d objects, destroy errors %v; want 3, none", len(e.hsm.objects), e.destroyErrors)
	}
}

// privateKeys returns the software private keys of every object, sorted.
func (f *fakeHSM) privateKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, o := range f.objects {
		out = append(out, string(o.m.Private.Expose()))
	}
	slices.Sort(out)
	return out
}
