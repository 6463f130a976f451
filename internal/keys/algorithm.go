package keys

import (
	"crypto"
	"fmt"
)

// CurveSize returns the length in bytes of a coordinate, a scalar and each
// half of a raw r||s signature on c: 32 for P-256 and P-256K, 48 for P-384,
// 66 for P-521. It returns 0 if c is not a supported curve.
func CurveSize(c Curve) int {
	switch c {
	case P256, P256K:
		return 32
	case P384:
		return 48
	case P521:
		return 66
	}
	return 0
}

// Hash returns the hash function whose digests a signs, or 0 if a is not a
// supported signature algorithm.
func (a SignatureAlgorithm) Hash() crypto.Hash {
	switch a {
	case RS256, PS256, ES256, ES256K:
		return crypto.SHA256
	case RS384, PS384, ES384:
		return crypto.SHA384
	case RS512, PS512, ES512:
		return crypto.SHA512
	}
	return 0
}

// DigestSize returns the digest length in bytes that alg signs (32, 48 or
// 64), or 0 if alg is not a supported signature algorithm.
func DigestSize(alg SignatureAlgorithm) int {
	if h := alg.Hash(); h != 0 {
		return h.Size()
	}
	return 0
}

// SignatureCurve returns the curve an ECDSA algorithm requires, or "" if alg
// is not an ECDSA algorithm.
func SignatureCurve(alg SignatureAlgorithm) Curve {
	switch alg {
	case ES256:
		return P256
	case ES384:
		return P384
	case ES512:
		return P521
	case ES256K:
		return P256K
	}
	return ""
}

// CheckSignatureAlgorithm reports whether alg can sign and verify with a key
// of the given spec: RS* and PS* need an RSA key, ES256, ES384, ES512 and
// ES256K need an EC key on P-256, P-384, P-521 and P-256K respectively. It
// returns nil or an *InputError whose message names the mismatch.
func CheckSignatureAlgorithm(spec Spec, alg SignatureAlgorithm) error {
	switch alg {
	case RS256, RS384, RS512, PS256, PS384, PS512:
		if spec.Type != RSA {
			return Inputf("Algorithm %s is not valid for %s", alg, describeKey(spec))
		}
		return nil
	case ES256, ES384, ES512, ES256K:
		if spec.Type != EC {
			return Inputf("Algorithm %s is not valid for %s", alg, describeKey(spec))
		}
		if SignatureCurve(alg) != spec.Curve {
			return Inputf("Algorithm %s is not valid for a key on curve %s", alg, spec.Curve)
		}
		return nil
	}
	return Inputf("Unsupported signature algorithm %.32q", string(alg))
}

// CheckEncryptionAlgorithm reports whether alg can encrypt and decrypt (or
// wrap and unwrap) with a key of the given spec. RSA1_5, RSA-OAEP and
// RSA-OAEP-256 need an RSA key. It returns nil or an *InputError.
func CheckEncryptionAlgorithm(spec Spec, alg EncryptionAlgorithm) error {
	switch alg {
	case RSA15, RSAOAEP, RSAOAEP256:
		if spec.Type != RSA {
			return Inputf("Algorithm %s is not valid for %s", alg, describeKey(spec))
		}
		return nil
	}
	return Inputf("Unsupported encryption algorithm %.32q", string(alg))
}

// CheckDigest reports whether digest has the length alg signs. field is the
// name of the request field that carried the digest ("value" for sign,
// "digest" for verify) and appears in the message of the *InputError
// returned on a mismatch, which follows Azure's wording:
//
//	Invalid length of 'value': 10 bytes. RS256 requires 32 bytes, encoded with base64url.
//
// An unsupported alg is also an *InputError.
func CheckDigest(alg SignatureAlgorithm, field string, digest []byte) error {
	want := DigestSize(alg)
	if want == 0 {
		return Inputf("Unsupported signature algorithm %.32q", string(alg))
	}
	if len(digest) != want {
		return Inputf("Invalid length of '%s': %d bytes. %s requires %d bytes, encoded with base64url.",
			field, len(digest), alg, want)
	}
	return nil
}

// MaxPlaintext returns the longest plaintext in bytes that alg can encrypt
// under an RSA modulus of modulusBytes bytes: k-11 for RSA1_5, k-42 for
// RSA-OAEP and k-66 for RSA-OAEP-256. It returns 0 for other algorithms or
// moduli too short to hold any plaintext.
func MaxPlaintext(alg EncryptionAlgorithm, modulusBytes int) int {
	var overhead int
	switch alg {
	case RSA15:
		overhead = 11
	case RSAOAEP:
		overhead = 2*crypto.SHA1.Size() + 2
	case RSAOAEP256:
		overhead = 2*crypto.SHA256.Size() + 2
	default:
		return 0
	}
	return max(modulusBytes-overhead, 0)
}

// encryptionHash returns the OAEP hash (and MGF1 hash) of alg, or 0 for
// RSA1_5 and unknown algorithms.
func encryptionHash(alg EncryptionAlgorithm) crypto.Hash {
	switch alg {
	case RSAOAEP:
		return crypto.SHA1
	case RSAOAEP256:
		return crypto.SHA256
	}
	return 0
}

// describeKey names the kind of key in spec for error messages, with its
// article: "an RSA key", "an EC key", "an oct key".
func describeKey(spec Spec) string {
	switch spec.Type {
	case RSA, EC, Oct:
		return fmt.Sprintf("an %s key", spec.Type)
	}
	return "this key"
}
