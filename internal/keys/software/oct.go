package software

import (
	"context"
	"crypto"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// octKey is an AES key. It has no operations yet; every call fails with an
// *keys.InputError.
type octKey struct {
	base
	key secret.Bytes
}

// Public returns nil: oct keys have no public half.
func (k *octKey) Public() crypto.PublicKey { return nil }

// Sign always fails: oct keys do not sign.
func (k *octKey) Sign(ctx context.Context, alg keys.SignatureAlgorithm, digest []byte) ([]byte, error) {
	return nil, refuseSignature(k.spec, alg)
}

// Verify always fails: oct keys do not verify.
func (k *octKey) Verify(ctx context.Context, alg keys.SignatureAlgorithm, digest, sig []byte) (bool, error) {
	return false, refuseSignature(k.spec, alg)
}

// Encrypt always fails: AES modes are not implemented in software.
func (k *octKey) Encrypt(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	return keys.CipherOutput{}, refuseCipher(k.spec, in.Algorithm)
}

// Decrypt always fails: AES modes are not implemented in software.
func (k *octKey) Decrypt(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	return secret.Bytes{}, refuseCipher(k.spec, in.Algorithm)
}
