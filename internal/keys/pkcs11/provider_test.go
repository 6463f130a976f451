//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/secret"
)

var ctx = context.Background()

// keyCache holds one generated key per spec, so that RSA-4096 is made once.
var keyCache sync.Map

func generated(t testing.TB, spec keys.Spec) (keys.Material, keys.Key) {
	t.Helper()
	p := provider(t)
	name := fmt.Sprintf("%s-%d-%s-%s-%t", spec.Type, spec.Size, spec.Curve, spec.Owner, spec.UnwrapOnly)
	type entry struct {
		m keys.Material
		k keys.Key
	}
	if e, ok := keyCache.Load(name); ok {
		return e.(entry).m, e.(entry).k
	}
	m, err := p.Generate(ctx, spec)
	if err != nil {
		t.Fatalf("Generate(%+v) = %v", spec, err)
	}
	k, err := p.Load(ctx, m)
	if err != nil {
		t.Fatalf("Load(Generate(%+v)) = %v", spec, err)
	}
	keyCache.Store(name, entry{m, k})
	return m, k
}

func digest(alg keys.SignatureAlgorithm) []byte {
	h := alg.Hash().New()
	h.Write([]byte("keywarden " + string(alg)))
	return h.Sum(nil)
}

func inputError(err error) bool {
	var ie *keys.InputError
	return errors.As(err, &ie)
}

func TestGenerateSpec(t *testing.T) {
	tests := []struct {
		name string
		spec keys.Spec
		want keys.Spec
	}{
		{"RSA default", keys.Spec{Type: keys.RSA, Owner: "spec"}, keys.Spec{Type: keys.RSA, Size: 2048, PublicExponent: 65537, Protection: keys.HSM, Owner: "spec"}},
		{"EC default", keys.Spec{Type: keys.EC, Owner: "spec"}, keys.Spec{Type: keys.EC, Curve: keys.P256, Protection: keys.HSM, Owner: "spec"}},
		{"oct default", keys.Spec{Type: keys.Oct, Owner: "spec"}, keys.Spec{Type: keys.Oct, Size: 256, Protection: keys.HSM, Owner: "spec"}},
		{"EC P-521", keys.Spec{Type: keys.EC, Curve: keys.P521, Protection: keys.HSM}, keys.Spec{Type: keys.EC, Curve: keys.P521, Protection: keys.HSM}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, k := generated(t, tt.spec)
			if m.Spec != tt.want || k.Spec() != tt.want {
				t.Errorf("Generate(%+v).Spec = %+v, Load().Spec() = %+v, want %+v", tt.spec, m.Spec, k.Spec(), tt.want)
			}
			if got := string(m.Private.Expose()); !strings.HasPrefix(got, "kw-pkcs11:v1:") || len(got) > 100 {
				t.Errorf("Generate().Private = %q, want a short object reference", got)
			}
		})
	}
}

func TestGenerateRefuses(t *testing.T) {
	p := provider(t)
	tests := []struct {
		name string
		spec keys.Spec
		want string
	}{
		{"RSA 1024", keys.Spec{Type: keys.RSA, Size: 1024}, "Unsupported RSA key size 1024"},
		{"RSA exponent 3", keys.Spec{Type: keys.RSA, PublicExponent: 3}, "Unsupported RSA public exponent 3"},
		{"curve", keys.Spec{Type: keys.EC, Curve: "P-224"}, "Unsupported curve"},
		{"oct 512", keys.Spec{Type: keys.Oct, Size: 512}, "Unsupported oct key size 512"},
		{"type", keys.Spec{Type: "DSA"}, "Unsupported key type"},
		{"software", keys.Spec{Type: keys.EC, Protection: keys.Software}, "cannot hold keys with protection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Generate(ctx, tt.spec)
			if !inputError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Generate(%+v) = %v, want *keys.InputError containing %q", tt.spec, err, tt.want)
			}
		})
	}
}

