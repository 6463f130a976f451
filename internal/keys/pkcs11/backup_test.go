//go:build cgo

package pkcs11_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
)

func TestBackupRoundTrip(t *testing.T) {
	p := provider(t)
	tests := []struct {
		name  string
		spec  keys.Spec
		owner string // restore owner
	}{
		{"RSA-2048", keys.Spec{Type: keys.RSA, Size: 2048, Owner: "backup"}, "backup"},
		{"EC P-256", keys.Spec{Type: keys.EC, Curve: keys.P256, Owner: "backup"}, "backup"},
		{"EC P-384", keys.Spec{Type: keys.EC, Curve: keys.P384, Owner: "backup"}, "backup"},
		{"oct-256", keys.Spec{Type: keys.Oct, Size: 256, Owner: "backup"}, "backup"},
		{"RSA-2048 other owner", keys.Spec{Type: keys.RSA, Size: 2048, Owner: "backup"}, "backup-other"},
		{"EC P-256 other owner", keys.Spec{Type: keys.EC, Curve: keys.P256, Owner: "backup"}, "backup-other"},
		{"oct-256 other owner", keys.Spec{Type: keys.Oct, Size: 256, Owner: "backup"}, "backup-other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, _ := generated(t, tt.spec)
			blob, err := p.ExportWrapped(ctx, orig)
			if err != nil {
				t.Fatalf("ExportWrapped() = %v", err)
			}
			if !strings.HasPrefix(string(blob), "kw-pkcs11-wrapped:v1\n") {
				t.Fatalf("ExportWrapped() = %.40q, want a kw-pkcs11-wrapped:v1 blob", blob)
			}
			spec := keys.Spec{Type: tt.spec.Type, Protection: keys.HSM, Owner: tt.owner}
			m, err := p.ImportWrapped(ctx, spec, blob)
			if err != nil {
				t.Fatalf("ImportWrapped() = %v", err)
			}
			t.Cleanup(func() { _ = p.Destroy(ctx, m) })
			if m.Spec.Owner != tt.owner || m.Spec.Protection != keys.HSM || m.Spec.Size != orig.Spec.Size || m.Spec.Curve != orig.Spec.Curve {
				t.Errorf("ImportWrapped().Spec = %+v, want the original's %+v with owner %s", m.Spec, orig.Spec, tt.owner)
			}
			if bytes.Equal(m.Private.Expose(), orig.Private.Expose()) {
				t.Errorf("ImportWrapped() returned the original's reference, want new objects")
			}
			if !strings.Contains(string(m.Private.Expose()), ":"+tt.owner) {
				t.Errorf("ImportWrapped() reference %q does not name owner %s", m.Private.Expose(), tt.owner)
			}
			restored, err := p.Load(ctx, m)
			if err != nil {
				t.Fatalf("Load(restored) = %v", err)
			}
			other := m
			other.Spec.Owner = "not-" + tt.owner
			if _, err := p.Load(ctx, other); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("Load(restored, another owner) = %v, want ErrCorrupt", err)
			}
			origKey, err := p.Load(ctx, orig)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.spec.Type {
			case keys.RSA, keys.EC:
				alg := keys.RS256
				if tt.spec.Type == keys.EC {
					alg = map[keys.Curve]keys.SignatureAlgorithm{keys.P256: keys.ES256, keys.P384: keys.ES384}[tt.spec.Curve]
				}
				d := digest(alg)
				sig, err := restored.Sign(ctx, alg, d)
				if err != nil {
					t.Fatalf("Sign(restored) = %v", err)
				}
				if ok, err := keys.VerifyPublic(orig.Public, alg, d, sig); err != nil || !ok {
					t.Errorf("VerifyPublic(original public key, restored signature) = %v, %v; want true", ok, err)
				}
				if tt.spec.Type == keys.RSA {
					out, err := origKey.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: []byte("backup")})
					if err != nil {
						t.Fatal(err)
					}
					got, err := restored.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: out.Value})
					if err != nil || string(got.Expose()) != "backup" {
						t.Errorf("Decrypt(restored) = %q, %v; want backup", got.Expose(), err)
					}
				}
			case keys.Oct:
				out, err := origKey.Encrypt(ctx, keys.CipherInput{Algorithm: keys.A256GCM, Value: []byte("backup")})
				if err != nil {
					t.Fatal(err)
				}
				got, err := restored.Decrypt(ctx, keys.CipherInput{Algorithm: keys.A256GCM, Value: out.Value, IV: out.IV, Tag: out.Tag})
				if err != nil || string(got.Expose()) != "backup" {
					t.Errorf("Decrypt(restored, original's ciphertext) = %q, %v; want backup", got.Expose(), err)
				}
			}
		})
	}
}

