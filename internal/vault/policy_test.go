package vault_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// wantPolicyErr checks that err is the KeyPolicyViolation refusal of rule in
// vault "pay": 400-kind, the inner code, and a message naming the vault and
// the rule.
func wantPolicyErr(t *testing.T, what string, err error, rule string) {
	t.Helper()
	var ve *vault.Error
	if !errors.As(err, &ve) || !errors.Is(err, vault.ErrInvalid) || ve.Code != "KeyPolicyViolation" {
		t.Errorf("%s = %v, want ErrInvalid with code KeyPolicyViolation", what, err)
		return
	}
	if !strings.HasPrefix(ve.Msg, "Key policy of vault pay: ") || !strings.Contains(ve.Msg, "("+rule+").") {
		t.Errorf("%s message = %q, want it to name vault pay and the rule (%s)", what, ve.Msg, rule)
	}
}

// checkPolicyResult checks err against rule: "" wants success.
func checkPolicyResult(t *testing.T, what string, err error, rule string) {
	t.Helper()
	if rule == "" {
		if err != nil {
			t.Errorf("%s = %v, want success", what, err)
		}
		return
	}
	wantPolicyErr(t, what, err, rule)
}

// newPolicyEnv returns an env with the premium vaults "dev" (no policy) and
// "pay" (policy p).
func newPolicyEnv(t *testing.T, p vault.KeyPolicy) *env {
	t.Helper()
	return newEnv(t, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 90},
		vault.Vault{Name: "pay", SKU: vault.Premium, RetentionDays: 90, KeyPolicy: p})
}

func ops(o ...vault.Operation) []vault.Operation { return o }

var (
	signOps    = ops(vault.OpSign, vault.OpVerify)
	encryptOps = ops(vault.OpEncrypt, vault.OpDecrypt, vault.OpWrapKey, vault.OpUnwrapKey)
	mixedOps   = ops(vault.OpEncrypt, vault.OpSign)
)

func TestKeyPolicyMessage(t *testing.T) {
	e := newEnv(t, vault.Vault{Name: "payments", SKU: vault.Standard, RetentionDays: 90, KeyPolicy: vault.KeyPolicy{MinRSASize: 3072}})
	_, err := e.svc.CreateKey(e.ctx, t0, "payments", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}})
	var ve *vault.Error
	const want = "Key policy of vault payments: RSA keys must be at least 3072 bits; this key has 2048 (minRsaSize)."
	if !errors.As(err, &ve) || ve.Msg != want || ve.Code != "KeyPolicyViolation" {
		t.Errorf("CreateKey(RSA 2048) = %v, want %q", err, want)
	}
}

