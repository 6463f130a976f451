//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

// routes records which path Open's probe chose for each algorithm that
// has more than one.
type routes struct {
	secp256k1 bool // the token generates and signs with secp256k1 keys
	oaep256   bool // CKM_RSA_PKCS_OAEP with SHA-256 works
	kw        bool // CKM_AES_KEY_WRAP matches RFC 3394
	kwp       bool // CKM_AES_KEY_WRAP_PAD matches RFC 5649
	rsaAESKW  bool // CKM_RSA_AES_KEY_WRAP unwraps a BYOK ciphertext made in Go
	ecdh      bool // CKM_ECDH1_DERIVE is listed: BYOK computes an EC key's public point with it
}

// Probe reports, for each algorithm, whether the token runs it with its own
// mechanism or the provider builds it from the token's primitives, as found
// when the Provider was opened. It backs `keywarden hsm info`.
func (p *Provider) Probe(ctx context.Context) []MechanismPath {
	return slices.Clone(p.paths)
}

// Published vectors the probe checks the token's key wrap against.
var (
	// RFC 3394 §4.1: 128-bit KEK, 128-bit key data.
	kwVectorKEK = mustHex("000102030405060708090A0B0C0D0E0F")
	kwVectorIn  = mustHex("00112233445566778899AABBCCDDEEFF")
	kwVectorOut = mustHex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
	// RFC 5649 §6: 192-bit KEK, 20 and 7 octets of key data.
	kwpVectorKEK   = mustHex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	kwpVectorIn20  = mustHex("c37b7e6492584340bed12207808941155068f738")
	kwpVectorOut20 = mustHex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
	kwpVectorIn7   = mustHex("466f7250617369")
	kwpVectorOut7  = mustHex("afbeb0f07dfbf5419200f2ccb50bb24f")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// probe lists the token's mechanisms and tries the ones whose support or
// correctness the list does not tell (secp256k1, OAEP with SHA-256, the key
// wraps against published vectors, GCM against Go) with session objects,
// then records p.routes and p.paths.
func (p *Provider) probe(ctx context.Context) error {
	var (
		r     routes
		mechs = map[uint]bool{}
		gcmOK bool
	)
	err := p.session(ctx, "probe", func(sh p11.SessionHandle) error {
		p.mu.Lock()
		slot := p.slot
		p.mu.Unlock()
		list, err := p.m.GetMechanismList(slot)
		if err != nil {
			return fmt.Errorf("C_GetMechanismList: %w", err)
		}
		for _, m := range list {
			mechs[m.Mechanism] = true
		}
		r.secp256k1 = mechs[p11.CKM_EC_KEY_PAIR_GEN] && mechs[p11.CKM_ECDSA] && p.probeSecp256k1(sh)
		r.ecdh = mechs[p11.CKM_ECDH1_DERIVE]
		if mechs[p11.CKM_RSA_PKCS_OAEP] {
			r.oaep256 = p.probeOAEP256(sh)
		}
		kek, err := sessionAES(p.m, sh, kwVectorKEK)
		if err != nil {
			return err
		}
		defer func() { _ = p.m.DestroyObject(sh, kek) }()
		if mechs[p11.CKM_AES_KEY_WRAP] {
			out, err := nativeWrap(p.m, sh, kek, p11.CKM_AES_KEY_WRAP, kwVectorIn)
			back, uerr := nativeUnwrap(p.m, sh, kek, p11.CKM_AES_KEY_WRAP, kwVectorOut)
			r.kw = err == nil && uerr == nil && bytes.Equal(out, kwVectorOut) && bytes.Equal(back, kwVectorIn)
		}
		if mechs[p11.CKM_AES_KEY_WRAP_PAD] {
			kwpKEK, err := sessionAES(p.m, sh, kwpVectorKEK)
			if err != nil {
				return err
			}
			defer func() { _ = p.m.DestroyObject(sh, kwpKEK) }()
			r.kwp = true
			for _, v := range [][2][]byte{{kwpVectorIn20, kwpVectorOut20}, {kwpVectorIn7, kwpVectorOut7}} {
				out, err := nativeWrap(p.m, sh, kwpKEK, p11.CKM_AES_KEY_WRAP_PAD, v[0])
				back, uerr := nativeUnwrap(p.m, sh, kwpKEK, p11.CKM_AES_KEY_WRAP_PAD, v[1])
				r.kwp = r.kwp && err == nil && uerr == nil && bytes.Equal(out, v[1]) && bytes.Equal(back, v[0])
			}
		}
		if mechs[p11.CKM_AES_GCM] {
			gcmOK = p.probeGCM(sh, kek)
		}
		if mechs[p11.CKM_RSA_AES_KEY_WRAP] {
			r.rsaAESKW = p.probeRSAAESKeyWrap(sh)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pkcs11: probe the token: %w", err)
	}
	p.routes = r
	p.paths = describe(mechs, r, gcmOK)
	return nil
}

// sessionAES creates a session AES key with the given value, for the probe
// and its published vectors.
func sessionAES(m module, sh p11.SessionHandle, value []byte) (p11.ObjectHandle, error) {
	h, err := m.CreateObject(sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_VALUE, value),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
	})
	if err != nil {
		return 0, fmt.Errorf("C_CreateObject: %w", err)
	}
	return h, nil
}

// probeSecp256k1 reports whether the token generates secp256k1 key pairs.
func (p *Provider) probeSecp256k1(sh p11.SessionHandle) bool {
	pub, priv, err := p.m.GenerateKeyPair(sh,
		[]*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_EC_PARAMS, ecParams("P-256K")),
			p11.NewAttribute(p11.CKA_VERIFY, true),
		},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_SIGN, true),
		})
	if err != nil {
		return false
	}
	_ = p.m.DestroyObject(sh, pub)
	_ = p.m.DestroyObject(sh, priv)
	return true
}

