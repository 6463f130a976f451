package vault_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// BenchmarkSign compares Service.Sign (lookup, state checks, cached key)
// with the raw Go primitive on the same machine; the ratio of the two
// ns/op is the domain layer's overhead.
func BenchmarkSign(b *testing.B) {
	e := newEnv(b)
	d := digest("bench")
	cases := []struct {
		name string
		p    vault.CreateParams
		alg  keys.SignatureAlgorithm
		raw  func() func() error
	}{
		{"RS256", rsaSpec(), keys.RS256, func() func() error {
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			return func() error { _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d); return err }
		}},
		{"ES256", ecSpec(), keys.ES256, func() func() error {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return func() error { _, err := ecdsa.SignASN1(rand.Reader, k, d); return err }
		}},
	}
	for _, c := range cases {
		if _, err := e.svc.CreateKey(e.ctx, t0, "dev", "bench-"+c.name, c.p); err != nil {
			b.Fatal(err)
		}
		ref := vault.Ref{Vault: "dev", Name: "bench-" + c.name}
		b.Run(c.name+"/vault", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := e.svc.Sign(e.ctx, t0, ref, c.alg, d); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		raw := c.raw()
		b.Run(c.name+"/raw", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := raw(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
