package vault_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	svc     *vault.Service
	path    string
	ctx     context.Context
	db      *embedded.DB
	root    *seal.RootKey
	changed *int // OnAccessChanged calls
}

func newEnv(t testing.TB, vaults ...vault.Vault) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("embedded.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	changed := new(int)
	svc := vault.New(vault.Options{
		Store:           db,
		Material:        root.Derive("material"),
		Backup:          root.Derive("backup"),
		Software:        software.New(rand.Reader),
		OnAccessChanged: func() { *changed++ },
	})
	ctx := context.Background()
	if len(vaults) == 0 {
		vaults = []vault.Vault{{Name: "dev", SKU: vault.Premium, RetentionDays: 90}}
	}
	for _, v := range vaults {
		if _, err := svc.EnsureVault(ctx, t0, v); err != nil {
			t.Fatalf("EnsureVault(%v): %v", v.Name, err)
		}
	}
	return &env{svc: svc, path: path, ctx: ctx, db: db, root: root, changed: changed}
}

func (e *env) create(t *testing.T, name string, p vault.CreateParams) vault.KeyVersion {
	t.Helper()
	kv, err := e.svc.CreateKey(e.ctx, t0, "dev", name, p)
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", name, err)
	}
	return kv
}

func rsaSpec() vault.CreateParams  { return vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}} }
func ecSpec() vault.CreateParams   { return vault.CreateParams{Spec: keys.Spec{Type: keys.EC}} }
func boolp(b bool) *bool           { return &b }
func timep(t time.Time) *time.Time { return &t }

// wantErr checks that err is a *vault.Error of the kind and inner code.
func wantErr(t *testing.T, what string, err error, kind error, code string) {
	t.Helper()
	var ve *vault.Error
	if !errors.As(err, &ve) || !errors.Is(err, kind) || (code != "" && ve.Code != code) {
		t.Fatalf("%s = %v, want %v with code %q", what, err, kind, code)
	}
}

func TestCreateDefaults(t *testing.T) {
	e := newEnv(t)
	r := e.create(t, "MyRSA", rsaSpec())
	if r.Spec.Size != 2048 || len(r.Version) != 32 || !r.Enabled {
		t.Errorf("CreateKey(RSA) = size %d version %q enabled %v, want 2048, 32 hex, enabled", r.Spec.Size, r.Version, r.Enabled)
	}
	if got := len(r.Ops); got != 6 {
		t.Errorf("CreateKey(RSA).Ops = %v, want the six RSA operations", r.Ops)
	}
	if _, ok := r.Public.(*rsa.PublicKey); !ok {
		t.Errorf("CreateKey(RSA).Public = %T, want *rsa.PublicKey", r.Public)
	}
	if r.RecoveryLevel != "Recoverable+Purgeable" || r.RecoverableDays != 90 {
		t.Errorf("recovery = %s/%d, want Recoverable+Purgeable/90", r.RecoveryLevel, r.RecoverableDays)
	}
	ec := e.create(t, "ec", ecSpec())
	if ec.Spec.Curve != keys.P256 || len(ec.Ops) != 2 {
		t.Errorf("CreateKey(EC) = curve %s ops %v, want P-256 [sign verify]", ec.Spec.Curve, ec.Ops)
	}
	// Same name again makes a new current version; case-insensitive.
	r2 := e.create(t, "myrsa", rsaSpec())
	got, err := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "dev", Name: "MYRSA"})
	if err != nil || got.Version != r2.Version || got.Name != "MyRSA" {
		t.Errorf("GetKey(MYRSA) = %s %s, %v; want version %s name MyRSA", got.Name, got.Version, err, r2.Version)
	}
	old, err := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "dev", Name: "MyRSA", Version: r.Version})
	if err != nil || old.Version != r.Version {
		t.Errorf("GetKey(old version) = %v, %v", old.Version, err)
	}
	page, err := e.svc.ListVersions(e.ctx, "dev", "myRSA", "", 25)
	if err != nil || len(page.Items) != 2 {
		t.Errorf("ListVersions = %d items, %v; want 2", len(page.Items), err)
	}
}