// sessionRSA generates a 2048-bit session RSA key pair whose private key
// may do use (CKA_DECRYPT or CKA_UNWRAP), for the probe. done destroys it.
func (p *Provider) sessionRSA(sh p11.SessionHandle, use uint) (pub *rsa.PublicKey, priv p11.ObjectHandle, done func(), err error) {
	pubH, priv, err := p.m.GenerateKeyPair(sh,
		[]*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_MODULUS_BITS, 2048),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		},
		[]*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(use, true),
		})
	if err != nil {
		return nil, 0, nil, err
	}
	done = func() { _ = p.m.DestroyObject(sh, pubH); _ = p.m.DestroyObject(sh, priv) }
	k, err := readPublic(p.m, sh, pubH, keys.RSA)
	if err != nil {
		done()
		return nil, 0, nil, err
	}
	return k.(*rsa.PublicKey), priv, done, nil
}

// probeOAEP256 reports whether CKM_RSA_PKCS_OAEP with SHA-256 decrypts a
// message Go encrypted, with a session RSA key.
func (p *Provider) probeOAEP256(sh p11.SessionHandle) bool {
	pub, priv, done, err := p.sessionRSA(sh, p11.CKA_DECRYPT)
	if err != nil {
		return false
	}
	defer done()
	msg := []byte("keywarden probe")
	ct, err := rsa.EncryptOAEP(sha256.New(), p.rand, pub, msg, nil)
	if err != nil {
		return false
	}
	mech := p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, p11.CKZ_DATA_SPECIFIED, nil))
	if err := p.m.DecryptInit(sh, []*p11.Mechanism{mech}, priv); err != nil {
		return false
	}
	out, err := p.m.Decrypt(sh, ct)
	return err == nil && bytes.Equal(out, msg)
}

// probeRSAAESKeyWrap reports whether the token's CKM_RSA_AES_KEY_WRAP
// unwraps, under a session RSA key pair, an AES key wrapped in Go as BYOK
// transfer blobs wrap keys, into the same key.
func (p *Provider) probeRSAAESKeyWrap(sh p11.SessionHandle) bool {
	pub, priv, done, err := p.sessionRSA(sh, p11.CKA_UNWRAP)
	if err != nil {
		return false
	}
	defer done()
	want := make([]byte, 16)
	if _, err := io.ReadFull(p.rand, want); err != nil {
		return false
	}
	ct, err := keywrap.RSAAESWrap(p.rand, pub, want)
	if err != nil {
		return false
	}
	h, err := p.m.UnwrapKey(sh, []*p11.Mechanism{rsaAESKeyWrap()}, priv, ct, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		return false
	}
	defer func() { _ = p.m.DestroyObject(sh, h) }()
	attrs, err := p.m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	return err == nil && bytes.Equal(attrs[0].Value, want)
}

