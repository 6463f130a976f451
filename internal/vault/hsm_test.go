package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// fakeHSM is a keys.Provider, keys.Destroyer and keys.Backuper for
// protection hsm that keeps software keys in memory under an owner, as the
// PKCS#11 provider keeps token objects: Material holds only a reference,
// Load checks the owner, Destroy removes the object, ExportWrapped and
// ImportWrapped move a key out and back in (the fake "wrapping" is only an
// encoding).
type fakeHSM struct {
	sw keys.Provider

	mu         sync.Mutex
	objects    map[string]fakeObject // by reference
	next       int
	owners     []string // spec.Owner of every Generate and Import
	destroyed  []string // references destroyed
	destroyErr error    // returned by Destroy when set
	// importErr is returned by ImportWrapped once importOK more calls
	// have succeeded, when set.
	importErr error
	importOK  int
}

type fakeObject struct {
	owner string
	m     keys.Material // software material
}

func newFakeHSM() *fakeHSM {
	return &fakeHSM{sw: software.New(rand.Reader), objects: map[string]fakeObject{}}
}

func (f *fakeHSM) keep(owner string, m keys.Material) keys.Material {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	ref := fmt.Sprintf("fake-%d", f.next)
	f.objects[ref] = fakeObject{owner: owner, m: m}
	f.owners = append(f.owners, owner)
	out := m
	out.Spec.Protection, out.Spec.Owner = keys.HSM, owner
	out.Private = secret.New([]byte(ref))
	return out
}

func (f *fakeHSM) Generate(ctx context.Context, spec keys.Spec) (keys.Material, error) {
	sw := spec
	sw.Protection, sw.Owner = keys.Software, ""
	m, err := f.sw.Generate(ctx, sw)
	if err != nil {
		return keys.Material{}, err
	}
	return f.keep(spec.Owner, m), nil
}

func (f *fakeHSM) Import(ctx context.Context, spec keys.Spec, private any) (keys.Material, error) {
	sw := spec
	sw.Protection, sw.Owner = keys.Software, ""
	m, err := f.sw.Import(ctx, sw, private)
	if err != nil {
		return keys.Material{}, err
	}
	return f.keep(spec.Owner, m), nil
}

func (f *fakeHSM) object(m keys.Material) (fakeObject, string, error) {
	ref := string(m.Private.Expose())
	f.mu.Lock()
	o, ok := f.objects[ref]
	f.mu.Unlock()
	switch {
	case m.Spec.Protection != keys.HSM || !ok:
		return o, ref, fmt.Errorf("%w: no such object", keys.ErrCorrupt)
	case o.owner != m.Spec.Owner:
		return o, ref, fmt.Errorf("%w: the key belongs to another owner", keys.ErrCorrupt)
	}
	return o, ref, nil
}

func (f *fakeHSM) Load(ctx context.Context, m keys.Material) (keys.Key, error) {
	o, _, err := f.object(m)
	if err != nil {
		return nil, err
	}
	return f.sw.Load(ctx, o.m)
}

func (f *fakeHSM) Destroy(ctx context.Context, m keys.Material) error {
	if f.destroyErr != nil {
		return f.destroyErr
	}
	_, ref, err := f.object(m)
	if err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.objects, ref)
	f.destroyed = append(f.destroyed, ref)
	f.mu.Unlock()
	return nil
}

// fakeWrapped is the fake's "wrapped" key: the software material in the
// clear, which a real HSM never lets out.
type fakeWrapped struct {
	Spec    keys.Spec
	Public  []byte
	Private []byte
}

const fakeWrapMagic = "fake-wrapped:"

func (f *fakeHSM) ExportWrapped(ctx context.Context, m keys.Material) ([]byte, error) {
	o, _, err := f.object(m)
	if err != nil {
		return nil, err
	}
	pub, err := keys.MarshalPublic(o.m.Public)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(fakeWrapped{Spec: o.m.Spec, Public: pub, Private: o.m.Private.Expose()})
	if err != nil {
		return nil, err
	}
	return append([]byte(fakeWrapMagic), b...), nil
}

func (f *fakeHSM) ImportWrapped(ctx context.Context, spec keys.Spec, wrapped []byte) (keys.Material, error) {
	f.mu.Lock()
	if f.importErr != nil {
		if f.importOK == 0 {
			err := f.importErr
			f.mu.Unlock()
			return keys.Material{}, err
		}
		f.importOK--
	}
	f.mu.Unlock()
	rest, ok := bytes.CutPrefix(wrapped, []byte(fakeWrapMagic))
	var w fakeWrapped
	if !ok || json.Unmarshal(rest, &w) != nil || w.Spec.Type != spec.Type {
		return keys.Material{}, fmt.Errorf("%w: bad wrapped key", keys.ErrCorrupt)
	}
	pub, err := keys.ParsePublic(w.Spec, w.Public)
	if err != nil {
		return keys.Material{}, err
	}
	return f.keep(spec.Owner, keys.Material{Spec: w.Spec, Public: pub, Private: secret.New(w.Private)}), nil
}