func TestCreateRefusals(t *testing.T) {
	e := newEnv(t, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}, vault.Vault{Name: "std", SKU: vault.Standard, RetentionDays: 90})
	tests := []struct {
		name, vault, key string
		p                vault.CreateParams
		kind             error
		code             string
	}{
		{"bad name", "dev", "a_b", rsaSpec(), vault.ErrInvalid, ""},
		{"too long name", "dev", strings.Repeat("a", 128), rsaSpec(), vault.ErrInvalid, ""},
		{"rsa 1024", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Size: 1024}}, vault.ErrInvalid, "KeySizeNotSupported"},
		{"bad curve", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: "P-123"}}, vault.ErrInvalid, "CurveNotSupported"},
		{"oct in premium", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.Oct, Size: 256}}, vault.ErrInvalid, "KeyTypeNotSupported"},
		{"hsm in standard", "std", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Protection: keys.HSM}}, vault.ErrInvalid, "KeyTypeNotSupported"},
		{"hsm without provider", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Protection: keys.HSM}}, vault.ErrInvalid, "KeyTypeNotSupported"},
		{"bad op", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: []vault.Operation{"frobnicate"}}, vault.ErrInvalid, ""},
		{"import with others", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: []vault.Operation{"import", "sign"}}, vault.ErrInvalid, ""},
		{"too many tags", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Tags: manyTags(16)}, vault.ErrInvalid, ""},
		{"long tag value", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Tags: map[string]string{"a": strings.Repeat("x", 257)}}, vault.ErrInvalid, ""},
		{"exportable", "dev", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: vault.Attributes{Exportable: boolp(true)}}, vault.ErrInvalid, ""},
		{"unknown vault", "nope", "k", rsaSpec(), vault.ErrNotFound, "VaultNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.CreateKey(e.ctx, t0, tt.vault, tt.key, tt.p)
			wantErr(t, "CreateKey", err, tt.kind, tt.code)
		})
	}
	page, err := e.svc.ListKeys(e.ctx, "dev", "", 25)
	if err != nil || len(page.Items) != 0 {
		t.Errorf("ListKeys after refusals = %d items, %v; want none", len(page.Items), err)
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[string(rune('a'+i))] = "v"
	}
	return m
}

