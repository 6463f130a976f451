package software

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// Generated keys are shared by all tests of the package: RSA generation is
// slow, and the run must create at most one 3072-bit and one 4096-bit key.
var (
	fixtureMu sync.Mutex
	fixtures  = map[keys.Spec]keys.Material{}
)

var (
	rsa2048 = keys.Spec{Type: keys.RSA, Size: 2048}
	rsa3072 = keys.Spec{Type: keys.RSA, Size: 3072}
	rsa4096 = keys.Spec{Type: keys.RSA, Size: 4096}
	p256    = keys.Spec{Type: keys.EC, Curve: keys.P256}
	p384    = keys.Spec{Type: keys.EC, Curve: keys.P384}
	p521    = keys.Spec{Type: keys.EC, Curve: keys.P521}
	p256k   = keys.Spec{Type: keys.EC, Curve: keys.P256K}
	oct256  = keys.Spec{Type: keys.Oct, Size: 256}
)

// fixture returns the shared Material for spec, generating it on first use,
// and a freshly loaded Key.
func fixture(t testing.TB, spec keys.Spec) (keys.Material, keys.Key) {
	t.Helper()
	fixtureMu.Lock()
	m, ok := fixtures[spec]
	if !ok {
		var err error
		m, err = New(rand.Reader).Generate(context.Background(), spec)
		if err != nil {
			fixtureMu.Unlock()
			t.Fatalf("Generate(%+v) = %v", spec, err)
		}
		fixtures[spec] = m
	}
	fixtureMu.Unlock()
	k, err := New(rand.Reader).Load(context.Background(), m)
	if err != nil {
		t.Fatalf("Load(Generate(%+v)) = %v", spec, err)
	}
	return m, k
}

// privateOf parses the PKCS#8 of a NIST or RSA Material with plain Go.
func privateOf(t testing.TB, m keys.Material) crypto.Signer {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(m.Private.Expose())
	if err != nil {
		t.Fatalf("x509.ParsePKCS8PrivateKey(Material.Private) = %v", err)
	}
	return k.(crypto.Signer)
}

func digestFor(alg keys.SignatureAlgorithm) []byte {
	d := make([]byte, keys.DigestSize(alg))
	for i := range d {
		d[i] = byte(i*7 + 1)
	}
	return d
}

func wantInputError(t *testing.T, call string, err error, want string) {
	t.Helper()
	var ie *keys.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("%s = %v (%T), want *keys.InputError", call, err, err)
	}
	if want != "" && ie.Msg != want {
		t.Errorf("%s = %q, want %q", call, ie.Msg, want)
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		spec     keys.Spec
		want     keys.Spec
		pubBytes int // RSA modulus or EC coordinate length
	}{
		{"RSA-2048", rsa2048, keys.Spec{Type: keys.RSA, Size: 2048, PublicExponent: 65537, Protection: keys.Software}, 256},
		{"RSA-3072", rsa3072, keys.Spec{Type: keys.RSA, Size: 3072, PublicExponent: 65537, Protection: keys.Software}, 384},
		{"RSA-4096", rsa4096, keys.Spec{Type: keys.RSA, Size: 4096, PublicExponent: 65537, Protection: keys.Software}, 512},
		{"P-256", p256, keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}, 32},
		{"P-384", p384, keys.Spec{Type: keys.EC, Curve: keys.P384, Protection: keys.Software}, 48},
		{"P-521", p521, keys.Spec{Type: keys.EC, Curve: keys.P521, Protection: keys.Software}, 66},
		{"P-256K", p256k, keys.Spec{Type: keys.EC, Curve: keys.P256K, Protection: keys.Software}, 32},
		{"EC default curve", keys.Spec{Type: keys.EC, Protection: keys.Software}, keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.Software}, 32},
		{"oct-128", keys.Spec{Type: keys.Oct, Size: 128}, keys.Spec{Type: keys.Oct, Size: 128, Protection: keys.Software}, 0},
		{"oct-192", keys.Spec{Type: keys.Oct, Size: 192}, keys.Spec{Type: keys.Oct, Size: 192, Protection: keys.Software}, 0},
		{"oct default", keys.Spec{Type: keys.Oct}, keys.Spec{Type: keys.Oct, Size: 256, Protection: keys.Software}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, k := fixture(t, tt.spec)
			if diff := cmp.Diff(tt.want, m.Spec); diff != "" {
				t.Errorf("Generate(%+v).Spec mismatch (-want +got):\n%s", tt.spec, diff)
			}
			if diff := cmp.Diff(tt.want, k.Spec()); diff != "" {
				t.Errorf("Load().Spec() mismatch (-want +got):\n%s", diff)
			}
			if m.Private.IsZero() {
				t.Errorf("Generate(%+v).Private is empty", tt.spec)
			}
			switch pub := m.Public.(type) {
			case *rsa.PublicKey:
				if pub.Size() != tt.pubBytes || pub.E != 65537 {
					t.Errorf("Generate(%+v) public key = %d bytes, e=%d; want %d, 65537", tt.spec, pub.Size(), pub.E, tt.pubBytes)
				}
				if !pub.Equal(k.Public()) {
					t.Errorf("Load().Public() differs from Material.Public")
				}
			case *keys.ECPublicKey:
				if len(pub.X) != tt.pubBytes || len(pub.Y) != tt.pubBytes || pub.Curve != tt.want.Curve {
					t.Errorf("Generate(%+v) public key = %s, %d+%d bytes; want %s, %d", tt.spec, pub.Curve, len(pub.X), len(pub.Y), tt.want.Curve, tt.pubBytes)
				}
				if !pub.Equal(k.Public()) {
					t.Errorf("Load().Public() differs from Material.Public")
				}
			case nil:
				if tt.spec.Type != keys.Oct || m.Private.Len() != tt.want.Size/8 || k.Public() != nil {
					t.Errorf("Generate(%+v) = no public key, %d private bytes; want oct with %d", tt.spec, m.Private.Len(), tt.want.Size/8)
				}
			default:
				t.Errorf("Generate(%+v).Public is %T", tt.spec, pub)
			}
		})
	}
	t.Run("RSA default size", func(t *testing.T) {
		m, err := New(rand.Reader).Generate(ctx, keys.Spec{Type: keys.RSA})
		if err != nil || m.Spec.Size != 2048 {
			t.Errorf("Generate(RSA, size 0) = size %d, %v; want 2048, nil", m.Spec.Size, err)
		}
	})
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name string
		spec keys.Spec
		want string
	}{
		{"RSA-1024", keys.Spec{Type: keys.RSA, Size: 1024}, "Unsupported RSA key size 1024. Supported sizes are 2048, 3072 and 4096."},
		{"RSA-8192", keys.Spec{Type: keys.RSA, Size: 8192}, "Unsupported RSA key size 8192. Supported sizes are 2048, 3072 and 4096."},
		{"RSA e=3", keys.Spec{Type: keys.RSA, Size: 2048, PublicExponent: 3}, "Unsupported RSA public exponent 3. Only 65537 is supported."},
		{"P-224", keys.Spec{Type: keys.EC, Curve: "P-224"}, `Unsupported curve "P-224". Supported curves are P-256, P-384, P-521 and P-256K.`},
		{"oct-512", keys.Spec{Type: keys.Oct, Size: 512}, "Unsupported oct key size 512. Supported sizes are 128, 192 and 256."},
		{"OKP", keys.Spec{Type: "OKP"}, `Unsupported key type "OKP"`},
		{"HSM", keys.Spec{Type: keys.RSA, Size: 2048, Protection: keys.HSM}, `The software key provider cannot hold keys with protection "hsm".`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(rand.Reader).Generate(context.Background(), tt.spec)
			wantInputError(t, fmt.Sprintf("Generate(%+v)", tt.spec), err, tt.want)
		})
	}
}

