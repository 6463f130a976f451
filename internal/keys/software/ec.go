package software

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// ecdsaKey is an ECDSA private key on P-256, P-384 or P-521.
type ecdsaKey struct {
	base
	priv *ecdsa.PrivateKey
	pub  *keys.ECPublicKey
	rand io.Reader
}

// Public returns a copy of the *keys.ECPublicKey.
func (k *ecdsaKey) Public() crypto.PublicKey { return copyECPublic(k.pub) }

// Sign signs digest and returns r||s, each left-padded to the curve size.
func (k *ecdsaKey) Sign(ctx context.Context, alg keys.SignatureAlgorithm, digest []byte) ([]byte, error) {
	if err := keys.CheckSignatureAlgorithm(k.spec, alg); err != nil {
		return nil, err
	}
	if err := keys.CheckDigest(alg, "value", digest); err != nil {
		return nil, err
	}
	r, s, err := ecdsa.Sign(k.rand, k.priv, digest)
	if err != nil {
		return nil, fmt.Errorf("keys/software: %s signature: %w", alg, err)
	}
	size := keys.CurveSize(k.spec.Curve)
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return sig, nil
}

// Verify checks sig with keys.VerifyPublic.
func (k *ecdsaKey) Verify(ctx context.Context, alg keys.SignatureAlgorithm, digest, sig []byte) (bool, error) {
	return keys.VerifyPublic(&k.priv.PublicKey, alg, digest, sig)
}

// Encrypt always fails: EC keys do not encrypt.
func (k *ecdsaKey) Encrypt(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	return keys.CipherOutput{}, refuseCipher(k.spec, in.Algorithm)
}

// Decrypt always fails: EC keys do not decrypt.
func (k *ecdsaKey) Decrypt(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	return secret.Bytes{}, refuseCipher(k.spec, in.Algorithm)
}

// secp256k1Key is an ECDSA private key on P-256K (secp256k1).
type secp256k1Key struct {
	base
	priv *secp256k1.PrivateKey
	pub  *keys.ECPublicKey
}

// Public returns a copy of the *keys.ECPublicKey.
func (k *secp256k1Key) Public() crypto.PublicKey { return copyECPublic(k.pub) }

// Sign signs digest with RFC 6979 deterministic nonces and returns r||s
// with S in the lower half of the group order (BIP 62 canonical form).
func (k *secp256k1Key) Sign(ctx context.Context, alg keys.SignatureAlgorithm, digest []byte) ([]byte, error) {
	if err := keys.CheckSignatureAlgorithm(k.spec, alg); err != nil {
		return nil, err
	}
	if err := keys.CheckDigest(alg, "value", digest); err != nil {
		return nil, err
	}
	s := secpecdsa.Sign(k.priv, digest)
	r, ss := s.R(), s.S()
	sig := make([]byte, 64)
	r.PutBytesUnchecked(sig[:32])
	ss.PutBytesUnchecked(sig[32:])
	return sig, nil
}

// Verify checks sig with keys.VerifyPublic, which accepts high S.
func (k *secp256k1Key) Verify(ctx context.Context, alg keys.SignatureAlgorithm, digest, sig []byte) (bool, error) {
	return keys.VerifyPublic(k.pub, alg, digest, sig)
}

// Encrypt always fails: EC keys do not encrypt.
func (k *secp256k1Key) Encrypt(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	return keys.CipherOutput{}, refuseCipher(k.spec, in.Algorithm)
}

// Decrypt always fails: EC keys do not decrypt.
func (k *secp256k1Key) Decrypt(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	return secret.Bytes{}, refuseCipher(k.spec, in.Algorithm)
}

// secp256k1Public returns the public half of priv.
func secp256k1Public(priv *secp256k1.PrivateKey) *keys.ECPublicKey {
	point := priv.PubKey().SerializeUncompressed()
	return &keys.ECPublicKey{Curve: keys.P256K, X: point[1:33], Y: point[33:]}
}

func copyECPublic(pub *keys.ECPublicKey) *keys.ECPublicKey {
	return &keys.ECPublicKey{Curve: pub.Curve, X: bytes.Clone(pub.X), Y: bytes.Clone(pub.Y)}
}

// pkcs8 is PrivateKeyInfo (RFC 5208) without the optional attributes.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// sec1 is ECPrivateKey (RFC 5915, SEC 1 C.4).
type sec1 struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// oidECPublicKey is id-ecPublicKey (RFC 5480).
func oidECPublicKey() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} }

// oidSecp256k1 is the secp256k1 named curve (SEC 2).
func oidSecp256k1() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 3, 132, 0, 10} }

// marshalSecp256k1 encodes priv as PKCS#8 the way OpenSSL does: an
// id-ecPublicKey algorithm with the secp256k1 OID as parameter, wrapping an
// RFC 5915 ECPrivateKey with the public point and without the curve.
func marshalSecp256k1(priv *secp256k1.PrivateKey) ([]byte, error) {
	d := priv.Serialize()
	defer clear(d)
	inner, err := asn1.Marshal(sec1{
		Version:    1,
		PrivateKey: d,
		PublicKey:  asn1.BitString{Bytes: priv.PubKey().SerializeUncompressed(), BitLength: 65 * 8},
	})
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	params, err := asn1.Marshal(oidSecp256k1())
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(pkcs8{
		Algo: pkix.AlgorithmIdentifier{
			Algorithm:  oidECPublicKey(),
			Parameters: asn1.RawValue{FullBytes: params},
		},
		PrivateKey: inner,
	})
}

// parseSecp256k1 reverses marshalSecp256k1. Errors wrap keys.ErrCorrupt.
func parseSecp256k1(der []byte) (*secp256k1.PrivateKey, error) {
	var p pkcs8
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 {
		return nil, corrupt("P-256K private key does not parse as PKCS#8")
	}
	defer clear(p.PrivateKey)
	var curve asn1.ObjectIdentifier
	if p.Version != 0 || !p.Algo.Algorithm.Equal(oidECPublicKey()) {
		return nil, corrupt("private key is not an EC key")
	}
	if rest, err := asn1.Unmarshal(p.Algo.Parameters.FullBytes, &curve); err != nil || len(rest) != 0 || !curve.Equal(oidSecp256k1()) {
		return nil, corrupt("EC key curve does not match its spec")
	}
	var k sec1
	rest, err = asn1.Unmarshal(p.PrivateKey, &k)
	if err != nil || len(rest) != 0 {
		return nil, corrupt("P-256K private key does not parse as SEC 1")
	}
	defer clear(k.PrivateKey)
	if k.Version != 1 || len(k.PrivateKey) != 32 || (len(k.NamedCurveOID) != 0 && !k.NamedCurveOID.Equal(oidSecp256k1())) {
		return nil, corrupt("P-256K private key is malformed")
	}
	var s secp256k1.ModNScalar
	defer s.Zero()
	if s.SetByteSlice(k.PrivateKey) || s.IsZero() {
		return nil, corrupt("P-256K private scalar is out of range")
	}
	priv := secp256k1.NewPrivateKey(&s)
	if len(k.PublicKey.Bytes) != 0 && !bytes.Equal(k.PublicKey.RightAlign(), priv.PubKey().SerializeUncompressed()) {
		priv.Zero()
		return nil, corrupt("P-256K private key does not match its embedded public key")
	}
	return priv, nil
}