func digest(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// TestStateRules checks which operations a disabled key, a key outside its
// validity dates and a key without the op in key_ops refuse.
func TestStateRules(t *testing.T) {
	e := newEnv(t)
	kv := e.create(t, "k", rsaSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	_, ct, err := e.svc.Encrypt(e.ctx, t0, ref, vault.OpEncrypt, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("hello")})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	_, sig, err := e.svc.Sign(e.ctx, t0, ref, keys.PS256, digest("x"))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	do := func(op vault.Operation, now time.Time) error {
		switch op {
		case vault.OpEncrypt, vault.OpWrapKey:
			_, _, err := e.svc.Encrypt(e.ctx, now, ref, op, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("hello")})
			return err
		case vault.OpDecrypt, vault.OpUnwrapKey:
			_, pt, err := e.svc.Decrypt(e.ctx, now, ref, op, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: ct.Value})
			if err == nil && string(pt.Expose()) != "hello" {
				t.Errorf("Decrypt = %q, want hello", pt.Expose())
			}
			return err
		case vault.OpSign:
			_, _, err := e.svc.Sign(e.ctx, now, ref, keys.PS256, digest("x"))
			return err
		default:
			_, ok, err := e.svc.Verify(e.ctx, now, ref, keys.PS256, digest("x"), sig)
			if err == nil && !ok {
				t.Errorf("Verify = false, want true")
			}
			return err
		}
	}
	all := []vault.Operation{vault.OpEncrypt, vault.OpDecrypt, vault.OpSign, vault.OpVerify, vault.OpWrapKey, vault.OpUnwrapKey}
	set := func(p vault.UpdateParams) {
		t.Helper()
		if _, err := e.svc.UpdateKey(e.ctx, t0, vault.Ref{Vault: "dev", Name: "k", Version: kv.Version}, p); err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
	}
	check := func(state string, now time.Time, refused map[vault.Operation]string) {
		t.Helper()
		for _, op := range all {
			err := do(op, now)
			if code, ok := refused[op]; ok {
				wantErr(t, state+" "+string(op), err, vault.ErrForbidden, code)
			} else if err != nil {
				t.Errorf("%s %s = %v, want success", state, op, err)
			}
		}
	}
	check("enabled", t0, nil)

	set(vault.UpdateParams{Attributes: vault.Attributes{Enabled: boolp(false)}})
	check("disabled", t0, map[vault.Operation]string{vault.OpDecrypt: "KeyDisabled", vault.OpSign: "KeyDisabled", vault.OpUnwrapKey: "KeyDisabled"})

	set(vault.UpdateParams{Attributes: vault.Attributes{Enabled: boolp(true), Expires: timep(t0.Add(time.Hour)), NotBefore: timep(t0.Add(-time.Hour))}})
	check("expired", t0.Add(2*time.Hour), map[vault.Operation]string{vault.OpEncrypt: "KeyExpired", vault.OpSign: "KeyExpired", vault.OpWrapKey: "KeyExpired"})
	check("not yet valid", t0.Add(-2*time.Hour), map[vault.Operation]string{vault.OpEncrypt: "KeyNotYetValid", vault.OpSign: "KeyNotYetValid", vault.OpWrapKey: "KeyNotYetValid"})
	check("within dates", t0, nil)

	set(vault.UpdateParams{Ops: []vault.Operation{vault.OpVerify}})
	check("verify only", t0, map[vault.Operation]string{vault.OpEncrypt: "KeyOperationForbidden", vault.OpDecrypt: "KeyOperationForbidden", vault.OpSign: "KeyOperationForbidden", vault.OpWrapKey: "KeyOperationForbidden", vault.OpUnwrapKey: "KeyOperationForbidden"})
}

func TestCryptoInterop(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		p    vault.CreateParams
		alg  keys.SignatureAlgorithm
	}{
		{"rsa", rsaSpec(), keys.RS256},
		{"p256", ecSpec(), keys.ES256},
		{"p384", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P384}}, keys.ES384},
		{"p256k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256K}}, keys.ES256K},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kv := e.create(t, tt.name, tt.p)
			d := make([]byte, keys.DigestSize(tt.alg))
			rand.Read(d)
			ver, sig, err := e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "dev", Name: tt.name}, tt.alg, d)
			if err != nil || ver != kv.Version {
				t.Fatalf("Sign = %s, %v; want version %s", ver, err, kv.Version)
			}
			ok, err := keys.VerifyPublic(kv.Public, tt.alg, d, sig)
			if err != nil || !ok {
				t.Errorf("VerifyPublic(signature from the vault) = %v, %v; want true", ok, err)
			}
			if pub, isEC := kv.Public.(*keys.ECPublicKey); isEC && tt.alg != keys.ES256K {
				epub, err := pub.ECDSA()
				if err != nil {
					t.Fatal(err)
				}
				n := len(sig) / 2
				if !ecdsa.Verify(epub, d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
					t.Errorf("ecdsa.Verify(signature from the vault) = false")
				}
			}
			sig[0] ^= 1
			_, ok, err = e.svc.Verify(e.ctx, t0, vault.Ref{Vault: "dev", Name: tt.name}, tt.alg, d, sig)
			if err != nil || ok {
				t.Errorf("Verify(tampered) = %v, %v; want false, nil", ok, err)
			}
			_, _, err = e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "dev", Name: tt.name}, tt.alg, d[:10])
			wantErr(t, "Sign(short digest)", err, vault.ErrInvalid, "")
		})
	}
	// A ciphertext made locally with the public key decrypts in the vault.
	kv, _ := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "dev", Name: "rsa"})
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, kv.Public.(*rsa.PublicKey), []byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, pt, err := e.svc.Decrypt(e.ctx, t0, vault.Ref{Vault: "dev", Name: "rsa"}, vault.OpUnwrapKey, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: ct})
	if err != nil || string(pt.Expose()) != "secret" {
		t.Errorf("Decrypt(local OAEP-256 ciphertext) = %q, %v", pt.Expose(), err)
	}
}

