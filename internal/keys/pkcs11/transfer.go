//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

var _ keys.TransferImporter = (*Provider)(nil)

// Refusals of ImportTransfer. None says more than which check failed.
var (
	errTransferKEK      = keys.Inputf("The BYOK transfer blob was not wrapped for this key-exchange key: its RSA-OAEP block does not decrypt under the key-exchange key's private key.")
	errTransferMAC      = keys.Inputf("The BYOK transfer blob's wrapped key failed its integrity check (RFC 5649 key wrap with padding): the blob was altered or damaged.")
	errTransferAES      = keys.Inputf("The BYOK transfer blob's AES key is not 128, 192 or 256 bits long.")
	errTransferEC       = keys.Inputf("The EC key in the BYOK transfer blob is malformed: the HSM refuses to use its private scalar.")
	errTransferECD      = keys.Inputf("The EC key in the BYOK transfer blob is malformed: its private scalar is out of range.")
	errKEKNotUnwrapOnly = keys.Inputf("The key-exchange key can also decrypt or sign inside the HSM (it was created before key-exchange keys were made unwrap-only), so it cannot protect a BYOK transfer: create a new key-exchange key with key_ops [\"import\"] and package the key for it.")
	errTransferRSA      = keys.Inputf("The BYOK transfer blob holds a malformed RSA key: the HSM refuses to sign with it, or its signature does not verify with its public key.")
)

