package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keywarden/keywarden/internal/store"
)

// mustAssign assigns and fails the test on error.
func mustAssign(t testing.TB, s *Service, a Assignment) Assignment {
	t.Helper()
	got, err := s.Assign(context.Background(), now, a)
	if err != nil {
		t.Fatalf("Assign(%+v) = %v, want nil", a, err)
	}
	return got
}

// allowed calls Authorize and fails the test on error.
func allowed(t *testing.T, s *Service, sub Subject, action, scope string) Decision {
	t.Helper()
	d, err := s.Authorize(t.Context(), sub, action, scope)
	if err != nil {
		t.Fatalf("Authorize(%+v, %q, %q) = %v, want nil error", sub, action, scope, err)
	}
	return d
}

func TestAuthorizeDenyByDefault(t *testing.T) {
	s := newService(t)
	tests := []struct {
		name  string
		sub   Subject
		scope string
	}{
		{"EmptySubject", Subject{}, "/"},
		{"Principal", Subject{ObjectID: "p"}, "/vaults/dev/keys/k"},
		{"PrincipalAndGroups", Subject{ObjectID: "p", Groups: []string{"g1", "g2"}}, "/vaults/dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allowed(t, s, tt.sub, ActionKeysRead, tt.scope)
			if d.Allowed || d.AssignmentID != "" {
				t.Errorf("Authorize(%+v, %q, %q) = %+v, want denied", tt.sub, ActionKeysRead, tt.scope, d)
			}
			if d.Reason == "" {
				t.Errorf("Authorize(%+v, ...).Reason = \"\", want an explanation", tt.sub)
			}
		})
	}

	// An assignment to someone else does not help, nor does an empty
	// object id or group match anything.
	mustAssign(t, s, Assignment{PrincipalID: "other", RoleID: KeyVaultAdministrator, Scope: "/"})
	for _, sub := range []Subject{{ObjectID: "p"}, {}, {Groups: []string{""}}, {ObjectID: "othe"}, {ObjectID: "other2"}} {
		if d := allowed(t, s, sub, ActionKeysRead, "/"); d.Allowed {
			t.Errorf("Authorize(%+v, %q, /) = %+v, want denied", sub, ActionKeysRead, d)
		}
	}
}

func TestAuthorizeInvalidRequest(t *testing.T) {
	s := newService(t)
	mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: KeyVaultAdministrator, Scope: "/"})
	tests := []struct{ action, scope string }{
		{"", "/"},
		{ActionKeysRead, ""},
		{ActionKeysRead, "/vaults/dev/keys/k/extra"},
		{ActionKeysRead, "/vaults/dev/../other"},
		{ActionKeysRead, "/secrets"},
	}
	for _, tt := range tests {
		d, err := s.Authorize(t.Context(), Subject{ObjectID: "p"}, tt.action, tt.scope)
		if !errors.Is(err, ErrInvalid) || d.Allowed {
			t.Errorf("Authorize(p, %q, %q) = %+v, %v, want denied, ErrInvalid", tt.action, tt.scope, d, err)
		}
	}
}