func TestSoftDeleteLifecycle(t *testing.T) {
	e := newEnv(t, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 7}, vault.Vault{Name: "locked", SKU: vault.Premium, RetentionDays: 30, PurgeProtection: true})
	kv := e.create(t, "k", ecSpec())
	dk, err := e.svc.DeleteKey(e.ctx, t0, "dev", "k")
	if err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if !dk.ScheduledPurgeDate.Equal(t0.Truncate(time.Second).AddDate(0, 0, 7)) || dk.Version != kv.Version || dk.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
		t.Errorf("DeleteKey = purge %v version %s level %s", dk.ScheduledPurgeDate, dk.Version, dk.RecoveryLevel)
	}
	_, err = e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "dev", Name: "k"})
	wantErr(t, "GetKey(deleted)", err, vault.ErrNotFound, "")
	_, _, err = e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "dev", Name: "k"}, keys.ES256, digest("x"))
	wantErr(t, "Sign(deleted)", err, vault.ErrNotFound, "")
	_, err = e.svc.CreateKey(e.ctx, t0, "dev", "K", ecSpec())
	wantErr(t, "CreateKey(deleted name)", err, vault.ErrConflict, "ObjectIsDeletedButRecoverable")
	_, err = e.svc.DeleteKey(e.ctx, t0, "dev", "k")
	wantErr(t, "DeleteKey(deleted)", err, vault.ErrNotFound, "")
	page, err := e.svc.ListDeletedKeys(e.ctx, "dev", "", 25)
	if err != nil || len(page.Items) != 1 {
		t.Errorf("ListDeletedKeys = %d, %v; want 1", len(page.Items), err)
	}
	if active, _ := e.svc.ListKeys(e.ctx, "dev", "", 25); len(active.Items) != 0 {
		t.Errorf("ListKeys after delete = %d items, want 0", len(active.Items))
	}
	rec, err := e.svc.RecoverKey(e.ctx, t0, "dev", "k")
	if err != nil || rec.Version != kv.Version {
		t.Fatalf("RecoverKey = %s, %v", rec.Version, err)
	}
	if _, _, err := e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "dev", Name: "k"}, keys.ES256, digest("x")); err != nil {
		t.Errorf("Sign after recover: %v", err)
	}
	err = e.svc.PurgeKey(e.ctx, t0, "dev", "k")
	wantErr(t, "PurgeKey(active)", err, vault.ErrNotFound, "")
	e.svc.DeleteKey(e.ctx, t0, "dev", "k")
	if err := e.svc.PurgeKey(e.ctx, t0, "dev", "k"); err != nil {
		t.Fatalf("PurgeKey: %v", err)
	}
	_, err = e.svc.GetDeletedKey(e.ctx, "dev", "k")
	wantErr(t, "GetDeletedKey(purged)", err, vault.ErrNotFound, "")
	e.create(t, "k", ecSpec()) // name free again

	// Purge protection holds until the scheduled purge date, then the
	// system purge takes the key.
	if _, err := e.svc.CreateKey(e.ctx, t0, "locked", "p", ecSpec()); err != nil {
		t.Fatal(err)
	}
	e.svc.DeleteKey(e.ctx, t0, "locked", "p")
	err = e.svc.PurgeKey(e.ctx, t0.Add(29*24*time.Hour), "locked", "p")
	wantErr(t, "PurgeKey(protected)", err, vault.ErrForbidden, "")
	if n, err := e.svc.PurgeExpired(e.ctx, t0.Add(29*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeExpired(before date) = %d, %v; want 0", n, err)
	}
	if n, err := e.svc.PurgeExpired(e.ctx, t0.Add(31*24*time.Hour)); err != nil || n != 1 {
		t.Errorf("PurgeExpired(after date) = %d, %v; want 1", n, err)
	}
	// Purge protection can be turned on but never off.
	v, err := e.svc.EnsureVault(e.ctx, t0, vault.Vault{Name: "locked", SKU: vault.Premium, RetentionDays: 30})
	if err != nil || !v.PurgeProtection {
		t.Errorf("EnsureVault(turn purge protection off) = %v, %v; want it still on", v.PurgeProtection, err)
	}
}