// signSpecs are the key shapes of the signature tests.
func signSpecs(t testing.TB) []struct {
	spec keys.Spec
	algs []keys.SignatureAlgorithm
} {
	rsaAlgs := []keys.SignatureAlgorithm{keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512}
	specs := []struct {
		spec keys.Spec
		algs []keys.SignatureAlgorithm
	}{
		{keys.Spec{Type: keys.RSA, Size: 2048}, rsaAlgs},
		{keys.Spec{Type: keys.RSA, Size: 3072}, rsaAlgs},
		{keys.Spec{Type: keys.RSA, Size: 4096}, rsaAlgs},
		{keys.Spec{Type: keys.EC, Curve: keys.P256}, []keys.SignatureAlgorithm{keys.ES256}},
		{keys.Spec{Type: keys.EC, Curve: keys.P384}, []keys.SignatureAlgorithm{keys.ES384}},
		{keys.Spec{Type: keys.EC, Curve: keys.P521}, []keys.SignatureAlgorithm{keys.ES512}},
	}
	if _, _, _, k1 := pkcs11.Routes(provider(t)); k1 {
		specs = append(specs, struct {
			spec keys.Spec
			algs []keys.SignatureAlgorithm
		}{keys.Spec{Type: keys.EC, Curve: keys.P256K}, []keys.SignatureAlgorithm{keys.ES256K}})
	}
	return specs
}

func TestSignInterop(t *testing.T) {
	for _, s := range signSpecs(t) {
		_, k := generated(t, s.spec)
		for _, alg := range s.algs {
			shape := fmt.Sprintf("%s-%d", k.Spec().Type, k.Spec().Size)
			if k.Spec().Type == keys.EC {
				shape = string(k.Spec().Curve)
			}
			t.Run(shape+"/"+string(alg), func(t *testing.T) {
				d := digest(alg)
				sig, err := k.Sign(ctx, alg, d)
				if err != nil {
					t.Fatalf("Sign(%s) = %v", alg, err)
				}
				if err := verifyWithGo(k.Public(), alg, d, sig); err != nil {
					t.Errorf("Go verification of Sign(%s) = %v, want nil", alg, err)
				}
				if ok, err := k.Verify(ctx, alg, d, sig); !ok || err != nil {
					t.Errorf("Verify(%s, Sign()) = %v, %v, want true, nil", alg, ok, err)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 1
				if ok, err := k.Verify(ctx, alg, d, bad); ok || err != nil {
					t.Errorf("Verify(%s, tampered) = %v, %v, want false, nil", alg, ok, err)
				}
				if _, err := k.Sign(ctx, alg, d[1:]); !inputError(err) || !strings.Contains(err.Error(), "Invalid length of 'value'") {
					t.Errorf("Sign(%s, short digest) = %v, want the digest length *keys.InputError", alg, err)
				}
			})
		}
	}
}

// verifyWithGo checks sig with the standard library alone (and, for
// P-256K, keys.VerifyPublic); PSS must use a salt of the hash length.
func verifyWithGo(pub crypto.PublicKey, alg keys.SignatureAlgorithm, digest, sig []byte) error {
	h := alg.Hash()
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(string(alg), "PS") {
			return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h})
		}
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	case *keys.ECPublicKey:
		if pub.Curve == keys.P256K {
			s := new(big.Int).SetBytes(sig[32:])
			n, _ := new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
			if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
				return errors.New("high S")
			}
			if ok, err := keys.VerifyPublic(pub, alg, digest, sig); !ok || err != nil {
				return fmt.Errorf("VerifyPublic = %v, %v", ok, err)
			}
			return nil
		}
		k, err := pub.ECDSA()
		if err != nil {
			return err
		}
		size := keys.CurveSize(pub.Curve)
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if len(sig) != 2*size || !ecdsa.Verify(k, digest, r, s) {
			return errors.New("ecdsa.Verify failed")
		}
		return nil
	}
	return fmt.Errorf("unexpected public key %T", pub)
}

