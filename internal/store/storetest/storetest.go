// Package storetest is the conformance suite of the store contract. Every
// store.Store implementation (embedded, postgres) calls Run from its own
// tests, so that all backends behave alike: not-found errors, round trips,
// time precision, case-insensitive key names, listing order and paging,
// role definitions and role assignments,
// isolation of vaults, and transaction semantics (rollback, read-your-writes,
// serialised concurrent updates, read-only views, cancellation, Close).
//
// The package is imported only by tests. It imports store, testing and
// go-cmp; it never imports a backend.
package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keywarden/keywarden/internal/store"
)

// Run runs the conformance suite against the implementation that open
// returns. Each subtest calls open once and expects a new, empty store; open
// should call t.Fatal if it cannot provide one. Run closes every store it
// opens when the subtest ends and reports an error from Close.
//
// Run's subtests are sequential. Update callbacks in the suite return errors
// rather than calling t.Fatal, so an implementation may run them on any
// goroutine and may retry them.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Vaults", func(t *testing.T) { testVaults(t, open) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, open) })
	t.Run("Principals", func(t *testing.T) { testPrincipals(t, open) })
	t.Run("RoleDefinitions", func(t *testing.T) { testRoleDefinitions(t, open) })
	t.Run("RoleAssignments", func(t *testing.T) { testRoleAssignments(t, open) })
	t.Run("Blobs", func(t *testing.T) { testBlobs(t, open) })
	t.Run("Times", func(t *testing.T) { testTimes(t, open) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, open) })
}

// opener is the type of Run's open argument.
type opener = func(t *testing.T) store.Store

// cmpOpts compare records as the store contract defines equality: times by
// time.Time.Equal (EquateApproxTime with no margin; the zero time falls back
// to the Equal method), nil and empty slices and maps alike.
var cmpOpts = []cmp.Option{cmpopts.EquateApproxTime(0), cmpopts.EquateEmpty()}

// newStore opens a store for one test and closes it when the test ends.
func newStore(t *testing.T, open opener) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

// update runs fn in an Update that must succeed.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
}

// view runs fn in a View that must succeed.
func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View() = %v, want nil", err)
	}
}