func TestBackupRestore(t *testing.T) {
	e := newEnv(t, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}, vault.Vault{Name: "other", SKU: vault.Premium, RetentionDays: 90})
	v1 := e.create(t, "b", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Tags: map[string]string{"team": "x"}})
	v2 := e.create(t, "b", ecSpec())
	if _, err := e.svc.SetRotationPolicy(e.ctx, t0, "dev", "b", vault.RotationPolicy{ExpiryTime: "P90D", Actions: []vault.LifetimeAction{{Type: "rotate", TimeAfterCreate: "P30D"}}}); err != nil {
		t.Fatal(err)
	}
	blob, err := e.svc.BackupKey(e.ctx, "dev", "b")
	if err != nil {
		t.Fatalf("BackupKey: %v", err)
	}
	_, err = e.svc.RestoreKey(e.ctx, t0, "dev", blob)
	wantErr(t, "RestoreKey(existing name)", err, vault.ErrConflict, "")
	for i := range []int{0, len(blob) / 2, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[[]int{0, len(blob) / 2, len(blob) - 1}[i]] ^= 0x40
		_, err = e.svc.RestoreKey(e.ctx, t0, "other", bad)
		wantErr(t, "RestoreKey(tampered)", err, vault.ErrInvalid, "")
	}
	if _, err := e.svc.EnsureVault(e.ctx, t0, vault.Vault{Name: "hsm", SKU: vault.ManagedHSM, RetentionDays: 90}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RestoreKey(e.ctx, t0, "hsm", blob)
	wantErr(t, "RestoreKey(vault backup into a managed HSM)", err, vault.ErrInvalid, "")
	got, err := e.svc.RestoreKey(e.ctx, t0, "other", blob)
	if err != nil || got.Version != v2.Version {
		t.Fatalf("RestoreKey(other vault) = %s, %v; want version %s", got.Version, err, v2.Version)
	}
	old, err := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "other", Name: "b", Version: v1.Version})
	if err != nil || old.Tags["team"] != "x" {
		t.Errorf("restored old version = %v, %v; want tags kept", old.Tags, err)
	}
	p, err := e.svc.RotationPolicy(e.ctx, "other", "b")
	if err != nil || p.ExpiryTime != "P90D" {
		t.Errorf("restored rotation policy = %+v, %v", p, err)
	}
	d := digest("y")
	_, sig, err := e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "other", Name: "b", Version: v1.Version}, keys.ES256, d)
	if err != nil {
		t.Fatalf("Sign with restored version: %v", err)
	}
	if ok, _ := keys.VerifyPublic(v1.Public, keys.ES256, d, sig); !ok {
		t.Errorf("restored key signs with different material")
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	kv := e.create(t, "r", vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P384}, Ops: []vault.Operation{vault.OpSign}, Tags: map[string]string{"a": "b"}})
	p, err := e.svc.RotationPolicy(e.ctx, "dev", "r")
	if err != nil || len(p.Actions) != 1 || p.Actions[0].Type != "Notify" {
		t.Errorf("default RotationPolicy = %+v, %v", p, err)
	}
	if _, err := e.svc.SetRotationPolicy(e.ctx, t0, "dev", "r", vault.RotationPolicy{ExpiryTime: "P3M"}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	nv, err := e.svc.RotateKey(e.ctx, now, "dev", "r")
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if nv.Version == kv.Version || nv.Spec.Curve != keys.P384 || len(nv.Ops) != 1 || nv.Tags["a"] != "b" {
		t.Errorf("RotateKey = %+v", nv)
	}
	if want := now.Truncate(time.Second).AddDate(0, 3, 0); nv.Expires == nil || !nv.Expires.Equal(want) {
		t.Errorf("RotateKey exp = %v, want %v", nv.Expires, want)
	}
	cur, _ := e.svc.GetKey(e.ctx, now, vault.Ref{Vault: "dev", Name: "r"})
	if cur.Version != nv.Version {
		t.Errorf("current after rotate = %s, want %s", cur.Version, nv.Version)
	}
}

