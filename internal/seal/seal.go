// Package seal owns the root key of a deployment and seals records under
// keys derived from it.
//
// A RootKey is 32 secret bytes. It is never used directly: Derive turns it
// into a purpose-specific Sealer (HKDF-SHA256, info "keywarden/"+purpose), so
// that for example "material", "backup" and "token-signing" records are
// sealed under independent keys. A Sealer encrypts with AES-256-GCM under a
// random 96-bit nonce and binds caller-supplied additional data (vault, key,
// version, ...) to each record.
//
// The sealed format is
//
//	version (1 byte, currently 1) || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// This package imports only the standard library and internal/secret; it
// knows nothing of the store, HTTP or vaults.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/keywarden/keywarden/internal/secret"
)

// KeySize is the length in bytes of a root key and of every derived key.
const KeySize = 32

// Version is the format version byte written at the start of every sealed
// record.
const Version byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	// Overhead is the number of bytes a sealed record adds to its plaintext.
	Overhead = 1 + nonceSize + tagSize
)

// Errors returned by Open. Neither carries any part of the record or the
// plaintext.
var (
	// ErrOpen reports a record that fails authentication: wrong key, wrong
	// additional data, or a modified record.
	ErrOpen = errors.New("seal: cannot open record: wrong key, wrong additional data or tampered record")
	// ErrVersion reports a record whose version byte this binary does not
	// know.
	ErrVersion = errors.New("seal: unsupported sealed record version")
	// ErrMalformed reports a record too short to be a sealed record.
	ErrMalformed = errors.New("seal: malformed sealed record")
)

// Sealer seals and opens records under one key. Implementations are safe
// for concurrent use.
type Sealer interface {
	// Seal encrypts plaintext and binds aad to the result. It does not
	// retain plaintext.
	Seal(plaintext []byte, aad []byte) ([]byte, error)
	// Open authenticates and decrypts a record produced by Seal with the
	// same aad. Errors: ErrVersion, ErrMalformed, ErrOpen.
	Open(sealed []byte, aad []byte) (secret.Bytes, error)
}

// RootKey is the key-encryption key of a deployment. It only derives
// Sealers; its bytes never leave the package. A RootKey is safe for
// concurrent use.
type RootKey struct {
	key  secret.Bytes
	rand io.Reader
}

// New returns a RootKey holding a copy of key, which must be KeySize bytes.
// rand is the source of nonces for Sealers derived from it; nil means
// crypto/rand.Reader. New is the entry point for root keys that do not come
// from a file (PKCS#11, Shamir unseal, tests).
func New(key secret.Bytes, rand io.Reader) (*RootKey, error) {
	if key.Len() != KeySize {
		return nil, fmt.Errorf("seal: root key is %d bytes, want %d", key.Len(), KeySize)
	}
	return &RootKey{key: secret.New(key.Expose()), rand: orDefault(rand)}, nil
}

// Generate returns a new random RootKey read from rand (nil means
// crypto/rand.Reader), which also supplies nonces for derived Sealers.
func Generate(rand io.Reader) (*RootKey, error) {
	rand = orDefault(rand)
	b := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("seal: generating root key: %w", err)
	}
	return &RootKey{key: secret.Own(b), rand: rand}, nil
}

const redacted = "seal.RootKey[REDACTED]"

// String returns a fixed placeholder: a RootKey never prints its bytes.
func (k *RootKey) String() string { return redacted }

// GoString returns a fixed placeholder.
func (k *RootKey) GoString() string { return redacted }

// Format writes a fixed placeholder for every verb, so that no fmt verb
// (%v, %+v, %x, %d, ...) reaches the key bytes through reflection.
func (k *RootKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue returns a fixed placeholder for log/slog.
func (k *RootKey) LogValue() slog.Value { return slog.StringValue(redacted) }

func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// Derive returns the Sealer for purpose, keyed with
// HKDF-SHA256(ikm = root key, salt = none, info = "keywarden/" + purpose).
// Distinct purposes give independent keys: a record sealed by one cannot be
// opened by another. Purpose names are part of the on-disk format and must
// never change once used.
func (k *RootKey) Derive(purpose string) Sealer {
	sub, err := deriveKey(k.key.Expose(), nil, "keywarden/"+purpose, KeySize)
	if err != nil {
		// HKDF-SHA256 only fails for outputs longer than 255*32 bytes.
		panic("seal: HKDF: " + err.Error())
	}
	defer clear(sub)
	aead, err := newAEAD(sub)
	if err != nil {
		panic("seal: AES-256-GCM: " + err.Error()) // unreachable: key length is fixed
	}
	return &gcmSealer{aead: aead, rand: k.rand}
}

// deriveKey is the HKDF-SHA256 step of Derive, separate so that it can be
// checked against the RFC 5869 test vectors.
func deriveKey(ikm, salt []byte, info string, length int) ([]byte, error) {
	return hkdf.Key(sha256.New, ikm, salt, info, length)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// gcmSealer is a Sealer using AES-256-GCM with random nonces.
type gcmSealer struct {
	aead cipher.AEAD
	rand io.Reader
}

// Format writes a fixed placeholder: the AEAD holds expanded key bytes.
func (s *gcmSealer) Format(f fmt.State, verb rune) { io.WriteString(f, "seal.Sealer[REDACTED]") }

// Seal implements Sealer.
func (s *gcmSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = Version
	if _, err := io.ReadFull(s.rand, out[1:]); err != nil {
		return nil, fmt.Errorf("seal: reading nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+nonceSize], plaintext, aad), nil
}

// Open implements Sealer.
func (s *gcmSealer) Open(sealed, aad []byte) (secret.Bytes, error) {
	if len(sealed) == 0 {
		return secret.Bytes{}, ErrMalformed
	}
	if sealed[0] != Version {
		return secret.Bytes{}, fmt.Errorf("%w: %d", ErrVersion, sealed[0])
	}
	if len(sealed) < Overhead {
		return secret.Bytes{}, ErrMalformed
	}
	pt, err := s.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], aad)
	if err != nil {
		return secret.Bytes{}, ErrOpen
	}
	return secret.Own(pt), nil
}

// DeriveKey returns n bytes of key material for purpose, derived as Derive
// does: HKDF-SHA256(ikm = root key, salt = none, info = "keywarden/" +
// purpose). It is for keys that are not AES-GCM sealers, such as the MAC key
// of the audit chain ("audit-chain"). A purpose must never be used with both
// Derive and DeriveKey. n must be between 1 and 255*32; DeriveKey panics
// otherwise (a programming error).
func (k *RootKey) DeriveKey(purpose string, n int) secret.Bytes {
	b, err := deriveKey(k.key.Expose(), nil, "keywarden/"+purpose, n)
	if err != nil || n < 1 {
		panic(fmt.Sprintf("seal: DeriveKey(%q, %d): invalid length", purpose, n))
	}
	return secret.Own(b)
}
