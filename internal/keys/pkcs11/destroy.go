//go:build cgo

package pkcs11

import (
	"context"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
)

var _ keys.Destroyer = (*Provider)(nil)

// Destroy removes the token objects of m (the private or secret key and,
// for RSA and EC, the public key), as purge needs. It finds them by CKA_ID
// and the label naming m.Spec.Owner, so Material cannot destroy another
// owner's objects; objects already gone are not an error.
//
// Errors: keys.ErrCorrupt (wrapped) for Material that is not an HSM key
// reference or names another owner than its spec; keys.ErrUnavailable
// (wrapped) when the token cannot be reached.
func (p *Provider) Destroy(ctx context.Context, m keys.Material) error {
	if m.Spec.Protection != keys.HSM {
		return corrupt("material is not an HSM key")
	}
	r, err := parseRef(m.Private.Expose())
	if err != nil {
		return err
	}
	if r.owner != m.Spec.Owner {
		return corrupt("the key belongs to another owner")
	}
	defer p.forget(r)
	return p.session(ctx, "destroy key", func(sh p11.SessionHandle) error {
		return destroyMatching(p.m, sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_ID, r.id),
			p11.NewAttribute(p11.CKA_LABEL, r.label()),
		})
	})
}

// destroyMatching destroys every object matching template; objects gone
// meanwhile are not an error.
func destroyMatching(m module, sh p11.SessionHandle, template []*p11.Attribute) error {
	hs, err := find(m, sh, template)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := m.DestroyObject(sh, h); err != nil && classify(err) != kindHandle {
			return fmt.Errorf("C_DestroyObject: %w", err)
		}
	}
	return nil
}
