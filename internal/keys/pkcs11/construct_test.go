package pkcs11

import (
	"bytes"
	"crypto"
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
