package api

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

// TestAdminAssignmentIssuer checks principalIssuer of the administration
// API's role assignments: optional in PUT (absent: the built-in issuer),
// an https URL when given, echoed when set and omitted when built-in.
func TestAdminAssignmentIssuer(t *testing.T) {
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	roles := rbac.New(db)
	if _, err := roles.Assign(t.Context(), time.Unix(1700000000, 0), rbac.Assignment{PrincipalID: "admin-oid", RoleID: rbac.KeywardenAdministrator, Scope: "/"}); err != nil {
		t.Fatal(err)
	}
	s, _ := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer, d.Roles = roles, roles })
	admin := namedToken + "|admin-oid"
	const (
		extID = "00000000-0000-4000-8000-000000000001"
		binID = "00000000-0000-4000-8000-000000000002"
		idp   = "https://idp.example.test/realms/apps"
	)
	w := do(s, "PUT", bareHost, "/admin/v1/roleAssignments/"+extID, admin,
		`{"principalId":"alice","principalIssuer":"`+idp+`","roleDefinitionId":"`+rbac.KeyVaultReader+`","scope":"/vaults/dev"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT with principalIssuer = %d %s, want 201", w.Code, w.Body)
	}
	var got adminRoleAssignment
	decodeInto(t, w.Body.String(), &got)
	if got.PrincipalIssuer != idp {
		t.Errorf("PUT with principalIssuer answered %s, want principalIssuer %s", w.Body, idp)
	}
	w = do(s, "PUT", bareHost, "/admin/v1/roleAssignments/"+binID, admin,
		`{"principalId":"alice","roleDefinitionId":"`+rbac.KeyVaultReader+`","scope":"/vaults/dev"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT without principalIssuer = %d %s, want 201 (another issuer's principal)", w.Code, w.Body)
	}
	var raw map[string]any
	decodeInto(t, w.Body.String(), &raw)
	if _, ok := raw["principalIssuer"]; ok {
		t.Errorf("PUT without principalIssuer answered %s, want no principalIssuer", w.Body)
	}
	for _, iss := range []string{"http://idp.example.test", "idp.example.test", "https://"} {
		w = do(s, "PUT", bareHost, "/admin/v1/roleAssignments/00000000-0000-4000-8000-000000000003", admin,
			`{"principalId":"bob","principalIssuer":"`+iss+`","roleDefinitionId":"`+rbac.KeyVaultReader+`","scope":"/"}`)
		if w.Code != http.StatusBadRequest {
			t.Errorf("PUT with principalIssuer %q = %d %s, want 400", iss, w.Code, w.Body)
		}
	}
	w = do(s, "GET", bareHost, "/admin/v1/roleAssignments?principalId=alice", admin, "")
	var list adminList[adminRoleAssignment]
	decodeInto(t, w.Body.String(), &list)
	if len(list.Value) != 2 || list.Value[0].PrincipalIssuer != idp || list.Value[1].PrincipalIssuer != "" {
		t.Errorf("GET assignments of alice = %s, want hers of %s and of the built-in issuer", w.Body, idp)
	}
}
