package keys

import (
	"crypto"
	"crypto/ecdsa"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// VerifyPublic reports whether sig is a valid alg signature of the
// caller-computed digest under pub, an *rsa.PublicKey, *ECPublicKey or
// *ecdsa.PublicKey. It needs no private key, so software and HSM keys share
// it.
//
// RS* signatures are PKCS#1 v1.5; PS* signatures are PSS with MGF1 over the
// same hash, and any salt length is accepted (signers in this module use the
// hash length, as RFC 7518 requires). ES* signatures are raw r||s, each half
// exactly CurveSize bytes; for ES256K both low-S and high-S signatures are
// accepted.
//
// An invalid signature, including one of the wrong length, is (false, nil).
// An algorithm that does not fit the key or a digest of the wrong length
// (reported against the request field 'digest') is an *InputError. An
// unsupported or malformed public key is another error.
func VerifyPublic(pub crypto.PublicKey, alg SignatureAlgorithm, digest, sig []byte) (bool, error) {
	spec, err := PublicSpec(pub)
	if err != nil {
		return false, err
	}
	if err := CheckSignatureAlgorithm(spec, alg); err != nil {
		return false, err
	}
	if err := CheckDigest(alg, "digest", digest); err != nil {
		return false, err
	}
	h := alg.Hash()
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case PS256, PS384, PS512:
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}
			return rsa.VerifyPSS(pub, h, digest, sig, opts) == nil, nil
		default:
			return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil, nil
		}
	case *ecdsa.PublicKey:
		return verifyECDSA(pub, spec.Curve, digest, sig), nil
	case *ECPublicKey:
		if pub.Curve == P256K {
			return verifySecp256k1(pub, digest, sig)
		}
		k, err := pub.ECDSA()
		if err != nil {
			return false, err
		}
		return verifyECDSA(k, spec.Curve, digest, sig), nil
	}
	return false, fmt.Errorf("keys: unsupported public key type %T", pub)
}

// verifyECDSA checks a raw r||s signature on a NIST curve.
func verifyECDSA(pub *ecdsa.PublicKey, c Curve, digest, sig []byte) bool {
	size := CurveSize(c)
	if len(sig) != 2*size {
		return false
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	return ecdsa.Verify(pub, digest, r, s)
}

// verifySecp256k1 checks a raw r||s signature on P-256K. It accepts high S.
func verifySecp256k1(pub *ECPublicKey, digest, sig []byte) (bool, error) {
	key, err := secp256k1.ParsePubKey(pub.Bytes())
	if err != nil {
		return false, errors.New("keys: P-256K public key is not a point on the curve")
	}
	if len(sig) != 64 {
		return false, nil
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
		return false, nil // r or s is not below the group order
	}
	return secpecdsa.NewSignature(&r, &s).Verify(digest, key), nil
}

// EncryptPublic encrypts in.Value with pub, which must be an
// *rsa.PublicKey, using in.Algorithm: RSA1_5 (PKCS#1 v1.5), RSA-OAEP
// (SHA-1, MGF1-SHA-1) or RSA-OAEP-256 (SHA-256, MGF1-SHA-256), with an empty
// label. IV, AAD and Tag are ignored. rand supplies the padding randomness;
// nil means crypto/rand.Reader (since Go 1.26 the standard library ignores
// it unless GODEBUG=cryptocustomrand=1).
//
// An algorithm that does not fit the key, or a plaintext longer than
// MaxPlaintext allows, is an *InputError.
func EncryptPublic(rand io.Reader, pub crypto.PublicKey, in CipherInput) (CipherOutput, error) {
	spec, err := PublicSpec(pub)
	if err != nil {
		return CipherOutput{}, err
	}
	if err := CheckEncryptionAlgorithm(spec, in.Algorithm); err != nil {
		return CipherOutput{}, err
	}
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return CipherOutput{}, fmt.Errorf("keys: unsupported public key type %T", pub)
	}
	if limit := MaxPlaintext(in.Algorithm, rpub.Size()); len(in.Value) > limit {
		return CipherOutput{}, Inputf("Invalid length of 'value': %d bytes. %s with a %d-bit key accepts at most %d bytes.",
			len(in.Value), in.Algorithm, spec.Size, limit)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	var ct []byte
	if in.Algorithm == RSA15 {
		ct, err = rsa.EncryptPKCS1v15(rand, rpub, in.Value)
	} else {
		ct, err = rsa.EncryptOAEP(NewOAEPHash(in.Algorithm), rand, rpub, in.Value, nil)
	}
	if err != nil {
		return CipherOutput{}, fmt.Errorf("keys: %s encryption: %w", in.Algorithm, err)
	}
	return CipherOutput{Value: ct}, nil
}

// NewOAEPHash returns a new hash for the OAEP digest and MGF1 of alg: SHA-1
// for RSA-OAEP, SHA-256 for RSA-OAEP-256. It returns nil for other
// algorithms.
func NewOAEPHash(alg EncryptionAlgorithm) hash.Hash {
	switch encryptionHash(alg) {
	case crypto.SHA1:
		return sha1.New()
	case crypto.SHA256:
		return sha256.New()
	}
	return nil
}
