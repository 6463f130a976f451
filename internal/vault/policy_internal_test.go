package vault

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

func TestKeyPolicyEncoding(t *testing.T) {
	full := KeyPolicy{MinRSASize: 4096, AllowedCurves: []keys.Curve{keys.P256, keys.P521}, AllowedKeyTypes: []string{"RSA-HSM", "EC-HSM"},
		RequireExpiry: true, MaxValidity: "P2Y", OnePurposePerKey: true}
	b, err := encodeKeyPolicy(full)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeKeyPolicy(b)
	if err != nil || !cmp.Equal(got, full) {
		t.Errorf("decodeKeyPolicy(encodeKeyPolicy(%+v)) = %+v, %v", full, got, err)
	}
	if b, err := encodeKeyPolicy(KeyPolicy{MinRSASize: 2048}); b != nil || err != nil {
		t.Errorf("encodeKeyPolicy(no rules) = %q, %v; want nil, nil", b, err)
	}

	tests := []struct {
		name   string
		stored string
		want   KeyPolicy
		fails  bool
	}{
		{"none", ``, KeyPolicy{}, false},
		{"null", `null`, KeyPolicy{}, false},
		{"placeholder without a version", `{"minimumRsaSize":3072}`, KeyPolicy{}, false},
		{"version 1", `{"v":1,"minRsaSize":3072,"allowedCurves":["P-384"]}`, KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{keys.P384}}, false},
		{"future version", `{"v":2,"minRsaSize":3072}`, KeyPolicy{}, true},
		{"unknown rule", `{"v":1,"maxKeysPerVault":3}`, KeyPolicy{}, true},
		{"invalid rule", `{"v":1,"minRsaSize":1024}`, KeyPolicy{}, true},
		{"not JSON", "\x00\x01\xfe", KeyPolicy{}, true},
		{"array", `[1]`, KeyPolicy{}, true},
	}
	for _, tt := range tests {
		got, err := decodeKeyPolicy([]byte(tt.stored))
		if (err != nil) != tt.fails || !cmp.Equal(got, tt.want) {
			t.Errorf("decodeKeyPolicy(%s) = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.fails)
		}
	}
}

// TestKeyPolicyUnreadable checks that a stored policy the server cannot read
// refuses new keys (fail closed) but leaves reads alone, until the policy is
// set again.
func TestKeyPolicyUnreadable(t *testing.T) {
	ctx := t.Context()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Store: db, Material: root.Derive("material"), Backup: root.Derive("backup"), Software: software.New(rand.Reader)})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.CreateVault(ctx, now, Vault{Name: "pay", SKU: Premium}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, now, "pay", "old", CreateParams{Spec: keys.Spec{Type: keys.EC}}); err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		v, err := tx.Vault("pay")
		if err != nil {
			return err
		}
		v.KeyPolicy = []byte(`{"v":9}`)
		return tx.PutVault(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.forgetVault("pay")

	_, err = s.CreateKey(ctx, now, "pay", "new", CreateParams{Spec: keys.Spec{Type: keys.EC}})
	var ve *Error
	if err == nil || errors.As(err, &ve) {
		t.Errorf("CreateKey under an unreadable policy = %v, want an internal error", err)
	}
	if _, err := s.GetKey(ctx, now, Ref{Vault: "pay", Name: "old"}); err != nil {
		t.Errorf("GetKey under an unreadable policy = %v", err)
	}
	if _, err := s.UpdateVault(ctx, now, "pay", VaultUpdate{KeyPolicy: &KeyPolicy{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, now, "pay", "new", CreateParams{Spec: keys.Spec{Type: keys.EC}}); err != nil {
		t.Errorf("CreateKey after the policy was set again = %v", err)
	}
}