func TestRSADecryptInterop(t *testing.T) {
	for _, size := range []int{2048, 3072, 4096} {
		_, k := generated(t, keys.Spec{Type: keys.RSA, Size: size})
		pub := k.Public().(*rsa.PublicKey)
		msg := []byte("a 32-byte AES key, for example!!")
		goCiphertexts := map[keys.EncryptionAlgorithm]func() ([]byte, error){
			keys.RSA15:      func() ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, msg) },
			keys.RSAOAEP:    func() ([]byte, error) { return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, msg, nil) },
			keys.RSAOAEP256: func() ([]byte, error) { return rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil) },
		}
		for alg, encrypt := range goCiphertexts {
			t.Run(fmt.Sprintf("RSA-%d/%s", size, alg), func(t *testing.T) {
				ct, err := encrypt()
				if err != nil {
					t.Fatal(err)
				}
				got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: ct})
				if err != nil || !bytes.Equal(got.Expose(), msg) {
					t.Errorf("Decrypt(%s, Go ciphertext) = %q, %v, want %q", alg, got.Expose(), err, msg)
				}
				out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: msg})
				if err != nil {
					t.Fatalf("Encrypt(%s) = %v", alg, err)
				}
				got, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: out.Value})
				if err != nil || !bytes.Equal(got.Expose(), msg) {
					t.Errorf("Decrypt(Encrypt(%s)) = %q, %v, want %q", alg, got.Expose(), err, msg)
				}
				bad := bytes.Clone(ct)
				bad[len(bad)-1] ^= 1
				_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: bad})
				if !inputError(err) || !strings.HasPrefix(err.Error(), "Decryption failed") {
					t.Errorf("Decrypt(%s, tampered) = %v, want the decryption *keys.InputError", alg, err)
				}
				_, err = k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: ct[1:]})
				if !inputError(err) || !strings.Contains(err.Error(), "Invalid length of 'value'") {
					t.Errorf("Decrypt(%s, short) = %v, want the length *keys.InputError", alg, err)
				}
			})
		}
	}
	t.Run("OAEP-256 ciphertext as OAEP-SHA1", func(t *testing.T) {
		_, k := generated(t, keys.Spec{Type: keys.RSA, Size: 2048})
		ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, k.Public().(*rsa.PublicKey), []byte("x"), nil)
		if _, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: ct}); !inputError(err) {
			t.Errorf("Decrypt(RSA-OAEP, OAEP-256 ciphertext) = %v, want *keys.InputError", err)
		}
	})
}

func TestAlgorithmMismatch(t *testing.T) {
	_, rk := generated(t, keys.Spec{Type: keys.RSA, Size: 2048})
	_, ek := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256})
	_, ok := generated(t, keys.Spec{Type: keys.Oct, Size: 128})
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"ES256 with RSA", func() error { _, err := rk.Sign(ctx, keys.ES256, make([]byte, 32)); return err }, "Algorithm ES256 is not valid for an RSA key"},
		{"ES384 on P-256", func() error { _, err := ek.Sign(ctx, keys.ES384, make([]byte, 48)); return err }, "not valid for a key on curve P-256"},
		{"RS256 with oct", func() error { _, err := ok.Sign(ctx, keys.RS256, make([]byte, 32)); return err }, "Algorithm RS256 is not valid for an oct key"},
		{"encrypt with EC", func() error { _, err := ek.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP}); return err }, "Algorithm RSA-OAEP is not valid for an EC key"},
		{"AES alg with RSA", func() error { _, err := rk.Decrypt(ctx, keys.CipherInput{Algorithm: keys.A128GCM}); return err }, "Algorithm A128GCM is not valid for an RSA key"},
		{"RSA alg with oct", func() error { _, err := ok.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP}); return err }, "Algorithm RSA-OAEP is not valid for an oct key"},
		{"A256GCM with 128-bit key", func() error { _, err := ok.Encrypt(ctx, keys.CipherInput{Algorithm: keys.A256GCM}); return err }, "requires a 256-bit key"},
		{"unknown", func() error { _, err := ok.Encrypt(ctx, keys.CipherInput{Algorithm: "A128CTR"}); return err }, `Unsupported encryption algorithm "A128CTR"`},
		{"RSA plaintext too long", func() error {
			_, err := rk.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: make([]byte, 191)})
			return err
		}, "accepts at most 190 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !inputError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want *keys.InputError containing %q", err, tt.want)
			}
		})
	}
}

