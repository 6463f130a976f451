//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/seal"
)

// DefaultRootKeyLabel is the CKA_LABEL of a deployment's root key objects
// unless configured otherwise; their CKA_ID is the key's id. Deployments
// sharing a token need distinct labels: each takes every object of its
// label for its own, and a rotation destroys the older ones.
const DefaultRootKeyLabel = "kw-root"

// rootKeyTime is the time part of a root key id.
const rootKeyTime = "20060102T150405.000000000Z"

// rootKeyPrefix starts every HSM root key id.
const rootKeyPrefix = "hsm-"

// RootKey is a deployment root key held in the token: an AES-256 secret
// key object that never leaves it (CKA_SENSITIVE, not extractable, no
// wrap or unwrap). It implements seal.KeyVersion: every record is sealed
// and opened by the token's CKM_AES_GCM.
type RootKey struct {
	p     *Provider
	label string
	id    string
	t     time.Time // creation time, from the id
}

var _ seal.KeyVersion = (*RootKey)(nil)

// ID returns the key's id: "hsm-", its creation time (UTC, to the
// nanosecond, fixed width) and 8 random hex digits, so that ids sort by
// age: the newest key, the active one, sorts last.
func (k *RootKey) ID() string { return k.id }

// Cipher returns the token AES-GCM cipher of the key for purpose: the
// purpose is bound into the additional data of every record
// ("keywarden/{purpose}" NUL aad), so that records of one purpose never
// open under another.
func (k *RootKey) Cipher(purpose string) (seal.Cipher, error) {
	return rootCipher{k: k, prefix: "keywarden/" + purpose + "\x00"}, nil
}

// RootKeys returns the root keys labelled label in the token, oldest
// first (by the creation time in their ids).
func (p *Provider) RootKeys(ctx context.Context, label string) ([]*RootKey, error) {
	var out []*RootKey
	err := p.session(ctx, "list root keys", func(sh p11.SessionHandle) error {
		hs, err := find(p.m, sh, rootKeyTemplate(label, nil))
		if err != nil {
			return err
		}
		for _, h := range hs {
			attrs, err := p.m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, nil)})
			if err != nil {
				return fmt.Errorf("C_GetAttributeValue(CKA_ID): %w", err)
			}
			id := string(attrs[0].Value)
			if t, ok := rootKeyIDTime(id); ok && !slices.ContainsFunc(out, func(k *RootKey) bool { return k.id == id }) {
				out = append(out, &RootKey{p: p, label: label, id: id, t: t})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *RootKey) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out, nil
}

// rootKeyIDTime returns the creation time in a root key id.
func rootKeyIDTime(id string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(id, rootKeyPrefix)
	if !ok || len(rest) < len(rootKeyTime) {
		return time.Time{}, false
	}
	t, err := time.Parse(rootKeyTime, rest[:len(rootKeyTime)])
	return t, err == nil
}

