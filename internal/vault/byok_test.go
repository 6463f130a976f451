//go:build cgo

package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
	"github.com/keywarden/keywarden/internal/vault"
)

// countingHSM is the real PKCS#11 provider, counting the key objects it
// makes and destroys.
type countingHSM struct {
	*pkcs11.Provider
	mu                  sync.Mutex
	imported, destroyed int
	// importErr, when set, is joined to the errors of ImportTransfer;
	// failDestroy fails Destroy (after destroying).
	importErr     error
	failDestroy   bool
	destroyErrors *[]error // the env's Options.OnDestroyError reports
}

func (c *countingHSM) ImportTransfer(ctx context.Context, spec keys.Spec, kek keys.Material, wrapped []byte) (keys.Material, error) {
	m, err := c.Provider.ImportTransfer(ctx, spec, kek, wrapped)
	if err != nil && c.importErr != nil {
		err = errors.Join(err, c.importErr)
	}
	if err == nil {
		c.mu.Lock()
		c.imported++
		c.mu.Unlock()
	}
	return m, err
}

func (c *countingHSM) Destroy(ctx context.Context, m keys.Material) error {
	c.mu.Lock()
	c.destroyed++
	c.mu.Unlock()
	err := c.Provider.Destroy(ctx, m)
	if err == nil && c.failDestroy {
		err = errors.New("injected destroy failure")
	}
	return err
}