func TestKeyPolicyCreate(t *testing.T) {
	year := t0.AddDate(1, 0, 0)
	tests := []struct {
		name   string
		policy vault.KeyPolicy
		p      vault.CreateParams
		rule   string // "" accepts
	}{
		{"RSA below minimum", vault.KeyPolicy{MinRSASize: 3072}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Size: 2048}}, "minRsaSize"},
		{"RSA default below minimum", vault.KeyPolicy{MinRSASize: 3072}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}}, "minRsaSize"},
		{"RSA at minimum", vault.KeyPolicy{MinRSASize: 3072}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Size: 3072}}, ""},
		{"EC under RSA minimum", vault.KeyPolicy{MinRSASize: 4096}, ecSpec(), ""},
		{"type not allowed", vault.KeyPolicy{AllowedKeyTypes: []string{"EC"}}, rsaSpec(), "allowedKeyTypes"},
		{"software type when HSM required", vault.KeyPolicy{AllowedKeyTypes: []string{"RSA-HSM", "EC-HSM"}}, ecSpec(), "allowedKeyTypes"},
		{"type allowed", vault.KeyPolicy{AllowedKeyTypes: []string{"EC", "RSA"}}, ecSpec(), ""},
		{"curve not allowed", vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P384}}, ecSpec(), "allowedCurves"},
		{"curve allowed", vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P384}}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P384}}, ""},
		{"RSA under curve rule", vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P384}}, rsaSpec(), ""},
		{"no expiry", vault.KeyPolicy{RequireExpiry: true}, ecSpec(), "requireExpiry"},
		{"expiry", vault.KeyPolicy{RequireExpiry: true}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: vault.Attributes{Expires: timep(year)}}, ""},
		{"too long", vault.KeyPolicy{MaxValidity: "P1Y"}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: vault.Attributes{Expires: timep(year.Add(time.Second))}}, "maxValidity"},
		{"exactly the maximum", vault.KeyPolicy{MaxValidity: "P1Y"}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: vault.Attributes{Expires: timep(year)}}, ""},
		{"window from nbf", vault.KeyPolicy{MaxValidity: "P1Y"}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC},
			Attributes: vault.Attributes{NotBefore: timep(t0.AddDate(0, 6, 0)), Expires: timep(year.AddDate(0, 5, 0))}}, ""},
		{"window from nbf too long", vault.KeyPolicy{MaxValidity: "P90D"}, vault.CreateParams{Spec: keys.Spec{Type: keys.EC},
			Attributes: vault.Attributes{NotBefore: timep(t0.AddDate(0, 6, 0)), Expires: timep(t0.AddDate(0, 9, 0))}}, "maxValidity"},
		{"maximum validity without expiry", vault.KeyPolicy{MaxValidity: "P1Y"}, ecSpec(), "maxValidity"},
		{"RSA default ops", vault.KeyPolicy{OnePurposePerKey: true}, rsaSpec(), "onePurposePerKey"},
		{"mixed ops", vault.KeyPolicy{OnePurposePerKey: true}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: mixedOps}, "onePurposePerKey"},
		{"signing ops", vault.KeyPolicy{OnePurposePerKey: true}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: signOps}, ""},
		{"encryption ops", vault.KeyPolicy{OnePurposePerKey: true}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: encryptOps}, ""},
		{"EC default ops", vault.KeyPolicy{OnePurposePerKey: true}, ecSpec(), ""},
		{"import op only", vault.KeyPolicy{OnePurposePerKey: true}, vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: ops(vault.OpImport)}, ""},
		{"every rule met", vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{keys.P256}, AllowedKeyTypes: []string{"RSA", "EC"},
			RequireExpiry: true, MaxValidity: "P2Y", OnePurposePerKey: true},
			vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Size: 3072}, Ops: encryptOps, Attributes: vault.Attributes{Expires: timep(year)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPolicyEnv(t, tt.policy)
			_, err := e.svc.CreateKey(e.ctx, t0, "pay", "k", tt.p)
			checkPolicyResult(t, "CreateKey", err, tt.rule)
			if _, err := e.svc.CreateKey(e.ctx, t0, "dev", "k", tt.p); err != nil {
				t.Errorf("CreateKey in the vault without a policy = %v", err)
			}
		})
	}
}

func TestKeyPolicyImport(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ecKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// ecPriv returns a fresh copy: the import takes its D.
	ecPriv := func() *keys.ECPrivateKey {
		return &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: keys.P256, X: pub[1:33], Y: pub[33:]}, D: secret.New(d)}
	}
	rsaImport := func(o []vault.Operation, a vault.Attributes) vault.ImportParams {
		return vault.ImportParams{Spec: keys.Spec{Type: keys.RSA}, Private: rsaKey, Ops: o, Attributes: a}
	}
	ecImport := func(a vault.Attributes) vault.ImportParams {
		return vault.ImportParams{Spec: keys.Spec{Type: keys.EC, Curve: keys.P256}, Private: ecPriv(), Attributes: a}
	}
	exp := vault.Attributes{Expires: timep(t0.AddDate(0, 6, 0))}
	tests := []struct {
		name   string
		policy vault.KeyPolicy
		p      func() vault.ImportParams
		rule   string
	}{
		{"RSA below minimum", vault.KeyPolicy{MinRSASize: 3072}, func() vault.ImportParams { return rsaImport(nil, vault.Attributes{}) }, "minRsaSize"},
		{"RSA at minimum", vault.KeyPolicy{MinRSASize: 2048}, func() vault.ImportParams { return rsaImport(nil, vault.Attributes{}) }, ""},
		{"type not allowed", vault.KeyPolicy{AllowedKeyTypes: []string{"RSA"}}, func() vault.ImportParams { return ecImport(vault.Attributes{}) }, "allowedKeyTypes"},
		{"curve not allowed", vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P521}}, func() vault.ImportParams { return ecImport(vault.Attributes{}) }, "allowedCurves"},
		{"curve allowed", vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P256}}, func() vault.ImportParams { return ecImport(vault.Attributes{}) }, ""},
		{"no expiry", vault.KeyPolicy{RequireExpiry: true}, func() vault.ImportParams { return ecImport(vault.Attributes{}) }, "requireExpiry"},
		{"expiry", vault.KeyPolicy{RequireExpiry: true}, func() vault.ImportParams { return ecImport(exp) }, ""},
		{"too long", vault.KeyPolicy{MaxValidity: "P3M"}, func() vault.ImportParams { return ecImport(exp) }, "maxValidity"},
		{"within the maximum", vault.KeyPolicy{MaxValidity: "P6M"}, func() vault.ImportParams { return ecImport(exp) }, ""},
		{"RSA default ops", vault.KeyPolicy{OnePurposePerKey: true}, func() vault.ImportParams { return rsaImport(nil, vault.Attributes{}) }, "onePurposePerKey"},
		{"mixed ops", vault.KeyPolicy{OnePurposePerKey: true}, func() vault.ImportParams { return rsaImport(mixedOps, vault.Attributes{}) }, "onePurposePerKey"},
		{"signing ops", vault.KeyPolicy{OnePurposePerKey: true}, func() vault.ImportParams { return rsaImport(signOps, vault.Attributes{}) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPolicyEnv(t, tt.policy)
			_, err := e.svc.ImportKey(e.ctx, t0, "pay", "k", tt.p())
			checkPolicyResult(t, "ImportKey", err, tt.rule)
			if _, err := e.svc.ImportKey(e.ctx, t0, "dev", "k", tt.p()); err != nil {
				t.Errorf("ImportKey in the vault without a policy = %v", err)
			}
		})
	}
}