// importOct imports a known AES key into the token.
func importOct(t testing.TB, key []byte) keys.Key {
	t.Helper()
	p := provider(t)
	m, err := p.Import(ctx, keys.Spec{Type: keys.Oct, Owner: "vectors"}, secret.New(key))
	if err != nil {
		t.Fatalf("Import(oct) = %v", err)
	}
	k, err := p.Load(ctx, m)
	if err != nil {
		t.Fatalf("Load(Import(oct)) = %v", err)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Published vectors: RFC 3394 §4 and RFC 5649 §6.
var (
	rfc3394 = []struct{ name, kek, data, wrapped string }{
		{"4.1", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"4.2", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
		{"4.3", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
		{"4.4", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
		{"4.5", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
		{"4.6", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
	}
	rfc5649 = []struct{ name, kek, data, wrapped string }{
		{"20 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"7 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	}
)

func TestKeyWrapVectorsInToken(t *testing.T) {
	for _, v := range rfc3394 {
		k := importOct(t, unhex(t, v.kek))
		algs := []keys.EncryptionAlgorithm{keys.AESKeyWrap, map[int]keys.EncryptionAlgorithm{128: keys.A128KW, 192: keys.A192KW, 256: keys.A256KW}[k.Spec().Size]}
		data, want := unhex(t, v.data), unhex(t, v.wrapped)
		for _, alg := range algs {
			t.Run("RFC 3394 "+v.name+"/"+string(alg), func(t *testing.T) {
				out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: data})
				if err != nil || !bytes.Equal(out.Value, want) {
					t.Errorf("Encrypt(%s) = %X, %v, want %X", alg, out.Value, err, want)
				}
				got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: want})
				if err != nil || !bytes.Equal(got.Expose(), data) {
					t.Errorf("Decrypt(%s) = %X, %v, want %X", alg, got.Expose(), err, data)
				}
				bad := bytes.Clone(want)
				bad[3] ^= 1
				if _, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: bad}); !inputError(err) {
					t.Errorf("Decrypt(%s, tampered) = %v, want *keys.InputError", alg, err)
				}
			})
		}
		t.Run("RFC 3394 "+v.name+"/construction over CKM_AES_ECB", func(t *testing.T) {
			out, err := pkcs11.ConstructedWrap(ctx, k, false, data)
			if err != nil || !bytes.Equal(out, want) {
				t.Errorf("ConstructedWrap() = %X, %v, want %X", out, err, want)
			}
			got, err := pkcs11.ConstructedUnwrap(ctx, k, false, want)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("ConstructedUnwrap() = %X, %v, want %X", got, err, data)
			}
		})
	}
	for _, v := range rfc5649 {
		k := importOct(t, unhex(t, v.kek))
		data, want := unhex(t, v.data), unhex(t, v.wrapped)
		t.Run("RFC 5649 "+v.name, func(t *testing.T) {
			out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: data})
			if err != nil || !bytes.Equal(out.Value, want) {
				t.Errorf("Encrypt(CKM_AES_KEY_WRAP_PAD) = %x, %v, want %x", out.Value, err, want)
			}
			got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: want})
			if err != nil || !bytes.Equal(got.Expose(), data) {
				t.Errorf("Decrypt(CKM_AES_KEY_WRAP_PAD) = %x, %v, want %x", got.Expose(), err, data)
			}
			bad := bytes.Clone(want)
			bad[len(bad)-1] ^= 1
			if _, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: bad}); !inputError(err) {
				t.Errorf("Decrypt(CKM_AES_KEY_WRAP_PAD, tampered) = %v, want *keys.InputError", err)
			}
		})
	}
}