// byokEnv is the HSM test environment (newHSMEnvWith) over SoftHSM2
// instead of the fake, with the premium vault "dev" limited to P-256 and
// P-384 by its key policy, and a second premium vault "other".
func byokEnv(t *testing.T) (*vault.Service, *countingHSM) {
	t.Helper()
	p, err := pkcs11.Open(softhsmtest.New(t))
	if err != nil {
		t.Fatalf("pkcs11.Open() = %v", err)
	}
	t.Cleanup(func() { p.Close() })
	hsm := &countingHSM{Provider: p}
	env := newHSMEnvWith(t, func(*fakeHSM) keys.Provider { return hsm })
	hsm.destroyErrors = &env.destroyErrors
	svc := env.svc
	ctx := context.Background()
	if _, err := svc.UpdateVault(ctx, t0, "dev", vault.VaultUpdate{KeyPolicy: &vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P256, keys.P384}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureVault(ctx, t0, vault.Vault{Name: "other", SKU: vault.Premium, RetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	return svc, hsm
}

// newKEK creates a key-exchange key candidate and returns its version.
func newKEK(t *testing.T, svc *vault.Service, vaultName, name string, spec keys.Spec, ops ...vault.Operation) vault.KeyVersion {
	t.Helper()
	if ops == nil {
		ops = []vault.Operation{vault.OpImport}
	}
	kv, err := svc.CreateKey(context.Background(), t0, vaultName, name, vault.CreateParams{Spec: spec, Ops: ops})
	if err != nil {
		t.Fatalf("CreateKey(%s/%s) = %v", vaultName, name, err)
	}
	return kv
}

// transfer packages key for the KEK kv of vault vaultName.
func transfer(t *testing.T, vaultName string, kv vault.KeyVersion, key any) *vault.Transfer {
	t.Helper()
	base := "https://" + vaultName + ".vault.test/keys/" + kv.Name
	blob, err := byok.Package(rand.Reader, kv.Public.(*rsa.PublicKey), key, base+"/"+kv.Version, "keywarden test")
	if err != nil {
		t.Fatalf("byok.Package() = %v", err)
	}
	b, err := byok.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	return &vault.Transfer{KEK: vault.Ref{Vault: vaultName, Name: kv.Name, Version: kv.Version}, KEKID: base, Origin: "https://" + vaultName + ".vault.test", Generator: b.Generator, Ciphertext: b.Ciphertext}
}

func TestImportTransfer(t *testing.T) {
	ctx := context.Background()
	svc, hsm := byokEnv(t)
	kek := newKEK(t, svc, "dev", "kek", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tr := transfer(t, "dev", kek, ecKey)
	kv, err := svc.ImportKey(ctx, t0, "dev", "byok-ec", vault.ImportParams{
		Spec: keys.Spec{Type: keys.EC, Protection: keys.HSM}, Transfer: tr, Ops: []vault.Operation{vault.OpSign, vault.OpVerify},
	})
	if err != nil {
		t.Fatalf("ImportKey(transfer) = %v", err)
	}
	want, _ := keys.NewECPublicKey(&ecKey.PublicKey)
	if kv.Spec.Protection != keys.HSM || kv.Spec.Curve != keys.P256 || !want.Equal(kv.Public) {
		t.Errorf("ImportKey(transfer) = %s %s %v, want the packaged P-256 key, HSM-protected", kv.Spec.Protection, kv.Spec.Curve, kv.Public)
	}
	wantProv := vault.Provenance{Method: vault.ProvenanceBYOK, Generator: "keywarden test", KEK: "https://dev.vault.test/keys/kek/" + kek.Version, Imported: t0}
	if kv.Provenance == nil || *kv.Provenance != wantProv {
		t.Errorf("ImportKey(transfer).Provenance = %+v, want %+v", kv.Provenance, wantProv)
	}
	got, err := svc.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "byok-ec"})
	if err != nil || got.Provenance == nil || *got.Provenance != wantProv {
		t.Errorf("GetKey().Provenance = %+v, %v, want %+v", got.Provenance, err, wantProv)
	}
	_, sig, err := svc.Sign(ctx, t0, vault.Ref{Vault: "dev", Name: "byok-ec"}, keys.ES256, digest("byok"))
	if err != nil {
		t.Fatalf("Sign() = %v", err)
	}
	if ok, err := keys.VerifyPublic(want, keys.ES256, digest("byok"), sig); !ok || err != nil {
		t.Errorf("VerifyPublic(original key, signature) = %v, %v, want true", ok, err)
	}

	// A kid without a version names the KEK's current version, which the
	// provenance records.
	latest := transfer(t, "dev", kek, ecKey)
	latest.KEK.Version = ""
	kv2, err := svc.ImportKey(ctx, t0, "dev", "byok-ec2", vault.ImportParams{Spec: keys.Spec{Type: keys.EC, Protection: keys.HSM}, Transfer: latest})
	if err != nil || kv2.Provenance == nil || kv2.Provenance.KEK != wantProv.KEK {
		t.Errorf("ImportKey(kid without version).Provenance = %+v, %v; want KEK %s", kv2.Provenance, err, wantProv.KEK)
	}

	// The provenance names the KEK on the origin the import came to, by
	// its stored name, however the blob spells its kid.
	spelled := transfer(t, "dev", kek, ecKey)
	spelled.KEK.Name, spelled.KEKID = "KEK", "https://DEV.vault.test:443/keys/KEK"
	kv3, err := svc.ImportKey(ctx, t0, "dev", "byok-ec3", vault.ImportParams{Spec: keys.Spec{Type: keys.EC, Protection: keys.HSM}, Transfer: spelled})
	if err != nil || kv3.Provenance == nil || kv3.Provenance.KEK != wantProv.KEK {
		t.Errorf("ImportKey(kid spelled KEK).Provenance = %+v, %v; want KEK %s", kv3.Provenance, err, wantProv.KEK)
	}

	// A plain import records its method too.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	plain, err := svc.ImportKey(ctx, t0, "dev", "plain", vault.ImportParams{Spec: keys.Spec{Type: keys.RSA}, Private: rsaKey})
	if err != nil {
		t.Fatal(err)
	}
	if p := plain.Provenance; p == nil || p.Method != vault.ProvenanceImport || p.KEK != "" || !p.Imported.Equal(t0) {
		t.Errorf("ImportKey(JWK).Provenance = %+v, want method import at %v", p, t0)
	}
	if kek.Provenance != nil {
		t.Errorf("CreateKey().Provenance = %+v, want nil", kek.Provenance)
	}
	if hsm.destroyed != 0 {
		t.Errorf("successful imports destroyed %d keys, want 0", hsm.destroyed)
	}
}

func TestImportTransferRefusals(t *testing.T) {
	ctx := context.Background()
	svc, hsm := byokEnv(t)
	hsmRSA := keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM}
	kek := newKEK(t, svc, "dev", "kek", hsmRSA)
	otherKEK := newKEK(t, svc, "dev", "kek2", hsmRSA)
	signing := newKEK(t, svc, "dev", "kek-sign", hsmRSA, vault.OpSign, vault.OpVerify)
	soft := newKEK(t, svc, "dev", "kek-soft", keys.Spec{Type: keys.RSA, Size: 2048})
	elsewhere := newKEK(t, svc, "other", "kek", hsmRSA)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	imported, err := svc.ImportKey(ctx, t0, "dev", "kek-imported", vault.ImportParams{Spec: hsmRSA, Private: rsaKey, Ops: []vault.Operation{vault.OpImport}})
	if err != nil {
		t.Fatal(err)
	}
	byokKEK, err := svc.ImportKey(ctx, t0, "dev", "kek-byok", vault.ImportParams{Spec: hsmRSA, Transfer: transfer(t, "dev", kek, rsaKey), Ops: []vault.Operation{vault.OpImport}})
	if err != nil {
		t.Fatal(err)
	}
	f, before, after := false, t0.Add(time.Hour), t0.Add(-time.Hour)
	disabled := newKEK(t, svc, "dev", "kek-disabled", hsmRSA)
	notYet := newKEK(t, svc, "dev", "kek-nbf", hsmRSA)
	expired := newKEK(t, svc, "dev", "kek-exp", hsmRSA)
	for _, u := range []struct {
		kv vault.KeyVersion
		a  vault.Attributes
	}{{disabled, vault.Attributes{Enabled: &f}}, {notYet, vault.Attributes{NotBefore: &before}}, {expired, vault.Attributes{Expires: &after}}} {
		if _, err := svc.UpdateKey(ctx, t0, vault.Ref{Vault: "dev", Name: u.kv.Name, Version: u.kv.Version}, vault.UpdateParams{Attributes: u.a}); err != nil {
			t.Fatal(err)
		}
	}
	hsm.imported, hsm.destroyed = 0, 0
	wrongKEK := transfer(t, "dev", kek, rsaKey)
	wrongKEK.KEK.Name, wrongKEK.KEK.Version = otherKEK.Name, otherKEK.Version
	tampered := transfer(t, "dev", kek, rsaKey)
	tampered.Ciphertext[len(tampered.Ciphertext)-3] ^= 0x40
	missing := transfer(t, "dev", kek, rsaKey)
	missing.KEK.Name = "nokek"
	tests := []struct {
		name    string
		vault   string
		spec    keys.Spec
		tr      *vault.Transfer
		want    string
		unwraps bool // the refusal comes after the unwrap, which is undone
	}{
		{"wrong KEK", "dev", keys.Spec{Type: keys.RSA}, wrongKEK, "not wrapped for this key-exchange key", false},
		{"tampered", "dev", keys.Spec{Type: keys.RSA}, tampered, "integrity check", false},
		{"KEK for signing", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", signing, rsaKey), `only the import operation`, false},
		{"software KEK", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", soft, rsaKey), "HSM-protected RSA key", false},
		{"KEK in another vault", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "other", elsewhere, rsaKey), "is not in vault dev", false},
		{"KEK not found", "dev", keys.Spec{Type: keys.RSA}, missing, "was not found", false},
		{"KEK imported in plaintext", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", imported, rsaKey), "must be generated in the HSM", false},
		{"KEK imported from a transfer", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", byokKEK, rsaKey), "must be generated in the HSM", false},
		{"KEK disabled", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", disabled, rsaKey), "is disabled", false},
		{"KEK not yet valid", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", notYet, rsaKey), "outside its validity dates", false},
		{"KEK expired", "dev", keys.Spec{Type: keys.RSA}, transfer(t, "dev", expired, rsaKey), "outside its validity dates", false},
		{"RSA blob as EC", "dev", keys.Spec{Type: keys.EC}, transfer(t, "dev", kek, rsaKey), "is not an EC key", false},
		{"standard vault", "std", keys.Spec{Type: keys.RSA}, transfer(t, "dev", kek, rsaKey), "premium", false},
		{"curve refused by the key policy", "dev", keys.Spec{Type: keys.EC}, transfer(t, "dev", kek, p521), "allowedCurves", true},
		{"crv differs from the blob's", "dev", keys.Spec{Type: keys.EC, Curve: keys.P384}, transfer(t, "dev", kek, p256), "crv P-384 was requested", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imported, destroyed := hsm.imported, hsm.destroyed
			kv, err := svc.ImportKey(ctx, t0, tt.vault, "byok", vault.ImportParams{Spec: tt.spec, Transfer: tt.tr})
			if !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ImportKey() = %+v, %v; want ErrInvalid saying %q", kv, err, tt.want)
			}
			if _, err := svc.GetKey(ctx, t0, vault.Ref{Vault: tt.vault, Name: "byok"}); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("GetKey(byok) after the refusal = %v, want ErrNotFound", err)
			}
			if n := hsm.imported - imported; n != hsm.destroyed-destroyed || (n == 1) != tt.unwraps {
				t.Errorf("unwrapped %d keys and destroyed %d, want %v unwrapped and all destroyed", n, hsm.destroyed-destroyed, tt.unwraps)
			}
		})
	}
}

// TestKEKOpsImmutable checks that a key-exchange key cannot be turned into
// a decryption key (whose RSA-OAEP decrypt of a captured blob's head would
// give the ephemeral AES key), and that no key gains import after it was
// created.
func TestKEKOpsImmutable(t *testing.T) {
	ctx := context.Background()
	svc, _ := byokEnv(t)
	hsmRSA := keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM}
	kek := newKEK(t, svc, "dev", "kek", hsmRSA)
	signing := newKEK(t, svc, "dev", "signing", hsmRSA, vault.OpSign, vault.OpVerify)
	kekRef := vault.Ref{Vault: "dev", Name: "kek", Version: kek.Version}
	signRef := vault.Ref{Vault: "dev", Name: "signing", Version: signing.Version}
	refused := []struct {
		name string
		ref  vault.Ref
		ops  []vault.Operation
	}{
		{"KEK to decrypt", kekRef, []vault.Operation{vault.OpDecrypt}},
		{"KEK to unwrapKey", kekRef, []vault.Operation{vault.OpUnwrapKey}},
		{"KEK to no operations", kekRef, []vault.Operation{}},
		{"signing key to import", signRef, []vault.Operation{vault.OpImport}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := svc.UpdateKey(ctx, t0, tt.ref, vault.UpdateParams{Ops: tt.ops}); !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), "import") {
				t.Errorf("UpdateKey(ops %v) = %v, want ErrInvalid about import", tt.ops, err)
			}
		})
	}
	kv, err := svc.UpdateKey(ctx, t0, kekRef, vault.UpdateParams{Ops: []vault.Operation{vault.OpImport}, Tags: map[string]string{"a": "b"}})
	if err != nil || !slices.Equal(kv.Ops, []vault.Operation{vault.OpImport}) {
		t.Errorf("UpdateKey(same ops [import]) = %v, %v, want the KEK unchanged", kv.Ops, err)
	}
	target, _ := rsa.GenerateKey(rand.Reader, 2048)
	tr := transfer(t, "dev", kek, target)
	if _, _, err := svc.Decrypt(ctx, t0, kekRef, vault.OpDecrypt, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: tr.Ciphertext[:256]}); err == nil {
		t.Errorf("Decrypt(KEK, blob head) succeeded, want a refusal")
	}
	if _, err := svc.ImportKey(ctx, t0, "dev", "byok", vault.ImportParams{Spec: keys.Spec{Type: keys.RSA}, Transfer: tr}); err != nil {
		t.Errorf("ImportKey(transfer) after the refused updates = %v", err)
	}
}

