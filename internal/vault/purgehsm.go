package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// hsmVersions returns the HSM-protected versions of a key, read in the
// transaction that purges it, so that their token objects can be destroyed
// once it has committed.
func hsmVersions(tx store.Tx, vault, name string) ([]store.Version, error) {
	vs, err := tx.Versions(vault, name, store.Page{})
	if err != nil {
		return nil, err
	}
	var out []store.Version
	for _, rec := range vs {
		if keys.Protection(rec.Protection) == keys.HSM {
			out = append(out, rec)
		}
	}
	return out, nil
}

// destroyHSM destroys the token objects of purged HSM versions, after the
// purge committed: a version whose objects stay behind is unreachable, and
// each failure goes to Options.OnDestroyError. The work is not cancelled
// with ctx, the purging request's.
func (s *Service) destroyHSM(ctx context.Context, recs []store.Version) {
	if len(recs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	d, ok := s.hsm.(keys.Destroyer)
	for _, rec := range recs {
		var err error
		if ok {
			err = s.destroyVersion(ctx, d, rec)
		} else {
			err = errors.New("no HSM provider that can destroy keys is configured")
		}
		if err != nil && s.onDestroyError != nil {
			s.onDestroyError(fmt.Errorf("vault: destroy the HSM objects of purged key %s/%s version %s: %w", rec.Vault, rec.Name, rec.ID, err))
		}
	}
}

// destroyVersion unseals a version's object reference and destroys the
// objects it names.
func (s *Service) destroyVersion(ctx context.Context, d keys.Destroyer, rec store.Version) error {
	priv, err := s.material.Open(rec.SealedPrivate, materialAAD(rec.Vault, rec.Name, rec.ID))
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	defer priv.Clear()
	return d.Destroy(ctx, keys.Material{Spec: s.specOf(rec), Private: priv})
}
