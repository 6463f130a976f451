package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/keywarden/keywarden/internal/secret"
)

// VersionKeyed is the format version byte of records sealed by a Keyring:
//
//	2 (1 byte) || len(id) (1 byte) || id || nonce (12 bytes) || ciphertext || tag (16 bytes)
//
// where id names the root key the record is sealed under, so that a
// keyring holding several root keys (during a rotation) opens each record
// with the right one and a rotation can find the records still sealed
// under an old key.
const VersionKeyed byte = 2

// maxIDLen bounds a root key id.
const maxIDLen = 64

// Cipher is the AEAD of one root key for one purpose: AES-256-GCM with a
// 12-byte nonce and a 16-byte tag, computed in memory (file keys) or
// inside an HSM (HSM-held root keys). Implementations are safe for
// concurrent use.
type Cipher interface {
	// Encrypt returns ciphertext || tag of plaintext bound to aad.
	Encrypt(nonce, plaintext, aad []byte) ([]byte, error)
	// Decrypt authenticates and decrypts ciphertext || tag; a record that
	// does not authenticate is ErrOpen.
	Decrypt(nonce, ciphertext, aad []byte) ([]byte, error)
}

// KeyVersion is one root key of a Keyring: a *RootKey read from a file,
// or an AES key inside an HSM.
type KeyVersion interface {
	// ID names the key in the records it seals: 1..64 printable ASCII
	// bytes, not secret.
	ID() string
	// Cipher returns the key's AEAD for purpose. Distinct purposes must
	// give independent ciphers.
	Cipher(purpose string) (Cipher, error)
}

// Keyring is the set of root keys of a deployment: one active key, which
// seals every new record, and during a rotation the keys being retired,
// which still open the records not yet re-sealed. A Keyring is safe for
// concurrent use.
type Keyring struct {
	rand io.Reader

	mu      sync.RWMutex
	keys    []KeyVersion // oldest first; the last is active
	ciphers map[string]Cipher
}

// ErrUnknownKey reports a record sealed under a root key the keyring does
// not hold (a retired key, or another deployment's).
var ErrUnknownKey = errors.New("seal: record is sealed under a root key this keyring does not hold")

// NewKeyring returns a keyring of keys, oldest first; the last is active.
// rand supplies nonces (nil means crypto/rand.Reader).
func NewKeyring(rand io.Reader, keys ...KeyVersion) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: a keyring needs at least one root key")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		id := k.ID()
		if err := checkID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("seal: root key %s appears twice", id)
		}
		seen[id] = true
	}
	return &Keyring{rand: orDefault(rand), keys: slices.Clone(keys), ciphers: map[string]Cipher{}}, nil
}

func checkID(id string) error {
	if len(id) == 0 || len(id) > maxIDLen {
		return fmt.Errorf("seal: root key id %q must be 1 to %d bytes", id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("seal: root key id %q must be printable ASCII", id)
		}
	}
	return nil
}

// Active returns the id of the key that seals new records.
func (r *Keyring) Active() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[len(r.keys)-1].ID()
}

// IDs returns the ids of the keys held, oldest first (the last is active).
func (r *Keyring) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.ID()
	}
	return ids
}

// Add makes k the active key. Records sealed from now on are sealed under
// it; the keys held before keep opening their records. The caller must
// have stored k durably first.
func (r *Keyring) Add(k KeyVersion) error {
	if err := checkID(k.ID()); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.keys {
		if old.ID() == k.ID() {
			return fmt.Errorf("seal: root key %s is already in the keyring", k.ID())
		}
	}
	r.keys = append(r.keys, k)
	return nil
}

// Remove drops the key id, which must not be the active one. Records still
// sealed under it can no longer be opened.
func (r *Keyring) Remove(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.keys, func(k KeyVersion) bool { return k.ID() == id })
	switch {
	case i < 0:
		return fmt.Errorf("seal: root key %s is not in the keyring", id)
	case i == len(r.keys)-1:
		return fmt.Errorf("seal: root key %s is the active key", id)
	}
	r.keys = slices.Delete(r.keys, i, i+1)
	for k := range r.ciphers {
		if strings.HasPrefix(k, id+"\x00") {
			delete(r.ciphers, k)
		}
	}
	return nil
}