// ImportTransfer unwraps a CKM_RSA_AES_KEY_WRAP ciphertext inside the
// token, so that neither the ephemeral AES key nor the target key exists in
// plaintext outside it: with the token's own CKM_RSA_AES_KEY_WRAP where
// Open's probe found that it works, else (SoftHSM2 2.6 lacks it) in the two
// steps that define that mechanism:
//
//  1. C_UnwrapKey with CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA-1) under the
//     KEK's private key object into a session AES key (CKA_TOKEN false,
//     sensitive, not extractable, usable only to unwrap), destroyed when
//     the call returns;
//  2. C_UnwrapKey with CKM_AES_KEY_WRAP_PAD under that session key into a
//     token key object with the templates Generate uses (sensitive,
//     extractable only under a trusted key, labelled with spec.Owner).
//     SoftHSM2 2.6's C_UnwrapKey follows RFC 5649 for any length, unlike
//     its C_WrapKey (see wrapMechanism).
//
// A refusal of the native mechanism is retried in two steps, whose errors
// tell the causes apart.
//
// For RSA it then reads the public key from the private object; for EC,
// whose private object holds no public point, it derives the point's X
// coordinate inside the token (CKM_ECDH1_DERIVE with the curve's generator
// as the peer: d·G) and picks the Y of the two candidates that verifies a
// signature the new key makes in the token; the derive permission is then
// turned off; for RSA it signs a test digest with the new key and verifies
// it with the public key. For oct, whose unwrapped object SoftHSM2 gives
// no length, it encrypts one AES-ECB block under the new key, which fails
// for a key of any length but 16, 24 or 32 bytes. These checks run in the
// unwrap's session, before the public object is created as Generate
// does. A token refusal to use the new key (SoftHSM2 answers some
// malformed keys with CKR_GENERAL_ERROR) is input, never unavailability,
// and leaves the session pool as it was; a stale KEK handle is looked up
// once more.
//
// Errors: *keys.InputError for a software spec, a kek that is not RSA or
// whose private object can decrypt or sign (errKEKNotUnwrapOnly), a
// ciphertext not wrapped for kek (errTransferKEK) or altered
// (errTransferMAC), a key that is not of spec.Type, an RSA size other than
// 2048, 3072 or 4096 bits, an AES key other than 16, 24 or 32 bytes, a
// curve the token does not support, an EC scalar the token refuses or out
// of range, an RSA key whose parts do not belong together (errTransferRSA),
// an EC key on a token without CKM_ECDH1_DERIVE; keys.ErrCorrupt (wrapped) for a kek
// that is not the provider's; keys.ErrUnavailable (wrapped).
func (p *Provider) ImportTransfer(ctx context.Context, spec keys.Spec, kek keys.Material, wrapped []byte) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	if spec.Type != keys.RSA && spec.Type != keys.EC && spec.Type != keys.Oct {
		return keys.Material{}, keys.Inputf("Unsupported key type %.16q", string(spec.Type))
	}
	if spec.Type == keys.EC && !p.routes.ecdh {
		return keys.Material{}, keys.Inputf("This HSM cannot import EC keys from BYOK transfer blobs: it lacks CKM_ECDH1_DERIVE, which computes the key's public point inside the HSM.")
	}
	var (
		k   keys.Key
		err error
	)
	for range 2 {
		// Load forgets a stale handle (the session pool was drained), so
		// a second try finds the objects again.
		if k, err = p.Load(ctx, kek); err == nil || classify(err) != kindHandle {
			break
		}
	}
	if err != nil {
		return keys.Material{}, err
	}
	kk := k.(*key)
	kekPub, ok := kk.pub.(*rsa.PublicKey)
	if kk.spec.Type != keys.RSA || !ok {
		return keys.Material{}, keys.Inputf("The key-exchange key must be an RSA key.")
	}
	head := kekPub.Size()
	if len(wrapped) < head+16 || (len(wrapped)-head)%8 != 0 {
		return keys.Material{}, keys.Inputf("The BYOK transfer blob's ciphertext does not have the shape of a key wrapped for a %d-bit key-exchange key.", kekPub.N.BitLen())
	}
	body := wrapped[head:]
	r, err := p.newRef(spec.Owner)
	if err != nil {
		return keys.Material{}, err
	}
	out := keys.Spec{Type: spec.Type, Protection: keys.HSM, Owner: r.owner}
	var target []*p11.Attribute
	switch spec.Type {
	case keys.RSA:
		target = privateTemplate(r, p11.CKK_RSA)
	case keys.EC:
		target = withAttribute(privateTemplate(r, p11.CKK_EC), p11.CKA_DERIVE, true)
	case keys.Oct:
		// RFC 5649 of 16, 24 or 32 bytes adds 8: the length tells the size,
		// which SoftHSM2 does not record on unwrapped AES keys.
		out.Size = 8 * (len(body) - 8)
		if out.Size != 128 && out.Size != 192 && out.Size != 256 {
			return keys.Material{}, errTransferAES
		}
		target = secretTemplate(r)
	}
	var pub crypto.PublicKey
	unwrap := func(sh p11.SessionHandle) error {
		o, err := p.lookup(sh, kk.r, keys.RSA)
		if err != nil {
			return err
		}
		if err := p.checkKEKUnwrapOnly(sh, o.priv); err != nil {
			return err
		}
		h, native := p11.ObjectHandle(0), false
		if p.routes.rsaAESKW {
			// A refusal goes on to the two steps, whose errors tell a
			// wrong KEK from an altered blob or a wrong key type.
			h, err = p.m.UnwrapKey(sh, []*p11.Mechanism{rsaAESKeyWrap()}, o.priv, wrapped, target)
			if err != nil && !rejected(p.m, sh, err) {
				return fmt.Errorf("C_UnwrapKey (CKM_RSA_AES_KEY_WRAP): %w", err)
			}
			native = err == nil
		}
		if !native {
			if h, err = p.unwrapTwoSteps(sh, o.priv, wrapped[:head], body, target, spec.Type); err != nil {
				return err
			}
		}
		if pub, err = p.completeTransfer(sh, r, h, &out); err != nil {
			// If this fails, undoTransfer's destroy by reference retries
			// and reports it.
			_ = p.m.DestroyObject(sh, h)
			return err
		}
		return nil
	}
	for try := 0; ; try++ {
		err = p.session(ctx, "import transferred key", unwrap)
		if err == nil || classify(err) != kindHandle || try == 1 {
			break
		}
		// The KEK's cached handle is stale: find it again.
		p.forget(kk.r)
	}
	if err != nil {
		return keys.Material{}, p.undoTransfer(ctx, err, out, r)
	}
	// The key was checked inside the unwrap's session (completeTransfer):
	// a check through Load, in a session of its own, would take a token's
	// CKR_GENERAL_ERROR for a malformed key for a failing token.
	m, err := p.material(ctx, out, r)
	if err == nil && out.Type != keys.Oct {
		if eq, ok := m.Public.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
			err = fmt.Errorf("pkcs11: the imported key's public object does not hold the public key the import computed")
		}
	}
	if err != nil {
		return keys.Material{}, p.undoTransfer(ctx, err, out, r)
	}
	return m, nil
}

