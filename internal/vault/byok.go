package vault

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// provenance returns an addVersion extra that records p on the new
// version, its time truncated as the version's.
func provenance(p store.Provenance) func(*store.Version) {
	p.Imported = p.Imported.UTC().Truncate(time.Second)
	return func(rec *store.Version) { rec.Provenance = &p }
}

// kekSpec returns spec for a key generated with key_ops ops: an RSA key
// whose key_ops are exactly ["import"] is a key-exchange key, whose private
// key the provider makes able to unwrap only (keys.Spec.UnwrapOnly).
func kekSpec(spec keys.Spec, ops []Operation) keys.Spec {
	spec.UnwrapOnly = spec.Type == keys.RSA && slices.Equal(ops, []Operation{OpImport})
	return spec
}

// importTransfer imports a bring-your-own-key transfer blob: it checks the
// key-exchange key (KEK) the blob names — a key of the same vault,
// HSM-protected RSA, enabled and within its validity dates, whose key_ops
// are exactly ["import"] — has the HSM provider unwrap the blob under it
// (keys.TransferImporter), applies the vault's key policy to the unwrapped
// key's shape, and stores it as a new version whose provenance names the
// method (byok), the blob's generator and the KEK's key id with the
// version that unwrapped it. A key always gets HSM
// protection, so a standard vault refuses it. Whatever fails after the
// unwrap destroys the objects it made: a refused import creates nothing.
//
// Errors: as CreateKey; ErrInvalid for every refusal of the KEK or the
// blob (wrong KEK, altered blob, wrong key type, unsupported size or
// curve), ErrUnavailable when the HSM cannot be reached. Objects that a
// refused import left in the HSM and could not destroy are reported to
// Options.OnDestroyError.
func (s *Service) importTransfer(ctx context.Context, now time.Time, vault, name string, p ImportParams) (KeyVersion, error) {
	t := p.Transfer
	req := p.Spec
	req.Protection = keys.HSM
	check := req
	if check.Type == keys.EC && check.Curve == "" {
		// The curve comes from the blob; any valid one passes the checks
		// that need no key.
		check.Curve = keys.P256
	}
	v, spec, err := s.prepareNew(ctx, vault, name, check, p.Ops, p.Attributes, p.Tags, p.ReleasePolicy, false)
	if err != nil {
		return KeyVersion{}, err
	}
	spec.Curve = req.Curve
	ti, ok := s.hsm.(keys.TransferImporter)
	if !ok {
		return KeyVersion{}, newErr(ErrInvalid, "KeyTypeNotSupported", "This server's HSM provider cannot import BYOK transfer blobs.")
	}
	if err := s.checkNameFree(ctx, vault, name); err != nil {
		return KeyVersion{}, err
	}
	kek, kekID, err := s.transferKEK(ctx, now, v, t)
	if err != nil {
		return KeyVersion{}, err
	}
	defer kek.Private.Clear()
	m, err := ti.ImportTransfer(ctx, spec, kek, t.Ciphertext)
	if err != nil {
		var le *keys.LeftoverError
		if errors.As(err, &le) && s.onDestroyError != nil {
			s.onDestroyError(fmt.Errorf("vault: destroy the HSM objects of refused BYOK import of key %s/%s: %w", vault, name, le))
		}
		return KeyVersion{}, mapProviderErr(err)
	}
	defer m.Private.Clear()
	kv, err := s.keepTransferred(ctx, now, v, name, req, m, p, t, kekID)
	if err != nil {
		s.destroyTransferred(ctx, vault, name, m)
		return KeyVersion{}, err
	}
	return kv, nil
}