func TestRotationPolicyValidation(t *testing.T) {
	e := newEnv(t)
	e.create(t, "r", ecSpec())
	rot := func(after string) vault.LifetimeAction {
		return vault.LifetimeAction{Type: "Rotate", TimeAfterCreate: after}
	}
	tests := []struct {
		name    string
		p       vault.RotationPolicy
		wantErr bool
		actions int
	}{
		{"rotate only", vault.RotationPolicy{Actions: []vault.LifetimeAction{rot("P90D")}}, false, 1},
		{"expiry adds notify", vault.RotationPolicy{ExpiryTime: "P2Y", Actions: []vault.LifetimeAction{rot("P1Y")}}, false, 2},
		{"lowercase types", vault.RotationPolicy{ExpiryTime: "P1Y", Actions: []vault.LifetimeAction{{Type: "rotate", TimeBeforeExpiry: "P30D"}, {Type: "NOTIFY", TimeBeforeExpiry: "P10D"}}}, false, 2},
		{"expiry too short", vault.RotationPolicy{ExpiryTime: "P27D"}, true, 0},
		{"rotate too soon", vault.RotationPolicy{Actions: []vault.LifetimeAction{rot("P6D")}}, true, 0},
		{"two rotates", vault.RotationPolicy{Actions: []vault.LifetimeAction{rot("P30D"), rot("P60D")}}, true, 0},
		{"both triggers", vault.RotationPolicy{ExpiryTime: "P1Y", Actions: []vault.LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P30D", TimeBeforeExpiry: "P30D"}}}, true, 0},
		{"notify after create", vault.RotationPolicy{Actions: []vault.LifetimeAction{{Type: "Notify", TimeAfterCreate: "P30D"}}}, true, 0},
		{"before expiry without expiry", vault.RotationPolicy{Actions: []vault.LifetimeAction{{Type: "Notify", TimeBeforeExpiry: "P30D"}}}, true, 0},
		{"bad duration", vault.RotationPolicy{Actions: []vault.LifetimeAction{rot("90 days")}}, true, 0},
		{"bad type", vault.RotationPolicy{Actions: []vault.LifetimeAction{{Type: "Explode", TimeAfterCreate: "P30D"}}}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.SetRotationPolicy(e.ctx, t0, "dev", "r", tt.p)
			if tt.wantErr {
				wantErr(t, "SetRotationPolicy", err, vault.ErrInvalid, "")
				return
			}
			if err != nil || len(got.Actions) != tt.actions {
				t.Errorf("SetRotationPolicy = %+v, %v; want %d actions", got, err, tt.actions)
			}
		})
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"c", "A", "b", "D", "e"} {
		e.create(t, n, ecSpec())
	}
	var names []string
	marker := ""
	for i := 0; ; i++ {
		page, err := e.svc.ListKeys(e.ctx, "dev", marker, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range page.Items {
			names = append(names, kv.Name)
		}
		if page.Next == "" {
			break
		}
		if i > 5 {
			t.Fatal("paging does not end")
		}
		marker = page.Next
	}
	if got := strings.Join(names, ","); got != "A,b,c,D,e" {
		t.Errorf("ListKeys pages = %s, want A,b,c,D,e", got)
	}
}

// TestMaterialNeverStoredInPlaintext checks that the store file holds no
// private key bytes: material is sealed before the store sees it.
func TestMaterialNeverStoredInPlaintext(t *testing.T) {
	e := newEnv(t)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ImportKey(e.ctx, t0, "dev", "imp", vault.ImportParams{Spec: keys.Spec{Type: keys.RSA}, Private: priv}); err != nil {
		t.Fatalf("ImportKey: %v", err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecd := ecPriv.D.FillBytes(make([]byte, 32))
	ecx, ecy := ecPriv.X.FillBytes(make([]byte, 32)), ecPriv.Y.FillBytes(make([]byte, 32))
	if _, err := e.svc.ImportKey(e.ctx, t0, "dev", "imp-ec", vault.ImportParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256},
		Private: &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: keys.P256, X: ecx, Y: ecy}, D: secret.New(ecd)}}); err != nil {
		t.Fatalf("ImportKey(EC): %v", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	blob, err := e.svc.BackupKey(e.ctx, "dev", "imp")
	if err != nil {
		t.Fatal(err)
	}
	ecBlob, err := e.svc.BackupKey(e.ctx, "dev", "imp-ec")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"RSA d": priv.D.Bytes(), "RSA p": priv.Primes[0].Bytes(), "RSA q": priv.Primes[1].Bytes(), "RSA PKCS#8": der[len(der)-64:], "EC d": ecd}
	for where, data := range map[string][]byte{"store file": raw, "RSA backup": blob, "EC backup": ecBlob} {
		for name, secretPart := range secrets {
			n := min(32, len(secretPart))
			for _, form := range [][]byte{secretPart[:n], []byte(base64.StdEncoding.EncodeToString(secretPart)[:40]), []byte(base64.RawURLEncoding.EncodeToString(secretPart)[:40])} {
				if bytes.Contains(data, form) {
					t.Errorf("%s contains the %s in plaintext", where, name)
				}
			}
		}
	}
	// And the imported key works.
	_, sig, err := e.svc.Sign(e.ctx, t0, vault.Ref{Vault: "dev", Name: "imp"}, keys.RS256, digest("m"))
	if err != nil || rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest("m"), sig) != nil {
		t.Errorf("Sign with imported key: %v", err)
	}
}