// checkKEKUnwrapOnly refuses a key-exchange key whose private object kek
// can decrypt or sign (one generated before key-exchange keys were made
// unwrap-only): a decrypt with it would hand out a blob's ephemeral AES
// key, and so the blob's key, in plaintext.
func (p *Provider) checkKEKUnwrapOnly(sh p11.SessionHandle, kek p11.ObjectHandle) error {
	attrs, err := p.m.GetAttributeValue(sh, kek, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_DECRYPT, nil),
		p11.NewAttribute(p11.CKA_SIGN, nil),
	})
	if err != nil {
		return fmt.Errorf("C_GetAttributeValue (KEK permissions): %w", err)
	}
	for _, a := range attrs {
		if len(a.Value) != 1 || a.Value[0] != 0 {
			return errKEKNotUnwrapOnly
		}
	}
	return nil
}

// undoTransfer removes whatever a failed transfer left in the token (its
// key objects, found by reference r), even if ctx is done, and returns
// err, the failure, joined with a *keys.LeftoverError if that fails.
func (p *Provider) undoTransfer(ctx context.Context, err error, out keys.Spec, r ref) error {
	return p.undo(ctx, "BYOK import", err, out, r)
}

// undo removes the key objects of reference r that the failed call op
// made, even if ctx is done, and returns err, the failure, joined with a
// *keys.LeftoverError if that fails.
func (p *Provider) undo(ctx context.Context, op string, err error, out keys.Spec, r ref) error {
	derr := p.Destroy(context.WithoutCancel(ctx), keys.Material{Spec: out, Private: secret.Own(r.marshal())})
	if derr == nil {
		return err
	}
	return errors.Join(err, &keys.LeftoverError{Op: op, Err: derr})
}

// unwrapTwoSteps unwraps head (RSA-OAEP with SHA-1 under kek) into a
// session AES key, then body (RFC 5649 under that key) into a new object
// of template target, and destroys the session key. A refusal of the first
// step (but CKR_TEMPLATE_INCONSISTENT or CKR_KEY_TYPE_INCONSISTENT,
// internal errors there) is errTransferKEK; of the second, a wrong key
// type (told apart by
// unwrapping the same body as a generic secret, which is destroyed at
// once) or errTransferMAC.
func (p *Provider) unwrapTwoSteps(sh p11.SessionHandle, kek p11.ObjectHandle, head, body []byte, target []*p11.Attribute, typ keys.Type) (p11.ObjectHandle, error) {
	oaep := p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, p11.CKZ_DATA_SPECIFIED, nil))
	sk, err := p.m.UnwrapKey(sh, []*p11.Mechanism{oaep}, kek, head, sessionUnwrapTemplate())
	if err != nil {
		// The template is ours and fixed: an inconsistent template or key
		// type here is a token or provider fault, not a wrong KEK.
		if classify(err) != kindOther && rejected(p.m, sh, err) {
			return 0, errTransferKEK
		}
		return 0, fmt.Errorf("C_UnwrapKey (RSA-OAEP): %w", err)
	}
	// sk and g below are session objects, never extractable, that the
	// token also destroys when the session closes.
	defer func() { _ = p.m.DestroyObject(sh, sk) }()
	kwp := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}
	h, err := p.m.UnwrapKey(sh, kwp, sk, body, target)
	if err == nil {
		return h, nil
	}
	if !rejected(p.m, sh, err) {
		return 0, fmt.Errorf("C_UnwrapKey (AES key wrap with padding): %w", err)
	}
	if g, gerr := p.m.UnwrapKey(sh, kwp, sk, body, genericSecretTemplate()); gerr == nil {
		_ = p.m.DestroyObject(sh, g)
		return 0, keys.Inputf("The key in the BYOK transfer blob is not an %s key: import it with the kty of its type.", typ)
	}
	return 0, errTransferMAC
}