// TestImportTransferDestroyFailures checks that HSM objects a refused
// import could not destroy are reported to Options.OnDestroyError, not
// dropped: those of a key the vault refused after the unwrap, and those
// the provider reports left over.
func TestImportTransferDestroyFailures(t *testing.T) {
	ctx := context.Background()
	svc, hsm := byokEnv(t)
	kek := newKEK(t, svc, "dev", "kek", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM})
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	hsm.failDestroy = true
	_, err := svc.ImportKey(ctx, t0, "dev", "byok", vault.ImportParams{Spec: keys.Spec{Type: keys.EC}, Transfer: transfer(t, "dev", kek, p521)})
	if !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), "allowedCurves") {
		t.Fatalf("ImportKey(P-521, refused by the key policy) = %v, want ErrInvalid", err)
	}
	if n := len(*hsm.destroyErrors); n != 1 || !strings.Contains((*hsm.destroyErrors)[0].Error(), "dev/byok") {
		t.Errorf("OnDestroyError got %v, want one report naming dev/byok", *hsm.destroyErrors)
	}

	hsm.failDestroy, *hsm.destroyErrors = false, nil
	hsm.importErr = &keys.LeftoverError{Op: "BYOK import", Err: errors.New("injected")}
	tampered := transfer(t, "dev", kek, rsaKey)
	tampered.Ciphertext[len(tampered.Ciphertext)-3] ^= 0x40
	_, err = svc.ImportKey(ctx, t0, "dev", "byok", vault.ImportParams{Spec: keys.Spec{Type: keys.RSA}, Transfer: tampered})
	if !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), "integrity check") || strings.Contains(err.Error(), "injected") {
		t.Errorf("ImportKey(tampered, objects left over) = %v, want the refusal alone", err)
	}
	var le *keys.LeftoverError
	if n := len(*hsm.destroyErrors); n != 1 || !errors.As((*hsm.destroyErrors)[0], &le) {
		t.Errorf("OnDestroyError got %v, want the provider's *keys.LeftoverError", *hsm.destroyErrors)
	}
}