// GenerateRootKey creates a new root key labelled label in the token,
// durable when GenerateRootKey returns. Its id's time is now, or just
// after the newest existing key's if the clock is behind it, so that the
// new key always sorts last (the active key).
func (p *Provider) GenerateRootKey(ctx context.Context, label string, now time.Time) (*RootKey, error) {
	existing, err := p.RootKeys(ctx, label)
	if err != nil {
		return nil, err
	}
	t := now.UTC()
	if n := len(existing); n > 0 && !t.After(existing[n-1].t) {
		t = existing[n-1].t.Add(time.Nanosecond)
	}
	rnd := make([]byte, 4)
	if _, err := io.ReadFull(p.rand, rnd); err != nil {
		return nil, fmt.Errorf("pkcs11: root key id: %w", err)
	}
	id := rootKeyPrefix + t.Format(rootKeyTime) + "-" + hex.EncodeToString(rnd)
	err = p.session(ctx, "generate root key", func(sh p11.SessionHandle) error {
		tmpl := append(rootKeyTemplate(label, []byte(id)),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
			p11.NewAttribute(p11.CKA_DERIVE, false),
			p11.NewAttribute(p11.CKA_SIGN, false),
			p11.NewAttribute(p11.CKA_VERIFY, false))
		if _, err := p.m.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl); err != nil {
			return fmt.Errorf("C_GenerateKey(root key): %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k := &RootKey{p: p, label: label, id: id, t: t}
	if err := k.selfTest(); err != nil {
		_ = p.DestroyRootKey(ctx, label, id)
		return nil, err
	}
	return k, nil
}

// SelfTest seals and opens a record with the key, checking that the token
// used the nonce given (a token that picks its own GCM IV, as some FIPS
// modes do, would write records nothing can open).
func (k *RootKey) SelfTest() error { return k.selfTest() }

func (k *RootKey) selfTest() error {
	c := rootCipher{k: k, prefix: "keywarden/self-test\x00"}
	nonce := make([]byte, gcmNonceSize)
	if _, err := io.ReadFull(k.p.rand, nonce); err != nil {
		return err
	}
	ct, err := c.Encrypt(nonce, []byte("keywarden root key self-test"), nil)
	if err != nil {
		return fmt.Errorf("pkcs11: root key %s self-test: %w", k.id, err)
	}
	pt, err := c.Decrypt(nonce, ct, nil)
	if err != nil || string(pt) != "keywarden root key self-test" {
		return fmt.Errorf("pkcs11: root key %s self-test: the token's AES-GCM does not round-trip with the nonce given (%v)", k.id, err)
	}
	return nil
}

// DestroyRootKey destroys the root key id in the token. Every record still
// sealed under it becomes unreadable. Destroying a key that is gone is not
// an error.
func (p *Provider) DestroyRootKey(ctx context.Context, label, id string) error {
	if !strings.HasPrefix(id, rootKeyPrefix) {
		return fmt.Errorf("pkcs11: %q is not an HSM root key id", id)
	}
	return p.session(ctx, "destroy root key", func(sh p11.SessionHandle) error {
		return destroyMatching(p.m, sh, rootKeyTemplate(label, []byte(id)))
	})
}

// rootKeyTemplate matches the root key objects labelled label, or the
// one with CKA_ID id.
func rootKeyTemplate(label string, id []byte) []*p11.Attribute {
	t := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if id != nil {
		t = append(t, p11.NewAttribute(p11.CKA_ID, id))
	}
	return t
}

// rootCipher seals with one root key for one purpose inside the token.
type rootCipher struct {
	k      *RootKey
	prefix string
}

// Encrypt implements seal.Cipher.
func (c rootCipher) Encrypt(nonce, plaintext, aad []byte) ([]byte, error) {
	return c.crypt(true, nonce, plaintext, aad)
}

// Decrypt implements seal.Cipher: a record the token does not
// authenticate is seal.ErrOpen.
func (c rootCipher) Decrypt(nonce, ciphertext, aad []byte) ([]byte, error) {
	return c.crypt(false, nonce, ciphertext, aad)
}

func (c rootCipher) crypt(encrypt bool, nonce, in, aad []byte) ([]byte, error) {
	full := make([]byte, 0, len(c.prefix)+len(aad))
	full = append(append(full, c.prefix...), aad...)
	gp := p11.NewGCMParams(nonce, full, 8*gcmTagSize)
	defer gp.Free()
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, gp)}
	var out []byte
	rejected := false
	err := c.k.p.session(context.Background(), "root key", func(sh p11.SessionHandle) error {
		hs, err := find(c.k.p.m, sh, rootKeyTemplate(c.k.label, []byte(c.k.id)))
		if err != nil {
			return err
		}
		if len(hs) != 1 {
			return fmt.Errorf("pkcs11: root key %s: %d objects in the token, want 1", c.k.id, len(hs))
		}
		if encrypt {
			if err := c.k.p.m.EncryptInit(sh, mech, hs[0]); err != nil {
				return fmt.Errorf("C_EncryptInit: %w", err)
			}
			if out, err = c.k.p.m.Encrypt(sh, in); err != nil {
				return fmt.Errorf("C_Encrypt: %w", err)
			}
			if iv := gp.IV(); iv != nil && !bytes.Equal(iv, nonce) {
				return errors.New("pkcs11: the token replaced the GCM nonce; it cannot hold the root key")
			}
			return nil
		}
		if err := c.k.p.m.DecryptInit(sh, mech, hs[0]); err != nil {
			return fmt.Errorf("C_DecryptInit: %w", err)
		}
		if out, err = c.k.p.m.Decrypt(sh, in); err != nil {
			if classify(err) == kindInput || errors.Is(err, p11.Error(p11.CKR_GENERAL_ERROR)) {
				rejected = true
				return nil
			}
			return fmt.Errorf("C_Decrypt: %w", err)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case rejected:
		return nil, seal.ErrOpen
	}
	return out, nil
}