// put stores records in one Update. Each record is a store.Vault,
// store.Key, store.Version, store.Principal, store.RoleDefinition or
// store.RoleAssignment.
func put(t *testing.T, s store.Store, records ...any) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, r := range records {
			var err error
			switch r := r.(type) {
			case store.Vault:
				err = tx.PutVault(r)
			case store.Key:
				err = tx.PutKey(r)
			case store.Version:
				err = tx.PutVersion(r)
			case store.Principal:
				err = tx.PutPrincipal(r)
			case store.RoleDefinition:
				err = tx.PutRoleDefinition(r)
			case store.RoleAssignment:
				err = tx.PutRoleAssignment(r)
			default:
				err = fmt.Errorf("storetest: cannot put %T", r)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// wantNotFound reports an error unless err is store.ErrNotFound.
func wantNotFound(t *testing.T, call string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s = %v, want store.ErrNotFound", call, err)
	}
}

// base is the time the fixtures are built on; it has microsecond digits,
// the precision every store keeps.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// at returns base plus h hours.
func at(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// newVault returns a vault record with every field set.
func newVault(name string) store.Vault {
	return store.Vault{
		Name:            name,
		SKU:             "premium",
		RetentionDays:   90,
		PurgeProtection: true,
		Network: &store.NetworkRules{
			DefaultAction: "Deny",
			IPRules:       []string{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::1"},
		},
		KeyPolicy: []byte(`{"minimumRsaSize":3072,"allowedCurves":["P-256","P-384"]}`),
		Created:   at(0),
	}
}

// newKey returns an active key record with the key-level timestamps set.
func newKey(vault, name string) store.Key {
	return store.Key{
		Vault:   vault,
		Name:    name,
		Current: "0123456789abcdef0123456789abcdef",
		Created: at(1),
		Updated: at(2),
	}
}

// deletedKey returns a soft-deleted key record.
func deletedKey(vault, name string) store.Key {
	k := newKey(vault, name)
	k.Deleted = &store.Deletion{Date: at(3), ScheduledPurge: at(3 + 90*24)}
	return k
}

// newVersion returns a version record with every field set.
func newVersion(vault, name, id string) store.Version {
	return store.Version{
		Vault:         vault,
		Name:          name,
		ID:            id,
		Type:          "RSA",
		Protection:    "software",
		Size:          2048,
		Public:        []byte{0x30, 0x82, 0x01, 0x22, 0x00, 0xff},
		SealedPrivate: []byte("sealed:\x00\x01\x02" + id),
		Enabled:       true,
		NotBefore:     ptr(at(-1)),
		Expires:       ptr(at(24 * 365)),
		Ops:           []string{"sign", "verify", "wrapKey"},
		Tags:          map[string]string{"env": "prod", "owner": "team-a"},
		Exportable:    true,
		ReleasePolicy: &store.ReleasePolicy{
			ContentType: "application/json; charset=utf-8",
			Immutable:   true,
			Data:        []byte(`{"version":"1.0.0","anyOf":[]}`),
		},
		Created:  at(1),
		Updated:  at(5),
		LastUsed: ptr(at(7)),
		Provenance: &store.Provenance{
			Method:    "byok",
			Generator: "keywarden byok package v1",
			KEK:       "https://" + vault + ".vault.example/keys/kek/0123456789abcdef0123456789abcdef",
			Imported:  at(1),
		},
	}
}

// newPrincipal returns a principal record with every field set.
func newPrincipal(clientID string) store.Principal {
	return store.Principal{
		ClientID: clientID,
		ObjectID: "oid-" + clientID,
		Name:     "Principal " + clientID,
		Secrets: []store.Credential{
			{ID: "s1", Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Expires: ptr(at(24 * 30)), Created: at(0)},
			{ID: "s2", Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdDI$aGFzaDI", Created: at(1)},
		},
		Certificates: []store.CertificateCredential{
			{
				ID:               "c1",
				DER:              []byte{0x30, 0x82, 0x01, 0x0a, 0x00, 0xff, 0x00},
				Thumbprint:       "3a7f0c5e9b1d2f4a6c8e0b2d4f6a8c0e2b4d6f8a",
				ThumbprintSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				Expires:          ptr(at(24 * 365)),
				Created:          at(2),
			},
			{ID: "c2", DER: []byte{0x30, 0x03, 0x02, 0x01, 0x00}, Thumbprint: "00", Created: at(3)},
		},
		Created: at(0),
	}
}

// newRoleDefinition returns a custom role definition with every field set.
func newRoleDefinition(id, name string) store.RoleDefinition {
	return store.RoleDefinition{
		ID:               id,
		Name:             name,
		Description:      "Role " + name + " for tests",
		Actions:          []string{"Microsoft.KeyVault/vaults/read"},
		NotActions:       []string{"Microsoft.KeyVault/vaults/delete"},
		DataActions:      []string{"Microsoft.KeyVault/vaults/keys/*", "Keywarden/vaults/read"},
		NotDataActions:   []string{"Microsoft.KeyVault/vaults/keys/purge/action"},
		AssignableScopes: []string{"/", "/vaults/v"},
		Created:          at(1),
		Updated:          at(2),
	}
}

// newRoleAssignment returns a role assignment with every field set.
func newRoleAssignment(id string) store.RoleAssignment {
	return store.RoleAssignment{
		ID:               id,
		PrincipalID:      "oid-" + id,
		Issuer:           "https://idp.example.test/realms/" + id,
		RoleDefinitionID: "12338af0-0e69-4776-bea7-57ae8d297424",
		Scope:            "/vaults/v/keys/MyKey",
		Created:          at(3),
	}
}

// keyNames returns the Name of each key.
func keyNames(keys []store.Key) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.Name)
	}
	return out
}

// roleDefinitionIDs returns the ID of each role definition.
func roleDefinitionIDs(defs []store.RoleDefinition) []string {
	out := []string{}
	for _, d := range defs {
		out = append(out, d.ID)
	}
	return out
}

// roleAssignmentIDs returns the ID of each role assignment.
func roleAssignmentIDs(as []store.RoleAssignment) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// versionIDs returns the ID of each version.
func versionIDs(versions []store.Version) []string {
	out := []string{}
	for _, v := range versions {
		out = append(out, v.ID)
	}
	return out
}