// TestNoHTTPInDomain keeps the domain free of HTTP and concrete backends.
func TestNoHTTPInDomain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net/http" || strings.Contains(dep, "bbolt") || strings.Contains(dep, "/store/embedded") || strings.Contains(dep, "/keys/software") {
			t.Errorf("package vault depends on %s", dep)
		}
	}
}

// TestAssignmentsGoWithTheirObject checks that purging a key and deleting a
// vault remove the role assignments scoped to them, in the same
// transaction, so a later object of the same name inherits no grants.
func TestAssignmentsGoWithTheirObject(t *testing.T) {
	e := newEnv(t, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90}, vault.Vault{Name: "gone", SKU: vault.Premium, RetentionDays: 7})
	put := func(id, scope string) {
		t.Helper()
		err := e.db.Update(e.ctx, func(tx store.Tx) error {
			return tx.PutRoleAssignment(store.RoleAssignment{ID: id, PrincipalID: "p", RoleDefinitionID: "r", Scope: scope})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		var out []string
		e.db.View(e.ctx, func(tx store.Tx) error {
			as, err := tx.RoleAssignments()
			for _, a := range as {
				out = append(out, a.ID)
			}
			return err
		})
		return out
	}
	put("a1", "/")
	put("a2", "/vaults/dev")
	put("a3", "/vaults/dev/keys/K1")
	put("a4", "/vaults/dev/keys/k10")
	put("a5", "/vaults/gone")
	put("a6", "/vaults/gone/keys/x")
	put("a7", "/vaults/gone2")
	e.create(t, "k1", ecSpec())
	e.svc.DeleteKey(e.ctx, t0, "dev", "k1")
	if err := e.svc.PurgeKey(e.ctx, t0, "dev", "k1"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(), ","); got != "a1,a2,a4,a5,a6,a7" {
		t.Errorf("assignments after purging dev/k1 = %s, want a3 gone only", got)
	}
	if err := e.svc.DeleteVault(e.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(), ","); got != "a1,a2,a4,a7" {
		t.Errorf("assignments after deleting vault gone = %s, want a5, a6 gone", got)
	}
	if *e.changed != 2 {
		t.Errorf("OnAccessChanged calls = %d, want 2", *e.changed)
	}
}