// TestImportTransferBackupRestore checks that a BYOK version's provenance
// survives a backup and restore, and that a KEK restored from a backup,
// generated and so without provenance, still serves as one.
func TestImportTransferBackupRestore(t *testing.T) {
	ctx := context.Background()
	svc, _ := byokEnv(t)
	kek := newKEK(t, svc, "dev", "kek", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kv, err := svc.ImportKey(ctx, t0, "dev", "byok", vault.ImportParams{Spec: keys.Spec{Type: keys.EC}, Transfer: transfer(t, "dev", kek, ecKey)})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(name string) {
		t.Helper()
		blob, err := svc.BackupKey(ctx, "dev", name)
		if err != nil {
			t.Fatalf("BackupKey(%s) = %v", name, err)
		}
		if _, err := svc.DeleteKey(ctx, t0, "dev", name); err != nil {
			t.Fatal(err)
		}
		if err := svc.PurgeKey(ctx, t0, "dev", name); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RestoreKey(ctx, t0, "dev", blob); err != nil {
			t.Fatalf("RestoreKey(%s) = %v", name, err)
		}
	}
	roundTrip("byok")
	got, err := svc.GetKey(ctx, t0, vault.Ref{Vault: "dev", Name: "byok"})
	if err != nil || got.Provenance == nil || *got.Provenance != *kv.Provenance {
		t.Errorf("GetKey(restored).Provenance = %+v, %v; want %+v", got.Provenance, err, kv.Provenance)
	}
	roundTrip("kek")
	if _, err := svc.ImportKey(ctx, t0, "dev", "byok2", vault.ImportParams{Spec: keys.Spec{Type: keys.EC}, Transfer: transfer(t, "dev", kek, ecKey)}); err != nil {
		t.Errorf("ImportKey(transfer under a restored KEK) = %v", err)
	}
}

// tokenPermissions reads, straight from the test token, the CKA_DECRYPT,
// CKA_SIGN and CKA_UNWRAP of the one RSA private key object whose modulus
// is pub's.
func tokenPermissions(t *testing.T, pub *rsa.PublicKey) (decrypt, sign, unwrap bool) {
	t.Helper()
	cfg := softhsmtest.New(t)
	m := p11.New(cfg.ModulePath)
	if m == nil {
		t.Fatalf("load %s", cfg.ModulePath)
	}
	if err := m.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	slots, err := m.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	slot, found := uint(0), false
	for _, s := range slots {
		if ti, err := m.GetTokenInfo(s); err == nil && ti.Label == softhsmtest.TokenLabel {
			slot, found = s, true
		}
	}
	if !found {
		t.Fatalf("no token labelled %s", softhsmtest.TokenLabel)
	}
	sh, err := m.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseSession(sh)
	if err := m.Login(sh, p11.CKU_USER, string(cfg.PIN.Expose())); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		t.Fatal(err)
	}
	if err := m.FindObjectsInit(sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_MODULUS, pub.N.Bytes()),
	}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := m.FindObjects(sh, 8)
	_ = m.FindObjectsFinal(sh)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 {
		t.Fatalf("token holds %d RSA private key objects with the KEK's modulus, want 1", len(hs))
	}
	attrs, err := m.GetAttributeValue(sh, hs[0], []*p11.Attribute{
		p11.NewAttribute(p11.CKA_DECRYPT, nil),
		p11.NewAttribute(p11.CKA_SIGN, nil),
		p11.NewAttribute(p11.CKA_UNWRAP, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	on := func(a *p11.Attribute) bool { return len(a.Value) == 1 && a.Value[0] == 1 }
	return on(attrs[0]), on(attrs[1]), on(attrs[2])
}

// TestKEKUnwrapOnlyInToken checks, in the token, that a key-exchange key's
// private key can only unwrap when CreateKey makes it, when RotateKey
// makes a new version, and when RestoreKey brings both versions back from
// a backup after a purge.
func TestKEKUnwrapOnlyInToken(t *testing.T) {
	ctx := context.Background()
	svc, _ := byokEnv(t)
	first := newKEK(t, svc, "dev", "kek", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM})
	check := func(when string, kv vault.KeyVersion) {
		t.Helper()
		decrypt, sign, unwrap := tokenPermissions(t, kv.Public.(*rsa.PublicKey))
		if decrypt || sign || !unwrap {
			t.Errorf("KEK version %s %s: token CKA_DECRYPT %v, CKA_SIGN %v, CKA_UNWRAP %v; want false, false, true", kv.Version, when, decrypt, sign, unwrap)
		}
	}
	check("after CreateKey", first)
	second, err := svc.RotateKey(ctx, t0, "dev", "kek")
	if err != nil {
		t.Fatal(err)
	}
	check("after RotateKey", second)
	blob, err := svc.BackupKey(ctx, "dev", "kek")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteKey(ctx, t0, "dev", "kek"); err != nil {
		t.Fatal(err)
	}
	if err := svc.PurgeKey(ctx, t0, "dev", "kek"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RestoreKey(ctx, t0, "dev", blob); err != nil {
		t.Fatalf("RestoreKey(KEK) = %v", err)
	}
	check("after BackupKey, purge and RestoreKey", first)
	check("after BackupKey, purge and RestoreKey", second)
	// The restored current version still unwraps transfer blobs.
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := svc.ImportKey(ctx, t0, "dev", "byok", vault.ImportParams{Spec: keys.Spec{Type: keys.EC}, Transfer: transfer(t, "dev", second, ecKey)}); err != nil {
		t.Errorf("ImportKey(transfer under the restored KEK) = %v", err)
	}
}
