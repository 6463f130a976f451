package vault

import (
	"context"
	"errors"

	"github.com/keywarden/keywarden/internal/store"
)

// staler is a Sealer whose sealing key can change while records are being
// written: a root keyring during a rotation (seal.Keyring's sealers).
type staler interface {
	// Stale reports whether sealed is sealed under a key other than the
	// one that seals now.
	Stale(sealed []byte) bool
}

// freshMaterial returns sealed, or, when the Material sealer's key changed
// since it was sealed (a root key rotation began between sealing and this
// write), the material sealed again under the current key. Writers of new
// material call it inside their write transaction: a rotation's re-seal
// passes run in write transactions too, so a record is either committed
// before a pass (which re-seals it) or checked here after the switch, and
// none is left under a key the rotation destroys.
func (s *Service) freshMaterial(sealed, aad []byte) ([]byte, error) {
	st, ok := s.material.(staler)
	if !ok || !st.Stale(sealed) {
		return sealed, nil
	}
	priv, err := s.material.Open(sealed, aad)
	if err != nil {
		// The rotation finished and destroyed the key meanwhile: refuse
		// the write rather than store what nothing can open.
		return nil, newErr(ErrUnavailable, "RootKeyRotated", "The root key was rotated while this request ran; retry it.")
	}
	defer priv.Clear()
	return s.material.Seal(priv.Expose(), aad)
}

// versionRef names one key version.
type versionRef struct{ vault, name, id string }

// resealBatch is how many versions one transaction re-seals.
const resealBatch = 64

// ResealMaterial re-seals, with the Material sealer, the private material
// of every key version (of every vault, active and soft-deleted keys)
// for which stale reports true, and returns how many it re-sealed. It runs
// while the service serves: each batch re-reads its versions in one write
// transaction and skips any that another writer changed meanwhile; the
// cached records of re-sealed keys are dropped. It is
// the vault's part of a root key rotation (package rootkey).
func (s *Service) ResealMaterial(ctx context.Context, stale func(sealed []byte) bool) (int, error) {
	var todo []versionRef
	err := s.store.View(ctx, func(tx store.Tx) error {
		vaults, err := tx.Vaults()
		if err != nil {
			return err
		}
		return eachKey(tx, vaults, func(k store.Key, vs []store.Version) error {
			for _, ver := range vs {
				if len(ver.SealedPrivate) > 0 && stale(ver.SealedPrivate) {
					todo = append(todo, versionRef{k.Vault, k.Name, ver.ID})
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for len(todo) > 0 {
		batch := todo[:min(resealBatch, len(todo))]
		todo = todo[len(batch):]
		var done []versionRef
		err := s.store.Update(ctx, func(tx store.Tx) error {
			done = done[:0]
			for _, r := range batch {
				ver, err := tx.Version(r.vault, r.name, r.id)
				if errors.Is(err, store.ErrNotFound) {
					continue // purged meanwhile
				}
				if err != nil {
					return err
				}
				if !stale(ver.SealedPrivate) {
					continue
				}
				aad := materialAAD(ver.Vault, ver.Name, ver.ID)
				priv, err := s.material.Open(ver.SealedPrivate, aad)
				if err != nil {
					return err
				}
				sealed, err := s.material.Seal(priv.Expose(), aad)
				priv.Clear()
				if err != nil {
					return err
				}
				ver.SealedPrivate = sealed
				if err := tx.PutVersion(ver); err != nil {
					return err
				}
				done = append(done, r)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		// Cached records hold the old sealed bytes: a version cached but
		// not loaded yet would be unsealed from them after the old key is
		// gone.
		for _, r := range done {
			s.invalidate(r.vault, r.name)
		}
		total += len(done)
	}
	return total, nil
}
