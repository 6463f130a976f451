package software

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/keywarden/keywarden/internal/keys"
)

// BenchmarkSign measures Key.Sign next to the bare standard-library call it
// wraps ("stdlib"), so that server throughput can be compared with raw
// crypto and the provider's own overhead read off directly.
func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	benches := []struct {
		name string
		spec keys.Spec
		alg  keys.SignatureAlgorithm
	}{
		{"RSA-2048/RS256", rsa2048, keys.RS256},
		{"RSA-2048/PS256", rsa2048, keys.PS256},
		{"P-256/ES256", p256, keys.ES256},
		{"P-256K/ES256K", p256k, keys.ES256K},
	}
	for _, bb := range benches {
		m, k := fixture(b, bb.spec)
		digest := digestFor(bb.alg)
		b.Run("provider/"+bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(ctx, bb.alg, digest); err != nil {
					b.Fatal(err)
				}
			}
		})
		if bb.spec.Curve == keys.P256K {
			continue // no standard-library equivalent
		}
		h := bb.alg.Hash()
		priv := privateOf(b, m)
		b.Run("stdlib/"+bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch bb.alg {
				case keys.RS256:
					_, err = rsa.SignPKCS1v15(nil, priv.(*rsa.PrivateKey), h, digest)
				case keys.PS256:
					_, err = rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				case keys.ES256:
					_, _, err = ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), digest)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures Key.Verify, which parses nothing per call for
// RSA and NIST keys.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, bb := range []struct {
		name string
		spec keys.Spec
		alg  keys.SignatureAlgorithm
	}{
		{"RSA-2048/PS256", rsa2048, keys.PS256},
		{"P-256/ES256", p256, keys.ES256},
		{"P-256K/ES256K", p256k, keys.ES256K},
	} {
		_, k := fixture(b, bb.spec)
		digest := digestFor(bb.alg)
		sig, err := k.Sign(ctx, bb.alg, digest)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := k.Verify(ctx, bb.alg, digest, sig); err != nil || !ok {
					b.Fatalf("Verify() = %v, %v", ok, err)
				}
			}
		})
	}
}