// probeGCM reports whether CKM_AES_GCM agrees with crypto/cipher under the
// session key kek (the RFC 3394 KEK).
func (p *Provider) probeGCM(sh p11.SessionHandle, kek p11.ObjectHandle) bool {
	iv, aad, msg := make([]byte, gcmNonceSize), []byte("aad"), []byte("keywarden probe")
	gp := p11.NewGCMParams(iv, aad, 8*gcmTagSize)
	defer gp.Free()
	if err := p.m.EncryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, gp)}, kek); err != nil {
		return false
	}
	got, err := p.m.Encrypt(sh, msg)
	if err != nil {
		return false
	}
	block, _ := aes.NewCipher(kwVectorKEK)
	aead, _ := cipher.NewGCM(block)
	return bytes.Equal(got, aead.Seal(nil, iv, msg, aad))
}

// describe turns the probe's findings into the list Probe returns.
func describe(mechs map[uint]bool, r routes, gcmOK bool) []MechanismPath {
	native := func(alg, path string, ok bool, why string) MechanismPath {
		if !ok {
			return MechanismPath{Algorithm: alg, Path: why}
		}
		return MechanismPath{Algorithm: alg, Path: path, Native: true, Available: true}
	}
	lacks := func(m string) string { return "the token lacks " + m }
	paths := []MechanismPath{
		native("generate RSA 2048/3072/4096", "CKM_RSA_PKCS_KEY_PAIR_GEN", mechs[p11.CKM_RSA_PKCS_KEY_PAIR_GEN], lacks("CKM_RSA_PKCS_KEY_PAIR_GEN")),
		native("generate EC P-256/P-384/P-521", "CKM_EC_KEY_PAIR_GEN", mechs[p11.CKM_EC_KEY_PAIR_GEN], lacks("CKM_EC_KEY_PAIR_GEN")),
		native("generate EC P-256K", "CKM_EC_KEY_PAIR_GEN (secp256k1)", r.secp256k1, "the token does not generate secp256k1 keys"),
		native("generate oct 128/192/256", "CKM_AES_KEY_GEN", mechs[p11.CKM_AES_KEY_GEN], lacks("CKM_AES_KEY_GEN")),
		native("RS256/RS384/RS512", "CKM_RSA_PKCS over a DigestInfo", mechs[p11.CKM_RSA_PKCS], lacks("CKM_RSA_PKCS")),
		native("PS256/PS384/PS512", "CKM_RSA_PKCS_PSS", mechs[p11.CKM_RSA_PKCS_PSS], lacks("CKM_RSA_PKCS_PSS")),
		native("ES256/ES384/ES512", "CKM_ECDSA", mechs[p11.CKM_ECDSA], lacks("CKM_ECDSA")),
		native("ES256K", "CKM_ECDSA (secp256k1), low S", r.secp256k1, "the token does not generate secp256k1 keys"),
		{Algorithm: "verify (RS*, PS*, ES*)", Path: "in Go with the public key read from the token", Available: true},
		{Algorithm: "encrypt (RSA1_5, RSA-OAEP, RSA-OAEP-256)", Path: "in Go with the public key read from the token", Available: true},
		native("RSA1_5 decrypt", "CKM_RSA_PKCS", mechs[p11.CKM_RSA_PKCS], lacks("CKM_RSA_PKCS")),
		native("RSA-OAEP decrypt", "CKM_RSA_PKCS_OAEP (SHA-1)", mechs[p11.CKM_RSA_PKCS_OAEP], lacks("CKM_RSA_PKCS_OAEP")),
	}
	switch {
	case r.oaep256:
		paths = append(paths, native("RSA-OAEP-256 decrypt", "CKM_RSA_PKCS_OAEP (SHA-256)", true, ""))
	case mechs[p11.CKM_RSA_X_509]:
		paths = append(paths, MechanismPath{Algorithm: "RSA-OAEP-256 decrypt", Path: "CKM_RSA_X_509 + OAEP decode in Go (the token has no OAEP with SHA-256)", Available: true})
	default:
		paths = append(paths, MechanismPath{Algorithm: "RSA-OAEP-256 decrypt", Path: "the token has neither OAEP with SHA-256 nor CKM_RSA_X_509"})
	}
	paths = append(paths,
		native("A128GCM/A192GCM/A256GCM", "CKM_AES_GCM (nonce generated by Keywarden)", gcmOK, "the token's CKM_AES_GCM is missing or disagrees with AES-GCM"),
		native("A128CBC/A192CBC/A256CBC", "CKM_AES_CBC", mechs[p11.CKM_AES_CBC], lacks("CKM_AES_CBC")),
		native("A128CBCPAD/A192CBCPAD/A256CBCPAD", "CKM_AES_CBC_PAD", mechs[p11.CKM_AES_CBC_PAD], lacks("CKM_AES_CBC_PAD")),
	)
	ecb := mechs[p11.CKM_AES_ECB]
	wrapPath := func(alg string, ok bool, mech, rfc string) MechanismPath {
		switch {
		case ok:
			return native(alg, mech, true, "")
		case ecb:
			why := "the token lacks " + mech
			if mechs[map[string]uint{"CKM_AES_KEY_WRAP": p11.CKM_AES_KEY_WRAP, "CKM_AES_KEY_WRAP_PAD": p11.CKM_AES_KEY_WRAP_PAD}[mech]] {
				why = "the token's " + mech + " deviates from " + rfc
			}
			return MechanismPath{Algorithm: alg, Path: "CKM_AES_ECB + " + rfc + " in Go (" + why + ")", Available: true}
		}
		return MechanismPath{Algorithm: alg, Path: "the token lacks " + mech + " and CKM_AES_ECB"}
	}
	paths = append(paths,
		wrapPath("A128KW/A192KW/A256KW, CKM_AES_KEY_WRAP", r.kw, "CKM_AES_KEY_WRAP", "RFC 3394"),
		wrapPath("CKM_AES_KEY_WRAP_PAD", r.kwp, "CKM_AES_KEY_WRAP_PAD", "RFC 5649"),
		byokPath(mechs, r),
	)
	return paths
}

