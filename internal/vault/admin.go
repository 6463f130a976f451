package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// Vault administration: create, update and delete vaults. Listing and
// reading are Vaults and Vault (service.go).

// DefaultRetentionDays is the soft-delete retention of a vault created
// without one, as in Azure.
const DefaultRetentionDays = 90

// CreateVault creates the vault v as of now and returns it as stored. A zero
// RetentionDays takes DefaultRetentionDays; Created is set to now. After the
// vault is committed, Options.OnVaultCreated is called with its name.
// Errors: ErrInvalid (name, SKU, retention, network rules, key policy),
// ErrConflict (a vault of that name exists).
func (s *Service) CreateVault(ctx context.Context, now time.Time, v Vault) (Vault, error) {
	if v.RetentionDays == 0 {
		v.RetentionDays = DefaultRetentionDays
	}
	if err := validateVault(v); err != nil {
		return Vault{}, err
	}
	network, err := normalizeNetwork(v.Network)
	if err != nil {
		return Vault{}, err
	}
	policy, err := encodeKeyPolicy(v.KeyPolicy)
	if err != nil {
		return Vault{}, err
	}
	rec := store.Vault{
		Name:            v.Name,
		SKU:             string(v.SKU),
		RetentionDays:   v.RetentionDays,
		PurgeProtection: v.PurgeProtection,
		Network:         toStoreNetwork(network),
		KeyPolicy:       policy,
		Created:         now.UTC().Truncate(time.Microsecond),
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		switch _, err := tx.Vault(v.Name); {
		case err == nil:
			return newErr(ErrConflict, "VaultAlreadyExists", "Vault %s already exists.", v.Name)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return tx.PutVault(rec)
	})
	if err != nil {
		return Vault{}, storeErr("create vault "+v.Name, err)
	}
	s.forgetVault(v.Name)
	if s.onVaultCreated != nil {
		s.onVaultCreated(v.Name)
	}
	return fromStoreVault(rec), nil
}

// UpdateVault applies p to the vault called name and returns it as stored.
// Purge protection can be turned on but never off; the retention days are
// fixed after creation (the current value is accepted, any other refused).
// Network replaces the network rules and KeyPolicy the key policy when
// non-nil; a new key policy applies to later key operations only. Errors:
// ErrNotFound (no such vault), ErrInvalid (a refused change, bad network
// rules or key policy).
func (s *Service) UpdateVault(ctx context.Context, now time.Time, name string, p VaultUpdate) (Vault, error) {
	var network *NetworkRules
	if p.Network != nil {
		var err error
		if network, err = normalizeNetwork(p.Network); err != nil {
			return Vault{}, err
		}
	}
	var policy []byte
	if p.KeyPolicy != nil {
		var err error
		if policy, err = encodeKeyPolicy(*p.KeyPolicy); err != nil {
			return Vault{}, err
		}
	}
	var out store.Vault
	err := s.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Vault(name)
		if errors.Is(err, store.ErrNotFound) {
			return vaultNotFound(name)
		}
		if err != nil {
			return err
		}
		if p.RetentionDays != nil && *p.RetentionDays != cur.RetentionDays {
			return invalidf("The soft delete retention of vault %s cannot be changed after the vault is created: it stays %d days.", name, cur.RetentionDays)
		}
		if p.PurgeProtection != nil {
			if !*p.PurgeProtection && cur.PurgeProtection {
				return invalidf("Purge protection of vault %s cannot be turned off once it is enabled.", name)
			}
			cur.PurgeProtection = cur.PurgeProtection || *p.PurgeProtection
		}
		if network != nil {
			cur.Network = toStoreNetwork(network)
		}
		if p.KeyPolicy != nil {
			cur.KeyPolicy = policy
		}
		out = cur
		return tx.PutVault(cur)
	})
	if err != nil {
		return Vault{}, storeErr("update vault "+name, err)
	}
	s.forgetVault(name)
	return fromStoreVault(out), nil
}

// DeleteVault deletes the vault called name. A vault that still holds a
// key, active or soft-deleted, is refused: delete and purge its keys first.
// Errors: ErrNotFound (no such vault), ErrConflict (the vault holds keys).
func (s *Service) DeleteVault(ctx context.Context, name string) error {
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := requireVault(tx, name); err != nil {
			return err
		}
		for _, deleted := range []bool{false, true} {
			ks, err := tx.Keys(name, deleted, store.Page{Limit: 1})
			if err != nil {
				return err
			}
			if len(ks) > 0 {
				state := "active"
				if deleted {
					state = "soft-deleted"
				}
				return newErr(ErrConflict, "VaultNotEmpty", "Vault %s still holds %s keys; delete and purge every key before deleting the vault.", name, state)
			}
		}
		// The vault's role assignments go with it, in the same
		// transaction, so a vault created later under this name starts
		// with none.
		if _, err := deleteAssignmentsUnder(tx, "/vaults/"+name); err != nil {
			return err
		}
		return tx.DeleteVault(name)
	})
	s.forgetVault(name)
	if err == nil {
		s.accessChanged()
		if s.onVaultDeleted != nil {
			s.onVaultDeleted(name)
		}
	}
	return storeErr("delete vault "+name, err)
}

// requireVault refuses, inside a transaction, a vault that does not exist,
// so that no key is written into a vault deleted concurrently.
func requireVault(tx store.Tx, name string) error {
	_, err := tx.Vault(name)
	if errors.Is(err, store.ErrNotFound) {
		return vaultNotFound(name)
	}
	return err
}

// forgetVault drops a vault record from the cache.
func (s *Service) forgetVault(name string) {
	s.vmu.Lock()
	s.vgen++
	delete(s.vault, name)
	s.vmu.Unlock()
}

// storeErr returns refusals as they are and wraps store failures.
func storeErr(what string, err error) error {
	var ve *Error
	if err == nil || errors.As(err, &ve) {
		return err
	}
	return fmt.Errorf("vault: %s: %w", what, err)
}

// deleteAssignmentsUnder removes the role assignments made at scope or
// below it ("/vaults/v" also takes "/vaults/v/keys/..."). Scopes compare
// case-insensitively, as key names and vault names do.
func deleteAssignmentsUnder(tx store.Tx, scope string) (int, error) {
	all, err := tx.RoleAssignments()
	if err != nil {
		return 0, err
	}
	scope = strings.ToLower(scope)
	var n int
	for _, a := range all {
		s := strings.ToLower(a.Scope)
		if s == scope || strings.HasPrefix(s, scope+"/") {
			if err := tx.DeleteRoleAssignment(a.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// accessChanged tells the owner of the role-assignment cache that the
// domain removed assignments.
func (s *Service) accessChanged() {
	if s.onAccessChanged != nil {
		s.onAccessChanged()
	}
}