func TestAESModesAgainstGo(t *testing.T) {
	for _, size := range []int{128, 192, 256} {
		raw := make([]byte, size/8)
		_, _ = rand.Read(raw)
		k := importOct(t, raw)
		block, _ := aes.NewCipher(raw)
		gcm, _ := cipher.NewGCM(block)
		name := func(mode string) keys.EncryptionAlgorithm {
			return keys.EncryptionAlgorithm(fmt.Sprintf("A%d%s", size, mode))
		}
		for _, tc := range []struct {
			name string
			pt   []byte
			aad  []byte
		}{
			{"empty", nil, nil},
			{"aad", []byte("hello, world"), []byte("header")},
			{"long", bytes.Repeat([]byte("x"), 1000), nil},
		} {
			t.Run(fmt.Sprintf("%s/%s", name("GCM"), tc.name), func(t *testing.T) {
				alg := name("GCM")
				out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: tc.pt, AAD: tc.aad})
				if err != nil {
					t.Fatalf("Encrypt(%s) = %v", alg, err)
				}
				if len(out.IV) != 12 || len(out.Tag) != 16 {
					t.Fatalf("Encrypt(%s) iv, tag = %d, %d bytes, want 12, 16", alg, len(out.IV), len(out.Tag))
				}
				want := gcm.Seal(nil, out.IV, tc.pt, tc.aad)
				if got := append(bytes.Clone(out.Value), out.Tag...); !bytes.Equal(got, want) {
					t.Errorf("Encrypt(%s) = %x, want Go's %x", alg, got, want)
				}
				// A Go ciphertext with a fresh nonce decrypts in the token.
				iv := make([]byte, 12)
				_, _ = rand.Read(iv)
				sealed := gcm.Seal(nil, iv, tc.pt, tc.aad)
				ct, tag := sealed[:len(tc.pt)], sealed[len(tc.pt):]
				got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: ct, IV: iv, AAD: tc.aad, Tag: tag})
				if err != nil || !bytes.Equal(got.Expose(), tc.pt) {
					t.Errorf("Decrypt(%s, Go ciphertext) = %q, %v, want %q", alg, got.Expose(), err, tc.pt)
				}
				badTag := bytes.Clone(tag)
				badTag[0] ^= 1
				for what, in := range map[string]keys.CipherInput{
					"tag": {Algorithm: alg, Value: ct, IV: iv, AAD: tc.aad, Tag: badTag},
					"aad": {Algorithm: alg, Value: ct, IV: iv, AAD: []byte("other"), Tag: tag},
				} {
					if _, err := k.Decrypt(ctx, in); !inputError(err) || !strings.HasPrefix(err.Error(), "Decryption failed") {
						t.Errorf("Decrypt(%s, wrong %s) = %v, want the decryption *keys.InputError", alg, what, err)
					}
				}
			})
		}
		iv := make([]byte, 16)
		_, _ = rand.Read(iv)
		t.Run(string(name("CBC")), func(t *testing.T) {
			alg := name("CBC")
			pt := bytes.Repeat([]byte("0123456789abcdef"), 3)
			want := make([]byte, len(pt))
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, pt)
			out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: pt, IV: iv})
			if err != nil || !bytes.Equal(out.Value, want) || !bytes.Equal(out.IV, iv) {
				t.Errorf("Encrypt(%s) = %x (iv %x), %v, want %x", alg, out.Value, out.IV, err, want)
			}
			got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: want, IV: iv})
			if err != nil || !bytes.Equal(got.Expose(), pt) {
				t.Errorf("Decrypt(%s) = %q, %v, want %q", alg, got.Expose(), err, pt)
			}
			if _, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: pt[1:], IV: iv}); !inputError(err) {
				t.Errorf("Encrypt(%s, 47 bytes) = %v, want *keys.InputError", alg, err)
			}
		})
		t.Run(string(name("CBCPAD")), func(t *testing.T) {
			alg := name("CBCPAD")
			for _, n := range []int{0, 1, 15, 16, 33} {
				pt := bytes.Repeat([]byte{'p'}, n)
				pad := 16 - n%16
				padded := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(pad)}, pad)...)
				want := make([]byte, len(padded))
				cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, padded)
				out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: alg, Value: pt, IV: iv})
				if err != nil || !bytes.Equal(out.Value, want) {
					t.Errorf("Encrypt(%s, %d bytes) = %x, %v, want %x", alg, n, out.Value, err, want)
				}
				got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: want, IV: iv})
				if err != nil || !bytes.Equal(got.Expose(), pt) {
					t.Errorf("Decrypt(%s, %d bytes) = %q, %v, want %q", alg, n, got.Expose(), err, pt)
				}
			}
			// A last block that does not unpad is a decryption failure.
			bad := make([]byte, 16)
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(bad, bytes.Repeat([]byte{0x11}, 16))
			if _, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: alg, Value: bad, IV: iv}); !inputError(err) {
				t.Errorf("Decrypt(%s, bad padding) = %v, want *keys.InputError", alg, err)
			}
		})
		t.Run(fmt.Sprintf("A%d input checks", size), func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				encrypt bool
				in      keys.CipherInput
				want    string
			}{
				{"GCM client iv", true, keys.CipherInput{Algorithm: name("GCM"), IV: make([]byte, 12)}, "'iv' must not be set"},
				{"GCM short iv", false, keys.CipherInput{Algorithm: name("GCM"), IV: make([]byte, 8), Tag: make([]byte, 16)}, "Invalid length of 'iv': 8 bytes"},
				{"GCM short tag", false, keys.CipherInput{Algorithm: name("GCM"), IV: make([]byte, 12), Tag: make([]byte, 12)}, "Invalid length of 'tag': 12 bytes"},
				{"CBC no iv", true, keys.CipherInput{Algorithm: name("CBC"), Value: make([]byte, 16)}, "Invalid length of 'iv': 0 bytes"},
				{"CBCPAD ragged ciphertext", false, keys.CipherInput{Algorithm: name("CBCPAD"), Value: make([]byte, 17), IV: iv}, "Invalid length of 'value': 17 bytes"},
				{"KW short", true, keys.CipherInput{Algorithm: name("KW"), Value: make([]byte, 8)}, "Invalid length of 'value': 8 bytes"},
				{"KW ragged", false, keys.CipherInput{Algorithm: name("KW"), Value: make([]byte, 30)}, "Invalid length of 'value': 30 bytes"},
				{"KWP empty", true, keys.CipherInput{Algorithm: keys.AESKeyWrapPad}, "Invalid length of 'value': 0 bytes"},
			} {
				var err error
				if tc.encrypt {
					_, err = k.Encrypt(ctx, tc.in)
				} else {
					_, err = k.Decrypt(ctx, tc.in)
				}
				if !inputError(err) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got %v, want *keys.InputError containing %q", tc.name, err, tc.want)
				}
			}
		})
	}
}

