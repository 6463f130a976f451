//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
)

var _ keys.Backuper = (*Provider)(nil)

// wrappedMagic starts every blob of ExportWrapped; the JSON wrappedBlob
// follows it.
const wrappedMagic = "kw-pkcs11-wrapped:v1\n"

// wrappedBlob is the self-describing result of ExportWrapped. It holds no
// plaintext key material: Wrapped is the token's C_WrapKey output under
// the trusted wrapping key, and Public the public key (PKIX DER, or the
// SEC 1 point for P-256K, as keys.MarshalPublic encodes it).
type wrappedBlob struct {
	// Mechanism is the PKCS#11 mechanism that wrapped the key.
	Mechanism uint       `json:"mechanism"`
	Type      keys.Type  `json:"type"`
	Size      int        `json:"size,omitempty"`
	Curve     keys.Curve `json:"curve,omitempty"`
	Public    []byte     `json:"public,omitempty"`
	Wrapped   []byte     `json:"wrapped"`
}

// wrapMechanism returns the mechanism that wraps keys of type t with the
// trusted AES key. AES keys (16, 24 or 32 bytes) take CKM_AES_KEY_WRAP
// (RFC 3394), which needs a multiple of 8 bytes. RSA and EC private keys
// are wrapped as PKCS#8 DER of any length, so they take
// CKM_AES_KEY_WRAP_PAD (RFC 5649). SoftHSM2 2.6 zero-pads the key to a
// multiple of 8 bytes before it applies RFC 5649, so its output differs
// from the RFC's for lengths that are not; that does not matter here,
// since the blob is only ever unwrapped by the token (one holding the same
// trusted key), whose C_UnwrapKey reverses its own C_WrapKey and whose
// PKCS#8 decoder ignores the zero padding after the DER structure.
// TestBackupRoundTrip proves the round trip on SoftHSM2 for every key type.
func wrapMechanism(t keys.Type) uint {
	if t == keys.Oct {
		return p11.CKM_AES_KEY_WRAP
	}
	return p11.CKM_AES_KEY_WRAP_PAD
}

// errNoTrustedKey is the error of backup and restore on a token without
// the trusted wrapping key.
func errNoTrustedKey() error {
	return keys.Inputf("This HSM has no trusted wrapping key, so its keys cannot be backed up or restored; it is created when the server opens the token with the security officer PIN.")
}

// ExportWrapped wraps the private (or secret) key object of m inside the
// token with the token's trusted wrapping key (C_WrapKey; see
// wrapMechanism) and returns it with the public key, the key's shape and
// the mechanism as one blob. The key's plaintext never leaves the token.
//
// Errors: keys.ErrCorrupt (wrapped) for Material that is not an HSM key
// reference, names another owner, or whose objects are gone;
// *keys.InputError when the token has no trusted wrapping key;
// keys.ErrUnavailable (wrapped) when the token cannot be reached.
func (p *Provider) ExportWrapped(ctx context.Context, m keys.Material) ([]byte, error) {
	k, err := p.Load(ctx, m)
	if err != nil {
		return nil, err
	}
	kk := k.(*key)
	b := wrappedBlob{Mechanism: wrapMechanism(kk.spec.Type), Type: kk.spec.Type, Size: kk.spec.Size, Curve: kk.spec.Curve}
	if kk.spec.Type == keys.EC {
		b.Size = 0
	}
	if b.Public, err = keys.MarshalPublic(kk.pub); err != nil {
		return nil, fmt.Errorf("pkcs11: encode public key: %w", err)
	}
	err = p.session(ctx, "wrap key", func(sh p11.SessionHandle) error {
		trusted, err := findTrusted(p.m, sh)
		if err != nil {
			return err
		}
		if trusted == 0 {
			return errNoTrustedKey()
		}
		o, err := p.lookup(sh, kk.r, kk.spec.Type)
		if err != nil {
			return err
		}
		b.Wrapped, err = p.m.WrapKey(sh, []*p11.Mechanism{p11.NewMechanism(b.Mechanism, nil)}, trusted, o.priv)
		if err != nil {
			return fmt.Errorf("C_WrapKey: %w", err)
		}
		return nil
	})
	if err != nil {
		if classify(err) == kindHandle {
			p.forget(kk.r)
		}
		return nil, err
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: encode wrapped key: %w", err)
	}
	return append([]byte(wrappedMagic), out...), nil
}