func TestKeyPolicyUpdate(t *testing.T) {
	policy := vault.KeyPolicy{RequireExpiry: true, MaxValidity: "P1Y", OnePurposePerKey: true}
	tests := []struct {
		name string
		p    vault.UpdateParams
		rule string
	}{
		{"tags only", vault.UpdateParams{Tags: map[string]string{"a": "b"}}, ""},
		{"disable", vault.UpdateParams{Attributes: vault.Attributes{Enabled: boolp(false)}}, ""},
		{"same ops in another order", vault.UpdateParams{Ops: ops(vault.OpVerify, vault.OpUnwrapKey, vault.OpWrapKey, vault.OpDecrypt, vault.OpEncrypt, vault.OpSign)}, ""},
		{"mixed ops", vault.UpdateParams{Ops: mixedOps}, "onePurposePerKey"},
		{"signing ops", vault.UpdateParams{Ops: signOps}, ""},
		{"nbf without exp", vault.UpdateParams{Attributes: vault.Attributes{NotBefore: timep(t0)}}, "requireExpiry"},
		{"exp too late", vault.UpdateParams{Attributes: vault.Attributes{Expires: timep(t0.AddDate(2, 0, 0))}}, "maxValidity"},
		{"exp within the maximum", vault.UpdateParams{Attributes: vault.Attributes{Expires: timep(t0.AddDate(0, 11, 0))}}, ""},
		{"window from nbf", vault.UpdateParams{Attributes: vault.Attributes{NotBefore: timep(t0.AddDate(1, 0, 0)), Expires: timep(t0.AddDate(1, 11, 0))}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The key predates the policy: it has the six RSA ops and no
			// expiry, and keeps them until an update changes them.
			e := newPolicyEnv(t, vault.KeyPolicy{})
			if _, err := e.svc.CreateKey(e.ctx, t0, "pay", "k", rsaSpec()); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UpdateVault(e.ctx, t0, "pay", vault.VaultUpdate{KeyPolicy: &policy}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.UpdateKey(e.ctx, t0, vault.Ref{Vault: "pay", Name: "k"}, tt.p)
			checkPolicyResult(t, "UpdateKey", err, tt.rule)
		})
	}
}

func TestKeyPolicyRotation(t *testing.T) {
	rotate := []vault.LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P30D"}}
	tests := []struct {
		name     string
		key      vault.CreateParams
		rotation *vault.RotationPolicy // set before the key policy
		policy   vault.KeyPolicy
		rule     string
	}{
		{"no expiryTime", ecSpec(), nil, vault.KeyPolicy{RequireExpiry: true}, "requireExpiry"},
		{"no expiryTime under maxValidity", ecSpec(), nil, vault.KeyPolicy{MaxValidity: "P1Y"}, "maxValidity"},
		{"expiryTime", ecSpec(), &vault.RotationPolicy{ExpiryTime: "P90D"}, vault.KeyPolicy{RequireExpiry: true}, ""},
		{"expiryTime too long", ecSpec(), &vault.RotationPolicy{ExpiryTime: "P2Y"}, vault.KeyPolicy{MaxValidity: "P1Y"}, "maxValidity"},
		{"expiryTime at the maximum", ecSpec(), &vault.RotationPolicy{ExpiryTime: "P12M"}, vault.KeyPolicy{MaxValidity: "P1Y"}, ""},
		{"RSA default ops", rsaSpec(), nil, vault.KeyPolicy{OnePurposePerKey: true}, "onePurposePerKey"},
		{"RSA signing ops", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA}, Ops: signOps}, nil, vault.KeyPolicy{OnePurposePerKey: true}, ""},
		{"size raised", rsaSpec(), nil, vault.KeyPolicy{MinRSASize: 3072}, "minRsaSize"},
		{"curve removed", ecSpec(), nil, vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P384}}, "allowedCurves"},
		{"type removed", ecSpec(), nil, vault.KeyPolicy{AllowedKeyTypes: []string{"RSA"}}, "allowedKeyTypes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPolicyEnv(t, vault.KeyPolicy{})
			if _, err := e.svc.CreateKey(e.ctx, t0, "pay", "k", tt.key); err != nil {
				t.Fatal(err)
			}
			if tt.rotation != nil {
				if _, err := e.svc.SetRotationPolicy(e.ctx, t0, "pay", "k", *tt.rotation); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.svc.UpdateVault(e.ctx, t0, "pay", vault.VaultUpdate{KeyPolicy: &tt.policy}); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(time.Hour)
			kv, err := e.svc.RotateKey(e.ctx, now, "pay", "k")
			checkPolicyResult(t, "RotateKey", err, tt.rule)
			if err == nil && tt.rotation != nil && (kv.Expires == nil || kv.Expires.After(now.AddDate(1, 0, 0))) {
				t.Errorf("RotateKey exp = %v, want within a year of %v", kv.Expires, now)
			}
		})
	}

	t.Run("SetRotationPolicy", func(t *testing.T) {
		e := newPolicyEnv(t, vault.KeyPolicy{RequireExpiry: true, MaxValidity: "P1Y"})
		if _, err := e.svc.CreateKey(e.ctx, t0, "pay", "k", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: vault.Attributes{Expires: timep(t0.AddDate(0, 6, 0))}}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name string
			p    vault.RotationPolicy
			rule string
		}{
			{"expiryTime too long", vault.RotationPolicy{ExpiryTime: "P2Y"}, "maxValidity"},
			{"Rotate without expiryTime", vault.RotationPolicy{Actions: rotate}, "requireExpiry"},
			{"Rotate with expiryTime", vault.RotationPolicy{Actions: rotate, ExpiryTime: "P1Y"}, ""},
		}
		for _, st := range steps {
			_, err := e.svc.SetRotationPolicy(e.ctx, t0, "pay", "k", st.p)
			checkPolicyResult(t, "SetRotationPolicy("+st.name+")", err, st.rule)
		}
	})
}

