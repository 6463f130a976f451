package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"math/big"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goBlocks returns Go's AES block operation under key as blockFuncs.
func goBlocks(t testing.TB, key []byte) (enc, dec blockFunc) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	run := func(f func(dst, src []byte)) blockFunc {
		return func(in []byte) ([]byte, error) {
			out := make([]byte, len(in))
			for i := 0; i < len(in); i += 16 {
				f(out[i:i+16], in[i:i+16])
			}
			return out, nil
		}
	}
	return run(b.Encrypt), run(b.Decrypt)
}

// rfc3394Vectors are RFC 3394 §4.1 to §4.6.
var rfc3394Vectors = []struct{ name, kek, data, wrapped string }{
	{"4.1 128-bit data, 128-bit KEK", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
	{"4.2 128-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
	{"4.3 128-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
	{"4.4 192-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
	{"4.5 192-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
	{"4.6 256-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
}

// rfc5649Vectors are RFC 5649 §6.
var rfc5649Vectors = []struct{ name, kek, data, wrapped string }{
	{"20 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
	{"7 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
}

func TestKeyWrapVectors(t *testing.T) {
	for _, v := range rfc3394Vectors {
		t.Run("RFC 3394 "+v.name, func(t *testing.T) {
			enc, dec := goBlocks(t, unhex(t, v.kek))
			data, want := unhex(t, v.data), unhex(t, v.wrapped)
			if got, err := keyWrap(enc, data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("keyWrap() = %x, %v, want %x", got, err, want)
			}
			if got, err := keyUnwrap(dec, want); err != nil || !bytes.Equal(got, data) {
				t.Errorf("keyUnwrap() = %x, %v, want %x", got, err, data)
			}
			for i := range want {
				bad := bytes.Clone(want)
				bad[i] ^= 1
				if got, err := keyUnwrap(dec, bad); !errors.Is(err, errUnwrap) {
					t.Fatalf("keyUnwrap(byte %d flipped) = %x, %v, want errUnwrap", i, got, err)
				}
			}
		})
	}
	for _, v := range rfc5649Vectors {
		t.Run("RFC 5649 "+v.name, func(t *testing.T) {
			enc, dec := goBlocks(t, unhex(t, v.kek))
			data, want := unhex(t, v.data), unhex(t, v.wrapped)
			if got, err := keyWrapPad(enc, data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("keyWrapPad() = %x, %v, want %x", got, err, want)
			}
			if got, err := keyUnwrapPad(dec, want); err != nil || !bytes.Equal(got, data) {
				t.Errorf("keyUnwrapPad() = %x, %v, want %x", got, err, data)
			}
			for i := range want {
				bad := bytes.Clone(want)
				bad[i] ^= 0x80
				if got, err := keyUnwrapPad(dec, bad); !errors.Is(err, errUnwrap) {
					t.Fatalf("keyUnwrapPad(byte %d flipped) = %x, %v, want errUnwrap", i, got, err)
				}
			}
		})
	}
}

func TestKeyWrapPadRoundTrip(t *testing.T) {
	enc, dec := goBlocks(t, unhex(t, rfc5649Vectors[0].kek))
	for n := 1; n <= 70; n++ {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		c, err := keyWrapPad(enc, data)
		if err != nil || len(c) != (n+7)/8*8+8 {
			t.Fatalf("keyWrapPad(%d bytes) = %d bytes, %v", n, len(c), err)
		}
		if got, err := keyUnwrapPad(dec, c); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("keyUnwrapPad(keyWrapPad(%d bytes)) = %x, %v, want %x", n, got, err, data)
		}
	}
	// A wrap whose MLI claims more bytes than were padded, or non-zero
	// padding, must fail: wrap a crafted block with the right AIV.
	for _, tc := range []struct {
		name string
		aiv  string
		p    string
	}{
		{"mli too large", "A65959A600000009", "0102030405060708"},
		{"mli too small", "A65959A600000000", "0102030405060708"},
		{"non-zero padding", "A65959A600000007", "0102030405060708"},
		{"wrong constant", "A65959A700000008", "0102030405060708"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := enc(append(unhex(t, tc.aiv), unhex(t, tc.p)...))
			if got, err := keyUnwrapPad(dec, c); !errors.Is(err, errUnwrap) {
				t.Errorf("keyUnwrapPad() = %x, %v, want errUnwrap", got, err)
			}
		})
	}
}

func TestKeyWrapRefusesShortInput(t *testing.T) {
	enc, dec := goBlocks(t, unhex(t, rfc3394Vectors[0].kek))
	for _, n := range []int{0, 8, 12, 17} {
		if _, err := keyWrap(enc, make([]byte, n)); err == nil {
			t.Errorf("keyWrap(%d bytes) = nil error, want an error", n)
		}
	}
	for _, n := range []int{0, 16, 23} {
		if _, err := keyUnwrap(dec, make([]byte, n)); !errors.Is(err, errUnwrap) {
			t.Errorf("keyUnwrap(%d bytes) = %v, want errUnwrap", n, err)
		}
	}
	if _, err := keyWrapPad(enc, nil); err == nil {
		t.Error("keyWrapPad(nil) = nil error, want an error")
	}
}

// rawDecrypt is the RSA private operation c^d mod n, left-padded to the
// modulus length: what CKM_RSA_X_509 returns.
func rawDecrypt(priv *rsa.PrivateKey, c []byte) []byte {
	m := new(big.Int).Exp(new(big.Int).SetBytes(c), priv.D, priv.N)
	return m.FillBytes(make([]byte, priv.Size()))
}

func TestDecodeOAEP(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := priv.Size()
	for _, h := range []struct {
		name string
		new  func() hash.Hash
	}{{"SHA-1", sha1.New}, {"SHA-256", sha256.New}} {
		max := k - 2*h.new().Size() - 2
		for _, n := range []int{0, 1, 32, max} {
			msg := make([]byte, n)
			_, _ = rand.Read(msg)
			ct, err := rsa.EncryptOAEP(h.new(), rand.Reader, &priv.PublicKey, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeOAEP(h.new(), rawDecrypt(priv, ct), k, nil)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("%s: decodeOAEP(EncryptOAEP(%d bytes)) = %x, %v, want %x", h.name, n, got, err, msg)
			}
		}
		t.Run(h.name+" rejects", func(t *testing.T) {
			msg := []byte("attack at dawn")
			ct, _ := rsa.EncryptOAEP(h.new(), rand.Reader, &priv.PublicKey, msg, nil)
			em := rawDecrypt(priv, ct)
			labelled, _ := rsa.EncryptOAEP(h.new(), rand.Reader, &priv.PublicKey, msg, []byte("label"))
			other := sha1.New
			if h.name == "SHA-1" {
				other = sha256.New
			}
			wrongHash, _ := rsa.EncryptOAEP(other(), rand.Reader, &priv.PublicKey, msg, nil)
			cases := map[string][]byte{
				"first byte":   append([]byte{1}, em[1:]...),
				"seed":         flip(em, 5),
				"label hash":   flip(em, 1+h.new().Size()+3),
				"last byte":    flip(em, len(em)-1-len(msg)),
				"other label":  rawDecrypt(priv, labelled),
				"other hash":   rawDecrypt(priv, wrongHash),
				"zeros":        make([]byte, k),
				"short":        em[1:],
				"random bytes": randomBytes(k),
			}
			for name, in := range cases {
				if got, err := decodeOAEP(h.new(), in, k, nil); !errors.Is(err, errOAEP) {
					t.Errorf("decodeOAEP(%s) = %x, %v, want errOAEP", name, got, err)
				}
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestDigestInfoPrefix(t *testing.T) {
	// CKM_RSA_PKCS over prefix||digest must equal crypto/rsa's PKCS#1 v1.5
	// signature: sign the encoded message with the raw private operation
	// and verify it with rsa.VerifyPKCS1v15.
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		digest := randomBytes(h.Size())
		di := append(digestInfoPrefix(h), digest...)
		em := make([]byte, priv.Size())
		em[1] = 1
		for i := 2; i < len(em)-len(di)-1; i++ {
			em[i] = 0xff
		}
		copy(em[len(em)-len(di):], di)
		sig := rawDecrypt(priv, em)
		if err := rsa.VerifyPKCS1v15(&priv.PublicKey, h, digest, sig); err != nil {
			t.Errorf("VerifyPKCS1v15(%v, DigestInfo signature) = %v, want nil", h, err)
		}
	}
}