// rsaAESKeyWrap is CKM_RSA_AES_KEY_WRAP as BYOK uses it: an AES-256
// ephemeral key under RSA-OAEP with SHA-1 and MGF1-SHA-1.
func rsaAESKeyWrap() *p11.Mechanism {
	return p11.NewMechanism(p11.CKM_RSA_AES_KEY_WRAP, &p11.RSAAESKeyWrapParams{
		AESKeyBits: 256,
		OAEPParams: p11.OAEPParams{HashAlg: p11.CKM_SHA_1, MGF: p11.CKG_MGF1_SHA1, SourceType: p11.CKZ_DATA_SPECIFIED},
	})
}

// completeTransfer checks the shape of the unwrapped private (or secret)
// object h, fills out's size or curve, and for RSA and EC creates the
// public object, its last step, returning the public key. On failure the
// caller destroys h.
func (p *Provider) completeTransfer(sh p11.SessionHandle, r ref, h p11.ObjectHandle, out *keys.Spec) (crypto.PublicKey, error) {
	var (
		pub      crypto.PublicKey
		pubAttrs []*p11.Attribute
	)
	switch out.Type {
	case keys.Oct:
		return nil, p.checkTransferredAES(sh, h, out.Size)
	case keys.RSA:
		attrs, err := p.m.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_MODULUS, nil),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
		}
		n, e := new(big.Int).SetBytes(attrs[0].Value), new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, keys.Inputf("The RSA key in the BYOK transfer blob has an unsupported public exponent.")
		}
		if bits := n.BitLen(); bits != 2048 && bits != 3072 && bits != 4096 {
			return nil, keys.Inputf("The RSA key in the BYOK transfer blob has %d bits. Supported sizes are 2048, 3072 and 4096.", bits)
		}
		rpub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		if err := p.checkTransferredRSA(sh, h, rpub); err != nil {
			return nil, err
		}
		pub = rpub
		pubAttrs = append(publicTemplate(r, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS, attrs[0].Value),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, attrs[1].Value))
	case keys.EC:
		ec, err := p.transferredPoint(sh, h)
		if err != nil {
			return nil, err
		}
		point, err := asn1.Marshal(ec.Bytes())
		if err != nil {
			return nil, err
		}
		if err := p.m.SetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_DERIVE, false)}); err != nil {
			return nil, fmt.Errorf("C_SetAttributeValue(CKA_DERIVE): %w", err)
		}
		pub = ec
		pubAttrs = append(publicTemplate(r, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams(ec.Curve)),
			p11.NewAttribute(p11.CKA_EC_POINT, point))
	}
	ps, err := keys.PublicSpec(pub)
	if err != nil {
		return nil, keys.Inputf("The key in the BYOK transfer blob is not supported.")
	}
	out.Size, out.Curve, out.PublicExponent = ps.Size, ps.Curve, ps.PublicExponent
	if _, err := p.m.CreateObject(sh, pubAttrs); err != nil {
		return nil, fmt.Errorf("C_CreateObject: %w", err)
	}
	return pub, nil
}

// checkTransferredRSA signs a test digest with the unwrapped RSA private
// object h inside the unwrap's session and verifies the signature with
// pub, read from h: the parts of a malformed key (an even modulus, zero
// primes or private exponent) do not belong together. It runs here rather
// than through Load and a pooled session of its own because SoftHSM2
// answers such a key with CKR_GENERAL_ERROR, which that path takes for a
// failing token and drains the session pool on. A refusal, or a
// signature that does not verify, is errTransferRSA; the caller destroys h.
func (p *Provider) checkTransferredRSA(sh p11.SessionHandle, h p11.ObjectHandle, pub *rsa.PublicKey) error {
	d := sha256.Sum256([]byte("keywarden transfer check"))
	if err := p.m.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS, nil)}, h); err != nil {
		if refusedKey(p.m, sh, err) {
			return errTransferRSA
		}
		return fmt.Errorf("C_SignInit (RSA check of the transferred key): %w", err)
	}
	sig, err := p.m.Sign(sh, append(digestInfoPrefix(crypto.SHA256), d[:]...))
	if err != nil {
		if refusedKey(p.m, sh, err) {
			return errTransferRSA
		}
		return fmt.Errorf("C_Sign (RSA check of the transferred key): %w", err)
	}
	if ok, err := keys.VerifyPublic(pub, keys.RS256, d[:], sig); err != nil || !ok {
		return errTransferRSA
	}
	return nil
}

