//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/secret"
)

// Generate creates a key inside the token. A zero Spec.Size means 2048
// for RSA and 256 for oct; an empty Spec.Curve means P-256. The objects are
// labelled with spec.Owner, which Load requires again. The returned
// Material.Spec is complete and has Protection hsm; Material.Private is an
// object reference, not key material.
//
// Errors: *keys.InputError for an unsupported type, size, curve (P-256K
// where the token cannot generate it) or public exponent (only 65537), or
// a software protection level; an error wrapping keys.ErrUnavailable when
// the token cannot be reached.
func (p *Provider) Generate(ctx context.Context, spec keys.Spec) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	r, err := p.newRef(spec.Owner)
	if err != nil {
		return keys.Material{}, err
	}
	var out keys.Spec
	switch spec.Type {
	case keys.RSA:
		out, err = p.generateRSA(ctx, spec, r)
	case keys.EC:
		out, err = p.generateEC(ctx, spec, r)
	case keys.Oct:
		out, err = p.generateOct(ctx, spec, r)
	default:
		return keys.Material{}, keys.Inputf("Unsupported key type %.16q", string(spec.Type))
	}
	if err != nil {
		return keys.Material{}, err
	}
	return p.material(ctx, out, r)
}

func (p *Provider) generateRSA(ctx context.Context, spec keys.Spec, r ref) (keys.Spec, error) {
	size := spec.Size
	if size == 0 {
		size = defaultRSASize
	}
	switch size {
	case 2048, 3072, 4096:
	default:
		return keys.Spec{}, keys.Inputf("Unsupported RSA key size %d. Supported sizes are 2048, 3072 and 4096.", size)
	}
	if e := spec.PublicExponent; e != 0 && e != 65537 {
		return keys.Spec{}, keys.Inputf("Unsupported RSA public exponent %d. Only 65537 is supported.", e)
	}
	priv := privateTemplate(r, p11.CKK_RSA)
	if spec.UnwrapOnly {
		priv = unwrapOnlyTemplate(priv)
	}
	err := p.session(ctx, "generate RSA key", func(sh p11.SessionHandle) error {
		_, _, err := p.m.GenerateKeyPair(sh,
			[]*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
			append(publicTemplate(r, p11.CKK_RSA),
				p11.NewAttribute(p11.CKA_MODULUS_BITS, size),
				p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})),
			priv)
		if err != nil {
			return fmt.Errorf("C_GenerateKeyPair: %w", err)
		}
		return nil
	})
	if err != nil {
		return keys.Spec{}, err
	}
	return keys.Spec{Type: keys.RSA, Size: size, PublicExponent: 65537, Protection: keys.HSM, Owner: r.owner}, nil
}

func (p *Provider) generateEC(ctx context.Context, spec keys.Spec, r ref) (keys.Spec, error) {
	c := spec.Curve
	if c == "" {
		c = defaultCurve
	}
	if _, ok := curveOIDs[c]; !ok {
		return keys.Spec{}, keys.Inputf("Unsupported curve %.16q. Supported curves are P-256, P-384, P-521 and P-256K.", string(c))
	}
	if c == keys.P256K && !p.routes.secp256k1 {
		return keys.Spec{}, errNoSecp256k1()
	}
	err := p.session(ctx, "generate EC key", func(sh p11.SessionHandle) error {
		_, _, err := p.m.GenerateKeyPair(sh,
			[]*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)},
			append(publicTemplate(r, p11.CKK_EC), p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams(c))),
			privateTemplate(r, p11.CKK_EC))
		if err != nil {
			return fmt.Errorf("C_GenerateKeyPair: %w", err)
		}
		return nil
	})
	if err != nil {
		return keys.Spec{}, err
	}
	return keys.Spec{Type: keys.EC, Curve: c, Protection: keys.HSM, Owner: r.owner}, nil
}