// Stale reports whether a record is sealed under a key other than the
// active one (records of format 1 always are): the records a rotation
// re-seals.
func (r *Keyring) Stale(sealed []byte) bool {
	id, _, err := parseKeyed(sealed)
	return err != nil || id != r.Active()
}

// KeyID returns the id of the key a record is sealed under; "" for a
// record of format 1, which names no key.
func KeyID(sealed []byte) (string, error) {
	if len(sealed) > 0 && sealed[0] == Version {
		return "", nil
	}
	id, _, err := parseKeyed(sealed)
	return id, err
}

// parseKeyed splits a format-2 record into its key id and the rest
// (nonce || ciphertext || tag).
func parseKeyed(sealed []byte) (string, []byte, error) {
	if len(sealed) < 2 {
		return "", nil, ErrMalformed
	}
	if sealed[0] != VersionKeyed {
		if sealed[0] == Version {
			return "", nil, ErrMalformed
		}
		return "", nil, fmt.Errorf("%w: %d", ErrVersion, sealed[0])
	}
	n := int(sealed[1])
	if n == 0 || n > maxIDLen || len(sealed) < 2+n+nonceSize+tagSize {
		return "", nil, ErrMalformed
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// cipher returns (and caches) key k's cipher for purpose.
func (r *Keyring) cipher(k KeyVersion, purpose string) (Cipher, error) {
	name := k.ID() + "\x00" + purpose
	r.mu.RLock()
	c, ok := r.ciphers[name]
	r.mu.RUnlock()
	if ok {
		return c, nil
	}
	c, err := k.Cipher(purpose)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	// Cache it only while the key is held: a cipher of a key removed
	// meanwhile must not outlive it.
	if slices.Contains(r.keys, k) {
		r.ciphers[name] = c
	}
	r.mu.Unlock()
	return c, nil
}

// find returns the key with the given id, or the active key for "".
func (r *Keyring) find(id string) (KeyVersion, []KeyVersion) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if id == "" {
		return r.keys[len(r.keys)-1], slices.Clone(r.keys)
	}
	for _, k := range r.keys {
		if k.ID() == id {
			return k, nil
		}
	}
	return nil, nil
}

// Derive returns the Sealer for purpose: it seals under the active key
// (format 2) and opens records sealed under any key the keyring holds,
// including records of format 1 written by a file key's RootKey.Derive.
// Purpose names are part of the on-disk format and must never change.
func (r *Keyring) Derive(purpose string) Sealer {
	return &keyringSealer{r: r, purpose: purpose}
}

type keyringSealer struct {
	r       *Keyring
	purpose string
}

// Format writes a fixed placeholder.
func (s *keyringSealer) Format(f fmt.State, verb rune) { io.WriteString(f, "seal.Sealer[REDACTED]") }

// Stale reports whether sealed is sealed under a key other than the
// keyring's active one (see Keyring.Stale).
func (s *keyringSealer) Stale(sealed []byte) bool { return s.r.Stale(sealed) }

// Seal implements Sealer.
func (s *keyringSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	k, _ := s.r.find("")
	c, err := s.r.cipher(k, s.purpose)
	if err != nil {
		return nil, fmt.Errorf("seal: root key %s: %w", k.ID(), err)
	}
	id := k.ID()
	head := make([]byte, 2+len(id)+nonceSize, 2+len(id)+nonceSize+len(plaintext)+tagSize)
	head[0] = VersionKeyed
	head[1] = byte(len(id))
	copy(head[2:], id)
	nonce := head[2+len(id):]
	if _, err := io.ReadFull(s.r.rand, nonce); err != nil {
		return nil, fmt.Errorf("seal: reading nonce: %w", err)
	}
	ct, err := c.Encrypt(nonce, plaintext, aad)
	if err != nil {
		return nil, fmt.Errorf("seal: root key %s: %w", id, err)
	}
	return append(head, ct...), nil
}

// Open implements Sealer. Errors: ErrVersion, ErrMalformed, ErrOpen,
// ErrUnknownKey, or the error of an HSM that cannot be reached.
func (s *keyringSealer) Open(sealed, aad []byte) (secret.Bytes, error) {
	if len(sealed) == 0 {
		return secret.Bytes{}, ErrMalformed
	}
	if sealed[0] == Version {
		return s.openLegacy(sealed, aad)
	}
	id, rest, err := parseKeyed(sealed)
	if err != nil {
		return secret.Bytes{}, err
	}
	k, _ := s.r.find(id)
	if k == nil {
		return secret.Bytes{}, fmt.Errorf("%w (%s)", ErrUnknownKey, id)
	}
	c, err := s.r.cipher(k, s.purpose)
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("seal: root key %s: %w", id, err)
	}
	pt, err := c.Decrypt(rest[:nonceSize], rest[nonceSize:], aad)
	if err != nil {
		return secret.Bytes{}, err
	}
	return secret.Own(pt), nil
}

