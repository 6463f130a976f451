package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// DeleteKey soft-deletes a key with all its versions. The key can be
// recovered until its scheduled purge date (deletion time plus the vault's
// retention). Errors: ErrNotFound.
func (s *Service) DeleteKey(ctx context.Context, now time.Time, vault, name string) (DeletedKey, error) {
	v, _, _, err := s.lookup(ctx, Ref{Vault: vault, Name: name})
	if err != nil {
		return DeletedKey{}, err
	}
	now = now.UTC().Truncate(time.Second)
	var k store.Key
	var cur store.Version
	err = s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if k, err = tx.Key(vault, name); err != nil {
			return err
		}
		if k.Deleted != nil {
			return keyNotFound(name, "")
		}
		if cur, err = tx.Version(vault, name, k.Current); err != nil {
			return err
		}
		k.Deleted = &store.Deletion{Date: now, ScheduledPurge: now.AddDate(0, 0, v.RetentionDays)}
		return tx.PutKey(k)
	})
	s.invalidate(vault, name)
	if errors.Is(err, store.ErrNotFound) {
		return DeletedKey{}, keyNotFound(name, "")
	}
	if err != nil {
		return DeletedKey{}, err
	}
	return s.toDeletedKey(v, k, cur)
}

func (s *Service) toDeletedKey(v Vault, k store.Key, cur store.Version) (DeletedKey, error) {
	kv, err := s.toKeyVersion(v, cur)
	if err != nil {
		return DeletedKey{}, err
	}
	return DeletedKey{KeyVersion: kv, DeletedDate: k.Deleted.Date, ScheduledPurgeDate: k.Deleted.ScheduledPurge}, nil
}

// deleted returns a soft-deleted key and its current version.
func (s *Service) deleted(tx store.Tx, vault, name string) (store.Key, store.Version, error) {
	k, err := tx.Key(vault, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.Deleted == nil) {
		return store.Key{}, store.Version{}, deletedKeyNotFound(name)
	}
	if err != nil {
		return store.Key{}, store.Version{}, err
	}
	cur, err := tx.Version(vault, name, k.Current)
	if err != nil {
		return store.Key{}, store.Version{}, fmt.Errorf("vault: current version of deleted key %s: %w", name, err)
	}
	return k, cur, nil
}

// GetDeletedKey returns a soft-deleted key. Errors: ErrNotFound.
func (s *Service) GetDeletedKey(ctx context.Context, vault, name string) (DeletedKey, error) {
	sv, err := s.storeVault(ctx, vault)
	if err != nil {
		return DeletedKey{}, err
	}
	if validateName(name) != nil {
		return DeletedKey{}, deletedKeyNotFound(name)
	}
	var out DeletedKey
	err = s.store.View(ctx, func(tx store.Tx) error {
		k, cur, err := s.deleted(tx, vault, name)
		if err != nil {
			return err
		}
		out, err = s.toDeletedKey(fromStoreVault(sv), k, cur)
		return err
	})
	return out, err
}

// ListDeletedKeys lists soft-deleted keys ordered by case-folded name.
// Errors: ErrNotFound (vault).
func (s *Service) ListDeletedKeys(ctx context.Context, vault, marker string, limit int) (Page[DeletedKey], error) {
	return listKeys(ctx, s, vault, true, marker, limit, s.toDeletedKey)
}

// RecoverKey brings a soft-deleted key back with all its versions and
// returns its current version. Errors: ErrNotFound.
func (s *Service) RecoverKey(ctx context.Context, now time.Time, vault, name string) (KeyVersion, error) {
	sv, err := s.storeVault(ctx, vault)
	if err != nil {
		return KeyVersion{}, err
	}
	if validateName(name) != nil {
		return KeyVersion{}, deletedKeyNotFound(name)
	}
	var cur store.Version
	err = s.store.Update(ctx, func(tx store.Tx) error {
		var k store.Key
		var err error
		if k, cur, err = s.deleted(tx, vault, name); err != nil {
			return err
		}
		k.Deleted = nil
		k.Updated = now.UTC().Truncate(time.Second)
		return tx.PutKey(k)
	})
	s.invalidate(vault, name)
	if err != nil {
		return KeyVersion{}, err
	}
	return s.toKeyVersion(fromStoreVault(sv), cur)
}

// PurgeKey permanently removes a soft-deleted key and, after the commit,
// the HSM objects of its versions (see destroyHSM). With purge protection
// on it is refused until the scheduled purge date. Errors: ErrNotFound,
// ErrForbidden.
func (s *Service) PurgeKey(ctx context.Context, now time.Time, vault, name string) error {
	sv, err := s.storeVault(ctx, vault)
	if err != nil {
		return err
	}
	if validateName(name) != nil {
		return deletedKeyNotFound(name)
	}
	var doomed []store.Version
	err = s.store.Update(ctx, func(tx store.Tx) error {
		k, _, err := s.deleted(tx, vault, name)
		if err != nil {
			return err
		}
		if sv.PurgeProtection && now.Before(k.Deleted.ScheduledPurge) {
			return newErr(ErrForbidden, "PurgeProtected", "Operation \"purge\" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.")
		}
		if doomed, err = hsmVersions(tx, vault, k.Name); err != nil {
			return err
		}
		if err := tx.DeleteKey(vault, name); err != nil {
			return err
		}
		_, err = deleteAssignmentsUnder(tx, "/vaults/"+vault+"/keys/"+name)
		return err
	})
	if err == nil {
		s.destroyHSM(ctx, doomed)
	}
	s.invalidate(vault, name)
	if err == nil {
		s.forgetUses(vault, name)
		s.accessChanged()
	}
	return err
}

// PurgeExpired purges, in every vault, the soft-deleted keys whose
// scheduled purge date has passed, and returns how many it purged. It
// continues past a failing vault and joins the errors.
func (s *Service) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	vs, err := s.Vaults(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	var errs []error
	for _, v := range vs {
		var purged []string
		var doomed []store.Version
		err := s.store.Update(ctx, func(tx store.Tx) error {
			purged, doomed = purged[:0], doomed[:0]
			ks, err := tx.Keys(v.Name, true, store.Page{})
			if err != nil {
				return err
			}
			for _, k := range ks {
				if k.Deleted != nil && !now.Before(k.Deleted.ScheduledPurge) {
					hv, err := hsmVersions(tx, v.Name, k.Name)
					if err != nil {
						return err
					}
					doomed = append(doomed, hv...)
					if err := tx.DeleteKey(v.Name, k.Name); err != nil {
						return err
					}
					if _, err := deleteAssignmentsUnder(tx, "/vaults/"+v.Name+"/keys/"+k.Name); err != nil {
						return err
					}
					purged = append(purged, k.Name)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("vault %s: %w", v.Name, err))
			continue
		}
		s.destroyHSM(ctx, doomed)
		for _, name := range purged {
			s.invalidate(v.Name, name)
			s.forgetUses(v.Name, name)
		}
		if len(purged) > 0 {
			s.accessChanged()
		}
		n += len(purged)
	}
	return n, errors.Join(errs...)
}
