package byok_test

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

const kid = "https://v1.vault.test/keys/kek/0123456789abcdef0123456789abcdef"

// unpack reverses Package in Go with the KEK's private key.
func unpack(t *testing.T, kek *rsa.PrivateKey, blob []byte) []byte {
	t.Helper()
	b, err := byok.Parse(blob)
	if err != nil {
		t.Fatalf("Parse(Package()) = %v", err)
	}
	if b.KID != kid || b.Generator != "test 1.0" {
		t.Errorf("Parse(Package()) = kid %q generator %q, want %q, %q", b.KID, b.Generator, kid, "test 1.0")
	}
	head := kek.Size()
	ephemeral, err := rsa.DecryptOAEP(sha1.New(), nil, kek, b.Ciphertext[:head], nil)
	if err != nil {
		t.Fatalf("RSA-OAEP-SHA1 decrypt of the ciphertext's head = %v", err)
	}
	if len(ephemeral) != 32 {
		t.Errorf("ephemeral key is %d bytes, want 32 (AES-256)", len(ephemeral))
	}
	block, _ := aes.NewCipher(ephemeral)
	_, dec := keywrap.Cipher(block)
	out, err := keywrap.UnwrapPad(dec, b.Ciphertext[head:])
	if err != nil {
		t.Fatalf("RFC 5649 unwrap of the ciphertext's tail = %v", err)
	}
	return out
}

func TestPackageRoundTrip(t *testing.T) {
	kek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	aesKey := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		name string
		key  any
	}{{"RSA", rsaKey}, {"EC", ecKey}, {"AES", aesKey}} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := byok.Package(rand.Reader, &kek.PublicKey, tc.key, kid, "test 1.0")
			if err != nil {
				t.Fatalf("Package() = %v", err)
			}
			var header struct {
				SchemaVersion string `json:"schema_version"`
				Header        struct{ Alg, Enc string }
			}
			if err := json.Unmarshal(blob, &header); err != nil || header.SchemaVersion != "1.0.0" || header.Header.Alg != "dir" || header.Header.Enc != "CKM_RSA_AES_KEY_WRAP" {
				t.Errorf("Package() header = %+v, %v; want schema 1.0.0, dir, CKM_RSA_AES_KEY_WRAP", header, err)
			}
			got := unpack(t, kek, blob)
			if k, ok := tc.key.([]byte); ok {
				if !bytes.Equal(got, k) {
					t.Errorf("unwrapped AES key differs from the packaged one")
				}
				return
			}
			want, _ := x509.MarshalPKCS8PrivateKey(tc.key)
			if !bytes.Equal(got, want) {
				t.Errorf("unwrapped key is not the packaged key's PKCS#8")
			}
		})
	}
}

func TestPackageRefuses(t *testing.T) {
	kek, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		kek  *rsa.PublicKey
		key  any
		kid  string
	}{
		{"small KEK", &small.PublicKey, rsaKey, kid},
		{"no kid", &kek.PublicKey, rsaKey, ""},
		{"AES of 20 bytes", &kek.PublicKey, make([]byte, 20), kid},
		{"public key", &kek.PublicKey, &rsaKey.PublicKey, kid},
	} {
		if _, err := byok.Package(rand.Reader, tc.kek, tc.key, tc.kid, "g"); err == nil {
			t.Errorf("Package(%s) = nil error, want an error", tc.name)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	good := `{"schema_version":"1.0.0","header":{"kid":"` + kid + `","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AAECAw","generator":"g"}`
	if b, err := byok.Parse([]byte(good)); err != nil || !bytes.Equal(b.Ciphertext, []byte{0, 1, 2, 3}) {
		t.Fatalf("Parse(good) = %+v, %v", b, err)
	}
	for _, tc := range []struct{ name, blob string }{
		{"empty", ``},
		{"not JSON", `hello`},
		{"array", `[]`},
		{"schema", strings.Replace(good, `"1.0.0"`, `"2.0.0"`, 1)},
		{"alg", strings.Replace(good, `"dir"`, `"RSA-OAEP"`, 1)},
		{"enc", strings.Replace(good, `"CKM_RSA_AES_KEY_WRAP"`, `"A256KW"`, 1)},
		{"no kid", strings.Replace(good, kid, ``, 1)},
		{"no ciphertext", strings.Replace(good, `"AAECAw"`, `""`, 1)},
		{"bad base64", strings.Replace(good, `"AAECAw"`, `"AA*CAw"`, 1)},
		{"unknown field", strings.Replace(good, `"generator"`, `"extra":1,"generator"`, 1)},
		{"trailing data", good + `{}`},
		{"control character in generator", strings.Replace(good, `"g"`, `"g\u0007"`, 1)},
		{"long generator", strings.Replace(good, `"g"`, `"`+strings.Repeat("g", 300)+`"`, 1)},
		{"too large", strings.Replace(good, `"g"`, `"`+strings.Repeat("g", byok.MaxSize)+`"`, 1)},
		{"upper-case member", strings.Replace(good, `"ciphertext"`, `"CipherText"`, 1)},
		{"upper-case header member", strings.Replace(good, `"kid"`, `"KID"`, 1)},
		{"duplicate ciphertext", strings.Replace(good, `"generator"`, `"ciphertext":"BBBB","generator"`, 1)},
		{"duplicate header", strings.Replace(good, `"generator"`, `"header":{"kid":"https://b.vault.test/keys/evil","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"generator"`, 1)},
		{"duplicate kid", strings.Replace(good, `"alg"`, `"kid":"https://b.vault.test/keys/evil","alg"`, 1)},
		{"unknown header member", strings.Replace(good, `"alg"`, `"x5c":[],"alg"`, 1)},
	} {
		_, err := byok.Parse([]byte(tc.blob))
		var fe *byok.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%s) = %v, want a *byok.FormatError", tc.name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	kek, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	blob, _ := byok.Package(rand.Reader, &kek.PublicKey, ec, kid, "fuzz")
	f.Add(blob)
	f.Add([]byte(`{"schema_version":"1.0.0","header":{"kid":"k","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := byok.Parse(data)
		if err != nil {
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("Marshal(Parse()) = %v", err)
		}
		again, err := byok.Parse(out)
		if err != nil || again.KID != b.KID || again.Generator != b.Generator || !bytes.Equal(again.Ciphertext, b.Ciphertext) {
			t.Fatalf("Parse(Marshal(Parse())) = %+v, %v, want %+v", again, err, b)
		}
	})
}