// openLegacy opens a format-1 record, which names no key, with each file
// key of the keyring in turn.
func (s *keyringSealer) openLegacy(sealed, aad []byte) (secret.Bytes, error) {
	if len(sealed) < Overhead {
		return secret.Bytes{}, ErrMalformed
	}
	_, all := s.r.find("")
	for _, k := range all {
		if _, ok := k.(*RootKey); !ok {
			continue
		}
		c, err := s.r.cipher(k, s.purpose)
		if err != nil {
			continue
		}
		if pt, err := c.Decrypt(sealed[1:1+nonceSize], sealed[1+nonceSize:], aad); err == nil {
			return secret.Own(pt), nil
		}
	}
	return secret.Bytes{}, ErrOpen
}

// ID returns the file key's id: "file-" and 12 hex digits of
// HMAC-SHA256(key, "keywarden/root-key-id"), a fingerprint that reveals
// nothing of the key.
func (k *RootKey) ID() string {
	m := hmac.New(sha256.New, k.key.Expose())
	m.Write([]byte("keywarden/root-key-id"))
	return "file-" + hex.EncodeToString(m.Sum(nil)[:6])
}

// Destroy overwrites the key's bytes. The key must no longer be in use.
func (k *RootKey) Destroy() { k.key.Clear() }

// Cipher returns the AES-256-GCM cipher keyed with
// HKDF-SHA256(root key, info "keywarden/"+purpose): the same key Derive
// uses, so a keyring opens the records Derive sealed.
func (k *RootKey) Cipher(purpose string) (Cipher, error) {
	sub, err := deriveKey(k.key.Expose(), nil, "keywarden/"+purpose, KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(sub)
	aead, err := newAEAD(sub)
	if err != nil {
		return nil, err
	}
	return gcmCipher{aead}, nil
}

// NewSealer returns a Sealer (format 1) keyed directly with key, which
// must be KeySize bytes: for data keys kept sealed under the root key
// rather than derived from it, so that they survive a root key rotation.
// rand supplies nonces (nil means crypto/rand.Reader).
func NewSealer(key secret.Bytes, rand io.Reader) (Sealer, error) {
	if key.Len() != KeySize {
		return nil, fmt.Errorf("seal: data key is %d bytes, want %d", key.Len(), KeySize)
	}
	aead, err := newAEAD(key.Expose())
	if err != nil {
		return nil, err
	}
	return &gcmSealer{aead: aead, rand: orDefault(rand)}, nil
}

// gcmCipher adapts an in-memory AES-GCM AEAD to Cipher.
type gcmCipher struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

// Format writes a fixed placeholder: the AEAD holds expanded key bytes.
func (c gcmCipher) Format(f fmt.State, verb rune) { io.WriteString(f, "seal.Cipher[REDACTED]") }

func (c gcmCipher) Encrypt(nonce, plaintext, aad []byte) ([]byte, error) {
	return c.aead.Seal(nil, nonce, plaintext, aad), nil
}

func (c gcmCipher) Decrypt(nonce, ciphertext, aad []byte) ([]byte, error) {
	pt, err := c.aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
