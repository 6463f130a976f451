package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keywarden/keywarden/internal/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// sep separates the parts of a composite key.
const sep = "\x00"

// tx implements store.Tx on a bbolt transaction. Values bbolt returns point
// into its read-only memory map and are valid only during the transaction:
// every method decodes or copies them before returning.
type tx struct {
	b *bolt.Tx
}

var _ store.Tx = (*tx)(nil)

// writable reports an error for a write in a read-only transaction.
func (t *tx) writable(op string) error {
	if !t.b.Writable() {
		return fmt.Errorf("embedded: %s: %w", op, berrors.ErrTxNotWritable)
	}
	return nil
}

// part reports whether s can be part of a composite key.
func part(s string) bool { return s != "" && !strings.Contains(s, sep) }

// keyKey returns the keys-bucket key of a key.
func keyKey(vault, name string) []byte { return []byte(vault + sep + store.Fold(name)) }

// versionPrefix returns the prefix of the versions-bucket keys of a key.
func versionPrefix(vault, name string) []byte {
	return []byte(vault + sep + store.Fold(name) + sep)
}

// lookup returns the value stored under key in bucket b. Unlike
// Bucket.Get, it tells an empty value from a missing one. The buckets hold no
// nested buckets.
func lookup(b *bolt.Bucket, key []byte) ([]byte, bool) {
	if b == nil {
		return nil, false // a bucket added within the schema, in a read-only file
	}
	k, v := b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

// get decodes the record under key in bucket into rec.
func (t *tx) get(bucket, key []byte, rec any) error {
	v, ok := lookup(t.b.Bucket(bucket), key)
	if !ok {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(v, rec); err != nil {
		return fmt.Errorf("embedded: decode %s %q: %w", bucket, key, err)
	}
	return nil
}

// put encodes rec under key in bucket.
func (t *tx) put(op string, bucket, key []byte, rec any) error {
	if err := t.writable(op); err != nil {
		return err
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("embedded: %s: encode: %w", op, err)
	}
	if err := t.b.Bucket(bucket).Put(key, v); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}

// del removes key from bucket; store.ErrNotFound if it is absent.
func (t *tx) del(op string, bucket, key []byte) error {
	if err := t.writable(op); err != nil {
		return err
	}
	b := t.b.Bucket(bucket)
	if _, ok := lookup(b, key); !ok {
		return store.ErrNotFound
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}

// scan calls fn for each record of bucket whose key starts with prefix and
// sorts after prefix+after, in key order, until fn returns false or an
// error. fn gets the key without prefix and the value.
func (t *tx) scan(bucket, prefix []byte, after string, fn func(k, v []byte) (bool, error)) error {
	b := t.b.Bucket(bucket)
	if b == nil {
		return nil // a bucket added within the schema, in a read-only file
	}
	c := b.Cursor()
	start := append(bytes.Clone(prefix), after...)
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if after != "" && bytes.Equal(k, start) {
			continue
		}
		more, err := fn(k[len(prefix):], v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// list decodes the records of a scan into a slice, honouring limit (zero or
// negative: no limit) and keep.
func list[R any, T any](t *tx, bucket, prefix []byte, after string, limit int, decode func(R) T, keep func(T) bool) ([]T, error) {
	var out []T
	err := t.scan(bucket, prefix, after, func(k, v []byte) (bool, error) {
		var rec R
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, fmt.Errorf("embedded: decode %s %q: %w", bucket, k, err)
		}
		x := decode(rec)
		if keep != nil && !keep(x) {
			return true, nil
		}
		out = append(out, x)
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Vault implements store.Tx.
func (t *tx) Vault(name string) (store.Vault, error) {
	var rec vaultRecord
	if name == "" {
		return store.Vault{}, store.ErrNotFound
	}
	if err := t.get(bucketVaults, []byte(name), &rec); err != nil {
		return store.Vault{}, err
	}
	return rec.vault(), nil
}

// Vaults implements store.Tx.
func (t *tx) Vaults() ([]store.Vault, error) {
	return list(t, bucketVaults, nil, "", 0, vaultRecord.vault, nil)
}

// PutVault implements store.Tx.
func (t *tx) PutVault(v store.Vault) error {
	if !part(v.Name) {
		return fmt.Errorf("embedded: put vault: invalid name %q", v.Name)
	}
	return t.put("put vault", bucketVaults, []byte(v.Name), newVaultRecord(v))
}

// DeleteVault implements store.Tx.
func (t *tx) DeleteVault(name string) error {
	if name == "" {
		if err := t.writable("delete vault"); err != nil {
			return err
		}
		return store.ErrNotFound
	}
	return t.del("delete vault", bucketVaults, []byte(name))
}

// Key implements store.Tx.
func (t *tx) Key(vault, name string) (store.Key, error) {
	if !part(vault) || !part(name) {
		return store.Key{}, store.ErrNotFound
	}
	var rec keyRecord
	if err := t.get(bucketKeys, keyKey(vault, name), &rec); err != nil {
		return store.Key{}, err
	}
	return rec.key(), nil
}

// Keys implements store.Tx.
func (t *tx) Keys(vault string, deleted bool, p store.Page) ([]store.Key, error) {
	if !part(vault) {
		return nil, nil
	}
	keep := func(k store.Key) bool { return (k.Deleted != nil) == deleted }
	return list(t, bucketKeys, []byte(vault+sep), store.Fold(p.After), p.Limit, keyRecord.key, keep)
}

// PutKey implements store.Tx.
func (t *tx) PutKey(k store.Key) error {
	if !part(k.Vault) || !part(k.Name) {
		return fmt.Errorf("embedded: put key: invalid vault %q or name %q", k.Vault, k.Name)
	}
	return t.put("put key", bucketKeys, keyKey(k.Vault, k.Name), newKeyRecord(k))
}

// DeleteKey implements store.Tx.
func (t *tx) DeleteKey(vault, name string) error {
	const op = "delete key"
	if err := t.writable(op); err != nil {
		return err
	}
	if !part(vault) || !part(name) {
		return store.ErrNotFound
	}
	if err := t.del(op, bucketKeys, keyKey(vault, name)); err != nil {
		return err
	}
	// Collect first: deleting under a live bbolt cursor can skip entries.
	var ids [][]byte
	prefix := versionPrefix(vault, name)
	err := t.scan(bucketVersions, prefix, "", func(k, _ []byte) (bool, error) {
		ids = append(ids, append(bytes.Clone(prefix), k...))
		return true, nil
	})
	if err != nil {
		return err
	}
	b := t.b.Bucket(bucketVersions)
	for _, id := range ids {
		if err := b.Delete(id); err != nil {
			return fmt.Errorf("embedded: %s: %w", op, err)
		}
	}
	return nil
}

// Version implements store.Tx.
func (t *tx) Version(vault, name, id string) (store.Version, error) {
	if !part(vault) || !part(name) || !part(id) {
		return store.Version{}, store.ErrNotFound
	}
	var rec versionRecord
	if err := t.get(bucketVersions, append(versionPrefix(vault, name), id...), &rec); err != nil {
		return store.Version{}, err
	}
	return rec.version(), nil
}

// Versions implements store.Tx.
func (t *tx) Versions(vault, name string, p store.Page) ([]store.Version, error) {
	if !part(vault) || !part(name) {
		return nil, nil
	}
	return list(t, bucketVersions, versionPrefix(vault, name), p.After, p.Limit, versionRecord.version, nil)
}

// PutVersion implements store.Tx.
func (t *tx) PutVersion(v store.Version) error {
	if !part(v.Vault) || !part(v.Name) || !part(v.ID) {
		return fmt.Errorf("embedded: put version: invalid vault %q, name %q or id %q", v.Vault, v.Name, v.ID)
	}
	return t.put("put version", bucketVersions, append(versionPrefix(v.Vault, v.Name), v.ID...), newVersionRecord(v))
}

// Principal implements store.Tx.
func (t *tx) Principal(clientID string) (store.Principal, error) {
	if clientID == "" {
		return store.Principal{}, store.ErrNotFound
	}
	var rec principalRecord
	if err := t.get(bucketPrincipals, []byte(clientID), &rec); err != nil {
		return store.Principal{}, err
	}
	return rec.principal(), nil
}

// Principals implements store.Tx.
func (t *tx) Principals() ([]store.Principal, error) {
	return list(t, bucketPrincipals, nil, "", 0, principalRecord.principal, nil)
}

// PutPrincipal implements store.Tx.
func (t *tx) PutPrincipal(p store.Principal) error {
	if p.ClientID == "" {
		return errors.New("embedded: put principal: empty client id")
	}
	return t.put("put principal", bucketPrincipals, []byte(p.ClientID), newPrincipalRecord(p))
}

// DeletePrincipal implements store.Tx.
func (t *tx) DeletePrincipal(clientID string) error {
	if clientID == "" {
		if err := t.writable("delete principal"); err != nil {
			return err
		}
		return store.ErrNotFound
	}
	return t.del("delete principal", bucketPrincipals, []byte(clientID))
}

// RoleDefinition implements store.Tx.
func (t *tx) RoleDefinition(id string) (store.RoleDefinition, error) {
	if id == "" {
		return store.RoleDefinition{}, store.ErrNotFound
	}
	var rec roleDefinitionRecord
	if err := t.get(bucketRoleDefs, []byte(id), &rec); err != nil {
		return store.RoleDefinition{}, err
	}
	return rec.roleDefinition(), nil
}

// RoleDefinitions implements store.Tx.
func (t *tx) RoleDefinitions() ([]store.RoleDefinition, error) {
	return list(t, bucketRoleDefs, nil, "", 0, roleDefinitionRecord.roleDefinition, nil)
}

// PutRoleDefinition implements store.Tx.
func (t *tx) PutRoleDefinition(d store.RoleDefinition) error {
	if d.ID == "" {
		return errors.New("embedded: put role definition: empty id")
	}
	return t.put("put role definition", bucketRoleDefs, []byte(d.ID), newRoleDefinitionRecord(d))
}

// DeleteRoleDefinition implements store.Tx.
func (t *tx) DeleteRoleDefinition(id string) error {
	if id == "" {
		if err := t.writable("delete role definition"); err != nil {
			return err
		}
		return store.ErrNotFound
	}
	return t.del("delete role definition", bucketRoleDefs, []byte(id))
}

// RoleAssignment implements store.Tx.
func (t *tx) RoleAssignment(id string) (store.RoleAssignment, error) {
	if id == "" {
		return store.RoleAssignment{}, store.ErrNotFound
	}
	var rec roleAssignmentRecord
	if err := t.get(bucketRoleAssign, []byte(id), &rec); err != nil {
		return store.RoleAssignment{}, err
	}
	return rec.roleAssignment(), nil
}

// RoleAssignments implements store.Tx.
func (t *tx) RoleAssignments() ([]store.RoleAssignment, error) {
	return list(t, bucketRoleAssign, nil, "", 0, roleAssignmentRecord.roleAssignment, nil)
}

// PutRoleAssignment implements store.Tx.
func (t *tx) PutRoleAssignment(a store.RoleAssignment) error {
	if a.ID == "" {
		return errors.New("embedded: put role assignment: empty id")
	}
	return t.put("put role assignment", bucketRoleAssign, []byte(a.ID), newRoleAssignmentRecord(a))
}

// DeleteRoleAssignment implements store.Tx.
func (t *tx) DeleteRoleAssignment(id string) error {
	if id == "" {
		if err := t.writable("delete role assignment"); err != nil {
			return err
		}
		return store.ErrNotFound
	}
	return t.del("delete role assignment", bucketRoleAssign, []byte(id))
}

// Blob implements store.Tx. The result is a copy the caller may modify.
func (t *tx) Blob(name string) ([]byte, error) {
	if name == "" {
		return nil, store.ErrNotFound
	}
	v, ok := lookup(t.b.Bucket(bucketBlobs), []byte(name))
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// PutBlob implements store.Tx. It copies data: bbolt keeps a reference to
// the value until the commit.
func (t *tx) PutBlob(name string, data []byte) error {
	const op = "put blob"
	if err := t.writable(op); err != nil {
		return err
	}
	if name == "" {
		return errors.New("embedded: put blob: empty name")
	}
	v := make([]byte, len(data))
	copy(v, data)
	if err := t.b.Bucket(bucketBlobs).Put([]byte(name), v); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}