// signCases lists every signature algorithm for every key size and curve.
func signCases() []struct {
	spec keys.Spec
	alg  keys.SignatureAlgorithm
} {
	var cases []struct {
		spec keys.Spec
		alg  keys.SignatureAlgorithm
	}
	add := func(spec keys.Spec, algs ...keys.SignatureAlgorithm) {
		for _, alg := range algs {
			cases = append(cases, struct {
				spec keys.Spec
				alg  keys.SignatureAlgorithm
			}{spec, alg})
		}
	}
	rsaAlgs := []keys.SignatureAlgorithm{keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512}
	add(rsa2048, rsaAlgs...)
	add(rsa3072, rsaAlgs...)
	add(rsa4096, rsaAlgs...)
	add(p256, keys.ES256)
	add(p384, keys.ES384)
	add(p521, keys.ES512)
	add(p256k, keys.ES256K)
	return cases
}

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range signCases() {
		t.Run(fmt.Sprintf("%s%s%d/%s", tc.spec.Type, tc.spec.Curve, tc.spec.Size, tc.alg), func(t *testing.T) {
			_, k := fixture(t, tc.spec)
			digest := digestFor(tc.alg)
			sig, err := k.Sign(ctx, tc.alg, digest)
			if err != nil {
				t.Fatalf("Sign(%s) = %v", tc.alg, err)
			}
			wantLen := tc.spec.Size / 8
			if tc.spec.Type == keys.EC {
				wantLen = 2 * keys.CurveSize(tc.spec.Curve)
			}
			if len(sig) != wantLen {
				t.Errorf("len(Sign(%s)) = %d, want %d", tc.alg, len(sig), wantLen)
			}
			if ok, err := k.Verify(ctx, tc.alg, digest, sig); err != nil || !ok {
				t.Errorf("Verify(%s, Sign()) = %v, %v; want true, nil", tc.alg, ok, err)
			}

			// Tampering: every change must fail verification without error.
			flipped := bytes.Clone(sig)
			flipped[len(flipped)/2] ^= 0x01
			otherDigest := bytes.Clone(digest)
			otherDigest[0] ^= 0x80
			for _, bad := range []struct {
				name        string
				digest, sig []byte
			}{
				{"flipped signature bit", digest, flipped},
				{"other digest", otherDigest, sig},
				{"truncated signature", digest, sig[:len(sig)-1]},
				{"extended signature", digest, append(bytes.Clone(sig), 0)},
				{"empty signature", digest, nil},
			} {
				if ok, err := k.Verify(ctx, tc.alg, bad.digest, bad.sig); err != nil || ok {
					t.Errorf("Verify(%s, %s) = %v, %v; want false, nil", tc.alg, bad.name, ok, err)
				}
			}
		})
	}
}

