package vault

import (
	"context"
	"fmt"

	"github.com/keywarden/keywarden/internal/store"
)

// Inventory counts the records of a store that VerifySealed read.
type Inventory struct {
	// Vaults, Keys, Versions and Principals count those records; Keys and
	// Versions include soft-deleted keys and their versions.
	Vaults, Keys, Versions, Principals int
}

// UnsealError names a key version whose sealed material does not open. It
// carries the record's location and the sealer's error, never material.
type UnsealError struct {
	// Vault, Key and Version locate the version.
	Vault, Key, Version string
	// Err is the sealer's error (seal.ErrOpen for a wrong root key).
	Err error
}

func (e *UnsealError) Error() string {
	return fmt.Sprintf("key version %s/%s/%s does not open with this root key: %v", e.Vault, e.Key, e.Version, e.Err)
}

func (e *UnsealError) Unwrap() error { return e.Err }

// VerifySealed checks that material, the sealer of private key material
// (Options.Material), opens the sealed material of every key version in st,
// active and soft-deleted, with the additional data that binds it to its
// vault, key and version; that is what a restored store needs from its root
// key. It reads st in one transaction, writes nothing, and clears every
// opened plaintext at once. For an HSM-protected version it checks the
// sealed reference to the token objects, not that the token holds them.
//
// It stops at the first version that does not open, with an *UnsealError
// naming it, and returns the counts of what it read so far; ctx is checked
// between versions.
func VerifySealed(ctx context.Context, st store.Store, material Sealer) (Inventory, error) {
	var inv Inventory
	err := st.View(ctx, func(tx store.Tx) error {
		inv = Inventory{}
		vaults, err := tx.Vaults()
		if err != nil {
			return err
		}
		principals, err := tx.Principals()
		if err != nil {
			return err
		}
		inv.Vaults, inv.Principals = len(vaults), len(principals)
		return eachKey(tx, vaults, func(_ store.Key, vs []store.Version) error {
			inv.Keys++
			for _, rec := range vs {
				if err := ctx.Err(); err != nil {
					return err
				}
				priv, err := material.Open(rec.SealedPrivate, materialAAD(rec.Vault, rec.Name, rec.ID))
				if err != nil {
					return &UnsealError{Vault: rec.Vault, Key: rec.Name, Version: rec.ID, Err: err}
				}
				priv.Clear()
				inv.Versions++
			}
			return nil
		})
	})
	return inv, err
}

// eachKey calls fn with every key of vaults, active and soft-deleted, and
// its versions, read in tx; it stops at fn's first error.
func eachKey(tx store.Tx, vaults []store.Vault, fn func(k store.Key, versions []store.Version) error) error {
	for _, v := range vaults {
		for _, deleted := range []bool{false, true} {
			ks, err := tx.Keys(v.Name, deleted, store.Page{})
			if err != nil {
				return err
			}
			for _, k := range ks {
				vs, err := tx.Versions(v.Name, k.Name, store.Page{})
				if err != nil {
					return err
				}
				if err := fn(k, vs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
