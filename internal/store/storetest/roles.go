package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/store"
)

func testRoleDefinitions(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newRoleDefinition("exists", "Exists"))
		update(t, s, func(tx store.Tx) error {
			for _, id := range []string{"missing", "EXISTS", "exist", "existsx", ""} {
				_, err := tx.RoleDefinition(id)
				wantNotFound(t, "RoleDefinition("+id+")", err)
				wantNotFound(t, "DeleteRoleDefinition("+id+")", tx.DeleteRoleDefinition(id))
			}
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name string
			d    store.RoleDefinition
		}{
			{"Minimal", store.RoleDefinition{ID: "minimal"}},
			{"Full", newRoleDefinition("7d3c5e1a-0b2f-4c6d-8e9f-1a2b3c4d5e6f", "Full Role")},
			{"DataActionsOnly", store.RoleDefinition{
				ID:          "data",
				Name:        "Signer",
				DataActions: []string{"Microsoft.KeyVault/vaults/keys/sign/action"},
				Created:     at(7),
				Updated:     at(7),
			}},
			{"Unicode", store.RoleDefinition{
				ID:             "unicode",
				Name:           "Schlüsselwärter ✓",
				Description:    "line one\nline \"two\"",
				NotDataActions: []string{"*"},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, tt.d)
				var got store.RoleDefinition
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.RoleDefinition(tt.d.ID)
					return err
				})
				if diff := cmp.Diff(tt.d, got, cmpOpts...); diff != "" {
					t.Errorf("RoleDefinition(%q) mismatch (-want +got):\n%s", tt.d.ID, diff)
				}
			})
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, open)
		d := newRoleDefinition("id", "Before")
		put(t, s, d)
		d.Name, d.DataActions, d.NotDataActions, d.Updated = "After", []string{"Keywarden/*"}, nil, at(9)
		put(t, s, d)
		var got []store.RoleDefinition
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleDefinitions()
			return err
		})
		if diff := cmp.Diff([]store.RoleDefinition{d}, got, cmpOpts...); diff != "" {
			t.Errorf("RoleDefinitions() after replace mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ListOrderAndDelete", func(t *testing.T) {
		s := newStore(t, open)
		var got []store.RoleDefinition
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleDefinitions()
			return err
		})
		if len(got) != 0 {
			t.Errorf("RoleDefinitions() on an empty store = %v, want none", roleDefinitionIDs(got))
		}
		// Ordered by the bytes of ID: '-' < '0' < 'a'.
		for _, id := range []string{"b", "a0", "a-1", "A", "a"} {
			put(t, s, newRoleDefinition(id, "Role "+id))
		}
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleDefinitions()
			return err
		})
		if diff := cmp.Diff([]string{"A", "a", "a-1", "a0", "b"}, roleDefinitionIDs(got)); diff != "" {
			t.Errorf("RoleDefinitions() mismatch (-want +got):\n%s", diff)
		}
		for _, d := range got {
			if diff := cmp.Diff(newRoleDefinition(d.ID, "Role "+d.ID), d, cmpOpts...); diff != "" {
				t.Errorf("RoleDefinitions() record %q mismatch (-want +got):\n%s", d.ID, diff)
			}
		}

		update(t, s, func(tx store.Tx) error { return tx.DeleteRoleDefinition("a") })
		view(t, s, func(tx store.Tx) (err error) {
			_, err = tx.RoleDefinition("a")
			wantNotFound(t, `RoleDefinition("a") after DeleteRoleDefinition`, err)
			got, err = tx.RoleDefinitions()
			return err
		})
		if diff := cmp.Diff([]string{"A", "a-1", "a0", "b"}, roleDefinitionIDs(got)); diff != "" {
			t.Errorf("RoleDefinitions() after DeleteRoleDefinition(%q) mismatch (-want +got):\n%s", "a", diff)
		}
		update(t, s, func(tx store.Tx) error {
			wantNotFound(t, `DeleteRoleDefinition("a") twice`, tx.DeleteRoleDefinition("a"))
			return nil
		})
	})
}