// byokPath describes how bring-your-own-key import unwraps transfer blobs
// (see ImportTransfer).
func byokPath(mechs map[uint]bool, r routes) MechanismPath {
	const alg = "BYOK import (CKM_RSA_AES_KEY_WRAP)"
	ecPoint := "; EC public point by CKM_ECDH1_DERIVE"
	if !mechs[p11.CKM_ECDH1_DERIVE] {
		ecPoint = "; EC keys unavailable (the token lacks CKM_ECDH1_DERIVE)"
	}
	switch {
	case r.rsaAESKW:
		return MechanismPath{Algorithm: alg, Path: "CKM_RSA_AES_KEY_WRAP" + ecPoint, Native: true, Available: true}
	case mechs[p11.CKM_RSA_PKCS_OAEP] && mechs[p11.CKM_AES_KEY_WRAP_PAD]:
		why := "the token lacks CKM_RSA_AES_KEY_WRAP"
		if mechs[p11.CKM_RSA_AES_KEY_WRAP] {
			why = "the token's CKM_RSA_AES_KEY_WRAP failed the probe"
		}
		return MechanismPath{Algorithm: alg, Path: "two unwraps in the token, CKM_RSA_PKCS_OAEP (SHA-1) into a session AES key then CKM_AES_KEY_WRAP_PAD (" + why + ")" + ecPoint, Available: true}
	}
	return MechanismPath{Algorithm: alg, Path: "the token lacks CKM_RSA_AES_KEY_WRAP, and CKM_RSA_PKCS_OAEP or CKM_AES_KEY_WRAP_PAD"}
}