// parseWrapped decodes a blob of ExportWrapped and checks that it is
// complete and self-consistent.
func parseWrapped(spec keys.Spec, blob []byte) (wrappedBlob, error) {
	var b wrappedBlob
	rest, ok := bytes.CutPrefix(blob, []byte(wrappedMagic))
	if !ok {
		return b, corrupt("wrapped key blob has an unknown format")
	}
	d := json.NewDecoder(bytes.NewReader(rest))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil || d.More() {
		return b, corrupt("wrapped key blob is malformed")
	}
	if b.Type != spec.Type {
		return b, corrupt("wrapped key is not of the requested type")
	}
	if b.Mechanism != wrapMechanism(b.Type) || len(b.Wrapped) == 0 {
		return b, corrupt("wrapped key blob names an unexpected mechanism")
	}
	switch b.Type {
	case keys.Oct:
		// RFC 3394 adds 8 bytes: the length tells the unwrapped key's
		// size, which the token may not record (see checkShape).
		if (b.Size != 128 && b.Size != 192 && b.Size != 256) || b.Curve != "" || b.Public != nil || len(b.Wrapped) != b.Size/8+8 {
			return b, corrupt("wrapped AES key has a malformed shape")
		}
	case keys.RSA, keys.EC:
		if _, err := keys.ParsePublic(keys.Spec{Type: b.Type, Size: b.Size, Curve: b.Curve}, b.Public); err != nil {
			return b, corrupt("wrapped key's public key is malformed")
		}
	default:
		return b, corrupt("wrapped key has an unsupported type")
	}
	return b, nil
}

// ImportWrapped unwraps a blob of ExportWrapped inside the token with the
// trusted wrapping key (C_UnwrapKey) into a new private (or secret) key
// object with the templates Generate uses (sensitive, extractable only
// under a trusted key) and labelled with spec.Owner; for RSA and EC it
// creates the public object from the blob's public key. It then signs a
// test digest with the restored private key and verifies it with the
// blob's public key, so a blob whose parts do not belong together creates
// nothing. The returned Material is as Generate's.
//
// With spec.UnwrapOnly an RSA key is restored as Generate makes a
// key-exchange key: its private object can only unwrap and cannot be
// modified. Such a key cannot sign, so the check is instead a random
// AES key that Go wraps under the blob's public key and the token unwraps
// with the restored private key (checkUnwrapOnly).
//
// Errors: keys.ErrCorrupt (wrapped) for a malformed or altered blob, one
// wrapped under another token's trusted key, or one of another type than
// spec.Type; *keys.InputError for a token without a trusted wrapping key,
// a software spec, or P-256K on a token without secp256k1;
// keys.ErrUnavailable (wrapped) when the token cannot be reached. Objects
// a failed call made and could not destroy are reported by a
// *keys.LeftoverError joined to the error.
func (p *Provider) ImportWrapped(ctx context.Context, spec keys.Spec, wrapped []byte) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	b, err := parseWrapped(spec, wrapped)
	if err != nil {
		return keys.Material{}, err
	}
	out := keys.Spec{Type: b.Type, Size: b.Size, Curve: b.Curve, Protection: keys.HSM}
	unwrapOnly := spec.UnwrapOnly && b.Type == keys.RSA
	var pub any
	if b.Type != keys.Oct {
		if pub, err = keys.ParsePublic(out, b.Public); err != nil {
			return keys.Material{}, corrupt("wrapped key's public key is malformed")
		}
		ps, err := keys.PublicSpec(pub)
		if err != nil {
			return keys.Material{}, corrupt("wrapped key's public key is not supported")
		}
		out.Size, out.Curve, out.PublicExponent = ps.Size, ps.Curve, ps.PublicExponent
		if out.Curve == keys.P256K && !p.routes.secp256k1 {
			return keys.Material{}, errNoSecp256k1()
		}
	}
	r, err := p.newRef(spec.Owner)
	if err != nil {
		return keys.Material{}, err
	}
	out.Owner = r.owner
	var privAttrs, pubAttrs []*p11.Attribute
	switch b.Type {
	case keys.RSA:
		k := pub.(*rsa.PublicKey)
		privAttrs = privateTemplate(r, p11.CKK_RSA)
		if spec.UnwrapOnly {
			privAttrs = unwrapOnlyTemplate(privAttrs)
		}
		pubAttrs = append(publicTemplate(r, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS, k.N.Bytes()),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()))
	case keys.EC:
		point, err := asn1.Marshal(pub.(*keys.ECPublicKey).Bytes())
		if err != nil {
			return keys.Material{}, err
		}
		privAttrs = privateTemplate(r, p11.CKK_EC)
		pubAttrs = append(publicTemplate(r, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams(out.Curve)),
			p11.NewAttribute(p11.CKA_EC_POINT, point))
	case keys.Oct:
		privAttrs = secretTemplate(r)
	}
	err = p.session(ctx, "unwrap key", func(sh p11.SessionHandle) error {
		trusted, err := findTrusted(p.m, sh)
		if err != nil {
			return err
		}
		if trusted == 0 {
			return errNoTrustedKey()
		}
		h, err := p.m.UnwrapKey(sh, []*p11.Mechanism{p11.NewMechanism(b.Mechanism, nil)}, trusted, b.Wrapped, privAttrs)
		if err != nil {
			if rejected(p.m, sh, err) {
				return corrupt("the wrapped key was altered or was not wrapped by this token's trusted key")
			}
			return fmt.Errorf("C_UnwrapKey: %w", err)
		}
		if pubAttrs == nil {
			return nil
		}
		if _, err := p.m.CreateObject(sh, pubAttrs); err != nil {
			// If this fails, undo's destroy by reference retries and
			// reports it.
			_ = p.m.DestroyObject(sh, h)
			return fmt.Errorf("C_CreateObject: %w", err)
		}
		return nil
	})
	if err != nil {
		return keys.Material{}, p.undo(ctx, "restore of a wrapped key", err, out, r)
	}
	m, err := p.material(ctx, out, r)
	if err == nil {
		if unwrapOnly {
			err = p.checkUnwrapOnly(ctx, m, pub.(*rsa.PublicKey))
		} else {
			err = p.checkRestored(ctx, m, pub)
		}
	}
	if err != nil {
		// Leave nothing behind; the destroy runs even if ctx is done.
		return keys.Material{}, p.undo(ctx, "restore of a wrapped key", err, out, r)
	}
	return m, nil
}

