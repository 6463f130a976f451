package keywrap

import (
	"crypto/aes"
	"crypto/rsa"
	"crypto/sha1"
	"fmt"
	"io"
)

// RSAAESWrap is the wrapping side of CKM_RSA_AES_KEY_WRAP as bring-your-own
// -key transfer blobs use it: a fresh AES-256 key from rand is encrypted
// with RSA-OAEP (SHA-1, MGF1-SHA-1, no label) under pub, and key is wrapped
// under it with WrapPad (RFC 5649). It returns the RSA block (as long as
// pub's modulus) followed by the wrapped key, and clears the AES key.
func RSAAESWrap(rand io.Reader, pub *rsa.PublicKey, key []byte) ([]byte, error) {
	ephemeral := make([]byte, 32)
	defer clear(ephemeral)
	if _, err := io.ReadFull(rand, ephemeral); err != nil {
		return nil, fmt.Errorf("keywrap: ephemeral key: %w", err)
	}
	block, err := aes.NewCipher(ephemeral)
	if err != nil {
		return nil, err
	}
	enc, _ := Cipher(block)
	wrapped, err := WrapPad(enc, key)
	if err != nil {
		return nil, err
	}
	head, err := rsa.EncryptOAEP(sha1.New(), rand, pub, ephemeral, nil)
	if err != nil {
		return nil, fmt.Errorf("keywrap: RSA-OAEP of the ephemeral key: %w", err)
	}
	return append(head, wrapped...), nil
}