func TestAuthorizeScopes(t *testing.T) {
	s := newService(t)
	server := mustAssign(t, s, Assignment{PrincipalID: "server", RoleID: KeyVaultCryptoUser, Scope: "/"})
	vault := mustAssign(t, s, Assignment{PrincipalID: "vault", RoleID: KeyVaultCryptoUser, Scope: "/vaults/Dev"})
	key := mustAssign(t, s, Assignment{PrincipalID: "key", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev/keys/MyKey"})
	tests := []struct {
		principal, scope string
		want             string // granting assignment id, "" = denied
	}{
		{"server", "/", server.ID},
		{"server", "/vaults/other", server.ID},
		{"server", "/vaults/dev/keys/any", server.ID},
		{"vault", "/", ""},
		{"vault", "/vaults/dev", vault.ID},
		{"vault", "/vaults/DEV/keys/any", vault.ID},
		{"vault", "/vaults/dev2/keys/any", ""},
		{"vault", "/vaults/other", ""},
		{"key", "/", ""},
		{"key", "/vaults/dev", ""},
		{"key", "/vaults/dev/keys/MyKey", key.ID},
		{"key", "/vaults/dev/keys/mykey", key.ID},
		{"key", "/vaults/Dev/keys/MYKEY", key.ID},
		{"key", "/vaults/dev/keys/MyKey2", ""},
		{"key", "/vaults/dev/keys/other", ""},
		{"key", "/vaults/other/keys/MyKey", ""},
	}
	for _, tt := range tests {
		t.Run(tt.principal+tt.scope, func(t *testing.T) {
			d := allowed(t, s, Subject{ObjectID: tt.principal}, ActionKeysSign, tt.scope)
			if d.Allowed != (tt.want != "") || d.AssignmentID != tt.want {
				t.Errorf("Authorize(%q, sign, %q) = %+v, want allowed by %q", tt.principal, tt.scope, d, tt.want)
			}
		})
	}
}

func TestAuthorizeGroups(t *testing.T) {
	s := newService(t)
	g := mustAssign(t, s, Assignment{PrincipalID: "Group-A", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults/dev"})
	tests := []struct {
		name   string
		sub    Subject
		action string
		want   string
	}{
		{"GroupGrants", Subject{ObjectID: "p", Groups: []string{"x", "group-a"}}, ActionKeysSign, g.ID},
		{"GroupOnly", Subject{Groups: []string{"GROUP-A"}}, ActionKeysDecrypt, g.ID},
		{"OtherGroup", Subject{ObjectID: "p", Groups: []string{"group-b"}}, ActionKeysSign, ""},
		{"NoGroups", Subject{ObjectID: "p"}, ActionKeysSign, ""},
		{"GroupCannotCreate", Subject{ObjectID: "p", Groups: []string{"group-a"}}, ActionKeysCreate, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allowed(t, s, tt.sub, tt.action, "/vaults/dev/keys/k")
			if d.Allowed != (tt.want != "") || d.AssignmentID != tt.want {
				t.Errorf("Authorize(%+v, %q) = %+v, want allowed by %q", tt.sub, tt.action, d, tt.want)
			}
		})
	}
	// The group id "p" does match an assignment of principal "p": the store
	// does not tell principals from groups, only the subject does.
	if d := allowed(t, s, Subject{ObjectID: "q", Groups: []string{"p"}}, ActionKeysRead, "/vaults/dev"); !d.Allowed {
		t.Errorf("Authorize(q in group p, read) = %+v, want allowed", d)
	}
}

// TestAuthorizeIssuers checks that an id names a principal or group only
// under its issuer: the same id under another issuer (the built-in one or
// another external one) matches nothing, for principals and groups alike.
func TestAuthorizeIssuers(t *testing.T) {
	const (
		idpA = "https://idp-a.example.test/realms/apps"
		idpB = "https://idp-b.example.test"
	)
	s := newService(t)
	admin := mustAssign(t, s, Assignment{PrincipalID: "admin-oid", RoleID: KeyVaultAdministrator, Scope: "/"})
	alice := mustAssign(t, s, Assignment{PrincipalID: "alice", Issuer: idpA, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	admins := mustAssign(t, s, Assignment{PrincipalID: "admins", Issuer: idpA, RoleID: KeyVaultCryptoOfficer, Scope: "/vaults/dev"})
	tests := []struct {
		name string
		sub  Subject
		want string
	}{
		{"BuiltinAdmin", Subject{ObjectID: "admin-oid"}, admin.ID},
		{"ExternalWithAdminID", Subject{Issuer: idpA, ObjectID: "admin-oid"}, ""},
		{"ExternalWithAdminIDOtherCase", Subject{Issuer: idpB, ObjectID: "ADMIN-OID"}, ""},
		{"ExternalGroupWithAdminID", Subject{Issuer: idpA, ObjectID: "x", Groups: []string{"admin-oid"}}, ""},
		{"ExternalPrincipal", Subject{Issuer: idpA, ObjectID: "Alice"}, alice.ID},
		{"PrincipalOfOtherIssuer", Subject{Issuer: idpB, ObjectID: "alice"}, ""},
		{"PrincipalAsBuiltin", Subject{ObjectID: "alice"}, ""},
		{"IssuerNotNormalised", Subject{Issuer: idpA + "/", ObjectID: "alice"}, ""},
		{"ExternalGroup", Subject{Issuer: idpA, ObjectID: "bob", Groups: []string{"admins"}}, admins.ID},
		{"GroupOfOtherIssuer", Subject{Issuer: idpB, ObjectID: "bob", Groups: []string{"admins"}}, ""},
		{"GroupAsBuiltin", Subject{ObjectID: "bob", Groups: []string{"admins"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := allowed(t, s, tt.sub, ActionKeysSign, "/vaults/dev/keys/k")
			if d.Allowed != (tt.want != "") || d.AssignmentID != tt.want {
				t.Errorf("Authorize(%+v, sign) = %+v, want allowed by %q", tt.sub, d, tt.want)
			}
		})
	}

	// The same principal, role and scope under another issuer is another
	// assignment; under the same issuer it is a duplicate.
	mustAssign(t, s, Assignment{PrincipalID: "alice", Issuer: idpB, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	mustAssign(t, s, Assignment{PrincipalID: "alice", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	if _, err := s.Assign(t.Context(), now, Assignment{PrincipalID: "ALICE", Issuer: idpA, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"}); !errors.Is(err, ErrConflict) {
		t.Errorf("Assign(alice of %s again) = %v, want ErrConflict", idpA, err)
	}
	// Idempotent re-assignment under an id needs the same issuer.
	if _, err := s.Assign(t.Context(), now, Assignment{ID: alice.ID, PrincipalID: "alice", Issuer: idpB, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"}); !errors.Is(err, ErrConflict) {
		t.Errorf("Assign(id of alice of %s, issuer %s) = %v, want ErrConflict", idpA, idpB, err)
	}
	if got := mustAssign(t, s, Assignment{ID: alice.ID, PrincipalID: "alice", Issuer: idpA, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"}); got != alice {
		t.Errorf("Assign(alice again under its id) = %+v, want %+v", got, alice)
	}
	list, err := s.Assignments(t.Context(), "alice", "")
	if err != nil || len(list) != 3 {
		t.Errorf("Assignments(alice) = %+v, %v, want the three issuers' assignments", list, err)
	}
}

func TestAssignIssuerValidation(t *testing.T) {
	s := newService(t)
	for _, iss := range []string{
		"http://idp.example.test", "idp.example.test", "https://", "https:///realms/x", "https://user@idp.example.test",
		"https://idp.example.test/?q=1", "https://idp.example.test/#f", "https://idp.example.test/a b",
		"https://idp.example.test/" + strings.Repeat("x", 1024), "builtin",
	} {
		if _, err := s.Assign(t.Context(), now, Assignment{PrincipalID: "p", Issuer: iss, RoleID: KeyVaultReader, Scope: "/"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Assign(issuer %q) = %v, want ErrInvalid", iss, err)
		}
	}
	got := mustAssign(t, s, Assignment{PrincipalID: "p", Issuer: "https://idp.example.test:8443/realms/apps", RoleID: KeyVaultReader, Scope: "/"})
	if got.Issuer != "https://idp.example.test:8443/realms/apps" {
		t.Errorf("Assign().Issuer = %q, want it kept", got.Issuer)
	}
}

func TestAuthorizeNotDataActions(t *testing.T) {
	s := newService(t)
	r, err := s.PutCustomRole(t.Context(), now, Role{
		Name:           "Officer Without Purge",
		DataActions:    []string{"Microsoft.KeyVault/vaults/keys/*"},
		NotDataActions: []string{"microsoft.keyvault/vaults/keys/PURGE/*", "Microsoft.KeyVault/vaults/keys/*crypt/action"},
	})
	if err != nil {
		t.Fatalf("PutCustomRole() = %v, want nil", err)
	}
	mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: r.ID, Scope: "/"})
	// A second role granting purge outright lets it through: NotDataActions
	// subtract within a role, they are not deny assignments.
	mustAssign(t, s, Assignment{PrincipalID: "q", RoleID: r.ID, Scope: "/"})
	mustAssign(t, s, Assignment{PrincipalID: "q", RoleID: KeyVaultCryptoOfficer, Scope: "/vaults/dev/keys/k"})
	tests := []struct {
		principal, action string
		want              bool
	}{
		{"p", ActionKeysCreate, true},
		{"p", ActionKeysSign, true},
		{"p", ActionKeysPurge, false},
		{"p", ActionKeysEncrypt, false},
		{"p", ActionKeysDecrypt, false},
		{"p", ActionKeyRotationPoliciesRead, false},
		{"q", ActionKeysPurge, true},
	}
	for _, tt := range tests {
		d := allowed(t, s, Subject{ObjectID: tt.principal}, tt.action, "/vaults/dev/keys/k")
		if d.Allowed != tt.want {
			t.Errorf("Authorize(%q, %q) = %+v, want allowed %v", tt.principal, tt.action, d, tt.want)
		}
	}
	d := allowed(t, s, Subject{ObjectID: "p"}, ActionKeysPurge, "/vaults/dev/keys/k")
	if !strings.Contains(d.Reason, "notDataActions") {
		t.Errorf("Authorize(p, purge).Reason = %q, want it to name notDataActions", d.Reason)
	}
}

func TestAssignValidation(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	custom, err := s.PutCustomRole(ctx, now, Role{
		Name: "Vault Only", DataActions: []string{ActionKeysRead}, AssignableScopes: []string{"/vaults/dev"},
	})
	if err != nil {
		t.Fatalf("PutCustomRole() = %v, want nil", err)
	}
	existing := mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults/dev/keys/MyKey"})
	tests := []struct {
		name string
		a    Assignment
		want error
	}{
		{"EmptyPrincipal", Assignment{RoleID: KeyVaultReader, Scope: "/"}, ErrInvalid},
		{"SpaceInPrincipal", Assignment{PrincipalID: "a b", RoleID: KeyVaultReader, Scope: "/"}, ErrInvalid},
		{"UnknownRole", Assignment{PrincipalID: "p", RoleID: "6f1f0e2d-0000-4000-8000-000000000000", Scope: "/"}, ErrInvalid},
		{"RoleNotGUID", Assignment{PrincipalID: "p", RoleID: "Key Vault Reader", Scope: "/"}, ErrInvalid},
		{"EmptyScope", Assignment{PrincipalID: "p", RoleID: KeyVaultReader}, ErrInvalid},
		{"BadScope", Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults"}, ErrInvalid},
		{"BadVaultName", Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults/a_b"}, ErrInvalid},
		{"BadKeyName", Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults/dev/keys/a.b"}, ErrInvalid},
		{"BadID", Assignment{ID: "not-a-guid", PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/"}, ErrInvalid},
		{"OutsideAssignableScopes", Assignment{PrincipalID: "p", RoleID: custom.ID, Scope: "/vaults/other"}, ErrInvalid},
		{"ServerOutsideAssignableScopes", Assignment{PrincipalID: "p", RoleID: custom.ID, Scope: "/"}, ErrInvalid},
		{"Duplicate", Assignment{PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/vaults/dev/keys/MyKey"}, ErrConflict},
		{"DuplicateOtherCase", Assignment{PrincipalID: "P", RoleID: strings.ToUpper(KeyVaultReader), Scope: "/vaults/DEV/keys/mykey"}, ErrConflict},
		{"IDTakenOtherValues", Assignment{ID: existing.ID, PrincipalID: "q", RoleID: KeyVaultReader, Scope: "/"}, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Assign(ctx, now, tt.a)
			if !errors.Is(err, tt.want) {
				t.Errorf("Assign(%+v) = %+v, %v, want %v", tt.a, got, err, tt.want)
			}
		})
	}
	list, err := s.Assignments(ctx, "", "")
	if err != nil || len(list) != 1 {
		t.Errorf("Assignments() after refused Assigns = %v, %v, want only %s", list, err, existing.ID)
	}

	t.Run("Normalised", func(t *testing.T) {
		const id = "0F5C2B8E-6A4D-4F1E-9B3C-7D2A1E0F9C8B"
		got := mustAssign(t, s, Assignment{ID: id, PrincipalID: "Q", RoleID: strings.ToUpper(custom.ID), Scope: "/vaults/DEV"})
		want := Assignment{ID: strings.ToLower(id), PrincipalID: "Q", RoleID: custom.ID, Scope: "/vaults/dev", Created: now}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Assign() mismatch (-want +got):\n%s", diff)
		}
		// The same assignment again under its id is idempotent.
		again := mustAssign(t, s, Assignment{ID: id, PrincipalID: "Q", RoleID: custom.ID, Scope: "/vaults/dev"})
		if diff := cmp.Diff(want, again); diff != "" {
			t.Errorf("Assign() again mismatch (-want +got):\n%s", diff)
		}
		keyScoped := mustAssign(t, s, Assignment{PrincipalID: "q", RoleID: KeyVaultReader, Scope: "/vaults/DEV/keys/MiXeD"})
		if keyScoped.Scope != "/vaults/dev/keys/MiXeD" {
			t.Errorf("Assign(scope /vaults/DEV/keys/MiXeD).Scope = %q, want %q", keyScoped.Scope, "/vaults/dev/keys/MiXeD")
		}
		if _, err := canonicalID("assignment", keyScoped.ID); err != nil {
			t.Errorf("Assign() with no id made id %q, want a GUID", keyScoped.ID)
		}
	})
}

func TestAssignmentsFilter(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	a1 := mustAssign(t, s, Assignment{ID: "00000000-0000-4000-8000-000000000001", PrincipalID: "p", RoleID: KeyVaultReader, Scope: "/"})
	a2 := mustAssign(t, s, Assignment{ID: "00000000-0000-4000-8000-000000000002", PrincipalID: "p", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	a3 := mustAssign(t, s, Assignment{ID: "00000000-0000-4000-8000-000000000003", PrincipalID: "q", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	tests := []struct {
		principal, scope string
		want             []Assignment
	}{
		{"", "", []Assignment{a1, a2, a3}},
		{"p", "", []Assignment{a1, a2}},
		{"P", "", []Assignment{a1, a2}},
		{"", "/vaults/DEV", []Assignment{a2, a3}},
		{"q", "/vaults/dev", []Assignment{a3}},
		{"q", "/", []Assignment{}},
		{"nobody", "", []Assignment{}},
	}
	for _, tt := range tests {
		got, err := s.Assignments(ctx, tt.principal, tt.scope)
		if err != nil {
			t.Fatalf("Assignments(%q, %q) = %v, want nil", tt.principal, tt.scope, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Assignments(%q, %q) mismatch (-want +got):\n%s", tt.principal, tt.scope, diff)
		}
	}
	if _, err := s.Assignments(ctx, "", "/nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Assignments(\"\", %q) = %v, want ErrInvalid", "/nope", err)
	}
}

func TestCustomRoleLifecycle(t *testing.T) {
	s := newService(t)
	ctx := t.Context()

	r, err := s.PutCustomRole(ctx, now, Role{
		Name:           " Signer ",
		Description:    "signs",
		Type:           BuiltInRole, // forced to CustomRole
		DataActions:    []string{ActionKeysSign, ActionKeysRead},
		NotDataActions: []string{ActionKeysPurge},
	})
	if err != nil {
		t.Fatalf("PutCustomRole() = %v, want nil", err)
	}
	want := Role{
		ID: r.ID, Name: "Signer", Description: "signs", Type: CustomRole,
		DataActions: []string{ActionKeysSign, ActionKeysRead}, NotDataActions: []string{ActionKeysPurge},
		AssignableScopes: []string{"/"}, Created: now, Updated: now,
	}
	if diff := cmp.Diff(want, r, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("PutCustomRole() mismatch (-want +got):\n%s", diff)
	}
	for _, get := range []func() (Role, error){
		func() (Role, error) { return s.Role(ctx, r.ID) },
		func() (Role, error) { return s.Role(ctx, strings.ToUpper(r.ID)) },
		func() (Role, error) { return s.RoleByName(ctx, "SIGNER") },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("Role/RoleByName = %v, want nil", err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Role/RoleByName mismatch (-want +got):\n%s", diff)
		}
	}
	roles, err := s.Roles(ctx)
	if err != nil {
		t.Fatalf("Roles() = %v, want nil", err)
	}
	if n := len(BuiltInRoles()); len(roles) != n+1 || roles[n].ID != r.ID || roles[0].ID != KeyVaultAdministrator {
		t.Errorf("Roles() = %d roles, want %d built-in then %s", len(roles), n, r.ID)
	}

	// Update keeps Created, changes Updated.
	later := now.Add(3600e9)
	r.DataActions = []string{ActionKeysVerify}
	updated, err := s.PutCustomRole(ctx, later, r)
	if err != nil {
		t.Fatalf("PutCustomRole(update) = %v, want nil", err)
	}
	if !updated.Created.Equal(now) || !updated.Updated.Equal(later) {
		t.Errorf("PutCustomRole(update) Created, Updated = %v, %v, want %v, %v", updated.Created, updated.Updated, now, later)
	}

	// Assigned: delete refused; unassigned: deleted.
	a := mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: r.ID, Scope: "/vaults/dev"})
	if d := allowed(t, s, Subject{ObjectID: "p"}, ActionKeysVerify, "/vaults/dev"); !d.Allowed {
		t.Errorf("Authorize(verify) with the updated role = %+v, want allowed", d)
	}
	if d := allowed(t, s, Subject{ObjectID: "p"}, ActionKeysSign, "/vaults/dev"); d.Allowed {
		t.Errorf("Authorize(sign) after the role dropped it = %+v, want denied", d)
	}
	if err := s.DeleteCustomRole(ctx, r.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("DeleteCustomRole(assigned) = %v, want ErrConflict", err)
	}
	if err := s.Unassign(ctx, a.ID); err != nil {
		t.Fatalf("Unassign() = %v, want nil", err)
	}
	if err := s.DeleteCustomRole(ctx, strings.ToUpper(r.ID)); err != nil {
		t.Fatalf("DeleteCustomRole() = %v, want nil", err)
	}
	if _, err := s.Role(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Role() after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.RoleByName(ctx, "Signer"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RoleByName() after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCustomRole(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCustomRole() twice = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCustomRole(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCustomRole(%q) = %v, want ErrNotFound", "nope", err)
	}
	if err := s.Unassign(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unassign() twice = %v, want ErrNotFound", err)
	}
	if err := s.DeleteCustomRole(ctx, KeyVaultReader); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteCustomRole(built-in) = %v, want ErrInvalid", err)
	}
}

func TestPutCustomRoleValidation(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	taken, err := s.PutCustomRole(ctx, now, Role{Name: "Taken", DataActions: []string{"Keywarden/*"}})
	if err != nil {
		t.Fatalf("PutCustomRole() = %v, want nil", err)
	}
	ok := []string{ActionKeysRead}
	tests := []struct {
		name string
		r    Role
		want error
	}{
		{"NoName", Role{DataActions: ok}, ErrInvalid},
		{"BlankName", Role{Name: "  ", DataActions: ok}, ErrInvalid},
		{"ControlInName", Role{Name: "a\nb", DataActions: ok}, ErrInvalid},
		{"NoPermissions", Role{Name: "x"}, ErrInvalid},
		{"OnlyNotDataActions", Role{Name: "x", NotDataActions: ok}, ErrInvalid},
		{"EmptyPermission", Role{Name: "x", DataActions: []string{""}}, ErrInvalid},
		{"SpaceInPermission", Role{Name: "x", DataActions: []string{"Microsoft.KeyVault/vaults/keys/ read"}}, ErrInvalid},
		{"TabInNotDataAction", Role{Name: "x", DataActions: ok, NotDataActions: []string{"a\tb"}}, ErrInvalid},
		{"BadAction", Role{Name: "x", DataActions: ok, Actions: []string{"a b"}}, ErrInvalid},
		{"BadAssignableScope", Role{Name: "x", DataActions: ok, AssignableScopes: []string{"/subscriptions/x"}}, ErrInvalid},
		{"BuiltInID", Role{ID: KeyVaultCryptoUser, Name: "x", DataActions: ok}, ErrInvalid},
		{"BuiltInIDUpperCase", Role{ID: strings.ToUpper(KeywardenAdministrator), Name: "x", DataActions: ok}, ErrInvalid},
		{"BadID", Role{ID: "custom-role", Name: "x", DataActions: ok}, ErrInvalid},
		{"BuiltInName", Role{Name: "key vault crypto user", DataActions: ok}, ErrConflict},
		{"CustomName", Role{Name: "TAKEN", DataActions: ok}, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PutCustomRole(ctx, now, tt.r)
			if !errors.Is(err, tt.want) {
				t.Errorf("PutCustomRole(%+v) = %+v, %v, want %v", tt.r, got, err, tt.want)
			}
		})
	}
	roles, err := s.Roles(ctx)
	if err != nil || len(roles) != len(BuiltInRoles())+1 {
		t.Errorf("Roles() after refused puts = %d roles, %v, want %d", len(roles), err, len(BuiltInRoles())+1)
	}
	// Renaming a role to its own name in another case is fine.
	taken.Name = "TAKEN"
	if _, err := s.PutCustomRole(ctx, now, taken); err != nil {
		t.Errorf("PutCustomRole(rename %q to %q) = %v, want nil", "Taken", "TAKEN", err)
	}
}

func TestRoleLookups(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	r, err := s.RoleByName(ctx, "KEY VAULT CRYPTO USER")
	if err != nil || r.ID != KeyVaultCryptoUser {
		t.Errorf("RoleByName(%q) = %s, %v, want %s", "KEY VAULT CRYPTO USER", r.ID, err, KeyVaultCryptoUser)
	}
	if _, err := s.RoleByName(ctx, "Key Vault Crypto"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RoleByName(%q) = %v, want ErrNotFound", "Key Vault Crypto", err)
	}
	if _, err := s.Role(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Role(unknown) = %v, want ErrNotFound", err)
	}
	// Returned roles are copies.
	r.DataActions[0] = "Microsoft.KeyVault/vaults/keys/*"
	again, _ := s.Role(ctx, KeyVaultCryptoUser)
	if again.DataActions[0] != ActionKeysRead {
		t.Errorf("Role(%s).DataActions[0] = %q after a caller changed a copy, want %q", KeyVaultCryptoUser, again.DataActions[0], ActionKeysRead)
	}
}

func TestSnapshotFollowsWrites(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	sub := Subject{ObjectID: "p"}
	// Load the snapshot first, so that staleness would show.
	if d := allowed(t, s, sub, ActionKeysSign, "/vaults/dev/keys/k"); d.Allowed {
		t.Fatalf("Authorize() before Assign = %+v, want denied", d)
	}
	a := mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	if d := allowed(t, s, sub, ActionKeysSign, "/vaults/dev/keys/k"); !d.Allowed || d.AssignmentID != a.ID {
		t.Errorf("Authorize() right after Assign = %+v, want allowed by %s", d, a.ID)
	}
	if err := s.Unassign(ctx, a.ID); err != nil {
		t.Fatalf("Unassign() = %v, want nil", err)
	}
	if d := allowed(t, s, sub, ActionKeysSign, "/vaults/dev/keys/k"); d.Allowed {
		t.Errorf("Authorize() right after Unassign = %+v, want denied", d)
	}
}

func TestInvalidate(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	sub := Subject{ObjectID: "p"}
	if d := allowed(t, s, sub, ActionKeysRead, "/"); d.Allowed {
		t.Fatalf("Authorize() on an empty store = %+v, want denied", d)
	}
	// Another writer changes the store behind the Service's back.
	err := s.st.Update(ctx, func(tx store.Tx) error {
		return tx.PutRoleAssignment(store.RoleAssignment{
			ID: "00000000-0000-4000-8000-0000000000aa", PrincipalID: "p", RoleDefinitionID: KeyVaultReader, Scope: "/",
		})
	})
	if err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
	if d := allowed(t, s, sub, ActionKeysRead, "/"); d.Allowed {
		t.Errorf("Authorize() before Invalidate = %+v, want the stale denial", d)
	}
	s.Invalidate()
	if d := allowed(t, s, sub, ActionKeysRead, "/"); !d.Allowed {
		t.Errorf("Authorize() after Invalidate = %+v, want allowed", d)
	}
}

func TestAuthorizeStoreClosed(t *testing.T) {
	s := newService(t)
	if err := s.st.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := s.Authorize(t.Context(), Subject{ObjectID: "p"}, ActionKeysRead, "/")
	if !errors.Is(err, store.ErrClosed) || d.Allowed {
		t.Errorf("Authorize() on a closed store = %+v, %v, want denied, store.ErrClosed", d, err)
	}
}

func TestConcurrentAuthorizeAndAssign(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	const writers, perWriter, readers = 4, 10, 8
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range readers {
		wg.Go(func() {
			sub := Subject{ObjectID: fmt.Sprintf("p%d-0", r%writers), Groups: []string{"g"}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Authorize(ctx, sub, ActionKeysSign, "/vaults/dev/keys/k"); err != nil {
					t.Errorf("Authorize() = %v, want nil", err)
					return
				}
				if _, err := s.Assignments(ctx, sub.ObjectID, ""); err != nil {
					t.Errorf("Assignments() = %v, want nil", err)
					return
				}
			}
		})
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Go(func() {
			for i := range perWriter {
				p := fmt.Sprintf("p%d-%d", w, i)
				a, err := s.Assign(ctx, now, Assignment{PrincipalID: p, RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
				if err != nil {
					t.Errorf("Assign(%s) = %v, want nil", p, err)
					return
				}
				d, err := s.Authorize(ctx, Subject{ObjectID: p}, ActionKeysSign, "/vaults/dev/keys/k")
				if err != nil || !d.Allowed {
					t.Errorf("Authorize(%s) right after its Assign = %+v, %v, want allowed", p, d, err)
				}
				if i%3 == 0 {
					s.Invalidate()
				}
				if i%2 == 0 {
					if err := s.Unassign(ctx, a.ID); err != nil {
						t.Errorf("Unassign(%s) = %v, want nil", a.ID, err)
					}
					if d, _ := s.Authorize(ctx, Subject{ObjectID: p}, ActionKeysSign, "/vaults/dev/keys/k"); d.Allowed {
						t.Errorf("Authorize(%s) right after its Unassign = %+v, want denied", p, d)
					}
				}
			}
		})
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	list, err := s.Assignments(ctx, "", "")
	if err != nil || len(list) != writers*perWriter/2 {
		t.Errorf("Assignments() after the writers = %d, %v, want %d", len(list), err, writers*perWriter/2)
	}
}

func TestAuthorizeAllocs(t *testing.T) {
	s := newService(t)
	mustAssign(t, s, Assignment{PrincipalID: "p", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	ctx := t.Context()
	sub := Subject{ObjectID: "p"}
	allocs := testing.AllocsPerRun(100, func() {
		if d, err := s.Authorize(ctx, sub, ActionKeysSign, "/vaults/dev/keys/k"); err != nil || !d.Allowed {
			t.Fatalf("Authorize() = %+v, %v, want allowed", d, err)
		}
	})
	if allocs != 0 {
		t.Errorf("allowing Authorize allocates %v times, want 0", allocs)
	}
	mustAssign(t, s, Assignment{PrincipalID: "g", Issuer: "https://idp.example.test", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	ext := Subject{Issuer: "https://idp.example.test", ObjectID: "x", Groups: []string{"f", "g"}}
	allocs = testing.AllocsPerRun(100, func() {
		if d, err := s.Authorize(ctx, ext, ActionKeysSign, "/vaults/dev/keys/k"); err != nil || !d.Allowed {
			t.Fatalf("Authorize(external group member) = %+v, %v, want allowed", d, err)
		}
	})
	if allocs != 0 {
		t.Errorf("allowing Authorize of an external group member allocates %v times, want 0", allocs)
	}
}

// BenchmarkAuthorize measures an allowed decision for a principal in two
// groups among 1000 principals with three assignments each.
func BenchmarkAuthorize(b *testing.B) {
	s := newService(b)
	roles := []string{KeyVaultReader, KeyVaultCryptoServiceEncryptionUser, KeyVaultCryptoUser}
	// One transaction, not 3000 Assigns: the setup is not what is measured.
	err := s.st.Update(b.Context(), func(tx store.Tx) error {
		for i := range 1000 {
			for j, role := range roles {
				err := tx.PutRoleAssignment(store.RoleAssignment{
					ID:               fmt.Sprintf("00000000-0000-4000-8000-%012d", i*len(roles)+j),
					PrincipalID:      fmt.Sprintf("principal-%d", i),
					RoleDefinitionID: role,
					Scope:            fmt.Sprintf("/vaults/vault-%d/keys/key-%d", j, i),
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("Update() = %v, want nil", err)
	}
	s.Invalidate()
	mustAssign(b, s, Assignment{PrincipalID: "group-b", RoleID: KeyVaultCryptoUser, Scope: "/vaults/dev"})
	ctx := context.Background()
	sub := Subject{ObjectID: "principal-500", Groups: []string{"group-a", "group-b"}}
	b.ReportAllocs()
	for b.Loop() {
		d, err := s.Authorize(ctx, sub, ActionKeysSign, "/vaults/dev/keys/MyKey")
		if err != nil || !d.Allowed {
			b.Fatalf("Authorize() = %+v, %v, want allowed", d, err)
		}
	}
}
