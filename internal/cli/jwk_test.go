package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/go-cmp/cmp"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// rsaFromJWK rebuilds an RSA private key from a JWK.
func rsaFromJWK(t *testing.T, k *azkeys.JSONWebKey) *rsa.PrivateKey {
	t.Helper()
	n := func(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n(k.N), E: int(n(k.E).Int64())},
		D:         n(k.D),
		Primes:    []*big.Int{n(k.P), n(k.Q)},
	}
	key.Precompute()
	if err := key.Validate(); err != nil {
		t.Fatalf("JWK is not a valid RSA key: %v", err)
	}
	for name, pair := range map[string][2][]byte{
		"dp": {k.DP, key.Precomputed.Dp.Bytes()},
		"dq": {k.DQ, key.Precomputed.Dq.Bytes()},
		"qi": {k.QI, key.Precomputed.Qinv.Bytes()},
	} {
		if diff := cmp.Diff(pair[1], pair[0]); diff != "" {
			t.Errorf("JWK %s mismatch (-want +got):\n%s", name, diff)
		}
	}
	return key
}

func TestJWKFromPEMRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
	}{
		{"PKCS#8", pemBlock("PRIVATE KEY", pkcs8)},
		{"PKCS#1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))},
		{"after a certificate", append(pemBlock("CERTIFICATE", []byte{1, 2, 3}), pemBlock("PRIVATE KEY", pkcs8)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwk, err := jwkFromPEM(tt.pem)
			if err != nil {
				t.Fatalf("jwkFromPEM() error = %v", err)
			}
			if got := deref(jwk.Kty); got != azkeys.KeyTypeRSA {
				t.Errorf("jwkFromPEM().Kty = %q, want RSA", got)
			}
			if diff := cmp.Diff([]byte{1, 0, 1}, jwk.E); diff != "" {
				t.Errorf("jwkFromPEM().E mismatch (-want +got):\n%s", diff)
			}
			if got := rsaFromJWK(t, jwk); !got.Equal(key) {
				t.Errorf("jwkFromPEM() rebuilt a different key")
			}
			if jwk.X != nil || jwk.Y != nil || jwk.Crv != nil {
				t.Errorf("jwkFromPEM() set EC fields on an RSA key")
			}
		})
	}
}

// RFC 7517, Appendix A.2: the example P-256 private key.
const (
	rfcX = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
	rfcY = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
	rfcD = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
)

func TestJWKFromPEMP256(t *testing.T) {
	d, err := decodeBase64URL("d", rfcD)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// openssl ecparam -genkey writes an EC PARAMETERS block first.
	params := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	tests := []struct {
		name string
		pem  []byte
	}{
		{"PKCS#8", pemBlock("PRIVATE KEY", pkcs8)},
		{"SEC1", pemBlock("EC PRIVATE KEY", sec1)},
		{"SEC1 with parameters", append(params, pemBlock("EC PRIVATE KEY", sec1)...)},
	}
	type ecJWK struct{ Kty, Crv, X, Y, D string }
	want := ecJWK{"EC", "P-256", rfcX, rfcY, rfcD}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jwk, err := jwkFromPEM(tt.pem)
			if err != nil {
				t.Fatalf("jwkFromPEM() error = %v", err)
			}
			got := ecJWK{string(deref(jwk.Kty)), string(deref(jwk.Crv)), encodeBase64URL(jwk.X), encodeBase64URL(jwk.Y), encodeBase64URL(jwk.D)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("jwkFromPEM() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJWKFromPEMECFixedLength checks that coordinates and d keep their
// leading zero bytes, as RFC 7518 requires.
func TestJWKFromPEMECFixedLength(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		size := (c.Params().BitSize + 7) / 8
		for range 20 {
			key, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			jwk, err := jwkFromPEM(pemBlock("PRIVATE KEY", der))
			if err != nil {
				t.Fatalf("jwkFromPEM(%s) error = %v", c.Params().Name, err)
			}
			if len(jwk.X) != size || len(jwk.Y) != size || len(jwk.D) != size {
				t.Fatalf("jwkFromPEM(%s) lengths x=%d y=%d d=%d, want %d", c.Params().Name, len(jwk.X), len(jwk.Y), len(jwk.D), size)
			}
			if got := string(deref(jwk.Crv)); got != c.Params().Name {
				t.Errorf("jwkFromPEM().Crv = %q, want %q", got, c.Params().Name)
			}
		}
	}
}

func TestJWKFromPEMErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no PEM private key found"},
		{"certificate only", pemBlock("CERTIFICATE", []byte{1}), "no PEM private key found"},
		{"encrypted", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}), "encrypted PEM private keys are not supported"},
		{"garbage PKCS#8", pemBlock("PRIVATE KEY", []byte("secret-bytes")), "parse PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwkFromPEM(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("jwkFromPEM() error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-bytes") {
				t.Errorf("jwkFromPEM() error %q echoes key bytes", err)
			}
		})
	}
}

func TestJWKFromJSON(t *testing.T) {
	ecJSON := `{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `","d":"` + rfcD + `","key_ops":["sign"]}`
	k, err := jwkFromJSON([]byte(ecJSON))
	if err != nil {
		t.Fatalf("jwkFromJSON() error = %v", err)
	}
	if got := encodeBase64URL(k.D); got != rfcD || deref(k.Crv) != azkeys.CurveNameP256 || len(k.KeyOps) != 1 {
		t.Errorf("jwkFromJSON() = d %q crv %v ops %d, want the RFC key", got, deref(k.Crv), len(k.KeyOps))
	}
	// A JWK made from PEM survives a JSON round trip.
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	fromPEM, err := jwkFromPEM(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(fromPEM)
	if err != nil {
		t.Fatal(err)
	}
	back, err := jwkFromJSON(data)
	if err != nil {
		t.Fatalf("jwkFromJSON(round trip) error = %v", err)
	}
	if diff := cmp.Diff(fromPEM, back); diff != "" {
		t.Errorf("JWK round trip mismatch (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		`{`,
		`{"crv":"P-256","d":"AA"}`,
		`{"kty":"EC","crv":"P-256","x":"` + rfcX + `","y":"` + rfcY + `"}`,
		`{"kty":"oct"}`,
		`{"kty":"RSA","d":"!!!"}`,
	} {
		if _, err := jwkFromJSON([]byte(bad)); err == nil {
			t.Errorf("jwkFromJSON(%s) error = nil, want an error", bad)
		}
	}
}

func TestClearJWK(t *testing.T) {
	d := []byte{1, 2, 3}
	k := &azkeys.JSONWebKey{D: d, N: []byte{9}}
	clearJWK(k)
	clearJWK(nil)
	if diff := cmp.Diff([]byte{0, 0, 0}, d); diff != "" {
		t.Errorf("clearJWK() left d (-want +got):\n%s", diff)
	}
	if k.N[0] != 9 {
		t.Errorf("clearJWK() cleared the public n")
	}
}
