//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"io"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
	"github.com/keywarden/keywarden/internal/secret"
)

// encryptAES runs an AES algorithm inside the token:
//
//   - A*GCM: CKM_AES_GCM with a fresh random 12-byte nonce, returned as IV
//     with the 16-byte Tag; AAD is optional and echoed. A client IV is
//     refused: nonces are the service's to choose.
//   - A*CBC, A*CBCPAD: CKM_AES_CBC and CKM_AES_CBC_PAD with the client's
//     16-byte IV.
//   - A*KW, CKM_AES_KEY_WRAP: RFC 3394, with the token's CKM_AES_KEY_WRAP or
//     over its AES block operation.
//   - CKM_AES_KEY_WRAP_PAD: RFC 5649, likewise.
func (k *key) encryptAES(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	mode, err := checkAESInput(k.spec.Size, in, true)
	if err != nil {
		return keys.CipherOutput{}, err
	}
	var out keys.CipherOutput
	switch mode {
	case modeGCM:
		iv := make([]byte, gcmNonceSize)
		if _, err := io.ReadFull(k.p.rand, iv); err != nil {
			return keys.CipherOutput{}, fmt.Errorf("pkcs11: GCM nonce: %w", err)
		}
		gp := p11.NewGCMParams(iv, in.AAD, 8*gcmTagSize)
		defer gp.Free()
		ct, err := k.crypt(ctx, true, p11.NewMechanism(p11.CKM_AES_GCM, gp), in.Value)
		if err != nil {
			return keys.CipherOutput{}, err
		}
		if len(ct) != len(in.Value)+gcmTagSize {
			return keys.CipherOutput{}, fmt.Errorf("pkcs11: GCM output has %d bytes, want %d", len(ct), len(in.Value)+gcmTagSize)
		}
		out = keys.CipherOutput{Value: ct[:len(in.Value)], IV: iv, AAD: in.AAD, Tag: ct[len(in.Value):]}
	case modeCBC, modeCBCPad:
		ct, err := k.crypt(ctx, true, cbcMechanism(mode, in.IV), in.Value)
		if err != nil {
			return keys.CipherOutput{}, err
		}
		out = keys.CipherOutput{Value: ct, IV: in.IV}
	case modeKW, modeKWP:
		ct, err := k.wrap(ctx, mode, in.Value)
		if err != nil {
			return keys.CipherOutput{}, err
		}
		out = keys.CipherOutput{Value: ct}
	}
	return out, nil
}

// decryptAES reverses encryptAES. A wrong key, tag, IV, AAD, padding or
// integrity value is the one decryption *keys.InputError.
func (k *key) decryptAES(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	mode, err := checkAESInput(k.spec.Size, in, false)
	if err != nil {
		return secret.Bytes{}, err
	}
	var pt []byte
	switch mode {
	case modeGCM:
		ct := make([]byte, 0, len(in.Value)+gcmTagSize)
		ct = append(append(ct, in.Value...), in.Tag...)
		gp := p11.NewGCMParams(in.IV, in.AAD, 8*gcmTagSize)
		defer gp.Free()
		pt, err = k.crypt(ctx, false, p11.NewMechanism(p11.CKM_AES_GCM, gp), ct)
	case modeCBC, modeCBCPad:
		pt, err = k.crypt(ctx, false, cbcMechanism(mode, in.IV), in.Value)
	case modeKW, modeKWP:
		pt, err = k.unwrap(ctx, mode, in.Value)
	}
	if err != nil {
		return secret.Bytes{}, err
	}
	return secret.Own(pt), nil
}

// cbcMechanism returns CKM_AES_CBC or CKM_AES_CBC_PAD with iv.
func cbcMechanism(mode aesMode, iv []byte) *p11.Mechanism {
	if mode == modeCBCPad {
		return p11.NewMechanism(p11.CKM_AES_CBC_PAD, iv)
	}
	return p11.NewMechanism(p11.CKM_AES_CBC, iv)
}

