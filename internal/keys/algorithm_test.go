package keys

import (
	"errors"
	"testing"
)

func TestCurveSize(t *testing.T) {
	tests := []struct {
		c    Curve
		want int
	}{
		{P256, 32}, {P384, 48}, {P521, 66}, {P256K, 32}, {"P-224", 0}, {"", 0},
	}
	for _, tt := range tests {
		if got := CurveSize(tt.c); got != tt.want {
			t.Errorf("CurveSize(%q) = %d, want %d", tt.c, got, tt.want)
		}
	}
}

func TestDigestSize(t *testing.T) {
	tests := []struct {
		alg  SignatureAlgorithm
		want int
	}{
		{RS256, 32}, {RS384, 48}, {RS512, 64},
		{PS256, 32}, {PS384, 48}, {PS512, 64},
		{ES256, 32}, {ES384, 48}, {ES512, 64}, {ES256K, 32},
		{"HS256", 0}, {"RSNULL", 0}, {"", 0},
	}
	for _, tt := range tests {
		if got := DigestSize(tt.alg); got != tt.want {
			t.Errorf("DigestSize(%q) = %d, want %d", tt.alg, got, tt.want)
		}
	}
}

func TestCheckSignatureAlgorithm(t *testing.T) {
	rsa := Spec{Type: RSA, Size: 2048}
	p256 := Spec{Type: EC, Curve: P256}
	k1 := Spec{Type: EC, Curve: P256K}
	tests := []struct {
		name    string
		spec    Spec
		alg     SignatureAlgorithm
		wantErr string // "" means valid
	}{
		{"RS256 on RSA", rsa, RS256, ""},
		{"PS512 on RSA", rsa, PS512, ""},
		{"ES256 on P-256", p256, ES256, ""},
		{"ES384 on P-384", Spec{Type: EC, Curve: P384}, ES384, ""},
		{"ES512 on P-521", Spec{Type: EC, Curve: P521}, ES512, ""},
		{"ES256K on P-256K", k1, ES256K, ""},
		{"ES384 on P-256", p256, ES384, "Algorithm ES384 is not valid for a key on curve P-256"},
		{"ES256 on P-256K", k1, ES256, "Algorithm ES256 is not valid for a key on curve P-256K"},
		{"ES256K on P-256", p256, ES256K, "Algorithm ES256K is not valid for a key on curve P-256"},
		{"ES256 on RSA", rsa, ES256, "Algorithm ES256 is not valid for an RSA key"},
		{"RS256 on EC", p256, RS256, "Algorithm RS256 is not valid for an EC key"},
		{"PS256 on oct", Spec{Type: Oct, Size: 256}, PS256, "Algorithm PS256 is not valid for an oct key"},
		{"unknown", rsa, "RSNULL", `Unsupported signature algorithm "RSNULL"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSignatureAlgorithm(tt.spec, tt.alg)
			checkInputError(t, "CheckSignatureAlgorithm", err, tt.wantErr)
		})
	}
}

func TestCheckEncryptionAlgorithm(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		alg     EncryptionAlgorithm
		wantErr string
	}{
		{"RSA1_5 on RSA", Spec{Type: RSA}, RSA15, ""},
		{"RSA-OAEP on RSA", Spec{Type: RSA}, RSAOAEP, ""},
		{"RSA-OAEP-256 on RSA", Spec{Type: RSA}, RSAOAEP256, ""},
		{"RSA-OAEP on EC", Spec{Type: EC, Curve: P256}, RSAOAEP, "Algorithm RSA-OAEP is not valid for an EC key"},
		{"A256GCM on RSA", Spec{Type: RSA}, "A256GCM", `Unsupported encryption algorithm "A256GCM"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEncryptionAlgorithm(tt.spec, tt.alg)
			checkInputError(t, "CheckEncryptionAlgorithm", err, tt.wantErr)
		})
	}
}

func TestCheckDigest(t *testing.T) {
	tests := []struct {
		alg     SignatureAlgorithm
		field   string
		n       int
		wantErr string
	}{
		{RS256, "value", 32, ""},
		{ES512, "digest", 64, ""},
		{RS256, "value", 10, "Invalid length of 'value': 10 bytes. RS256 requires 32 bytes, encoded with base64url."},
		{PS384, "digest", 32, "Invalid length of 'digest': 32 bytes. PS384 requires 48 bytes, encoded with base64url."},
		{ES512, "value", 66, "Invalid length of 'value': 66 bytes. ES512 requires 64 bytes, encoded with base64url."},
		{"XS1", "value", 32, `Unsupported signature algorithm "XS1"`},
	}
	for _, tt := range tests {
		err := CheckDigest(tt.alg, tt.field, make([]byte, tt.n))
		checkInputError(t, "CheckDigest", err, tt.wantErr)
	}
}

func TestMaxPlaintext(t *testing.T) {
	tests := []struct {
		alg  EncryptionAlgorithm
		k    int
		want int
	}{
		{RSA15, 256, 245}, {RSAOAEP, 256, 214}, {RSAOAEP256, 256, 190},
		{RSAOAEP256, 512, 446}, {RSAOAEP256, 60, 0}, {"A128KW", 256, 0},
	}
	for _, tt := range tests {
		if got := MaxPlaintext(tt.alg, tt.k); got != tt.want {
			t.Errorf("MaxPlaintext(%s, %d) = %d, want %d", tt.alg, tt.k, got, tt.want)
		}
	}
}

// checkInputError fails t unless err is nil and want is "", or err is an
// *InputError with message want.
func checkInputError(t *testing.T, fn string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s() = %v, want nil", fn, err)
		}
		return
	}
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("%s() = %v (%T), want *InputError %q", fn, err, err, want)
	}
	if ie.Msg != want {
		t.Errorf("%s() = %q, want %q", fn, ie.Msg, want)
	}
}