// TestSignInterop checks provider signatures with plain Go crypto (and
// decred's verifier for P-256K).
func TestSignInterop(t *testing.T) {
	ctx := context.Background()
	for _, tc := range signCases() {
		if tc.spec.Size > 2048 {
			continue
		}
		t.Run(string(tc.alg), func(t *testing.T) {
			m, k := fixture(t, tc.spec)
			digest := digestFor(tc.alg)
			sig, err := k.Sign(ctx, tc.alg, digest)
			if err != nil {
				t.Fatalf("Sign(%s) = %v", tc.alg, err)
			}
			h := tc.alg.Hash()
			switch tc.alg {
			case keys.RS256, keys.RS384, keys.RS512:
				if err := rsa.VerifyPKCS1v15(m.Public.(*rsa.PublicKey), h, digest, sig); err != nil {
					t.Errorf("rsa.VerifyPKCS1v15(Sign(%s)) = %v", tc.alg, err)
				}
			case keys.PS256, keys.PS384, keys.PS512:
				// Strict salt length: the provider must use the hash length.
				opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
				if err := rsa.VerifyPSS(m.Public.(*rsa.PublicKey), h, digest, sig, opts); err != nil {
					t.Errorf("rsa.VerifyPSS(Sign(%s), salt=hash length) = %v", tc.alg, err)
				}
			case keys.ES256, keys.ES384, keys.ES512:
				pub, err := m.Public.(*keys.ECPublicKey).ECDSA()
				if err != nil {
					t.Fatal(err)
				}
				size := len(sig) / 2
				r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
				if !ecdsa.Verify(pub, digest, r, s) {
					t.Errorf("ecdsa.Verify(Sign(%s)) = false, want true", tc.alg)
				}
			case keys.ES256K:
				pub, err := secp256k1.ParsePubKey(m.Public.(*keys.ECPublicKey).Bytes())
				if err != nil {
					t.Fatal(err)
				}
				var r, s secp256k1.ModNScalar
				r.SetByteSlice(sig[:32])
				s.SetByteSlice(sig[32:])
				if !secpecdsa.NewSignature(&r, &s).Verify(digest, pub) {
					t.Errorf("secp256k1 ecdsa.Verify(Sign(ES256K)) = false, want true")
				}
				if s.IsOverHalfOrder() {
					t.Errorf("Sign(ES256K) produced a high-S signature, want low S")
				}
				// The high-S twin of the signature verifies too.
				s.Negate()
				high := s.Bytes()
				if ok, err := k.Verify(ctx, keys.ES256K, digest, append(bytes.Clone(sig[:32]), high[:]...)); err != nil || !ok {
					t.Errorf("Verify(ES256K, high S) = %v, %v; want true, nil", ok, err)
				}
			}
		})
	}
}

// TestVerifyInterop checks signatures made with plain Go crypto.
func TestVerifyInterop(t *testing.T) {
	ctx := context.Background()
	m, k := fixture(t, rsa2048)
	priv := privateOf(t, m).(*rsa.PrivateKey)
	digest := digestFor(keys.PS256)
	for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, 0x10} {
		sig, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := k.Verify(ctx, keys.PS256, digest, sig); err != nil || !ok {
			t.Errorf("Verify(PS256, rsa.SignPSS(salt %d)) = %v, %v; want true, nil", salt, ok, err)
		}
	}
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := k.Verify(ctx, keys.RS256, digest, sig); err != nil || !ok {
		t.Errorf("Verify(RS256, rsa.SignPKCS1v15()) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := k.Verify(ctx, keys.PS256, digest, sig); err != nil || ok {
		t.Errorf("Verify(PS256, PKCS#1 v1.5 signature) = %v, %v; want false, nil", ok, err)
	}

	em, ek := fixture(t, p384)
	epriv := privateOf(t, em).(*ecdsa.PrivateKey)
	d384 := digestFor(keys.ES384)
	r, s, err := ecdsa.Sign(rand.Reader, epriv, d384)
	if err != nil {
		t.Fatal(err)
	}
	esig := make([]byte, 96)
	r.FillBytes(esig[:48])
	s.FillBytes(esig[48:])
	if ok, err := ek.Verify(ctx, keys.ES384, d384, esig); err != nil || !ok {
		t.Errorf("Verify(ES384, ecdsa.Sign()) = %v, %v; want true, nil", ok, err)
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []keys.Spec{rsa2048, rsa3072, rsa4096} {
		for _, alg := range []keys.EncryptionAlgorithm{keys.RSA15, keys.RSAOAEP, keys.RSAOAEP256} {
			t.Run(fmt.Sprintf("%d/%s", spec.Size, alg), func(t *testing.T) {
				_, k := fixture(t, spec)
				limit := keys.MaxPlaintext(alg, spec.Size/8)
				for _, n := range []int{1, 32, limit} {
					pt := bytes.Repeat([]byte{0xA5}, n)
					out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: pt})
					if err != nil {
						t.Fatalf("Encrypt(%s, %d bytes) = %v", alg, n, err)
					}
					if len(out.Value) != spec.Size/8 || out.IV != nil || out.Tag != nil {
						t.Errorf("Encrypt(%s) = %d bytes (IV %x, tag %x), want %d bytes only", alg, len(out.Value), out.IV, out.Tag, spec.Size/8)
					}
					got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: out.Value})
					if err != nil || !bytes.Equal(got.Expose(), pt) {
						t.Errorf("Decrypt(%s, Encrypt(%d bytes)) = %d bytes, %v; want the plaintext", alg, n, got.Len(), err)
					}
				}
				_, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: make([]byte, limit+1)})
				wantInputError(t, fmt.Sprintf("Encrypt(%s, %d bytes)", alg, limit+1), err,
					fmt.Sprintf("Invalid length of 'value': %d bytes. %s with a %d-bit key accepts at most %d bytes.", limit+1, alg, spec.Size, limit))
			})
		}
	}
}