// transferredPoint returns the public point of the unwrapped EC private
// object h, computed inside the token: X is the ECDH of h with the curve's
// generator, and Y the candidate that verifies a signature h makes.
func (p *Provider) transferredPoint(sh p11.SessionHandle, h p11.ObjectHandle) (*keys.ECPublicKey, error) {
	attrs, err := p.m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_EC_PARAMS, nil)})
	if err != nil {
		return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	c := curveOf(attrs[0].Value)
	switch {
	case c == "":
		return nil, keys.Inputf("The EC key in the BYOK transfer blob is on an unsupported curve. Supported curves are P-256, P-384, P-521 and P-256K.")
	case c == keys.P256K && !p.routes.secp256k1:
		return nil, errNoSecp256k1()
	}
	g, err := keys.Generator(c)
	if err != nil {
		return nil, err
	}
	size := keys.CurveSize(c)
	derive := p11.NewMechanism(p11.CKM_ECDH1_DERIVE, p11.NewECDH1DeriveParams(p11.CKD_NULL, nil, g))
	xh, err := p.m.DeriveKey(sh, []*p11.Mechanism{derive}, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_VALUE_LEN, size),
	})
	if err != nil {
		if refusedKey(p.m, sh, err) {
			return nil, errTransferEC
		}
		return nil, fmt.Errorf("C_DeriveKey (ECDH with the generator): %w", err)
	}
	defer func() { _ = p.m.DestroyObject(sh, xh) }()
	// The derived value is d·G's X coordinate: the public key's, not a
	// secret.
	xa, err := p.m.GetAttributeValue(sh, xh, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	alg := map[keys.Curve]keys.SignatureAlgorithm{keys.P256: keys.ES256, keys.P384: keys.ES384, keys.P521: keys.ES512, keys.P256K: keys.ES256K}[c]
	hh := alg.Hash().New()
	hh.Write([]byte("keywarden transfer check"))
	d := hh.Sum(nil)
	if err := p.m.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, h); err != nil {
		if refusedKey(p.m, sh, err) {
			return nil, errTransferEC
		}
		return nil, fmt.Errorf("C_SignInit: %w", err)
	}
	sig, err := p.m.Sign(sh, d)
	if err != nil {
		if refusedKey(p.m, sh, err) {
			return nil, errTransferEC
		}
		return nil, fmt.Errorf("C_Sign: %w", err)
	}
	if c == keys.P256K {
		lowS(sig)
	}
	for _, cand := range keys.PointsWithX(c, xa[0].Value) {
		if ok, err := keys.VerifyPublic(cand, alg, d, sig); err == nil && ok {
			if bytes.Equal(cand.Bytes(), g) {
				// d ≡ 1 (mod n): 1, or n+1, out of range, which a
				// plaintext import refuses too.
				return nil, errTransferECD
			}
			return cand, nil
		}
	}
	return nil, keys.Inputf("The EC key in the BYOK transfer blob is malformed: no public point verifies its signature.")
}

// checkTransferredAES checks that the unwrapped AES object h is a key of
// size bits: SoftHSM2 records no CKA_VALUE_LEN on unwrapped keys and
// accepts an RFC 5649 payload of any length, so a 9 to 31-byte value would
// pass for the size the padded length suggests and fail at its first use.
// A CKA_VALUE_LEN the token reports must match; then one AES-ECB block
// under h must encrypt, which the token refuses for a key of another
// length. A refusal is errTransferAES; the caller destroys h.
func (p *Provider) checkTransferredAES(sh p11.SessionHandle, h p11.ObjectHandle, size int) error {
	attrs, err := p.m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE_LEN, nil)})
	if err == nil && len(attrs) == 1 && len(attrs[0].Value) > 0 {
		if n := ulong(attrs[0].Value); n != 0 && n != uint64(size/8) {
			return errTransferAES
		}
	}
	if err := p.m.EncryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_ECB, nil)}, h); err != nil {
		// SoftHSM2 answers an AES key of another length
		// CKR_MECHANISM_INVALID (its cipher refuses the key). A token
		// without CKM_AES_ECB would so refuse every oct import as
		// input, which is the one ambiguity accepted here.
		if refusedKey(p.m, sh, err, p11.CKR_MECHANISM_INVALID) {
			return errTransferAES
		}
		return fmt.Errorf("C_EncryptInit (AES-ECB check of the transferred key): %w", err)
	}
	if _, err := p.m.Encrypt(sh, make([]byte, 16)); err != nil {
		if refusedKey(p.m, sh, err) {
			return errTransferAES
		}
		return fmt.Errorf("C_Encrypt (AES-ECB check of the transferred key): %w", err)
	}
	return nil
}