// hsmEnv is a Service with the fake HSM and a premium vault "dev", a
// managedhsm vault "hsm1" and a standard vault "std".
type hsmEnv struct {
	svc           *vault.Service
	hsm           *fakeHSM
	destroyErrors []error
}

func newHSMEnv(t *testing.T) *hsmEnv {
	t.Helper()
	return newHSMEnvWith(t, func(f *fakeHSM) keys.Provider { return f })
}

// newHSMEnvWith is newHSMEnv with the fake HSM seen through provider, e.g.
// to hide its capabilities.
func newHSMEnvWith(t *testing.T, provider func(*fakeHSM) keys.Provider) *hsmEnv {
	t.Helper()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &hsmEnv{hsm: newFakeHSM()}
	e.svc = vault.New(vault.Options{
		Store:          db,
		Material:       root.Derive("material"),
		Backup:         root.Derive("backup"),
		Software:       software.New(rand.Reader),
		HSM:            provider(e.hsm),
		OnDestroyError: func(err error) { e.destroyErrors = append(e.destroyErrors, err) },
	})
	for _, v := range []vault.Vault{
		{Name: "dev", SKU: vault.Premium, RetentionDays: 7},
		{Name: "hsm1", SKU: vault.ManagedHSM, RetentionDays: 7},
		{Name: "std", SKU: vault.Standard, RetentionDays: 7},
	} {
		if _, err := e.svc.EnsureVault(context.Background(), t0, v); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestHSMKeysBelongToTheirVault(t *testing.T) {
	e := newHSMEnv(t)
	ctx := context.Background()
	tests := []struct {
		name, vault string
		spec        keys.Spec
		wantHSM     bool
	}{
		{"premium RSA-HSM", "dev", keys.Spec{Type: keys.RSA, Protection: keys.HSM}, true},
		{"premium EC-HSM", "dev", keys.Spec{Type: keys.EC, Protection: keys.HSM}, true},
		{"premium RSA", "dev", keys.Spec{Type: keys.RSA}, false},
		{"managedhsm RSA becomes RSA-HSM", "hsm1", keys.Spec{Type: keys.RSA}, true},
		{"managedhsm EC becomes EC-HSM", "hsm1", keys.Spec{Type: keys.EC}, true},
		{"managedhsm oct becomes oct-HSM", "hsm1", keys.Spec{Type: keys.Oct, Size: 256}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.hsm.owners)
			name := fmt.Sprintf("k%d", i)
			kv, err := e.svc.CreateKey(ctx, t0, tt.vault, name, vault.CreateParams{Spec: tt.spec})
			if err != nil {
				t.Fatalf("CreateKey() = %v", err)
			}
			if got := kv.Spec.Protection == keys.HSM; got != tt.wantHSM {
				t.Fatalf("CreateKey().Spec.Protection = %s, want HSM %v", kv.Spec.Protection, tt.wantHSM)
			}
			if !tt.wantHSM {
				if len(e.hsm.owners) != before {
					t.Errorf("a software key reached the HSM provider")
				}
				return
			}
			if got := e.hsm.owners[before:]; !slices.Equal(got, []string{tt.vault}) {
				t.Errorf("HSM Generate owners = %q, want [%s]", got, tt.vault)
			}
			// Every use loads the objects with the vault as owner.
			if tt.spec.Type == keys.Oct {
				if _, _, err := e.svc.Encrypt(ctx, t0, vault.Ref{Vault: tt.vault, Name: name}, vault.OpEncrypt, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("x")}); err == nil {
					t.Errorf("Encrypt(RSA-OAEP-256) with an oct key succeeded")
				}
				return
			}
			alg := keys.RS256
			if tt.spec.Type == keys.EC {
				alg = keys.ES256
			}
			if _, _, err := e.svc.Sign(ctx, t0, vault.Ref{Vault: tt.vault, Name: name}, alg, digest("m")); err != nil {
				t.Errorf("Sign() = %v", err)
			}
			rotated, err := e.svc.RotateKey(ctx, t0, tt.vault, name)
			if err != nil {
				t.Fatalf("RotateKey() = %v", err)
			}
			if rotated.Spec.Protection != keys.HSM || e.hsm.owners[len(e.hsm.owners)-1] != tt.vault {
				t.Errorf("RotateKey() = %s with owner %q, want hsm with owner %s", rotated.Spec.Protection, e.hsm.owners[len(e.hsm.owners)-1], tt.vault)
			}
			if _, _, err := e.svc.Sign(ctx, t0, vault.Ref{Vault: tt.vault, Name: name}, alg, digest("m")); err != nil {
				t.Errorf("Sign(rotated) = %v", err)
			}
		})
	}
	t.Run("import", func(t *testing.T) {
		before := len(e.hsm.owners)
		kv, err := e.svc.ImportKey(ctx, t0, "hsm1", "imported", vault.ImportParams{Spec: keys.Spec{Type: keys.Oct}, Private: secret.New(make([]byte, 32))})
		if err != nil {
			t.Fatalf("ImportKey() = %v", err)
		}
		if kv.Spec.Protection != keys.HSM || !slices.Equal(e.hsm.owners[before:], []string{"hsm1"}) {
			t.Errorf("ImportKey() = %s, owners %q; want hsm, [hsm1]", kv.Spec.Protection, e.hsm.owners[before:])
		}
	})
	t.Run("standard refuses HSM", func(t *testing.T) {
		_, err := e.svc.CreateKey(ctx, t0, "std", "nope", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Protection: keys.HSM}})
		wantErr(t, "CreateKey(std, RSA-HSM)", err, vault.ErrInvalid, "KeyTypeNotSupported")
	})
}