// TestDecryptInterop decrypts ciphertexts made with plain Go crypto and
// decrypts provider ciphertexts with plain Go crypto.
func TestDecryptInterop(t *testing.T) {
	ctx := context.Background()
	m, k := fixture(t, rsa2048)
	pub := m.Public.(*rsa.PublicKey)
	priv := privateOf(t, m).(*rsa.PrivateKey)
	pt := []byte("a 32-byte AES key wrapped here!!")
	tests := []struct {
		alg     keys.EncryptionAlgorithm
		encrypt func() ([]byte, error)
		decrypt func(ct []byte) ([]byte, error)
	}{
		{keys.RSAOAEP,
			func() ([]byte, error) { return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, pt, nil) },
			func(ct []byte) ([]byte, error) { return rsa.DecryptOAEP(sha1.New(), nil, priv, ct, nil) }},
		{keys.RSAOAEP256,
			func() ([]byte, error) { return rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, pt, nil) },
			func(ct []byte) ([]byte, error) { return rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil) }},
		{keys.RSA15,
			func() ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, pt) },
			func(ct []byte) ([]byte, error) { return rsa.DecryptPKCS1v15(nil, priv, ct) }},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			ct, err := tt.encrypt()
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: tt.alg, Value: ct})
			if err != nil || !bytes.Equal(got.Expose(), pt) {
				t.Errorf("Decrypt(%s, stdlib ciphertext) = %q, %v; want %q", tt.alg, got.Expose(), err, pt)
			}
			out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: tt.alg, Value: pt})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := tt.decrypt(out.Value)
			if err != nil || !bytes.Equal(plain, pt) {
				t.Errorf("stdlib decrypt(Encrypt(%s)) = %q, %v; want %q", tt.alg, plain, err, pt)
			}
		})
	}
}

func TestDecryptTamper(t *testing.T) {
	ctx := context.Background()
	_, k := fixture(t, rsa2048)
	const generic = "Decryption failed: the ciphertext is not valid for this key and algorithm."
	for _, alg := range []keys.EncryptionAlgorithm{keys.RSA15, keys.RSAOAEP, keys.RSAOAEP256} {
		t.Run(string(alg), func(t *testing.T) {
			out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: []byte("secret")})
			if err != nil {
				t.Fatal(err)
			}
			// Flipping a low bit keeps the value below the modulus, so the
			// padding check is what fails. RSA1_5 padding has a small
			// chance of surviving a random change; this fixed one fails.
			ct := bytes.Clone(out.Value)
			ct[len(ct)-1] ^= 0x01
			_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: ct})
			wantInputError(t, fmt.Sprintf("Decrypt(%s, flipped bit)", alg), err, generic)

			_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: make([]byte, 256)})
			wantInputError(t, fmt.Sprintf("Decrypt(%s, zeros)", alg), err, generic)

			_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: out.Value[1:]})
			wantInputError(t, fmt.Sprintf("Decrypt(%s, 255 bytes)", alg), err,
				fmt.Sprintf("Invalid length of 'value': 255 bytes. %s with a 2048-bit key requires 256 bytes, encoded with base64url.", alg))

			// Another algorithm's ciphertext does not decrypt either.
			other := keys.RSAOAEP256
			if alg == keys.RSAOAEP256 {
				other = keys.RSAOAEP
			}
			_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: other, Value: out.Value})
			wantInputError(t, fmt.Sprintf("Decrypt(%s, %s ciphertext)", other, alg), err, generic)
		})
	}
}

func TestDigestLengthErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		spec keys.Spec
		alg  keys.SignatureAlgorithm
		n    int
	}{
		{rsa2048, keys.RS256, 10},
		{rsa2048, keys.PS512, 32},
		{p256, keys.ES256, 0},
		{p521, keys.ES512, 66},
		{p256k, keys.ES256K, 33},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			_, k := fixture(t, tt.spec)
			want := keys.DigestSize(tt.alg)
			_, err := k.Sign(ctx, tt.alg, make([]byte, tt.n))
			wantInputError(t, fmt.Sprintf("Sign(%s, %d bytes)", tt.alg, tt.n), err,
				fmt.Sprintf("Invalid length of 'value': %d bytes. %s requires %d bytes, encoded with base64url.", tt.n, tt.alg, want))
			_, err = k.Verify(ctx, tt.alg, make([]byte, tt.n), make([]byte, 64))
			wantInputError(t, fmt.Sprintf("Verify(%s, %d bytes)", tt.alg, tt.n), err,
				fmt.Sprintf("Invalid length of 'digest': %d bytes. %s requires %d bytes, encoded with base64url.", tt.n, tt.alg, want))
		})
	}
}