// refusedKey reports whether err, of a call that uses a key object just
// unwrapped (from a transfer blob or a backup), means that the token
// refuses that key (a malformed value: an EC scalar of zero, an RSA key
// whose parts do not belong together, an AES key of another length)
// rather than that the call was wrong or the token failed: a return value
// about the key's value (CKR_KEY_SIZE_RANGE, CKR_ATTRIBUTE_VALUE_INVALID,
// CKR_DOMAIN_PARAMS_INVALID, CKR_CURVE_NOT_SUPPORTED, CKR_KEY_INDIGESTIBLE)
// or the input (kindInput), one of also (the answers a check knows the
// token to give such keys), or CKR_GENERAL_ERROR and CKR_FUNCTION_FAILED
// (SoftHSM2's answer to most of them) from a session that still answers
// C_GetSessionInfo. Any other error (a permission the template should have
// given, a function or mechanism the token lacks, a stale handle) is not
// the key's fault. The caller reports a refusal as input, so that it does
// not drain the session pool.
func refusedKey(m module, sh p11.SessionHandle, err error, also ...uint) bool {
	var rv p11.Error
	if !errors.As(err, &rv) {
		return false
	}
	if slices.Contains(also, uint(rv)) {
		return true
	}
	switch uint(rv) {
	case p11.CKR_KEY_SIZE_RANGE, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_DOMAIN_PARAMS_INVALID,
		p11.CKR_CURVE_NOT_SUPPORTED, p11.CKR_KEY_INDIGESTIBLE:
		return true
	}
	switch classify(err) {
	case kindInput:
		return true
	case kindUnavailable:
		if rv != p11.CKR_GENERAL_ERROR && rv != p11.CKR_FUNCTION_FAILED {
			return false
		}
		_, serr := m.GetSessionInfo(sh)
		return serr == nil
	}
	return false
}

// rejected reports whether err, of C_UnwrapKey, means that the token
// refused the input (a ciphertext that does not decrypt or fails its
// integrity check, a key of another type) rather than that the token
// failed: SoftHSM2 answers those with CKR_GENERAL_ERROR or
// CKR_FUNCTION_FAILED, which otherwise mean a broken token, so a session
// that still answers C_GetSessionInfo tells them apart.
func rejected(m module, sh p11.SessionHandle, err error) bool {
	switch classify(err) {
	case kindInput:
		return true
	case kindUnavailable:
		if !errors.Is(err, p11.Error(p11.CKR_GENERAL_ERROR)) && !errors.Is(err, p11.Error(p11.CKR_FUNCTION_FAILED)) {
			return false
		}
		_, serr := m.GetSessionInfo(sh)
		return serr == nil
	case kindOther:
		return errors.Is(err, p11.Error(p11.CKR_TEMPLATE_INCONSISTENT)) || errors.Is(err, p11.Error(p11.CKR_KEY_TYPE_INCONSISTENT))
	}
	return false
}

// sessionUnwrapTemplate is the template of the ephemeral AES key of a
// transfer: a session object, sensitive, never extractable, that can only
// unwrap.
func sessionUnwrapTemplate() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
}

// genericSecretTemplate is the template of the session object that tells
// an intact blob of another key type from an altered one: sensitive and
// never extractable, destroyed at once.
func genericSecretTemplate() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
	}
}

// withAttribute returns template with the boolean attribute typ set to v.
func withAttribute(template []*p11.Attribute, typ uint, v bool) []*p11.Attribute {
	for i, a := range template {
		if a.Type == typ {
			template[i] = p11.NewAttribute(typ, v)
			return template
		}
	}
	return append(template, p11.NewAttribute(typ, v))
}