func (p *Provider) generateOct(ctx context.Context, spec keys.Spec, r ref) (keys.Spec, error) {
	size := spec.Size
	if size == 0 {
		size = defaultOctSize
	}
	if size != 128 && size != 192 && size != 256 {
		return keys.Spec{}, keys.Inputf("Unsupported oct key size %d. Supported sizes are 128, 192 and 256.", size)
	}
	err := p.session(ctx, "generate AES key", func(sh p11.SessionHandle) error {
		_, err := p.m.GenerateKey(sh,
			[]*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)},
			append(secretTemplate(r), p11.NewAttribute(p11.CKA_VALUE_LEN, size/8)))
		if err != nil {
			return fmt.Errorf("C_GenerateKey: %w", err)
		}
		return nil
	})
	if err != nil {
		return keys.Spec{}, err
	}
	return keys.Spec{Type: keys.Oct, Size: size, Protection: keys.HSM, Owner: r.owner}, nil
}

// errNoSecp256k1 is the error for P-256K on a token without secp256k1.
func errNoSecp256k1() error {
	return keys.Inputf("Unsupported curve P-256K: this HSM cannot hold secp256k1 keys. Supported curves are P-256, P-384 and P-521.")
}

// publicTemplate is the template of a public key token object.
func publicTemplate(r ref, keyType uint) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_ID, r.id),
		p11.NewAttribute(p11.CKA_LABEL, r.label()),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, keyType == p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_WRAP, false),
	}
}

// privateTemplate is the template of a private key token object: private,
// sensitive, and extractable only under a trusted wrapping key.
func privateTemplate(r ref, keyType uint) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_WRAP_WITH_TRUSTED, true),
		p11.NewAttribute(p11.CKA_ID, r.id),
		p11.NewAttribute(p11.CKA_LABEL, r.label()),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, keyType == p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_UNWRAP, keyType == p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
}

// unwrapOnlyTemplate turns priv, an RSA private key template, into that of
// a key-exchange key (keys.Spec.UnwrapOnly): its private key only ever
// unwraps transfer blobs, so no decrypt can hand out a blob's ephemeral
// AES key; and it cannot be modified, so no C_SetAttributeValue can give
// it decrypt or sign later.
func unwrapOnlyTemplate(priv []*p11.Attribute) []*p11.Attribute {
	for _, a := range []uint{p11.CKA_DECRYPT, p11.CKA_SIGN, p11.CKA_DERIVE, p11.CKA_MODIFIABLE} {
		priv = withAttribute(priv, a, false)
	}
	return withAttribute(priv, p11.CKA_UNWRAP, true)
}

// secretTemplate is the template of an AES token object: private,
// sensitive, and extractable only under a trusted wrapping key.
func secretTemplate(r ref) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_WRAP_WITH_TRUSTED, true),
		p11.NewAttribute(p11.CKA_ID, r.id),
		p11.NewAttribute(p11.CKA_LABEL, r.label()),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
}

// material reads the new key's public half from the token and returns
// its Material.
func (p *Provider) material(ctx context.Context, spec keys.Spec, r ref) (keys.Material, error) {
	m := keys.Material{Spec: spec, Private: secret.Own(r.marshal())}
	if spec.Type == keys.Oct {
		return m, nil
	}
	err := p.session(ctx, "read public key", func(sh p11.SessionHandle) error {
		o, err := p.lookup(sh, r, spec.Type)
		if err != nil {
			return err
		}
		m.Public, err = readPublic(p.m, sh, o.pub, spec.Type)
		return err
	})
	if err != nil {
		return keys.Material{}, err
	}
	return m, nil
}