func TestAlgorithmMismatch(t *testing.T) {
	ctx := context.Background()
	sign := []struct {
		spec keys.Spec
		alg  keys.SignatureAlgorithm
		want string
	}{
		{p256, keys.ES384, "Algorithm ES384 is not valid for a key on curve P-256"},
		{p384, keys.ES256, "Algorithm ES256 is not valid for a key on curve P-384"},
		{p256, keys.ES256K, "Algorithm ES256K is not valid for a key on curve P-256"},
		{p256k, keys.ES256, "Algorithm ES256 is not valid for a key on curve P-256K"},
		{p256, keys.RS256, "Algorithm RS256 is not valid for an EC key"},
		{rsa2048, keys.ES256, "Algorithm ES256 is not valid for an RSA key"},
		{oct256, keys.PS256, "Algorithm PS256 is not valid for an oct key"},
		{rsa2048, "HS256", `Unsupported signature algorithm "HS256"`},
	}
	for _, tt := range sign {
		t.Run(fmt.Sprintf("%s%s/%s", tt.spec.Type, tt.spec.Curve, tt.alg), func(t *testing.T) {
			_, k := fixture(t, tt.spec)
			digest := make([]byte, max(keys.DigestSize(tt.alg), 32))
			_, err := k.Sign(ctx, tt.alg, digest)
			wantInputError(t, fmt.Sprintf("Sign(%s)", tt.alg), err, tt.want)
			_, err = k.Verify(ctx, tt.alg, digest, make([]byte, 64))
			wantInputError(t, fmt.Sprintf("Verify(%s)", tt.alg), err, tt.want)
		})
	}
	cipher := []struct {
		spec keys.Spec
		alg  keys.EncryptionAlgorithm
		want string
	}{
		{p256, keys.RSAOAEP, "Algorithm RSA-OAEP is not valid for an EC key"},
		{p256k, keys.RSA15, "Algorithm RSA1_5 is not valid for an EC key"},
		{oct256, keys.RSAOAEP256, "Algorithm RSA-OAEP-256 is not valid for an oct key"},
		{oct256, "A256GCM", `Unsupported encryption algorithm "A256GCM"`},
		{rsa2048, "A256KW", `Unsupported encryption algorithm "A256KW"`},
	}
	for _, tt := range cipher {
		t.Run(fmt.Sprintf("%s%s/%s", tt.spec.Type, tt.spec.Curve, tt.alg), func(t *testing.T) {
			_, k := fixture(t, tt.spec)
			_, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: tt.alg, Value: []byte("x")})
			wantInputError(t, fmt.Sprintf("Encrypt(%s)", tt.alg), err, tt.want)
			_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: tt.alg, Value: make([]byte, 256)})
			wantInputError(t, fmt.Sprintf("Decrypt(%s)", tt.alg), err, tt.want)
		})
	}
}