func TestKeyPolicyRestore(t *testing.T) {
	exp := vault.Attributes{Expires: timep(t0.AddDate(0, 6, 0))}
	tests := []struct {
		name   string
		key    vault.CreateParams
		policy vault.KeyPolicy
		rule   string
	}{
		{"RSA below minimum", rsaSpec(), vault.KeyPolicy{MinRSASize: 4096}, "minRsaSize"},
		{"type not allowed", ecSpec(), vault.KeyPolicy{AllowedKeyTypes: []string{"RSA"}}, "allowedKeyTypes"},
		{"curve not allowed", ecSpec(), vault.KeyPolicy{AllowedCurves: []keys.Curve{keys.P521}}, "allowedCurves"},
		{"no expiry", ecSpec(), vault.KeyPolicy{RequireExpiry: true}, "requireExpiry"},
		{"too long", vault.CreateParams{Spec: keys.Spec{Type: keys.EC}, Attributes: exp}, vault.KeyPolicy{MaxValidity: "P3M"}, "maxValidity"},
		{"mixed ops", rsaSpec(), vault.KeyPolicy{OnePurposePerKey: true}, "onePurposePerKey"},
		{"compliant", vault.CreateParams{Spec: keys.Spec{Type: keys.RSA, Size: 3072}, Ops: signOps, Attributes: exp},
			vault.KeyPolicy{MinRSASize: 3072, AllowedKeyTypes: []string{"RSA"}, RequireExpiry: true, MaxValidity: "P6M", OnePurposePerKey: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPolicyEnv(t, tt.policy)
			if _, err := e.svc.CreateKey(e.ctx, t0, "dev", "k", tt.key); err != nil {
				t.Fatal(err)
			}
			blob, err := e.svc.BackupKey(e.ctx, "dev", "k")
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.RestoreKey(e.ctx, t0, "pay", blob)
			checkPolicyResult(t, "RestoreKey", err, tt.rule)
			if tt.rule != "" {
				if _, err := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "pay", Name: "k"}); !errors.Is(err, vault.ErrNotFound) {
					t.Errorf("GetKey after a refused restore = %v, want ErrNotFound", err)
				}
			}
		})
	}
}