// Import creates a token key from a client's private key: an
// *rsa.PrivateKey, a *keys.ECPrivateKey (or keys.ECPrivateKey) or, for oct,
// a secret.Bytes of 16, 24 or 32 bytes. The key is validated exactly as the
// software provider validates it, then written into the token with
// C_CreateObject as a sensitive object; this means the plaintext key passes
// through Keywarden's memory during the call. Bring-your-own-key import,
// which unwraps inside the token, is the path that never has it in
// plaintext.
//
// Errors: the *keys.InputError of the software provider's Import for an
// invalid key, or P-256K on a token without secp256k1; keys.ErrUnavailable
// (wrapped) when the token cannot be reached.
func (p *Provider) Import(ctx context.Context, spec keys.Spec, private any) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	sw := spec
	sw.Protection = keys.Software
	checked, err := software.New(nil).Import(ctx, sw, private)
	if err != nil {
		return keys.Material{}, err
	}
	defer checked.Private.Clear()
	r, err := p.newRef(spec.Owner)
	if err != nil {
		return keys.Material{}, err
	}
	out := checked.Spec
	out.Protection, out.Owner = keys.HSM, r.owner
	var privAttrs, pubAttrs []*p11.Attribute
	switch out.Type {
	case keys.RSA:
		k, err := x509.ParsePKCS8PrivateKey(checked.Private.Expose())
		priv, ok := k.(*rsa.PrivateKey)
		if err != nil || !ok {
			return keys.Material{}, fmt.Errorf("pkcs11: re-parse validated RSA key: %v", err)
		}
		privAttrs = append(privateTemplate(r, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS, priv.N.Bytes()),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(priv.E)).Bytes()),
			p11.NewAttribute(p11.CKA_PRIVATE_EXPONENT, priv.D.Bytes()),
			p11.NewAttribute(p11.CKA_PRIME_1, priv.Primes[0].Bytes()),
			p11.NewAttribute(p11.CKA_PRIME_2, priv.Primes[1].Bytes()),
			p11.NewAttribute(p11.CKA_EXPONENT_1, priv.Precomputed.Dp.Bytes()),
			p11.NewAttribute(p11.CKA_EXPONENT_2, priv.Precomputed.Dq.Bytes()),
			p11.NewAttribute(p11.CKA_COEFFICIENT, priv.Precomputed.Qinv.Bytes()))
		pubAttrs = append(publicTemplate(r, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS, priv.N.Bytes()),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(priv.E)).Bytes()))
	case keys.EC:
		if out.Curve == keys.P256K && !p.routes.secp256k1 {
			return keys.Material{}, errNoSecp256k1()
		}
		d, point, err := ecParts(checked, private)
		if err != nil {
			return keys.Material{}, err
		}
		privAttrs = append(privateTemplate(r, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams(out.Curve)),
			p11.NewAttribute(p11.CKA_VALUE, d))
		pubAttrs = append(publicTemplate(r, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams(out.Curve)),
			p11.NewAttribute(p11.CKA_EC_POINT, point))
	case keys.Oct:
		privAttrs = append(secretTemplate(r), p11.NewAttribute(p11.CKA_VALUE, checked.Private.Expose()))
	}
	defer func() {
		for _, a := range privAttrs {
			switch a.Type {
			case p11.CKA_VALUE, p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1, p11.CKA_PRIME_2,
				p11.CKA_EXPONENT_1, p11.CKA_EXPONENT_2, p11.CKA_COEFFICIENT:
				clear(a.Value)
			}
		}
	}()
	err = p.session(ctx, "import key", func(sh p11.SessionHandle) error {
		h, err := p.m.CreateObject(sh, privAttrs)
		if err != nil {
			return fmt.Errorf("C_CreateObject: %w", err)
		}
		if pubAttrs == nil {
			return nil
		}
		if _, err := p.m.CreateObject(sh, pubAttrs); err != nil {
			_ = p.m.DestroyObject(sh, h)
			return fmt.Errorf("C_CreateObject: %w", err)
		}
		return nil
	})
	if err != nil {
		return keys.Material{}, err
	}
	return p.material(ctx, out, r)
}

// ecParts returns the private scalar (left-padded to the curve size) and
// the DER OCTET STRING of the public point of a validated EC key.
func ecParts(checked keys.Material, private any) (d, point []byte, err error) {
	pub, ok := checked.Public.(*keys.ECPublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("pkcs11: validated EC key has public key %T", checked.Public)
	}
	point, err = asn1.Marshal(pub.Bytes())
	if err != nil {
		return nil, nil, err
	}
	size := keys.CurveSize(pub.Curve)
	d = make([]byte, size)
	if pub.Curve != keys.P256K {
		k, err := x509.ParsePKCS8PrivateKey(checked.Private.Expose())
		priv, ok := k.(*ecdsa.PrivateKey)
		if err != nil || !ok {
			return nil, nil, fmt.Errorf("pkcs11: re-parse validated EC key: %v", err)
		}
		b, err := priv.Bytes()
		if err != nil {
			return nil, nil, err
		}
		copy(d, b)
		clear(b)
		return d, point, nil
	}
	var in *keys.ECPrivateKey
	switch k := private.(type) {
	case *keys.ECPrivateKey:
		in = k
	case keys.ECPrivateKey:
		in = &k
	}
	if in == nil {
		return nil, nil, fmt.Errorf("pkcs11: EC key of type %T", private)
	}
	copy(d[size-in.D.Len():], in.D.Expose())
	return d, point, nil
}