// generatorKey returns the EC private key with D = 1, whose public point is
// the curve's generator: a fixed key with a short D.
func generatorKey(c keys.Curve) *keys.ECPrivateKey {
	var x, y []byte
	if c == keys.P256K {
		g := secp256k1.NewPrivateKey(new(secp256k1.ModNScalar).SetInt(1)).PubKey().SerializeUncompressed()
		x, y = g[1:33], g[33:]
	} else {
		p := keys.EllipticCurve(c).Params()
		size := keys.CurveSize(c)
		x, y = p.Gx.FillBytes(make([]byte, size)), p.Gy.FillBytes(make([]byte, size))
	}
	return &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: c, X: x, Y: y}, D: secret.New([]byte{1})}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	p := New(rand.Reader)
	rsaM, _ := fixture(t, rsa2048)
	rsaPriv := privateOf(t, rsaM).(*rsa.PrivateKey)

	var k1D [32]byte
	k1D[31] = 0x42
	k1Priv := secp256k1.PrivKeyFromBytes(k1D[:])
	k1Pub := k1Priv.PubKey().SerializeUncompressed()

	tests := []struct {
		name    string
		spec    keys.Spec
		private any
		signer  crypto.Signer // for the plain-Go check, nil to skip
		alg     keys.SignatureAlgorithm
	}{
		{"RSA", keys.Spec{Type: keys.RSA}, rsaPriv, rsaPriv, keys.PS256},
		{"RSA with size", keys.Spec{Type: keys.RSA, Size: 2048, PublicExponent: 65537, Protection: keys.Software}, rsaPriv, rsaPriv, keys.RS512},
		{"P-256 D=1", keys.Spec{Type: keys.EC}, generatorKey(keys.P256), nil, keys.ES256},
		{"P-521 D=1", keys.Spec{}, *generatorKey(keys.P521), nil, keys.ES512},
		{"P-256K D=1", keys.Spec{Type: keys.EC, Curve: keys.P256K}, generatorKey(keys.P256K), nil, keys.ES256K},
		{"P-256K", keys.Spec{Type: keys.EC, Curve: keys.P256K}, &keys.ECPrivateKey{
			Public: keys.ECPublicKey{Curve: keys.P256K, X: k1Pub[1:33], Y: k1Pub[33:]},
			D:      secret.New(k1D[:]),
		}, nil, keys.ES256K},
		{"oct-128", keys.Spec{Type: keys.Oct}, secret.New(bytes.Repeat([]byte{9}, 16)), nil, ""},
	}
	for _, c := range []keys.Curve{keys.P256, keys.P384, keys.P521} {
		priv, err := ecdsa.GenerateKey(keys.EllipticCurve(c), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.NewECPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		d, err := priv.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		alg := map[keys.Curve]keys.SignatureAlgorithm{keys.P256: keys.ES256, keys.P384: keys.ES384, keys.P521: keys.ES512}[c]
		tests = append(tests, struct {
			name    string
			spec    keys.Spec
			private any
			signer  crypto.Signer
			alg     keys.SignatureAlgorithm
		}{"stdlib " + string(c), keys.Spec{Type: keys.EC, Curve: c}, &keys.ECPrivateKey{Public: *pub, D: secret.New(d)}, priv, alg})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := p.Import(ctx, tt.spec, tt.private)
			if err != nil {
				t.Fatalf("Import() = %v", err)
			}
			if m.Spec.Protection != keys.Software || (tt.spec.Size != 0 && m.Spec.Size != tt.spec.Size) {
				t.Errorf("Import().Spec = %+v, want software matching %+v", m.Spec, tt.spec)
			}
			k, err := p.Load(ctx, m)
			if err != nil {
				t.Fatalf("Load(Import()) = %v", err)
			}
			if tt.alg == "" {
				return
			}
			digest := digestFor(tt.alg)
			sig, err := k.Sign(ctx, tt.alg, digest)
			if err != nil {
				t.Fatalf("Sign(%s) = %v", tt.alg, err)
			}
			if ok, err := keys.VerifyPublic(m.Public, tt.alg, digest, sig); err != nil || !ok {
				t.Errorf("VerifyPublic(Import().Public, Sign(%s)) = %v, %v; want true, nil", tt.alg, ok, err)
			}
			if tt.signer != nil {
				if ok, err := keys.VerifyPublic(tt.signer.Public(), tt.alg, digest, sig); err != nil || !ok {
					t.Errorf("VerifyPublic(original public key, Sign(%s)) = %v, %v; want true, nil", tt.alg, ok, err)
				}
			}
		})
	}

	t.Run("does not modify the caller's key", func(t *testing.T) {
		priv := &rsa.PrivateKey{PublicKey: rsaPriv.PublicKey, D: rsaPriv.D, Primes: rsaPriv.Primes}
		if _, err := p.Import(ctx, keys.Spec{}, priv); err != nil {
			t.Fatalf("Import() = %v", err)
		}
		if priv.Precomputed.Dp != nil {
			t.Errorf("Import() precomputed the caller's key, want it untouched")
		}
	})
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	p := New(rand.Reader)
	rsaM, _ := fixture(t, rsa2048)
	rsaPriv := privateOf(t, rsaM).(*rsa.PrivateKey)

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	badD := &rsa.PrivateKey{PublicKey: rsaPriv.PublicKey, D: new(big.Int).Add(rsaPriv.D, big.NewInt(2)), Primes: rsaPriv.Primes}
	noPrimes := &rsa.PrivateKey{PublicKey: rsaPriv.PublicKey, D: rsaPriv.D}

	ecKey := func(c keys.Curve) (*ecdsa.PrivateKey, *keys.ECPrivateKey) {
		priv, err := ecdsa.GenerateKey(keys.EllipticCurve(c), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.NewECPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := priv.Bytes()
		return priv, &keys.ECPrivateKey{Public: *pub, D: secret.New(d)}
	}
	_, a := ecKey(keys.P256)
	_, b := ecKey(keys.P256)
	mismatched := &keys.ECPrivateKey{Public: a.Public, D: b.D}
	offCurve := &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: keys.P256, X: a.Public.X, Y: bytes.Clone(a.Public.Y)}, D: a.D}
	offCurve.Public.Y[31] ^= 1
	order := keys.EllipticCurve(keys.P256).Params().N.FillBytes(make([]byte, 32))
	dIsN := &keys.ECPrivateKey{Public: a.Public, D: secret.New(order)}
	dZero := &keys.ECPrivateKey{Public: a.Public, D: secret.New(make([]byte, 32))}
	dLong := &keys.ECPrivateKey{Public: a.Public, D: secret.New(append([]byte{0}, a.D.Expose()...))}

	g := generatorKey(keys.P256K)
	k1Mismatch := &keys.ECPrivateKey{Public: g.Public, D: secret.New([]byte{2})}
	k1Off := &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: keys.P256K, X: g.Public.X, Y: bytes.Clone(g.Public.Y)}, D: g.D}
	k1Off.Public.Y[31] ^= 1
	k1N := secp256k1.S256().Params().N.FillBytes(make([]byte, 32))
	k1DIsN := &keys.ECPrivateKey{Public: g.Public, D: secret.New(k1N)}

	tests := []struct {
		name    string
		spec    keys.Spec
		private any
		want    string
	}{
		{"RSA-1024", keys.Spec{}, small, "Unsupported RSA key size 1024. Imported RSA keys must have at least 2048 bits."},
		{"RSA wrong D", keys.Spec{}, badD, "The RSA private key is invalid: its components are inconsistent."},
		{"RSA without primes", keys.Spec{}, noPrimes, "The RSA private key must include its two prime factors."},
		{"RSA nil", keys.Spec{}, (*rsa.PrivateKey)(nil), "The RSA private key is incomplete."},
		{"RSA size mismatch", keys.Spec{Size: 3072}, rsaPriv, "The RSA key has 2048 bits, not 3072."},
		{"RSA exponent mismatch", keys.Spec{PublicExponent: 3}, rsaPriv, "The RSA key's public exponent is 65537, not 3."},
		{"RSA as EC", keys.Spec{Type: keys.EC}, rsaPriv, `The imported key is an RSA key, not "EC"`},
		{"EC mismatched D", keys.Spec{}, mismatched, "Invalid EC private key: 'd' does not match the public point."},
		{"EC off curve", keys.Spec{}, offCurve, "Invalid EC public key: the point is not on curve P-256."},
		{"EC D = N", keys.Spec{}, dIsN, "Invalid EC private key: 'd' is out of range for curve P-256."},
		{"EC D = 0", keys.Spec{}, dZero, "Invalid EC private key: 'd' is out of range for curve P-256."},
		{"EC D too long", keys.Spec{}, dLong, "Invalid EC private key: 'd' must be 32 bytes for curve P-256."},
		{"EC no D", keys.Spec{}, &keys.ECPrivateKey{Public: a.Public}, "Invalid EC private key: 'd' must be 32 bytes for curve P-256."},
		{"EC curve mismatch", keys.Spec{Curve: keys.P384}, a, `The EC key is on curve P-256, not "P-384".`},
		{"EC unknown curve", keys.Spec{}, &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: "P-224", X: a.Public.X, Y: a.Public.Y}, D: a.D},
			`Unsupported curve "P-224". Supported curves are P-256, P-384, P-521 and P-256K.`},
		{"EC empty point", keys.Spec{}, &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: keys.P256}, D: a.D},
			"Invalid EC public key: 'x' and 'y' must be 32 bytes for curve P-256."},
		{"P-256K mismatched D", keys.Spec{}, k1Mismatch, "Invalid EC private key: 'd' does not match the public point."},
		{"P-256K off curve", keys.Spec{}, k1Off, "Invalid EC public key: the point is not on curve P-256K."},
		{"P-256K D = N", keys.Spec{}, k1DIsN, "Invalid EC private key: 'd' is out of range for curve P-256K."},
		{"oct 20 bytes", keys.Spec{}, secret.New(make([]byte, 20)), "Unsupported oct key size 160. Supported sizes are 128, 192 and 256."},
		{"oct size mismatch", keys.Spec{Size: 256}, secret.New(make([]byte, 16)), "The oct key has 128 bits, not 256."},
		{"raw bytes", keys.Spec{}, []byte{1, 2, 3}, "Unsupported private key type []uint8"},
		{"HSM", keys.Spec{Protection: keys.HSM}, rsaPriv, `The software key provider cannot hold keys with protection "hsm".`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Import(ctx, tt.spec, tt.private)
			wantInputError(t, "Import()", err, tt.want)
			if err != nil {
				for _, secretHex := range []string{hex.EncodeToString(a.D.Expose()), hex.EncodeToString(b.D.Expose()), rsaPriv.D.String()} {
					if strings.Contains(err.Error(), secretHex) {
						t.Errorf("Import() error %q contains private key material", err)
					}
				}
			}
		})
	}
}