func TestKeyWrapPadRoundTripInToken(t *testing.T) {
	_, k := generated(t, keys.Spec{Type: keys.Oct, Size: 256})
	for _, n := range []int{1, 7, 8, 9, 16, 31, 32, 33, 1218} {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: data})
		if err != nil {
			t.Fatalf("Encrypt(CKM_AES_KEY_WRAP_PAD, %d bytes) = %v", n, err)
		}
		got, err := k.Decrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: out.Value})
		if err != nil || !bytes.Equal(got.Expose(), data) {
			t.Errorf("Decrypt(Encrypt(CKM_AES_KEY_WRAP_PAD, %d bytes)) = %x, %v, want %x", n, got.Expose(), err, data)
		}
	}
}

func TestImport(t *testing.T) {
	p := provider(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecPub, _ := keys.NewECPublicKey(&ecKey.PublicKey)
	ecD, _ := ecKey.Bytes()
	tests := []struct {
		name string
		spec keys.Spec
		priv any
		alg  keys.SignatureAlgorithm
		pub  crypto.PublicKey
	}{
		{"RSA", keys.Spec{Type: keys.RSA, Owner: "import"}, rsaKey, keys.PS256, &rsaKey.PublicKey},
		{"EC P-384", keys.Spec{Type: keys.EC, Owner: "import"}, &keys.ECPrivateKey{Public: *ecPub, D: secret.New(ecD)}, keys.ES384, ecPub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := p.Import(ctx, tt.spec, tt.priv)
			if err != nil {
				t.Fatalf("Import() = %v", err)
			}
			if m.Spec.Protection != keys.HSM || !m.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.pub) {
				t.Errorf("Import() = spec %+v, public %v; want hsm and the imported public key", m.Spec, m.Public)
			}
			k, err := p.Load(ctx, m)
			if err != nil {
				t.Fatalf("Load() = %v", err)
			}
			d := digest(tt.alg)
			sig, err := k.Sign(ctx, tt.alg, d)
			if err != nil {
				t.Fatalf("Sign() = %v", err)
			}
			if err := verifyWithGo(tt.pub, tt.alg, d, sig); err != nil {
				t.Errorf("verify Sign() with the original public key = %v", err)
			}
		})
	}
	t.Run("invalid keys", func(t *testing.T) {
		bad := *rsaKey
		bad.D = new(big.Int).Add(rsaKey.D, big.NewInt(2))
		bad.Precomputed = rsa.PrecomputedValues{}
		otherPub := *ecPub
		otherPub.X = bytes.Clone(ecPub.Y)
		for name, in := range map[string]struct {
			spec keys.Spec
			priv any
		}{
			"inconsistent RSA":  {keys.Spec{Type: keys.RSA}, &bad},
			"EC point mismatch": {keys.Spec{Type: keys.EC}, &keys.ECPrivateKey{Public: otherPub, D: secret.New(ecD)}},
			"oct 100 bits":      {keys.Spec{Type: keys.Oct}, secret.New(make([]byte, 13))},
			"wrong type":        {keys.Spec{Type: keys.EC}, rsaKey},
		} {
			if _, err := p.Import(ctx, in.spec, in.priv); !inputError(err) {
				t.Errorf("Import(%s) = %v, want *keys.InputError", name, err)
			}
		}
	})
}