func testRoleAssignments(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newRoleAssignment("exists"))
		update(t, s, func(tx store.Tx) error {
			for _, id := range []string{"missing", "EXISTS", "exist", ""} {
				_, err := tx.RoleAssignment(id)
				wantNotFound(t, "RoleAssignment("+id+")", err)
				wantNotFound(t, "DeleteRoleAssignment("+id+")", tx.DeleteRoleAssignment(id))
			}
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name string
			a    store.RoleAssignment
		}{
			{"Minimal", store.RoleAssignment{ID: "minimal"}},
			{"Full", newRoleAssignment("0f5c2b8e-6a4d-4f1e-9b3c-7d2a1e0f9c8b")},
			{"ServerScope", store.RoleAssignment{
				ID: "server", PrincipalID: "group-1", RoleDefinitionID: "4a1c6b3e-8a0f-4e7d-9c55-6f1f0e2d7b10",
				Scope: "/", Created: at(1),
			}},
			{"VaultScope", store.RoleAssignment{
				ID: "vault", PrincipalID: "p", RoleDefinitionID: "r", Scope: "/vaults/my-vault", Created: at(2),
			}},
			{"ExternalIssuer", store.RoleAssignment{
				ID: "external", PrincipalID: "alice-oid", Issuer: "https://idp.example.test/realms/apps",
				RoleDefinitionID: "r", Scope: "/vaults/my-vault", Created: at(2),
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, tt.a)
				var got store.RoleAssignment
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.RoleAssignment(tt.a.ID)
					return err
				})
				if diff := cmp.Diff(tt.a, got, cmpOpts...); diff != "" {
					t.Errorf("RoleAssignment(%q) mismatch (-want +got):\n%s", tt.a.ID, diff)
				}
			})
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, open)
		a := newRoleAssignment("id")
		put(t, s, a)
		a.Scope, a.PrincipalID, a.Issuer = "/", "someone-else", "https://idp.example.test"
		put(t, s, a)
		var got []store.RoleAssignment
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleAssignments()
			return err
		})
		if diff := cmp.Diff([]store.RoleAssignment{a}, got, cmpOpts...); diff != "" {
			t.Errorf("RoleAssignments() after replace mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ListOrderAndDelete", func(t *testing.T) {
		s := newStore(t, open)
		var got []store.RoleAssignment
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleAssignments()
			return err
		})
		if len(got) != 0 {
			t.Errorf("RoleAssignments() on an empty store = %v, want none", roleAssignmentIDs(got))
		}
		for _, id := range []string{"f0", "0f", "a1", "10", "a10"} {
			put(t, s, newRoleAssignment(id))
		}
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleAssignments()
			return err
		})
		if diff := cmp.Diff([]string{"0f", "10", "a1", "a10", "f0"}, roleAssignmentIDs(got)); diff != "" {
			t.Errorf("RoleAssignments() mismatch (-want +got):\n%s", diff)
		}
		for _, a := range got {
			if diff := cmp.Diff(newRoleAssignment(a.ID), a, cmpOpts...); diff != "" {
				t.Errorf("RoleAssignments() record %q mismatch (-want +got):\n%s", a.ID, diff)
			}
		}

		update(t, s, func(tx store.Tx) error { return tx.DeleteRoleAssignment("a1") })
		view(t, s, func(tx store.Tx) (err error) {
			_, err = tx.RoleAssignment("a1")
			wantNotFound(t, `RoleAssignment("a1") after DeleteRoleAssignment`, err)
			got, err = tx.RoleAssignments()
			return err
		})
		if diff := cmp.Diff([]string{"0f", "10", "a10", "f0"}, roleAssignmentIDs(got)); diff != "" {
			t.Errorf("RoleAssignments() after DeleteRoleAssignment(%q) mismatch (-want +got):\n%s", "a1", diff)
		}
		update(t, s, func(tx store.Tx) error {
			wantNotFound(t, `DeleteRoleAssignment("a1") twice`, tx.DeleteRoleAssignment("a1"))
			return nil
		})
	})

	t.Run("IndependentOfRoleDefinitions", func(t *testing.T) {
		// The store keeps no referential integrity: rbac checks roles
		// exist, and built-in roles are never stored.
		s := newStore(t, open)
		put(t, s, newRoleDefinition("r", "R"), store.RoleAssignment{ID: "a", RoleDefinitionID: "r", Scope: "/"})
		update(t, s, func(tx store.Tx) error { return tx.DeleteRoleDefinition("r") })
		var got []store.RoleAssignment
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.RoleAssignments()
			return err
		})
		if diff := cmp.Diff([]string{"a"}, roleAssignmentIDs(got)); diff != "" {
			t.Errorf("RoleAssignments() after DeleteRoleDefinition(%q) mismatch (-want +got):\n%s", "r", diff)
		}
	})
}
