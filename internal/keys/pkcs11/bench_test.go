//go:build cgo

package pkcs11_test

import (
	"testing"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
)

// BenchmarkSign compares Sign of HSM keys (SoftHSM2 here) with the software
// provider, for RSA-2048 and P-256.
func BenchmarkSign(b *testing.B) {
	sw := software.New(nil)
	for _, bb := range []struct {
		name string
		spec keys.Spec
		alg  keys.SignatureAlgorithm
	}{
		{"RSA-2048/RS256", keys.Spec{Type: keys.RSA, Size: 2048}, keys.RS256},
		{"P-256/ES256", keys.Spec{Type: keys.EC, Curve: keys.P256}, keys.ES256},
	} {
		_, hk := generated(b, bb.spec)
		m, err := sw.Generate(ctx, bb.spec)
		if err != nil {
			b.Fatal(err)
		}
		sk, err := sw.Load(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		d := digest(bb.alg)
		for _, p := range []struct {
			name string
			k    keys.Key
		}{{"hsm", hk}, {"software", sk}} {
			b.Run(p.name+"/"+bb.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.k.Sign(ctx, bb.alg, d); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(p.name+"/"+bb.name+"/parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.k.Sign(ctx, bb.alg, d); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
