//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/seal"
)

func TestRootKeyInToken(t *testing.T) {
	ctx := context.Background()
	p := provider(t)
	const label = "kw-root-test"
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, err := p.GenerateRootKey(ctx, label, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.GenerateRootKey(ctx, label, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.DestroyRootKey(ctx, label, a.ID())
		_ = p.DestroyRootKey(ctx, label, b.ID())
	})
	all, err := p.RootKeys(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(all))
	for i, k := range all {
		ids[i] = k.ID()
	}
	if i, j := slices.Index(ids, a.ID()), slices.Index(ids, b.ID()); i < 0 || j < 0 || i > j {
		t.Fatalf("RootKeys = %v, want %s before %s", ids, a.ID(), b.ID())
	}

	// The key object is sensitive and never leaves the token.
	err = pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
		hs, err := pkcs11.FindRootKey(m, sh, label, a.ID())
		if err != nil || len(hs) != 1 {
			t.Fatalf("root key objects = %v, %v", hs, err)
		}
		if _, err := m.GetAttributeValue(sh, hs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); err == nil {
			t.Error("CKA_VALUE of the root key is readable")
		}
		attrs, err := m.GetAttributeValue(sh, hs[0], []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_WRAP, nil), p11.NewAttribute(p11.CKA_TOKEN, nil)})
		if err != nil {
			return err
		}
		want := []byte{0, 1, 0, 1}
		for i, at := range attrs {
			if len(at.Value) != 1 || at.Value[0] != want[i] {
				t.Errorf("attribute %#x = %v, want %d", at.Type, at.Value, want[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	ring, err := seal.NewKeyring(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	s := ring.Derive("material")
	rec, err := s.Seal([]byte("software key material"), []byte("v/k/1"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := seal.KeyID(rec); id != a.ID() {
		t.Errorf("record names key %q, want %q", id, a.ID())
	}
	if bytes.Contains(rec, []byte("software key material")) {
		t.Error("sealed record holds the plaintext")
	}
	pt, err := s.Open(rec, []byte("v/k/1"))
	if err != nil || string(pt.Expose()) != "software key material" {
		t.Fatalf("Open = %q, %v", pt.Expose(), err)
	}
	if _, err := s.Open(rec, []byte("v/k/2")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Open with other aad = %v, want ErrOpen", err)
	}
	if _, err := ring.Derive("backup").Open(rec, []byte("v/k/1")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Open under another purpose = %v, want ErrOpen", err)
	}
	rec[len(rec)-1] ^= 1
	if _, err := s.Open(rec, []byte("v/k/1")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Open of a modified record = %v, want ErrOpen", err)
	}
	rec[len(rec)-1] ^= 1

	// File keys and token keys mix in one keyring (a rotation from a file
	// key to the HSM); the newest key is active.
	fileKey, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := seal.NewKeyring(nil, fileKey, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mixed.Derive("material").Open(rec, []byte("v/k/1")); err != nil {
		t.Fatalf("a mixed keyring does not open a token record: %v", err)
	}
	if mixed.Active() != b.ID() || !mixed.Stale(rec) {
		t.Errorf("active %s stale %v", mixed.Active(), mixed.Stale(rec))
	}

	if err := p.DestroyRootKey(ctx, label, a.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(rec, []byte("v/k/1")); err == nil {
		t.Fatal("a record opens after its root key was destroyed")
	}
	if err := p.DestroyRootKey(ctx, label, a.ID()); err != nil {
		t.Errorf("destroying a destroyed key = %v, want nil", err)
	}
	if err := p.DestroyRootKey(ctx, label, "file-0123"); err == nil {
		t.Error("DestroyRootKey of a file key id succeeded")
	}
}

// TestRootKeyOrderAndLabels checks that a key made while the clock is
// behind the newest key still sorts after it (it becomes the active key),
// and that root keys of another label (another deployment) are invisible.
func TestRootKeyOrderAndLabels(t *testing.T) {
	ctx := context.Background()
	p := provider(t)
	const mine, theirs = "kw-root-order", "kw-root-other"
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, err := p.GenerateRootKey(ctx, mine, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.GenerateRootKey(ctx, mine, now.Add(-time.Hour)) // the clock stepped back
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.GenerateRootKey(ctx, theirs, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.DestroyRootKey(ctx, mine, a.ID())
		_ = p.DestroyRootKey(ctx, mine, b.ID())
		_ = p.DestroyRootKey(ctx, theirs, other.ID())
	})
	ks, err := p.RootKeys(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].ID() != a.ID() || ks[1].ID() != b.ID() {
		ids := []string{}
		for _, k := range ks {
			ids = append(ids, k.ID())
		}
		t.Fatalf("RootKeys(%s) = %v, want [%s %s]", mine, ids, a.ID(), b.ID())
	}
	if err := b.SelfTest(); err != nil {
		t.Fatal(err)
	}
}