// Load returns the Key that m refers to. It finds the token objects by
// CKA_ID and checks that their label names m.Spec.Owner (so an owner's
// Material cannot reach another owner's key) and that they match m.Spec
// and m.Public. Handles are cached. It does not retain m.Private.
//
// Errors: keys.ErrCorrupt (wrapped) for Material that is not an HSM key
// reference, refers to objects the token does not hold or that belong to
// another owner, or does not match them; keys.ErrUnavailable (wrapped)
// when the token cannot be reached.
func (p *Provider) Load(ctx context.Context, m keys.Material) (keys.Key, error) {
	if m.Spec.Protection != keys.HSM {
		return nil, corrupt("material is not an HSM key")
	}
	r, err := parseRef(m.Private.Expose())
	if err != nil {
		return nil, err
	}
	if r.owner != m.Spec.Owner {
		return nil, corrupt("the key belongs to another owner")
	}
	spec := m.Spec
	k := &key{p: p, r: r}
	err = p.session(ctx, "load key", func(sh p11.SessionHandle) error {
		o, err := p.lookup(sh, r, spec.Type)
		if err != nil {
			return err
		}
		if spec, err = p.checkShape(sh, o, spec); err != nil {
			return err
		}
		if spec.Type == keys.Oct {
			return nil
		}
		if k.pub, err = readPublic(p.m, sh, o.pub, spec.Type); err != nil {
			return err
		}
		ps, err := keys.PublicSpec(k.pub)
		switch {
		case err != nil:
			return corrupt("the token's public key is not supported")
		case spec.Type == keys.RSA && spec.Size != 0 && spec.Size != ps.Size:
			return corrupt("RSA key size does not match its spec")
		case spec.Type == keys.EC && spec.Curve != "" && spec.Curve != ps.Curve:
			return corrupt("EC key curve does not match its spec")
		}
		spec.Size, spec.Curve, spec.PublicExponent = ps.Size, ps.Curve, ps.PublicExponent
		return nil
	})
	if err != nil {
		if classify(err) == kindHandle {
			p.forget(r)
		}
		return nil, err
	}
	if m.Public != nil {
		if eq, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(m.Public) {
			return nil, corrupt("the token's public key does not match the stored one")
		}
	}
	k.spec = spec
	return k, nil
}

// checkShape compares the token object's type and size with spec and
// returns spec completed from the token.
func (p *Provider) checkShape(sh p11.SessionHandle, o objects, spec keys.Spec) (keys.Spec, error) {
	attrs, err := p.m.GetAttributeValue(sh, o.priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return spec, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	kt := ulong(attrs[0].Value)
	switch spec.Type {
	case keys.RSA:
		if kt != p11.CKK_RSA {
			return spec, corrupt("token object is not an RSA key")
		}
	case keys.EC:
		if kt != p11.CKK_EC {
			return spec, corrupt("token object is not an EC key")
		}
	case keys.Oct:
		if kt != p11.CKK_AES {
			return spec, corrupt("token object is not an AES key")
		}
		attrs, err := p.m.GetAttributeValue(sh, o.priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE_LEN, nil)})
		if err != nil {
			return spec, fmt.Errorf("C_GetAttributeValue: %w", err)
		}
		bits := 8 * int(ulong(attrs[0].Value))
		if bits == 0 {
			// SoftHSM2 2.6 leaves CKA_VALUE_LEN at 0 on AES keys that
			// C_UnwrapKey made (ImportWrapped, which checked the size
			// against the wrapped key's length); the spec's size stands.
			bits = spec.Size
		}
		if spec.Size != 0 && spec.Size != bits {
			return spec, corrupt("AES key size does not match its spec")
		}
		spec.Size = bits
	default:
		return spec, corrupt("unsupported key type")
	}
	return spec, nil
}

// ulong decodes a CK_ULONG attribute value, which is in host byte order.
func ulong(b []byte) uint64 {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b)
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return 0
}