// destroyTransferred destroys the HSM objects of an unwrapped key that was
// not stored, even when ctx is done; a failure goes to
// Options.OnDestroyError.
func (s *Service) destroyTransferred(ctx context.Context, vault, name string, m keys.Material) {
	err := errors.New("no HSM provider that can destroy keys is configured")
	if d, ok := s.hsm.(keys.Destroyer); ok {
		err = d.Destroy(context.WithoutCancel(ctx), m)
	}
	if err != nil && s.onDestroyError != nil {
		s.onDestroyError(fmt.Errorf("vault: destroy the HSM objects of refused BYOK import of key %s/%s: %w", vault, name, err))
	}
}

// keepTransferred checks the unwrapped key m against the request and the
// vault's key policy, then stores it as the new current version, whose
// provenance names kekID, the key id of the KEK version that unwrapped it.
func (s *Service) keepTransferred(ctx context.Context, now time.Time, v Vault, name string, req keys.Spec, m keys.Material, p ImportParams, t *Transfer, kekID string) (KeyVersion, error) {
	if req.Curve != "" && m.Spec.Curve != req.Curve {
		return KeyVersion{}, invalidf("The BYOK transfer blob holds a %s key, but crv %s was requested.", m.Spec.Curve, req.Curve)
	}
	if err := s.checkKeyPolicy(ctx, now, v.Name, m.Spec, p.Ops, p.Attributes); err != nil {
		return KeyVersion{}, err
	}
	return s.addVersion(ctx, now, v, name, m, p.Ops, p.Attributes, p.Tags,
		provenance(store.Provenance{Method: ProvenanceBYOK, Generator: t.Generator, KEK: kekID, Imported: now}))
}

// transferKEK returns the material and the versioned key id of the
// key-exchange key a transfer names (on t.Origin, with the KEK's stored
// name: the same id whatever the blob's spelling), after checking that it may serve as one: besides
// its shape and state, Azure's rule that the KEK was generated in the HSM,
// so a version with a provenance (imported, as plaintext or from another
// transfer) is refused; a generated version restored from a backup has
// none and qualifies. The caller clears Private.
func (s *Service) transferKEK(ctx context.Context, now time.Time, v Vault, t *Transfer) (keys.Material, string, error) {
	kid := truncate(t.KEKID, 200)
	if t.KEK.Vault != v.Name {
		return keys.Material{}, "", invalidf("The key-exchange key %s of the BYOK transfer blob is not in vault %s: create the KEK in the vault the key is imported into.", kid, v.Name)
	}
	_, _, cv, err := s.lookup(ctx, t.KEK)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return keys.Material{}, "", invalidf("The key-exchange key %s of the BYOK transfer blob was not found in vault %s.", kid, v.Name)
		}
		return keys.Material{}, "", err
	}
	rec := cv.rec
	switch {
	case keys.Type(rec.Type) != keys.RSA || keys.Protection(rec.Protection) != keys.HSM:
		return keys.Material{}, "", invalidf("The key-exchange key %s must be an HSM-protected RSA key (RSA-HSM); it is %s.", kid, wireType(s.specOf(rec)))
	case !slices.Equal(rec.Ops, []string{string(OpImport)}):
		return keys.Material{}, "", invalidf("The key-exchange key %s must allow only the import operation (key_ops [\"import\"]); it allows [%s].", kid, strings.Join(rec.Ops, ", "))
	case !rec.Enabled:
		return keys.Material{}, "", invalidf("The key-exchange key %s is disabled.", kid)
	case rec.NotBefore != nil && now.Before(*rec.NotBefore), rec.Expires != nil && !now.Before(*rec.Expires):
		return keys.Material{}, "", invalidf("The key-exchange key %s is outside its validity dates.", kid)
	case rec.Provenance != nil:
		return keys.Material{}, "", invalidf("The key-exchange key %s was imported; a key-exchange key must be generated in the HSM: create one with key_ops [\"import\"].", kid)
	}
	m, err := s.materialOf(rec)
	id := t.KEKID + "/" + rec.ID
	if t.Origin != "" {
		id = t.Origin + "/keys/" + url.PathEscape(rec.Name) + "/" + rec.ID
	}
	return m, id, err
}
