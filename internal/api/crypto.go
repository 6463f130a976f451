package api

import (
	"context"
	"encoding/json"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// KeyOperationsParameters is the body of encrypt, decrypt, wrapKey and
// unwrapKey.
type KeyOperationsParameters struct {
	// Alg is the encryption algorithm; required.
	Alg string `json:"alg"`
	// Value is the plaintext or ciphertext; required.
	Value Base64URL `json:"value"`
	// IV, AAD and Tag are for AES modes.
	IV  Base64URL `json:"iv,omitempty"`
	AAD Base64URL `json:"aad,omitempty"`
	Tag Base64URL `json:"tag,omitempty"`
}

// KeySignParameters is the body of sign.
type KeySignParameters struct {
	// Alg is the signature algorithm; required.
	Alg string `json:"alg"`
	// Value is the digest to sign; required.
	Value Base64URL `json:"value"`
}

// KeyVerifyParameters is the body of verify.
type KeyVerifyParameters struct {
	// Alg is the signature algorithm; required.
	Alg string `json:"alg"`
	// Digest is the signed digest; required.
	Digest Base64URL `json:"digest"`
	// Value is the signature; required.
	Value Base64URL `json:"value"`
}

// KeyOperationResult is Azure's KeyOperationResult.
type KeyOperationResult struct {
	// KID is the versioned id of the key version used.
	KID string `json:"kid,omitempty"`
	// Value is the result: ciphertext, plaintext, wrapped key or signature.
	Value Base64URL `json:"value"`
	// IV, AAD and Tag are set by AES modes.
	IV  Base64URL `json:"iv,omitempty"`
	AAD Base64URL `json:"aad,omitempty"`
	Tag Base64URL `json:"tag,omitempty"`
}

// KeyVerifyResult is Azure's KeyVerifyResult: a bad signature is
// {"value":false} with status 200.
type KeyVerifyResult struct {
	// Value reports whether the signature is valid.
	Value bool `json:"value"`
}

// GetRandomBytesRequest is the body of POST /rng.
type GetRandomBytesRequest struct {
	// Count is the number of bytes, 1..128; required.
	Count int `json:"count"`
}

// RandomBytes is Azure's RandomBytes.
type RandomBytes struct {
	// Value holds the random bytes.
	Value Base64URL `json:"value"`
}

// encrypt serves POST /keys/{name}[/{version}]/encrypt.
func (s *Server) encrypt(ctx context.Context, rq *request) (any, error) {
	return s.encryptAs(ctx, rq, vault.OpEncrypt)
}

// wrapKey serves POST /keys/{name}[/{version}]/wrapkey.
func (s *Server) wrapKey(ctx context.Context, rq *request) (any, error) {
	return s.encryptAs(ctx, rq, vault.OpWrapKey)
}

// decrypt serves POST /keys/{name}[/{version}]/decrypt.
func (s *Server) decrypt(ctx context.Context, rq *request) (any, error) {
	return s.decryptAs(ctx, rq, vault.OpDecrypt)
}

// unwrapKey serves POST /keys/{name}[/{version}]/unwrapkey.
func (s *Server) unwrapKey(ctx context.Context, rq *request) (any, error) {
	return s.decryptAs(ctx, rq, vault.OpUnwrapKey)
}

// cipherInput decodes a KeyOperationsParameters body. The caller clears
// in.Value when done: it may be a plaintext or a key to wrap.
func (rq *request) cipherInput() (keys.CipherInput, error) {
	var p KeyOperationsParameters
	if err := rq.decode(&p, true); err != nil {
		return keys.CipherInput{}, err
	}
	rq.alg = truncate(p.Alg, 32)
	if p.Alg == "" {
		clear(p.Value)
		return keys.CipherInput{}, badParameter("The property alg is required.")
	}
	if p.Value == nil {
		return keys.CipherInput{}, badParameter("The property value is required.")
	}
	return keys.CipherInput{Algorithm: keys.EncryptionAlgorithm(p.Alg), Value: p.Value, IV: p.IV, AAD: p.AAD, Tag: p.Tag}, nil
}

func (s *Server) encryptAs(ctx context.Context, rq *request, op vault.Operation) (any, error) {
	in, err := rq.cipherInput()
	if err != nil {
		return nil, err
	}
	defer clear(in.Value)
	version, out, err := s.vaults.Encrypt(ctx, rq.now, rq.ref(), op, in)
	if err != nil {
		return nil, err
	}
	return KeyOperationResult{KID: rq.kid(rq.name, version), Value: out.Value, IV: out.IV, AAD: out.AAD, Tag: out.Tag}, nil
}

func (s *Server) decryptAs(ctx context.Context, rq *request, op vault.Operation) (any, error) {
	in, err := rq.cipherInput()
	if err != nil {
		return nil, err
	}
	version, pt, err := s.vaults.Decrypt(ctx, rq.now, rq.ref(), op, in)
	if err != nil {
		return nil, err
	}
	// The plaintext must be encoded into the response; the encoded copy is
	// all that remains once writeJSON is done with it.
	return plaintextResult{KID: rq.kid(rq.name, version), pt: pt}, nil
}

// plaintextResult is a KeyOperationResult whose value is a secret; it is
// encoded once and its secret cleared right after.
type plaintextResult struct {
	KID string
	pt  secret.Bytes
}

// MarshalJSON encodes the result as KeyOperationResult and clears the
// plaintext.
func (r plaintextResult) MarshalJSON() ([]byte, error) {
	defer r.pt.Clear()
	return json.Marshal(KeyOperationResult{KID: r.KID, Value: r.pt.Expose()})
}

// sign serves POST /keys/{name}[/{version}]/sign.
func (s *Server) sign(ctx context.Context, rq *request) (any, error) {
	var p KeySignParameters
	if err := rq.decode(&p, true); err != nil {
		return nil, err
	}
	rq.alg = truncate(p.Alg, 32)
	if p.Alg == "" {
		return nil, badParameter("The property alg is required.")
	}
	if p.Value == nil {
		return nil, badParameter("The property value is required.")
	}
	version, sig, err := s.vaults.Sign(ctx, rq.now, rq.ref(), keys.SignatureAlgorithm(p.Alg), p.Value)
	if err != nil {
		return nil, err
	}
	return KeyOperationResult{KID: rq.kid(rq.name, version), Value: sig}, nil
}

// verify serves POST /keys/{name}[/{version}]/verify.
func (s *Server) verify(ctx context.Context, rq *request) (any, error) {
	var p KeyVerifyParameters
	if err := rq.decode(&p, true); err != nil {
		return nil, err
	}
	rq.alg = truncate(p.Alg, 32)
	switch {
	case p.Alg == "":
		return nil, badParameter("The property alg is required.")
	case p.Digest == nil:
		return nil, badParameter("The property digest is required.")
	case p.Value == nil:
		return nil, badParameter("The property value is required.")
	}
	_, ok, err := s.vaults.Verify(ctx, rq.now, rq.ref(), keys.SignatureAlgorithm(p.Alg), p.Digest, p.Value)
	if err != nil {
		return nil, err
	}
	return KeyVerifyResult{Value: ok}, nil
}

// release serves POST /keys/{name}[/{version}]/release.
func (s *Server) release(ctx context.Context, rq *request) (any, error) {
	return nil, notSupported("Secure key release is not supported yet by this server: it needs attestation-gated release.")
}

// attestation serves GET /keys/{name}[/{version}]/attestation.
func (s *Server) attestation(ctx context.Context, rq *request) (any, error) {
	return nil, notSupported("Key attestation is not supported yet by this server: it needs an HSM that can attest its keys.")
}

// randomBytes serves POST /rng.
func (s *Server) randomBytes(ctx context.Context, rq *request) (any, error) {
	var p GetRandomBytesRequest
	if err := rq.decode(&p, true); err != nil {
		return nil, err
	}
	if p.Count < 1 || p.Count > 128 {
		return nil, badParameter("The value of 'count' is invalid: %d. It must be between 1 and 128.", p.Count)
	}
	b, err := s.vaults.RandomBytes(p.Count)
	if err != nil {
		return nil, err
	}
	return RandomBytes{Value: b}, nil
}
