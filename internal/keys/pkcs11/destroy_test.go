//go:build cgo

package pkcs11_test

import (
	"errors"
	"testing"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
)

func TestDestroy(t *testing.T) {
	p := provider(t)
	for _, spec := range []keys.Spec{
		{Type: keys.RSA, Size: 2048, Owner: "destroy"},
		{Type: keys.EC, Curve: keys.P256, Owner: "destroy"},
		{Type: keys.Oct, Size: 256, Owner: "destroy"},
	} {
		t.Run(string(spec.Type), func(t *testing.T) {
			m, err := p.Generate(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			k, err := p.Load(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pkcs11.Handles(ctx, k); err != nil {
				t.Fatalf("Handles(new key) = %v", err)
			}

			other := m
			other.Spec.Owner = "someone-else"
			if err := p.Destroy(ctx, other); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("Destroy(another owner's spec) = %v, want ErrCorrupt", err)
			}
			if _, err := p.Load(ctx, m); err != nil {
				t.Fatalf("Load after a refused Destroy = %v", err)
			}

			if err := p.Destroy(ctx, m); err != nil {
				t.Fatalf("Destroy() = %v", err)
			}
			if _, err := p.Load(ctx, m); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("Load(destroyed key) = %v, want ErrCorrupt", err)
			}
			if _, _, err := pkcs11.Handles(ctx, k); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("Handles(destroyed key) = %v, want ErrCorrupt (no object)", err)
			}
			if err := p.Destroy(ctx, m); err != nil {
				t.Errorf("Destroy(already destroyed) = %v, want nil", err)
			}
		})
	}
	software := keys.Material{Spec: keys.Spec{Type: keys.Oct, Protection: keys.Software}}
	if err := p.Destroy(ctx, software); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("Destroy(software material) = %v, want ErrCorrupt", err)
	}
}