// TestKeyPolicyExistingVersions checks that a stricter policy leaves the
// versions it finds alone: they stay readable and usable.
func TestKeyPolicyExistingVersions(t *testing.T) {
	e := newPolicyEnv(t, vault.KeyPolicy{})
	kv, err := e.svc.CreateKey(e.ctx, t0, "pay", "k", rsaSpec())
	if err != nil {
		t.Fatal(err)
	}
	strict := vault.KeyPolicy{MinRSASize: 4096, AllowedKeyTypes: []string{"EC"}, RequireExpiry: true, OnePurposePerKey: true}
	if _, err := e.svc.UpdateVault(e.ctx, t0, "pay", vault.VaultUpdate{KeyPolicy: &strict}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.GetKey(e.ctx, t0, vault.Ref{Vault: "pay", Name: "k"}); err != nil || got.Version != kv.Version {
		t.Errorf("GetKey under a stricter policy = %v, %v", got.Version, err)
	}
	if _, err := e.svc.UpdateKey(e.ctx, t0, vault.Ref{Vault: "pay", Name: "k"}, vault.UpdateParams{Tags: map[string]string{"x": "y"}}); err != nil {
		t.Errorf("UpdateKey(tags) under a stricter policy = %v", err)
	}
	if _, err := e.svc.BackupKey(e.ctx, "pay", "k"); err != nil {
		t.Errorf("BackupKey under a stricter policy = %v", err)
	}
}

func TestKeyPolicyNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   vault.KeyPolicy
		want vault.KeyPolicy
		bad  string // a substring of the error; "" accepts
	}{
		{"zero", vault.KeyPolicy{}, vault.KeyPolicy{}, ""},
		{"canonical spellings", vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{"p-384", "P-384", "p-256k"},
			AllowedKeyTypes: []string{"ec-hsm", "OCT-HSM", "rsa"}, MaxValidity: "p1y6m", RequireExpiry: true, OnePurposePerKey: true},
			vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{keys.P384, keys.P256K},
				AllowedKeyTypes: []string{"EC-HSM", "oct-HSM", "RSA"}, MaxValidity: "P1Y6M", RequireExpiry: true, OnePurposePerKey: true}, ""},
		{"RSA size 1024", vault.KeyPolicy{MinRSASize: 1024}, vault.KeyPolicy{}, "minRsaSize 1024"},
		{"RSA size 2500", vault.KeyPolicy{MinRSASize: 2500}, vault.KeyPolicy{}, "minRsaSize 2500"},
		{"unknown curve", vault.KeyPolicy{AllowedCurves: []keys.Curve{"P-224"}}, vault.KeyPolicy{}, "P-224"},
		{"unknown type", vault.KeyPolicy{AllowedKeyTypes: []string{"oct"}}, vault.KeyPolicy{}, "'oct'"},
		{"bad duration", vault.KeyPolicy{MaxValidity: "1 year"}, vault.KeyPolicy{}, "maxValidity '1 year'"},
		{"zero duration", vault.KeyPolicy{MaxValidity: "P0D"}, vault.KeyPolicy{}, "longer than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if tt.bad != "" {
				if !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), tt.bad) {
					t.Errorf("Normalize(%+v) = %v, want ErrInvalid naming %q", tt.in, err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%+v) = %v", tt.in, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Normalize (-want +got):\n%s", d)
			}
		})
	}

	// The vault admin methods store the normalized policy and refuse a bad one.
	e, _ := newAdminEnv(t)
	_, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "pay", SKU: vault.Premium, KeyPolicy: vault.KeyPolicy{AllowedCurves: []keys.Curve{"P-192"}}})
	wantErr(t, "CreateVault(bad key policy)", err, vault.ErrInvalid, "")
	if _, err := e.svc.Vault(e.ctx, "pay"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Vault after a refused CreateVault = %v, want ErrNotFound", err)
	}
	v, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "pay", SKU: vault.Premium, KeyPolicy: vault.KeyPolicy{AllowedKeyTypes: []string{"ec"}, MinRSASize: 2048}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (vault.KeyPolicy{AllowedKeyTypes: []string{"EC"}, MinRSASize: 2048}); !cmp.Equal(v.KeyPolicy, want) {
		t.Errorf("CreateVault KeyPolicy = %+v, want %+v", v.KeyPolicy, want)
	}
}
