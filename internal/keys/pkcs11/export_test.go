//go:build cgo

package pkcs11

import (
	"context"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

// Module is module, for the fault-injecting wrapper of the external tests.
type Module = module

// OpenWith is open: Open with a wrapper around the module.
func OpenWith(cfg Config, wrap func(Module) Module) (*Provider, error) { return open(cfg, wrap) }

// WithSession runs fn in a pooled session of p.
func WithSession(ctx context.Context, p *Provider, fn func(m Module, sh p11.SessionHandle) error) error {
	return p.session(ctx, "test", func(sh p11.SessionHandle) error { return fn(p.m, sh) })
}

// Handles returns the private (or secret) and public object handles of k.
func Handles(ctx context.Context, k keys.Key) (priv, pub p11.ObjectHandle, err error) {
	kk := k.(*key)
	err = kk.p.session(ctx, "test", func(sh p11.SessionHandle) error {
		o, err := kk.p.lookup(sh, kk.r, kk.spec.Type)
		priv, pub = o.priv, o.pub
		return err
	})
	return priv, pub, err
}

// TrustedKey returns the handle of the token's trusted wrapping key, or 0.
func TrustedKey(m Module, sh p11.SessionHandle) (p11.ObjectHandle, error) { return findTrusted(m, sh) }

// Routes reports whether p uses the token's own CKM_AES_KEY_WRAP and
// CKM_AES_KEY_WRAP_PAD, and OAEP with SHA-256.
func Routes(p *Provider) (kw, kwp, oaep256, secp256k1 bool) {
	return p.routes.kw, p.routes.kwp, p.routes.oaep256, p.routes.secp256k1
}

// ConstructedWrap runs the RFC 3394 (pad false) or RFC 5649 (pad true)
// construction over the token's CKM_AES_ECB with k, whatever the routes.
func ConstructedWrap(ctx context.Context, k keys.Key, pad bool, in []byte) (out []byte, err error) {
	kk := k.(*key)
	err = kk.do(ctx, "test", func(sh p11.SessionHandle, h p11.ObjectHandle) error {
		enc := ecbFunc(kk.p.m, sh, h, true)
		if pad {
			out, err = keywrap.WrapPad(enc, in)
		} else {
			out, err = keywrap.Wrap(enc, in)
		}
		return err
	})
	return out, err
}

// ConstructedUnwrap reverses ConstructedWrap.
func ConstructedUnwrap(ctx context.Context, k keys.Key, pad bool, in []byte) (out []byte, err error) {
	kk := k.(*key)
	err = kk.do(ctx, "test", func(sh p11.SessionHandle, h p11.ObjectHandle) error {
		dec := ecbFunc(kk.p.m, sh, h, false)
		if pad {
			out, err = keywrap.UnwrapPad(dec, in)
		} else {
			out, err = keywrap.Unwrap(dec, in)
		}
		return err
	})
	return out, err
}

// FindRootKey returns the handles of root key id.
func FindRootKey(m Module, sh p11.SessionHandle, label, id string) ([]p11.ObjectHandle, error) {
	return find(m, sh, rootKeyTemplate(label, []byte(id)))
}