func TestLoadCorrupt(t *testing.T) {
	ctx := context.Background()
	p := New(rand.Reader)
	rsaM, _ := fixture(t, rsa2048)
	ecM, _ := fixture(t, p256)
	k1M, _ := fixture(t, p256k)
	octM, _ := fixture(t, oct256)
	otherEC, err := p.Generate(ctx, p256)
	if err != nil {
		t.Fatal(err)
	}
	otherK1, err := p.Generate(ctx, p256k)
	if err != nil {
		t.Fatal(err)
	}
	garbage := secret.New([]byte("this is not a key at all, just bytes"))
	truncated := func(m keys.Material) secret.Bytes {
		b := m.Private.Expose()
		return secret.New(b[:len(b)-3])
	}
	flipped := func(m keys.Material, i int) secret.Bytes {
		b := bytes.Clone(m.Private.Expose())
		b[i] ^= 0xff
		return secret.Own(b)
	}
	tests := []struct {
		name string
		m    keys.Material
	}{
		{"RSA garbage", keys.Material{Spec: rsaM.Spec, Private: garbage}},
		{"RSA truncated", keys.Material{Spec: rsaM.Spec, Private: truncated(rsaM)}},
		{"RSA empty", keys.Material{Spec: rsaM.Spec}},
		{"RSA size mismatch", keys.Material{Spec: keys.Spec{Type: keys.RSA, Size: 3072}, Private: rsaM.Private}},
		{"RSA public mismatch", keys.Material{Spec: rsaM.Spec, Public: &rsa.PublicKey{N: big.NewInt(35), E: 3}, Private: rsaM.Private}},
		{"EC bytes as RSA", keys.Material{Spec: rsaM.Spec, Private: ecM.Private}},
		{"RSA bytes as EC", keys.Material{Spec: ecM.Spec, Private: rsaM.Private}},
		{"EC garbage", keys.Material{Spec: ecM.Spec, Private: garbage}},
		{"EC curve mismatch", keys.Material{Spec: p384, Private: ecM.Private}},
		{"EC public mismatch", keys.Material{Spec: ecM.Spec, Public: otherEC.Public, Private: ecM.Private}},
		{"P-256K garbage", keys.Material{Spec: k1M.Spec, Private: garbage}},
		{"P-256K truncated", keys.Material{Spec: k1M.Spec, Private: truncated(k1M)}},
		{"P-256K NIST bytes", keys.Material{Spec: k1M.Spec, Private: ecM.Private}},
		{"P-256K bytes as P-256", keys.Material{Spec: ecM.Spec, Private: k1M.Private}},
		{"P-256K public mismatch", keys.Material{Spec: k1M.Spec, Public: otherK1.Public, Private: k1M.Private}},
		// Byte 36 is inside the private scalar: the embedded public key no
		// longer matches.
		{"P-256K scalar changed", keys.Material{Spec: k1M.Spec, Private: flipped(k1M, 36)}},
		{"oct wrong length", keys.Material{Spec: octM.Spec, Private: garbage}},
		{"oct size mismatch", keys.Material{Spec: keys.Spec{Type: keys.Oct, Size: 128}, Private: octM.Private}},
		{"unknown type", keys.Material{Spec: keys.Spec{Type: "OKP"}, Private: octM.Private}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := p.Load(ctx, tt.m)
			if !errors.Is(err, keys.ErrCorrupt) {
				t.Fatalf("Load() = %v, %v; want ErrCorrupt", k, err)
			}
			if b := tt.m.Private.Expose(); len(b) >= 8 && strings.Contains(err.Error(), hex.EncodeToString(b[len(b)-8:])) {
				t.Errorf("Load() error %q contains key bytes", err)
			}
		})
	}
}