func TestBackupRefusesTamperedBlob(t *testing.T) {
	p := provider(t)
	for _, spec := range []keys.Spec{
		{Type: keys.RSA, Size: 2048, Owner: "backup"},
		{Type: keys.EC, Curve: keys.P256, Owner: "backup"},
		{Type: keys.Oct, Size: 256, Owner: "backup"},
	} {
		t.Run(string(spec.Type), func(t *testing.T) {
			orig, _ := generated(t, spec)
			blob, err := p.ExportWrapped(ctx, orig)
			if err != nil {
				t.Fatalf("ExportWrapped() = %v", err)
			}
			restoreSpec := keys.Spec{Type: spec.Type, Protection: keys.HSM, Owner: "tamper"}
			// Flip one bit in the wrapped key: find its base64 in the JSON
			// and alter a character in the middle.
			i := bytes.Index(blob, []byte(`"wrapped":"`)) + len(`"wrapped":"`) + 20
			tampered := bytes.Clone(blob)
			if tampered[i] == 'A' {
				tampered[i] = 'B'
			} else {
				tampered[i] = 'A'
			}
			cases := map[string][]byte{
				"wrapped key altered": tampered,
				"truncated":           blob[:len(blob)-10],
				"no magic":            blob[5:],
			}
			if spec.Type != keys.Oct {
				// The public key of another key of the same shape.
				other, _ := generated(t, keys.Spec{Type: spec.Type, Size: spec.Size, Curve: spec.Curve, Owner: "backup-other-pub"})
				otherBlob, err := p.ExportWrapped(ctx, other)
				if err != nil {
					t.Fatal(err)
				}
				cases["public key swapped"] = swapField(t, blob, otherBlob, "public")
			}
			for name, in := range cases {
				if m, err := p.ImportWrapped(ctx, restoreSpec, in); !errors.Is(err, keys.ErrCorrupt) {
					t.Errorf("ImportWrapped(%s) = %v, %v; want ErrCorrupt", name, m.Spec, err)
					if err == nil {
						_ = p.Destroy(ctx, m)
					}
				}
			}
			wrongType := keys.Spec{Type: keys.Oct, Protection: keys.HSM, Owner: "tamper"}
			if spec.Type == keys.Oct {
				wrongType.Type = keys.RSA
			}
			if _, err := p.ImportWrapped(ctx, wrongType, blob); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("ImportWrapped(wrong type) = %v, want ErrCorrupt", err)
			}
		})
	}
	// Nothing the refused restores made is left in the token.
	if n := countObjects(t, p, "kw/tamper/"); n != 0 {
		t.Errorf("token objects labelled kw/tamper/ after refused restores = %d, want 0", n)
	}
}

