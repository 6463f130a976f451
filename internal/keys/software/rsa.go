package software

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// rsaKey is an RSA private key with precomputed CRT values.
type rsaKey struct {
	base
	priv *rsa.PrivateKey
	rand io.Reader
}

// Public returns a copy of the *rsa.PublicKey.
func (k *rsaKey) Public() crypto.PublicKey { return copyRSAPublic(&k.priv.PublicKey) }

// Sign signs digest with PKCS#1 v1.5 (RS*) or PSS with a salt as long as
// the hash (PS*).
func (k *rsaKey) Sign(ctx context.Context, alg keys.SignatureAlgorithm, digest []byte) ([]byte, error) {
	if err := keys.CheckSignatureAlgorithm(k.spec, alg); err != nil {
		return nil, err
	}
	if err := keys.CheckDigest(alg, "value", digest); err != nil {
		return nil, err
	}
	h := alg.Hash()
	var (
		sig []byte
		err error
	)
	switch alg {
	case keys.PS256, keys.PS384, keys.PS512:
		sig, err = rsa.SignPSS(k.rand, k.priv, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		sig, err = rsa.SignPKCS1v15(nil, k.priv, h, digest)
	}
	if err != nil {
		return nil, fmt.Errorf("keys/software: %s signature: %w", alg, err)
	}
	return sig, nil
}

// Verify checks sig with keys.VerifyPublic.
func (k *rsaKey) Verify(ctx context.Context, alg keys.SignatureAlgorithm, digest, sig []byte) (bool, error) {
	return keys.VerifyPublic(&k.priv.PublicKey, alg, digest, sig)
}

// Encrypt encrypts with keys.EncryptPublic.
func (k *rsaKey) Encrypt(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	return keys.EncryptPublic(k.rand, &k.priv.PublicKey, in)
}

// Decrypt decrypts an RSA1_5, RSA-OAEP or RSA-OAEP-256 ciphertext of exactly
// the modulus length. Every padding failure gets the same *keys.InputError.
func (k *rsaKey) Decrypt(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	if err := keys.CheckEncryptionAlgorithm(k.spec, in.Algorithm); err != nil {
		return secret.Bytes{}, err
	}
	if n := k.priv.Size(); len(in.Value) != n {
		return secret.Bytes{}, keys.Inputf("Invalid length of 'value': %d bytes. %s with a %d-bit key requires %d bytes, encoded with base64url.",
			len(in.Value), in.Algorithm, k.spec.Size, n)
	}
	var (
		pt  []byte
		err error
	)
	if in.Algorithm == keys.RSA15 {
		pt, err = rsa.DecryptPKCS1v15(nil, k.priv, in.Value)
	} else {
		pt, err = rsa.DecryptOAEP(keys.NewOAEPHash(in.Algorithm), nil, k.priv, in.Value, nil)
	}
	if err != nil {
		return secret.Bytes{}, errDecryption()
	}
	return secret.Own(pt), nil
}

// errDecryption is the one error for a ciphertext that does not decrypt. It
// does not say why, so that it cannot serve as a padding oracle beyond what
// the algorithm inherently leaks.
func errDecryption() error {
	return &keys.InputError{Msg: "Decryption failed: the ciphertext is not valid for this key and algorithm."}
}