// TestP256KEncoding checks the PKCS#8 layout of P-256K material: version 0,
// id-ecPublicKey with the secp256k1 OID, an RFC 5915 key inside.
func TestP256KEncoding(t *testing.T) {
	m, _ := fixture(t, p256k)
	der := m.Private.Expose()
	const prefix = "020100" + // version 0
		"301006072a8648ce3d0201" + // id-ecPublicKey
		"06052b8104000a" // secp256k1
	if got := hex.EncodeToString(der); !strings.Contains(got[:60], prefix) {
		t.Errorf("P-256K Material.Private = %s..., want PKCS#8 containing %s", got[:60], prefix)
	}
	priv, err := parseSecp256k1(der)
	if err != nil {
		t.Fatalf("parseSecp256k1(Generate().Private) = %v", err)
	}
	again, err := marshalSecp256k1(priv)
	if err != nil || !bytes.Equal(again, der) {
		t.Errorf("marshalSecp256k1(parseSecp256k1(der)) = %x, %v; want the same DER", again, err)
	}
}

// TestFormatRedacts checks that printing Material or a Key in any way does
// not reveal private bytes.
func TestFormatRedacts(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []keys.Spec{rsa2048, p256, p256k, oct256} {
		t.Run(fmt.Sprintf("%s%s%d", spec.Type, spec.Curve, spec.Size), func(t *testing.T) {
			m, k := fixture(t, spec)
			priv := m.Private.Expose()
			// raw is the secret itself: the RSA private exponent, the EC
			// scalar or the AES key. Each rendering of it is a leak.
			var raw []byte
			switch {
			case spec.Type == keys.RSA:
				raw = privateOf(t, m).(*rsa.PrivateKey).D.Bytes()
			case spec.Curve == keys.P256K:
				pk, err := parseSecp256k1(priv)
				if err != nil {
					t.Fatal(err)
				}
				raw = pk.Serialize()
			case spec.Type == keys.EC:
				raw, _ = privateOf(t, m).(*ecdsa.PrivateKey).Bytes()
			default:
				raw = priv
			}
			leaks := []string{
				hex.EncodeToString(raw[:12]),
				hex.EncodeToString(raw[len(raw)-12:]),
				strings.Trim(fmt.Sprint(raw[:8]), "[]"),
				strings.Trim(fmt.Sprint(raw[len(raw)-8:]), "[]"),
				new(big.Int).SetBytes(raw).String()[:20],
			}
			check := func(what, out string) {
				t.Helper()
				for _, leak := range leaks {
					if strings.Contains(strings.ToLower(out), leak) {
						t.Errorf("%s = %q, reveals private bytes", what, out)
					}
				}
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
				check(fmt.Sprintf("Sprintf(%q, Material)", verb), fmt.Sprintf(verb, m))
				check(fmt.Sprintf("Sprintf(%q, &Material)", verb), fmt.Sprintf(verb, &m))
			}
			want := k.(fmt.Stringer).String()
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
				if got := fmt.Sprintf(verb, k); got != want {
					t.Errorf("Sprintf(%q, Key) = %q, want %q", verb, got, want)
				}
			}
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "key", k, "material", m)
			check("slog text", buf.String())
			buf.Reset()
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "key", k, "material", m)
			check("slog JSON", buf.String())

			// Errors from operations do not echo inputs either.
			_, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: priv[:min(len(priv), 256)]})
			if err != nil {
				check("Decrypt error", err.Error())
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, tc := range []struct {
		spec keys.Spec
		alg  keys.SignatureAlgorithm
	}{{rsa2048, keys.PS256}, {p256, keys.ES256}, {p256k, keys.ES256K}} {
		_, k := fixture(t, tc.spec)
		for i := range 4 {
			wg.Go(func() {
				digest := digestFor(tc.alg)
				digest[0] = byte(i)
				sig, err := k.Sign(ctx, tc.alg, digest)
				if err != nil {
					t.Errorf("Sign(%s) = %v", tc.alg, err)
					return
				}
				if ok, err := k.Verify(ctx, tc.alg, digest, sig); err != nil || !ok {
					t.Errorf("Verify(%s, Sign()) = %v, %v; want true, nil", tc.alg, ok, err)
				}
			})
		}
	}
	wg.Wait()
}