// TestBackupUnwrapOnlyKEK checks that a key-exchange key restored with
// UnwrapOnly is unwrap-only in the token again, is checked without a
// signature (it cannot sign), still unwraps transfer blobs, and that a
// blob whose public key is another key's is refused.
func TestBackupUnwrapOnlyKEK(t *testing.T) {
	p := provider(t)
	kekM, kekPub := transferKEK(t, 2048)
	blob, err := p.ExportWrapped(ctx, kekM)
	if err != nil {
		t.Fatalf("ExportWrapped(KEK) = %v", err)
	}
	spec := keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "backup-kek", UnwrapOnly: true}
	m, err := p.ImportWrapped(ctx, spec, blob)
	if err != nil {
		t.Fatalf("ImportWrapped(KEK, UnwrapOnly) = %v", err)
	}
	t.Cleanup(func() { _ = p.Destroy(ctx, m) })
	k, err := p.Load(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	checkUnwrapOnly(t, p, k)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	in, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "byok-in"}, m, wrapFor(t, kekPub, rsaKey))
	if err != nil {
		t.Fatalf("ImportTransfer(under the restored KEK) = %v", err)
	}
	_ = p.Destroy(ctx, in)

	// The public key of another KEK: the unwrap check fails.
	other, _ := generated(t, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "backup-other-pub", UnwrapOnly: true})
	otherBlob, err := p.ExportWrapped(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	spec.Owner = "tamper-kek"
	if m, err := p.ImportWrapped(ctx, spec, swapField(t, blob, otherBlob, "public")); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("ImportWrapped(KEK, public key swapped) = %v, %v; want ErrCorrupt", m.Spec, err)
		if err == nil {
			_ = p.Destroy(ctx, m)
		}
	}
	if n := countObjects(t, p, "kw/tamper-kek/"); n != 0 {
		t.Errorf("token objects labelled kw/tamper-kek/ after the refused restore = %d, want 0", n)
	}
}

// TestImportWrappedLeftovers checks that a refused restore whose objects
// cannot be destroyed says so beside the refusal, which still decides the
// answer.
func TestImportWrappedLeftovers(t *testing.T) {
	provider(t) // the shared provider keeps the module initialized
	tm := &transferModule{}
	p, err := pkcs11.OpenWith(softhsmtest.New(t), func(m pkcs11.Module) pkcs11.Module { tm.Module = m; return tm })
	if err != nil {
		t.Fatalf("OpenWith() = %v", err)
	}
	defer p.Close()
	orig, err := p.Generate(ctx, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy(ctx, orig)
	other, err := p.Generate(ctx, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy(ctx, other)
	blob, err := p.ExportWrapped(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	otherBlob, err := p.ExportWrapped(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	tm.failDestroy.Store(true)
	_, err = p.ImportWrapped(ctx, keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "backup-leftover"}, swapField(t, blob, otherBlob, "public"))
	tm.failDestroy.Store(false)
	var le *keys.LeftoverError
	if !errors.Is(err, keys.ErrCorrupt) || !errors.As(err, &le) {
		t.Errorf("ImportWrapped(public key swapped, destroy fails) = %v, want keys.ErrCorrupt joined with a *keys.LeftoverError", err)
	}
	// Remove what the failed destroy left.
	err = pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
		if err := m.FindObjectsInit(sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, true)}); err != nil {
			return err
		}
		hs, _, err := m.FindObjects(sh, 1000)
		_ = m.FindObjectsFinal(sh)
		if err != nil {
			return err
		}
		for _, h := range hs {
			attrs, err := m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
			if err == nil && strings.HasPrefix(string(attrs[0].Value), "kw/backup-leftover/") {
				_ = m.DestroyObject(sh, h)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// swapField returns blob with its JSON field name taken from other.
func swapField(t *testing.T, blob, other []byte, name string) []byte {
	t.Helper()
	const magic = "kw-pkcs11-wrapped:v1\n"
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(blob[len(magic):], &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(other[len(magic):], &b); err != nil {
		t.Fatal(err)
	}
	a[name] = b[name]
	out, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(magic), out...)
}

// countObjects returns how many token objects have a label starting with
// prefix.
func countObjects(t *testing.T, p *pkcs11.Provider, prefix string) int {
	t.Helper()
	n := 0
	err := pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
		if err := m.FindObjectsInit(sh, nil); err != nil {
			return err
		}
		var all []p11.ObjectHandle
		for {
			hs, _, err := m.FindObjects(sh, 64)
			if err != nil {
				_ = m.FindObjectsFinal(sh)
				return err
			}
			if len(hs) == 0 {
				break
			}
			all = append(all, hs...)
		}
		if err := m.FindObjectsFinal(sh); err != nil {
			return err
		}
		for _, h := range all {
			attrs, err := m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
			if err != nil {
				return err
			}
			if strings.HasPrefix(string(attrs[0].Value), prefix) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count token objects: %v", err)
	}
	return n
}