// crypt runs one single-part C_Encrypt or C_Decrypt with mech. A
// decryption the token rejects is the decryption *keys.InputError.
func (k *key) crypt(ctx context.Context, encrypt bool, mech *p11.Mechanism, in []byte) ([]byte, error) {
	var out []byte
	failed := false
	op := "decrypt"
	if encrypt {
		op = "encrypt"
	}
	err := k.do(ctx, op, func(sh p11.SessionHandle, h p11.ObjectHandle) error {
		var err error
		if encrypt {
			if err = k.p.m.EncryptInit(sh, []*p11.Mechanism{mech}, h); err != nil {
				return fmt.Errorf("C_EncryptInit: %w", err)
			}
			if out, err = k.p.m.Encrypt(sh, in); err != nil {
				return fmt.Errorf("C_Encrypt: %w", err)
			}
			return nil
		}
		if err = k.p.m.DecryptInit(sh, []*p11.Mechanism{mech}, h); err != nil {
			return fmt.Errorf("C_DecryptInit: %w", err)
		}
		if out, err = k.p.m.Decrypt(sh, in); err != nil {
			if classify(err) == kindInput || errors.Is(err, p11.Error(p11.CKR_GENERAL_ERROR)) {
				failed = true
				return nil
			}
			return fmt.Errorf("C_Decrypt: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if failed {
		return nil, errDecryption()
	}
	return out, nil
}

// wrap runs RFC 3394 (modeKW) or RFC 5649 (modeKWP) key wrapping of p.
func (k *key) wrap(ctx context.Context, mode aesMode, p []byte) ([]byte, error) {
	native := k.p.routes.kw
	mech := uint(p11.CKM_AES_KEY_WRAP)
	if mode == modeKWP {
		native, mech = k.p.routes.kwp, p11.CKM_AES_KEY_WRAP_PAD
	}
	var out []byte
	err := k.do(ctx, "wrap", func(sh p11.SessionHandle, h p11.ObjectHandle) error {
		var err error
		if native {
			out, err = nativeWrap(k.p.m, sh, h, mech, p)
			return err
		}
		enc := ecbFunc(k.p.m, sh, h, true)
		if mode == modeKWP {
			out, err = keywrap.WrapPad(enc, p)
		} else {
			out, err = keywrap.Wrap(enc, p)
		}
		return err
	})
	return out, err
}

// unwrap reverses wrap. An integrity failure is the decryption
// *keys.InputError.
func (k *key) unwrap(ctx context.Context, mode aesMode, c []byte) ([]byte, error) {
	native := k.p.routes.kw
	mech := uint(p11.CKM_AES_KEY_WRAP)
	if mode == modeKWP {
		native, mech = k.p.routes.kwp, p11.CKM_AES_KEY_WRAP_PAD
	}
	var out []byte
	err := k.do(ctx, "unwrap", func(sh p11.SessionHandle, h p11.ObjectHandle) error {
		var err error
		if native {
			out, err = nativeUnwrap(k.p.m, sh, h, mech, c)
		} else if dec := ecbFunc(k.p.m, sh, h, false); mode == modeKWP {
			out, err = keywrap.UnwrapPad(dec, c)
		} else {
			out, err = keywrap.Unwrap(dec, c)
		}
		if errors.Is(err, keywrap.ErrUnwrap) {
			return errDecryption()
		}
		return err
	})
	return out, err
}

// ecbFunc returns the token's AES block operation (CKM_AES_ECB) under key
// h in session sh, as a keywrap.BlockFunc.
func ecbFunc(m module, sh p11.SessionHandle, h p11.ObjectHandle, encrypt bool) keywrap.BlockFunc {
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_ECB, nil)}
	return func(in []byte) ([]byte, error) {
		if encrypt {
			if err := m.EncryptInit(sh, mech, h); err != nil {
				return nil, fmt.Errorf("C_EncryptInit: %w", err)
			}
			out, err := m.Encrypt(sh, in)
			if err != nil {
				return nil, fmt.Errorf("C_Encrypt: %w", err)
			}
			return out, nil
		}
		if err := m.DecryptInit(sh, mech, h); err != nil {
			return nil, fmt.Errorf("C_DecryptInit: %w", err)
		}
		out, err := m.Decrypt(sh, in)
		if err != nil {
			return nil, fmt.Errorf("C_Decrypt: %w", err)
		}
		return out, nil
	}
}

// dataTemplate is the template of a session object that carries data to
// be wrapped, or receives unwrapped data, with the token's key wrap
// mechanisms (which take key objects, not bytes).
func dataTemplate() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	}
}

// nativeWrap wraps p with the token's mechanism mech under key h: p goes
// into a session object, which C_WrapKey wraps and which is then
// destroyed.
func nativeWrap(m module, sh p11.SessionHandle, h p11.ObjectHandle, mech uint, p []byte) ([]byte, error) {
	obj, err := m.CreateObject(sh, append(dataTemplate(), p11.NewAttribute(p11.CKA_VALUE, p)))
	if err != nil {
		return nil, fmt.Errorf("C_CreateObject: %w", err)
	}
	defer func() { _ = m.DestroyObject(sh, obj) }()
	out, err := m.WrapKey(sh, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, h, obj)
	if err != nil {
		return nil, fmt.Errorf("C_WrapKey: %w", err)
	}
	return out, nil
}

// nativeUnwrap reverses nativeWrap: C_UnwrapKey into a session object
// whose value is read and which is then destroyed.
func nativeUnwrap(m module, sh p11.SessionHandle, h p11.ObjectHandle, mech uint, c []byte) ([]byte, error) {
	obj, err := m.UnwrapKey(sh, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, h, c, dataTemplate())
	if err != nil {
		if classify(err) == kindInput || errors.Is(err, p11.Error(p11.CKR_GENERAL_ERROR)) {
			return nil, keywrap.ErrUnwrap
		}
		return nil, fmt.Errorf("C_UnwrapKey: %w", err)
	}
	defer func() { _ = m.DestroyObject(sh, obj) }()
	attrs, err := m.GetAttributeValue(sh, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	return attrs[0].Value, nil
}