func TestOwnerIsolation(t *testing.T) {
	p := provider(t)
	m, err := p.Generate(ctx, keys.Spec{Type: keys.EC, Owner: "vault-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(ctx, m); err != nil {
		t.Fatalf("Load(own material) = %v", err)
	}
	other := m
	other.Spec.Owner = "vault-b"
	if _, err := p.Load(ctx, other); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("Load(Owner vault-b) = %v, want ErrCorrupt", err)
	}
	// A reference forged to name vault-b with vault-a's object id reaches
	// the object, whose label still says vault-a.
	id := strings.Split(string(m.Private.Expose()), ":")[2]
	forged := other
	forged.Private = secret.New([]byte("kw-pkcs11:v1:" + id + ":vault-b"))
	forged.Public = nil
	if _, err := p.Load(ctx, forged); !errors.Is(err, keys.ErrCorrupt) || !strings.Contains(err.Error(), "another owner") {
		t.Errorf("Load(forged reference) = %v, want ErrCorrupt naming another owner", err)
	}
}

func TestLoadErrors(t *testing.T) {
	p := provider(t)
	m, _ := generated(t, keys.Spec{Type: keys.RSA, Size: 2048})
	_, ecm := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256})
	tests := []struct {
		name   string
		mutate func(*keys.Material)
	}{
		{"software protection", func(m *keys.Material) { m.Spec.Protection = keys.Software }},
		{"not a reference", func(m *keys.Material) { m.Private = secret.New([]byte("MIIEvQ...")) }},
		{"bad id", func(m *keys.Material) { m.Private = secret.New([]byte("kw-pkcs11:v1:zz:")) }},
		{"unknown id", func(m *keys.Material) {
			m.Private = secret.New([]byte("kw-pkcs11:v1:00000000000000000000000000000000:"))
		}},
		{"wrong size", func(m *keys.Material) { m.Spec.Size = 4096 }},
		{"wrong type", func(m *keys.Material) { m.Spec.Type = keys.EC; m.Spec.Curve = keys.P256; m.Public = nil }},
		{"other public key", func(m *keys.Material) { m.Public = ecm.Public() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := m
			tt.mutate(&c)
			if _, err := p.Load(ctx, c); !errors.Is(err, keys.ErrCorrupt) {
				t.Errorf("Load() = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestNonExtractable(t *testing.T) {
	p := provider(t)
	_, rk := generated(t, keys.Spec{Type: keys.RSA, Size: 2048})
	_, ek := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256})
	_, ok := generated(t, keys.Spec{Type: keys.Oct, Size: 256})
	for _, tc := range []struct {
		name string
		k    keys.Key
		attr uint
	}{
		{"RSA CKA_PRIVATE_EXPONENT", rk, p11.CKA_PRIVATE_EXPONENT},
		{"RSA CKA_PRIME_1", rk, p11.CKA_PRIME_1},
		{"EC CKA_VALUE", ek, p11.CKA_VALUE},
		{"AES CKA_VALUE", ok, p11.CKA_VALUE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv, _, err := pkcs11.Handles(ctx, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			err = pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
				attrs, err := m.GetAttributeValue(sh, priv, []*p11.Attribute{p11.NewAttribute(tc.attr, nil)})
				if !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
					t.Errorf("C_GetAttributeValue(%s) = %v, %v, want CKR_ATTRIBUTE_SENSITIVE", tc.name, attrs, err)
				}
				attrs, err = m.GetAttributeValue(sh, priv, []*p11.Attribute{
					p11.NewAttribute(p11.CKA_SENSITIVE, nil),
					p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
					p11.NewAttribute(p11.CKA_WRAP_WITH_TRUSTED, nil),
					p11.NewAttribute(p11.CKA_PRIVATE, nil),
					p11.NewAttribute(p11.CKA_TOKEN, nil),
				})
				if err != nil {
					return err
				}
				for _, a := range attrs {
					if !bytes.Equal(a.Value, []byte{1}) {
						t.Errorf("attribute 0x%x = %x, want true", a.Type, a.Value)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("wrap only with the trusted key", func(t *testing.T) {
		rsaPriv, _, _ := pkcs11.Handles(ctx, rk)
		aesKey, _, _ := pkcs11.Handles(ctx, ok)
		err := pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
			trusted, err := pkcs11.TrustedKey(m, sh)
			if err != nil || trusted == 0 {
				t.Fatalf("TrustedKey() = %v, %v, want the SO's trusted key", trusted, err)
			}
			untrusted, err := m.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
				p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
				p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
				p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
				p11.NewAttribute(p11.CKA_TOKEN, false),
				p11.NewAttribute(p11.CKA_WRAP, true),
			})
			if err != nil {
				return err
			}
			defer func() { _ = m.DestroyObject(sh, untrusted) }()
			for _, target := range []struct {
				name string
				h    p11.ObjectHandle
				mech uint
			}{
				{"RSA private key", rsaPriv, p11.CKM_AES_KEY_WRAP_PAD},
				{"AES key", aesKey, p11.CKM_AES_KEY_WRAP},
			} {
				mech := []*p11.Mechanism{p11.NewMechanism(target.mech, nil)}
				if w, err := m.WrapKey(sh, mech, untrusted, target.h); err == nil {
					t.Errorf("C_WrapKey(untrusted key, %s) = %d bytes, nil; want an error", target.name, len(w))
				}
				if w, err := m.WrapKey(sh, mech, trusted, target.h); err != nil || len(w) == 0 {
					t.Errorf("C_WrapKey(trusted key, %s) = %d bytes, %v; want the wrapped key", target.name, len(w), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestProbe(t *testing.T) {
	paths := provider(t).Probe(ctx)
	byAlg := map[string]pkcs11.MechanismPath{}
	for _, mp := range paths {
		t.Log(mp)
		byAlg[mp.Algorithm] = mp
	}
	for _, alg := range []string{"RS256/RS384/RS512", "PS256/PS384/PS512", "ES256/ES384/ES512", "RSA1_5 decrypt", "RSA-OAEP decrypt",
		"RSA-OAEP-256 decrypt", "A128GCM/A192GCM/A256GCM", "A128CBC/A192CBC/A256CBC", "A128CBCPAD/A192CBCPAD/A256CBCPAD",
		"A128KW/A192KW/A256KW, CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD", "BYOK import (CKM_RSA_AES_KEY_WRAP)"} {
		if mp, ok := byAlg[alg]; !ok || !mp.Available {
			t.Errorf("Probe()[%q] = %v, want available", alg, mp)
		}
	}
	_, kwp, oaep256, _ := pkcs11.Routes(provider(t))
	if mp := byAlg["RSA-OAEP-256 decrypt"]; mp.Native != oaep256 || (!oaep256 && !strings.Contains(mp.Path, "CKM_RSA_X_509 + OAEP decode in Go")) {
		t.Errorf("Probe()[RSA-OAEP-256] = %v, inconsistent with route native=%v", mp, oaep256)
	}
	if mp := byAlg["CKM_AES_KEY_WRAP_PAD"]; mp.Native != kwp {
		t.Errorf("Probe()[CKM_AES_KEY_WRAP_PAD] = %v, inconsistent with route native=%v", mp, kwp)
	}
}

func TestKeyNeverPrintsMaterial(t *testing.T) {
	_, k := generated(t, keys.Spec{Type: keys.Oct, Size: 256})
	for _, f := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if got := fmt.Sprintf(f, k); !strings.HasPrefix(got, "hsm oct-256 key kw/") {
			t.Errorf("Sprintf(%q, key) = %q, want the description", f, got)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	_, ek := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256})
	_, rk := generated(t, keys.Spec{Type: keys.RSA, Size: 2048})
	_, ok := generated(t, keys.Spec{Type: keys.Oct, Size: 256})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			for range 5 {
				var err error
				switch i % 3 {
				case 0:
					var sig []byte
					if sig, err = ek.Sign(ctx, keys.ES256, digest(keys.ES256)); err == nil {
						err = verifyWithGo(ek.Public(), keys.ES256, digest(keys.ES256), sig)
					}
				case 1:
					var out keys.CipherOutput
					if out, err = rk.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("m")}); err == nil {
						_, err = rk.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: out.Value})
					}
				case 2:
					var out keys.CipherOutput
					if out, err = ok.Encrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: []byte("secret")}); err == nil {
						_, err = ok.Decrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: out.Value})
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent operation = %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	_, k := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.Sign(c, keys.ES256, digest(keys.ES256)); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign(cancelled context) = %v, want context.Canceled", err)
	}
}
