package cli

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

func TestBYOKPackage(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, _ := x509.MarshalPKIXPublicKey(&kek.PublicKey)
	kekPEM := write("kek.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))
	const kid = "https://dev.localhost:8443/keys/kek/0123456789abcdef0123456789abcdef"
	show, _ := json.Marshal(map[string]any{"id": kid, "publicKey": map[string]string{
		"kty": "RSA-HSM", "n": base64.RawURLEncoding.EncodeToString(kek.N.Bytes()), "e": "AQAB"}})
	kekJSON := write("kek.json", show)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	keyPEM := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	aesKey := bytes.Repeat([]byte{9}, 32)
	aesFile := write("aes.bin", aesKey)
	wantEC, _ := x509.MarshalPKCS8PrivateKey(ec)

	tests := []struct {
		name string
		args []string
		want []byte
	}{
		{"PEM KEK", []string{"--kek-public", kekPEM, "--kek-id", kid, "--key", keyPEM}, wantEC},
		{"key show JSON KEK, kid from it", []string{"--kek-public", kekJSON, "--key", keyPEM}, wantEC},
		{"AES key", []string{"--kek-public", kekPEM, "--kek-id", kid, "--key", aesFile, "--oct"}, aesKey},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "out"+string(rune('0'+i))+".byok")
			if err := Execute(t.Context(), append([]string{"byok", "package", "--out", out}, tt.args...), Env{}); err != nil {
				t.Fatalf("byok package = %v", err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			b, err := byok.Parse(data)
			if err != nil {
				t.Fatalf("byok.Parse(output) = %v", err)
			}
			if b.KID != kid || b.Generator != generator {
				t.Errorf("blob kid, generator = %q, %q; want %q, %q", b.KID, b.Generator, kid, generator)
			}
			ephemeral, err := rsa.DecryptOAEP(sha1.New(), nil, kek, b.Ciphertext[:256], nil)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := aes.NewCipher(ephemeral)
			_, dec := keywrap.Cipher(block)
			got, err := keywrap.UnwrapPad(dec, b.Ciphertext[256:])
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("unwrapped key differs from the packaged one (err %v)", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no kid", []string{"--kek-public", kekPEM, "--key", keyPEM}, "--kek-id is required"},
		{"KEK not a key", []string{"--kek-public", keyPEM, "--kek-id", kid, "--key", keyPEM}, "no PEM public key"},
		{"key not PEM", []string{"--kek-public", kekPEM, "--kek-id", kid, "--key", aesFile}, "no PEM private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Execute(t.Context(), append([]string{"byok", "package", "--out", filepath.Join(dir, "x.byok")}, tc.args...), Env{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("byok package = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