// checkUnwrapOnly is checkRestored for an unwrap-only RSA key (a
// key-exchange key), which cannot sign: it wraps a random AES-256 key in Go
// with RSA-OAEP (SHA-1, MGF1-SHA-1) under pub, the blob's public key, has
// the token unwrap it with m's private key into a session AES key, and
// compares one AES-ECB block that key encrypts in the token with the same
// block encrypted in Go; the session key is destroyed. A refusal or a
// mismatch is keys.ErrCorrupt (wrapped): the unwrapped private key does not
// belong to pub.
func (p *Provider) checkUnwrapOnly(ctx context.Context, m keys.Material, pub *rsa.PublicKey) error {
	k, err := p.Load(ctx, m)
	if err != nil {
		return err
	}
	kk := k.(*key)
	aesKey := make([]byte, 32)
	defer clear(aesKey)
	if _, err := io.ReadFull(p.rand, aesKey); err != nil {
		return fmt.Errorf("pkcs11: restore check key: %w", err)
	}
	head, err := rsa.EncryptOAEP(sha1.New(), p.rand, pub, aesKey, nil)
	if err != nil {
		return corrupt("the wrapped key's public key cannot encrypt")
	}
	block := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(p.rand, block); err != nil {
		return fmt.Errorf("pkcs11: restore check block: %w", err)
	}
	c, err := aes.NewCipher(aesKey)
	if err != nil {
		return err
	}
	want := make([]byte, aes.BlockSize)
	c.Encrypt(want, block)
	template := withAttribute(sessionUnwrapTemplate(), p11.CKA_ENCRYPT, true)
	template = withAttribute(template, p11.CKA_UNWRAP, false)
	oaep := p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, p11.CKZ_DATA_SPECIFIED, nil))
	return kk.do(ctx, "check restored key", func(sh p11.SessionHandle, priv p11.ObjectHandle) error {
		sk, err := p.m.UnwrapKey(sh, []*p11.Mechanism{oaep}, priv, head, template)
		if err != nil {
			if refusedKey(p.m, sh, err) {
				return corrupt("the unwrapped private key does not match the wrapped key's public key")
			}
			return fmt.Errorf("C_UnwrapKey (RSA-OAEP check of the restored key): %w", err)
		}
		// A session object, never extractable, that the token also
		// destroys when the session closes.
		defer func() { _ = p.m.DestroyObject(sh, sk) }()
		if err := p.m.EncryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_ECB, nil)}, sk); err != nil {
			return fmt.Errorf("C_EncryptInit (AES-ECB check of the restored key): %w", err)
		}
		got, err := p.m.Encrypt(sh, block)
		if err != nil {
			return fmt.Errorf("C_Encrypt (AES-ECB check of the restored key): %w", err)
		}
		if !bytes.Equal(got, want) {
			return corrupt("the unwrapped private key does not match the wrapped key's public key")
		}
		return nil
	})
}

// checkRestored loads m and, for RSA and EC, signs a test digest inside the
// token and verifies it with pub, the blob's public key: the unwrapped
// private key must belong to it. An oct key's integrity is the key wrap's.
func (p *Provider) checkRestored(ctx context.Context, m keys.Material, pub any) error {
	k, err := p.Load(ctx, m)
	if err != nil {
		return err
	}
	if m.Spec.Type == keys.Oct {
		return nil
	}
	alg := keys.RS256
	if m.Spec.Type == keys.EC {
		switch m.Spec.Curve {
		case keys.P256:
			alg = keys.ES256
		case keys.P384:
			alg = keys.ES384
		case keys.P521:
			alg = keys.ES512
		case keys.P256K:
			alg = keys.ES256K
		}
	}
	h := alg.Hash().New()
	h.Write([]byte("keywarden restore check"))
	digest := h.Sum(nil)
	sig, err := k.Sign(ctx, alg, digest)
	if err != nil {
		var ie *keys.InputError
		if errors.As(err, &ie) {
			return corrupt("the unwrapped key cannot sign")
		}
		return err
	}
	ok, err := keys.VerifyPublic(pub, alg, digest, sig)
	if err != nil || !ok {
		return corrupt("the unwrapped private key does not match the wrapped key's public key")
	}
	return nil
}