func TestHSMPurgeDestroysObjects(t *testing.T) {
	e := newHSMEnv(t)
	ctx := context.Background()
	hsmKey := vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Protection: keys.HSM}}
	for range 2 {
		if _, err := e.svc.CreateKey(ctx, t0, "dev", "two-versions", hsmKey); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.CreateKey(ctx, t0, "dev", "soft", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"two-versions", "soft"} {
		if _, err := e.svc.DeleteKey(ctx, t0, "dev", name); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.PurgeKey(ctx, t0, "dev", name); err != nil {
			t.Fatalf("PurgeKey(%s) = %v", name, err)
		}
	}
	if len(e.hsm.destroyed) != 2 || len(e.hsm.objects) != 0 {
		t.Errorf("after purge: destroyed %q, left %d objects; want both versions destroyed", e.hsm.destroyed, len(e.hsm.objects))
	}

	// The scheduled purge destroys too.
	if _, err := e.svc.CreateKey(ctx, t0, "hsm1", "expiring", vault.CreateParams{Spec: keys.Spec{Type: keys.Oct}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteKey(ctx, t0, "hsm1", "expiring"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.PurgeExpired(ctx, t0.Add(8*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PurgeExpired() = %d, %v; want 1", n, err)
	}
	if len(e.hsm.destroyed) != 3 || len(e.hsm.objects) != 0 {
		t.Errorf("after PurgeExpired: destroyed %q, left %d objects", e.hsm.destroyed, len(e.hsm.objects))
	}
	if len(e.destroyErrors) != 0 {
		t.Errorf("OnDestroyError calls = %v, want none", e.destroyErrors)
	}

	// A failing destroy does not undo the purge; it is reported.
	if _, err := e.svc.CreateKey(ctx, t0, "dev", "stuck", hsmKey); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteKey(ctx, t0, "dev", "stuck"); err != nil {
		t.Fatal(err)
	}
	e.hsm.destroyErr = fmt.Errorf("%w: token unplugged", keys.ErrUnavailable)
	if err := e.svc.PurgeKey(ctx, t0, "dev", "stuck"); err != nil {
		t.Fatalf("PurgeKey(destroy failing) = %v, want nil", err)
	}
	if len(e.destroyErrors) != 1 || !errors.Is(e.destroyErrors[0], keys.ErrUnavailable) || !strings.Contains(e.destroyErrors[0].Error(), "dev/stuck") {
		t.Errorf("OnDestroyError calls = %v, want one naming dev/stuck", e.destroyErrors)
	}
	if _, err := e.svc.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "stuck"}); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("GetKey(purged) = %v, want ErrNotFound", err)
	}
}

func TestHSMBackupRefused(t *testing.T) {
	// An HSM provider without keys.Backuper cannot back HSM keys up.
	e := newHSMEnvWith(t, func(f *fakeHSM) keys.Provider {
		return struct {
			keys.Provider
			keys.Destroyer
		}{f, f}
	})
	ctx := context.Background()
	if _, err := e.svc.CreateKey(ctx, t0, "dev", "soft", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateKey(ctx, t0, "dev", "hard", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Protection: keys.HSM}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BackupKey(ctx, "dev", "soft"); err != nil {
		t.Errorf("BackupKey(software key) = %v", err)
	}
	_, err := e.svc.BackupKey(ctx, "dev", "hard")
	wantErr(t, "BackupKey(HSM key)", err, vault.ErrInvalid, "")
	if !strings.Contains(err.Error(), "Backup of HSM-protected keys is not supported yet") {
		t.Errorf("BackupKey(HSM key) = %v, want the not-supported message", err)
	}
}
