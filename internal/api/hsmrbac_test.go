package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/rbac"
)

// fakeRoles is a hand-written in-memory Roles store. It keeps order and
// refuses as rbac.Service documents: unknown ids (ErrNotFound), existing
// assignment ids and assigned custom roles (ErrConflict), built-in changes
// (ErrInvalid).
type fakeRoles struct {
	mu          sync.Mutex
	roles       []rbac.Role
	assignments []rbac.Assignment
}

func (f *fakeRoles) Roles(ctx context.Context) ([]rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.roles), nil
}

func (f *fakeRoles) Role(ctx context.Context, id string) (rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.roles {
		if strings.EqualFold(r.ID, id) {
			return r, nil
		}
	}
	return rbac.Role{}, fmt.Errorf("%w: role definition %s", rbac.ErrNotFound, id)
}

func (f *fakeRoles) PutCustomRole(ctx context.Context, now time.Time, r rbac.Role) (rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, old := range f.roles {
		if strings.EqualFold(old.ID, r.ID) {
			if old.Type != rbac.CustomRole {
				return rbac.Role{}, fmt.Errorf("%w: built-in role %s cannot change", rbac.ErrInvalid, r.ID)
			}
			r.Created, r.Updated = old.Created, now
			f.roles[i] = r
			return r, nil
		}
	}
	r.Created, r.Updated = now, now
	f.roles = append(f.roles, r)
	return r, nil
}

func (f *fakeRoles) DeleteCustomRole(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.assignments {
		if strings.EqualFold(a.RoleID, id) {
			return fmt.Errorf("%w: role definition %s is assigned", rbac.ErrConflict, id)
		}
	}
	for i, r := range f.roles {
		if strings.EqualFold(r.ID, id) {
			f.roles = slices.Delete(f.roles, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("%w: role definition %s", rbac.ErrNotFound, id)
}

func (f *fakeRoles) Assign(ctx context.Context, now time.Time, a rbac.Assignment) (rbac.Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, old := range f.assignments {
		if strings.EqualFold(old.ID, a.ID) {
			return rbac.Assignment{}, fmt.Errorf("%w: role assignment %s exists", rbac.ErrConflict, a.ID)
		}
	}
	a.Created = now
	f.assignments = append(f.assignments, a)
	return a, nil
}

func (f *fakeRoles) Unassign(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, a := range f.assignments {
		if strings.EqualFold(a.ID, id) {
			f.assignments = slices.Delete(f.assignments, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("%w: role assignment %s", rbac.ErrNotFound, id)
}

func (f *fakeRoles) Assignments(ctx context.Context, principalID, scope string) ([]rbac.Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rbac.Assignment
	for _, a := range f.assignments {
		if (principalID == "" || a.PrincipalID == principalID) && (scope == "" || a.Scope == scope) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Role ids of the fake store.
const (
	hsmAdminRole   = rbac.ManagedHSMAdministrator
	kvAdminRole    = rbac.KeyVaultAdministrator
	globalCustom   = "11111111-1111-1111-1111-111111111111"
	otherCustom    = "22222222-2222-2222-2222-222222222222"
	assignmentGUID = "33333333-3333-3333-3333-333333333333"
	roleGUID       = "44444444-4444-4444-4444-444444444444"
)

// newFakeRoles returns a store with a Managed HSM built-in role, a Key
// Vault built-in role, a custom role assignable everywhere and one of
// vault "other".
func newFakeRoles() *fakeRoles {
	return &fakeRoles{roles: []rbac.Role{
		{ID: hsmAdminRole, Name: "Managed HSM Administrator", Type: rbac.BuiltInRole, ManagedHSM: true,
			DataActions: []string{rbac.ActionHSMRoleAssignmentsRead}, AssignableScopes: []string{"/"}},
		{ID: kvAdminRole, Name: "Key Vault Administrator", Type: rbac.BuiltInRole,
			DataActions: []string{"Microsoft.KeyVault/vaults/*"}, AssignableScopes: []string{"/"}},
		{ID: globalCustom, Name: "Global signer", Type: rbac.CustomRole,
			DataActions: []string{rbac.ActionHSMKeysSign}, AssignableScopes: []string{"/"}},
		{ID: otherCustom, Name: "Other HSM signer", Type: rbac.CustomRole, ManagedHSM: true,
			DataActions: []string{rbac.ActionHSMKeysSign}, AssignableScopes: []string{"/vaults/other"}},
	}}
}

// newHSMServer returns a test server whose "hsm" vault is a managedhsm
// vault backed by a fake role store, and "other" is one too.
func newHSMServer(t *testing.T) (*Server, *fakeRoles) {
	t.Helper()
	roles := newFakeRoles()
	s, f := newServerWith(t, func(_ *Config, d *Deps) { d.Roles = roles })
	f.skus["other"] = f.skus["hsm"]
	return s, roles
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t *testing.T, label, got, want string) {
	t.Helper()
	var g, w any
	decodeInto(t, got, &g)
	decodeInto(t, want, &w)
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s: body mismatch (-want +got):\n%s", label, diff)
	}
}

// TestHSMRoleAssignmentExamples follows the role assignment examples of
// the REST specification (specification/keyvault/data-plane/
// Microsoft.KeyVault/stable/7.5/examples/{Put,Get,List,Delete}
// RoleAssignments-example.json): the same requests and response shapes,
// with a GUID name and a real role id in place of the placeholders. The
// role definition id takes the form the role definition examples use for
// "id" (Microsoft.KeyVault/providers/…), so assignments and definitions
// can be matched by id.
func TestHSMRoleAssignmentExamples(t *testing.T) {
	for _, sc := range []struct {
		path, scope, stored string
	}{
		{"/keys", "/keys", "/vaults/hsm"},
		{"//keys", "/keys", "/vaults/hsm"}, // scope sent with its leading slash
		{"/%2Fkeys", "/keys", "/vaults/hsm"},
		{"", "/", "/vaults/hsm"},
		{"/", "/", "/vaults/hsm"},
		{"/keys/k1", "/keys/k1", "/vaults/hsm/keys/k1"},
	} {
		t.Run("scope "+sc.path, func(t *testing.T) {
			s, roles := newHSMServer(t)
			base := sc.path + "/providers/Microsoft.Authorization/roleAssignments"
			idPrefix := sc.scope
			if idPrefix == "/" {
				idPrefix = ""
			}
			want := `{
				"properties": {
					"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/` + hsmAdminRole + `",
					"principalId": "principal-1",
					"scope": "` + sc.scope + `"
				},
				"id": "` + idPrefix + `/providers/Microsoft.Authorization/roleAssignments/` + assignmentGUID + `",
				"type": "Microsoft.Authorization/roleAssignments",
				"name": "` + assignmentGUID + `"
			}`
			put := `{"properties": {"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/` + hsmAdminRole + `", "principalId": "principal-1"}}`
			w := do(s, "PUT", hsmHost, base+"/"+assignmentGUID+"?api-version=7.5", hsmToken, put)
			if w.Code != http.StatusCreated {
				t.Fatalf("PUT = %d %s, want 201", w.Code, w.Body)
			}
			jsonEqual(t, "PUT", w.Body.String(), want)
			if got := roles.assignments[0]; got.Scope != sc.stored || got.RoleID != hsmAdminRole || got.PrincipalID != "principal-1" {
				t.Errorf("stored %+v, want scope %s", got, sc.stored)
			}

			w = do(s, "GET", hsmHost, base+"/"+assignmentGUID+"?api-version=7.5", hsmToken, "")
			if w.Code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", w.Code, w.Body)
			}
			jsonEqual(t, "GET", w.Body.String(), want)

			w = do(s, "GET", hsmHost, base+"?api-version=7.5", hsmToken, "")
			if w.Code != http.StatusOK {
				t.Fatalf("list = %d %s, want 200", w.Code, w.Body)
			}
			jsonEqual(t, "list", w.Body.String(), `{"value": [`+want+`]}`)

			w = do(s, "DELETE", hsmHost, base+"/"+assignmentGUID+"?api-version=7.5", hsmToken, "")
			if w.Code != http.StatusOK {
				t.Fatalf("DELETE = %d %s, want 200", w.Code, w.Body)
			}
			jsonEqual(t, "DELETE", w.Body.String(), want)
			w = do(s, "GET", hsmHost, base+"/"+assignmentGUID+"?api-version=7.5", hsmToken, "")
			if w.Code != http.StatusNotFound {
				t.Errorf("GET after DELETE = %d %s, want 404", w.Code, w.Body)
			}
		})
	}
}

// TestHSMRoleDefinitionExamples follows the role definition examples of
// the REST specification (…/stable/7.5/examples/{Put,Get,Delete,List}
// RoleDefinition(s)-example.json): a custom role with one data action,
// created without assignable scopes (answered ["/"]), every permission
// list present.
func TestHSMRoleDefinitionExamples(t *testing.T) {
	s, roles := newHSMServer(t)
	base := "/providers/Microsoft.Authorization/roleDefinitions"
	want := `{
		"properties": {
			"roleName": "HSM signer",
			"type": "CustomRole",
			"description": "Signs with HSM keys",
			"assignableScopes": ["/"],
			"permissions": [{"actions": [], "notActions": [], "dataActions": ["Microsoft.KeyVault/managedHsm/keys/sign/action"], "notDataActions": []}]
		},
		"id": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/` + roleGUID + `",
		"type": "Microsoft.Authorization/roleDefinitions",
		"name": "` + roleGUID + `"
	}`
	put := `{"properties": {"roleName": "HSM signer", "type": "CustomRole", "description": "Signs with HSM keys",
		"permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/sign/action"]}]}}`
	// The PUT example addresses scope "keys"; definitions answer the same
	// at every scope.
	w := do(s, "PUT", hsmHost, "/keys"+base+"/"+roleGUID+"?api-version=7.5", hsmToken, put)
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT = %d %s, want 201", w.Code, w.Body)
	}
	jsonEqual(t, "PUT", w.Body.String(), want)
	stored, _ := roles.Role(context.Background(), roleGUID)
	if !stored.ManagedHSM || stored.Type != rbac.CustomRole || !slices.Equal(stored.AssignableScopes, []string{"/vaults/hsm"}) {
		t.Errorf("stored %+v, want a Managed HSM custom role assignable in /vaults/hsm", stored)
	}

	w = do(s, "GET", hsmHost, "/"+base+"/"+roleGUID+"?api-version=7.5", hsmToken, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d %s, want 200", w.Code, w.Body)
	}
	jsonEqual(t, "GET", w.Body.String(), want)

	w = do(s, "GET", hsmHost, base+"?api-version=7.5&$filter="+urlQueryEscape("roleName eq 'HSM signer'"), hsmToken, "")
	if w.Code != http.StatusOK {
		t.Fatalf("list = %d %s, want 200", w.Code, w.Body)
	}
	jsonEqual(t, "list", w.Body.String(), `{"value": [`+want+`]}`)

	// Updating is a PUT too; its answer is 201 again.
	w = do(s, "PUT", hsmHost, base+"/"+roleGUID+"?api-version=7.5", hsmToken,
		`{"properties": {"roleName": "HSM signer", "description": "Signs and verifies",
		"permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/sign/action", "Microsoft.KeyVault/managedHsm/keys/verify/action"]}]}}`)
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), "Signs and verifies") {
		t.Fatalf("PUT update = %d %s, want 201", w.Code, w.Body)
	}

	w = do(s, "DELETE", hsmHost, base+"/"+roleGUID+"?api-version=7.5", hsmToken, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"name":"`+roleGUID+`"`) {
		t.Fatalf("DELETE = %d %s, want 200 with the role", w.Code, w.Body)
	}
	w = do(s, "GET", hsmHost, base+"/"+roleGUID+"?api-version=7.5", hsmToken, "")
	if w.Code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d %s, want 404", w.Code, w.Body)
	}
}

// urlQueryEscape escapes a query value the way SDKs send $filter.
func urlQueryEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "'", "%27").Replace(s)
}

func TestHSMRoleListings(t *testing.T) {
	s, roles := newHSMServer(t)
	roles.assignments = []rbac.Assignment{
		{ID: "a1", PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/hsm"},
		{ID: "a2", PrincipalID: "p2", RoleID: hsmAdminRole, Scope: "/vaults/hsm/keys/k1"},
		{ID: "a3", PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/hsm/keys/k2"},
		{ID: "a4", PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/other"},
		{ID: "a5", PrincipalID: "p1", RoleID: kvAdminRole, Scope: "/"},
		{ID: "a6", PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/hsmx"},
	}
	names := func(body string) []string {
		t.Helper()
		var l struct {
			Value []struct{ Name string } `json:"value"`
		}
		decodeInto(t, body, &l)
		var out []string
		for _, v := range l.Value {
			out = append(out, v.Name)
		}
		return out
	}
	tests := []struct {
		target string
		want   []string
	}{
		{"/providers/Microsoft.Authorization/roleAssignments", []string{"a1", "a2", "a3"}},
		{"/keys/providers/Microsoft.Authorization/roleAssignments", []string{"a1", "a2", "a3"}},
		{"/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()", []string{"a1"}},
		{"/keys/k1/providers/Microsoft.Authorization/roleAssignments", []string{"a1", "a2"}},
		{"/keys/K1/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()", []string{"a1", "a2"}},
		{"/providers/Microsoft.Authorization/roleAssignments?$filter=" + urlQueryEscape("principalId eq 'p1'"), []string{"a1", "a3"}},
		{"/keys/k1/providers/Microsoft.Authorization/roleAssignments?$filter=" + urlQueryEscape("principalId eq 'p2'"), []string{"a2"}},
		{"/providers/Microsoft.Authorization/roleDefinitions", []string{hsmAdminRole, globalCustom}},
		{"/providers/Microsoft.Authorization/roleDefinitions?$filter=" + urlQueryEscape("roleName eq 'global signer'"), []string{globalCustom}},
		{"/providers/Microsoft.Authorization/roleDefinitions?$filter=" + urlQueryEscape("roleName eq 'Key Vault Administrator'"), nil},
	}
	for _, tt := range tests {
		sep := "?"
		if strings.Contains(tt.target, "?") {
			sep = "&"
		}
		w := do(s, "GET", hsmHost, tt.target+sep+"api-version=7.5", hsmToken, "")
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d %s", tt.target, w.Code, w.Body)
			continue
		}
		if got := names(w.Body.String()); !slices.Equal(got, tt.want) {
			t.Errorf("GET %s = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestHSMRoleRefusals(t *testing.T) {
	const ra = "/providers/Microsoft.Authorization/roleAssignments/"
	const rd = "/providers/Microsoft.Authorization/roleDefinitions/"
	assign := func(role string) string {
		return `{"properties":{"roleDefinitionId":"` + role + `","principalId":"p9"}}`
	}
	tests := []struct {
		name, method, host, target, body string
		status                           int
		code                             string
	}{
		{"not on a vault", "GET", namedHost, ra[:len(ra)-1], "", 404, "NotFound"},
		{"not on a vault, any scope", "GET", namedHost, "/secrets" + ra[:len(ra)-1], "", 404, "NotFound"},
		{"bad scope", "GET", hsmHost, "/secrets" + ra[:len(ra)-1], "", 400, "BadParameter"},
		{"too deep a scope", "GET", hsmHost, "/keys/a/b" + ra[:len(ra)-1], "", 400, "BadParameter"},
		{"bad key name in scope", "GET", hsmHost, "/keys/a%20b" + ra[:len(ra)-1], "", 400, "BadParameter"},
		{"old api-version", "GET", hsmHost, ra[:len(ra)-1] + "?api-version=7.1", "", 400, "BadParameter"},
		{"unsupported filter", "GET", hsmHost, ra[:len(ra)-1] + "?$filter=foo", "", 400, "BadParameter"},
		{"assignment name not a GUID", "PUT", hsmHost, ra + "not-a-guid", assign(hsmAdminRole), 400, "BadParameter"},
		{"assignment without body", "PUT", hsmHost, ra + assignmentGUID, "", 400, "BadParameter"},
		{"assignment without principal", "PUT", hsmHost, ra + assignmentGUID, `{"properties":{"roleDefinitionId":"` + hsmAdminRole + `"}}`, 400, "BadParameter"},
		{"assignment of a Key Vault role", "PUT", hsmHost, ra + assignmentGUID, assign(kvAdminRole), 400, "BadParameter"},
		{"assignment of another HSM's role", "PUT", hsmHost, ra + assignmentGUID, assign(otherCustom), 400, "BadParameter"},
		{"assignment of an unknown role", "PUT", hsmHost, ra + assignmentGUID, assign(roleGUID), 400, "BadParameter"},
		{"existing assignment id", "PUT", hsmHost, ra + "55555555-5555-5555-5555-555555555555", assign(hsmAdminRole), 409, "Conflict"},
		{"another vault's assignment", "GET", hsmHost, ra + "55555555-5555-5555-5555-555555555555", "", 404, "RoleAssignmentNotFound"},
		{"delete another vault's assignment", "DELETE", hsmHost, ra + "55555555-5555-5555-5555-555555555555", "", 404, "RoleAssignmentNotFound"},
		{"role with a vault action", "PUT", hsmHost, rd + roleGUID, `{"properties":{"roleName":"x","permissions":[{"dataActions":["Microsoft.KeyVault/vaults/keys/read"]}]}}`, 400, "BadParameter"},
		{"role with a Keywarden action", "PUT", hsmHost, rd + roleGUID, `{"properties":{"roleName":"x","permissions":[{"notDataActions":["Keywarden/*"]}]}}`, 400, "BadParameter"},
		{"role without name", "PUT", hsmHost, rd + roleGUID, `{"properties":{"permissions":[]}}`, 400, "BadParameter"},
		{"built-in role type", "PUT", hsmHost, rd + roleGUID, `{"properties":{"roleName":"x","type":"AKVBuiltInRole"}}`, 400, "BadParameter"},
		{"role scope elsewhere", "PUT", hsmHost, rd + roleGUID, `{"properties":{"roleName":"x","assignableScopes":["/secrets"]}}`, 400, "BadParameter"},
		{"overwrite a built-in role", "PUT", hsmHost, rd + hsmAdminRole, `{"properties":{"roleName":"x"}}`, 409, "Conflict"},
		{"overwrite another HSM's role", "PUT", hsmHost, rd + otherCustom, `{"properties":{"roleName":"x"}}`, 409, "Conflict"},
		{"overwrite a global custom role", "PUT", hsmHost, rd + globalCustom, `{"properties":{"roleName":"x"}}`, 409, "Conflict"},
		{"delete a built-in role", "DELETE", hsmHost, rd + hsmAdminRole, "", 400, "BadParameter"},
		{"delete another HSM's role", "DELETE", hsmHost, rd + otherCustom, "", 404, "RoleDefinitionNotFound"},
		{"get a Key Vault role", "GET", hsmHost, rd + kvAdminRole, "", 404, "RoleDefinitionNotFound"},
		{"get an unknown role", "GET", hsmHost, rd + roleGUID, "", 404, "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, roles := newHSMServer(t)
			roles.assignments = []rbac.Assignment{{ID: "55555555-5555-5555-5555-555555555555", PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/other"}}
			target := tt.target
			if !strings.Contains(target, "api-version") {
				if strings.Contains(target, "?") {
					target += "&api-version=7.5"
				} else {
					target += "?api-version=7.5"
				}
			}
			w := do(s, tt.method, tt.host, target, tokenFor(tt.host), tt.body)
			if w.Code != tt.status || errorCode(t, w) != tt.code {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, target, w.Code, w.Body, tt.status, tt.code)
			}
		})
	}
}

func TestHSMRolesNotConfigured(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, "GET", hsmHost, "/providers/Microsoft.Authorization/roleAssignments?api-version=7.5", hsmToken, "")
	if w.Code != http.StatusNotImplemented {
		t.Errorf("GET without a role store = %d %s, want 501", w.Code, w.Body)
	}
}

func TestHSMRoleAuthorization(t *testing.T) {
	tests := []struct {
		method, target, body string
		action, scope        string
	}{
		{"GET", "/providers/Microsoft.Authorization/roleAssignments", "", rbac.ActionHSMRoleAssignmentsRead, "/vaults/hsm"},
		{"GET", "/keys/providers/Microsoft.Authorization/roleAssignments/" + assignmentGUID, "", rbac.ActionHSMRoleAssignmentsRead, "/vaults/hsm"},
		{"PUT", "/keys/k1/providers/Microsoft.Authorization/roleAssignments/" + assignmentGUID, "{}", rbac.ActionHSMRoleAssignmentsWrite, "/vaults/hsm/keys/k1"},
		{"DELETE", "//keys/K1/providers/Microsoft.Authorization/roleAssignments/" + assignmentGUID, "", rbac.ActionHSMRoleAssignmentsDelete, "/vaults/hsm/keys/K1"},
		{"GET", "/providers/Microsoft.Authorization/roleDefinitions", "", rbac.ActionHSMRoleDefinitionsRead, "/vaults/hsm"},
		{"GET", "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID, "", rbac.ActionHSMRoleDefinitionsRead, "/vaults/hsm"},
		{"PUT", "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID, "{}", rbac.ActionHSMRoleDefinitionsWrite, "/vaults/hsm"},
		{"DELETE", "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID, "", rbac.ActionHSMRoleDefinitionsDelete, "/vaults/hsm"},
	}
	for _, tt := range tests {
		a := &fakeAuthorizer{}
		roles := newFakeRoles()
		s, _ := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer, d.Roles = a, roles })
		w := do(s, tt.method, hsmHost, tt.target+"?api-version=7.5", hsmToken, tt.body)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s %s denied = %d %s, want 403", tt.method, tt.target, w.Code, w.Body)
		}
		if got, want := a.lastAsked(), (grant{"oid-1", tt.action, tt.scope}); got != want {
			t.Errorf("%s %s asked %+v, want %+v", tt.method, tt.target, got, want)
		}
		if len(roles.assignments) != 0 || len(roles.roles) != 4 {
			t.Errorf("%s %s changed the store while denied", tt.method, tt.target)
		}
	}
}

// TestHSMRoleAssignmentScope checks that GET and DELETE of a role
// assignment honour the scope of the request URL: reading needs a scope
// covering the assignment, deleting its very scope, so a caller authorized
// at /keys/k1 cannot read or delete the HSM's own assignments or another
// key's (404, nothing changes).
func TestHSMRoleAssignmentScope(t *testing.T) {
	const (
		vaultID = "66666666-6666-6666-6666-666666666666"
		k1ID    = "77777777-7777-7777-7777-777777777777"
		k2ID    = "88888888-8888-8888-8888-888888888888"
	)
	stored := []rbac.Assignment{
		{ID: vaultID, PrincipalID: "p1", RoleID: hsmAdminRole, Scope: "/vaults/hsm"},
		{ID: k1ID, PrincipalID: "p2", RoleID: hsmAdminRole, Scope: "/vaults/hsm/keys/k1"},
		{ID: k2ID, PrincipalID: "p3", RoleID: hsmAdminRole, Scope: "/vaults/hsm/keys/k2"},
	}
	tests := []struct {
		name, method, scope, id string
		status                  int
	}{
		{"key scope reads the vault's", "GET", "/keys/k1", vaultID, 404},
		{"key scope deletes the vault's", "DELETE", "/keys/k1", vaultID, 404},
		{"key scope reads another key's", "GET", "/keys/k1", k2ID, 404},
		{"key scope deletes another key's", "DELETE", "/keys/k1", k2ID, 404},
		{"vault scope deletes a key's", "DELETE", "/", k1ID, 404},
		{"keys scope deletes a key's", "DELETE", "/keys", k1ID, 404},
		{"key scope reads its own", "GET", "/keys/k1", k1ID, 200},
		{"key scope deletes its own", "DELETE", "/keys/K1", k1ID, 200},
		{"vault scope reads a key's", "GET", "/", k1ID, 200},
		{"vault scope reads its own", "GET", "/keys", vaultID, 200},
		{"vault scope deletes its own", "DELETE", "/", vaultID, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A caller whose only grants are at /keys/k1 gets to the handler
			// only there; the others hold the HSM's.
			a := &fakeAuthorizer{allowAll: true}
			if tt.scope == "/keys/k1" {
				a = &fakeAuthorizer{allow: map[grant]bool{
					{"oid-1", rbac.ActionHSMRoleAssignmentsRead, "/vaults/hsm/keys/k1"}:   true,
					{"oid-1", rbac.ActionHSMRoleAssignmentsDelete, "/vaults/hsm/keys/k1"}: true,
				}}
			}
			roles := newFakeRoles()
			roles.assignments = slices.Clone(stored)
			s, f := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer, d.Roles = a, roles })
			f.skus["other"] = f.skus["hsm"]
			target := tt.scope + "/providers/Microsoft.Authorization/roleAssignments/" + tt.id + "?api-version=7.5"
			w := do(s, tt.method, hsmHost, target, hsmToken, "")
			if w.Code != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, target, w.Code, w.Body, tt.status)
			}
			if tt.status == http.StatusNotFound && errorCode(t, w) != "RoleAssignmentNotFound" {
				t.Errorf("%s %s = %s, want RoleAssignmentNotFound", tt.method, target, w.Body)
			}
			want := stored
			if tt.method == "DELETE" && tt.status == http.StatusOK {
				want = slices.DeleteFunc(slices.Clone(stored), func(a rbac.Assignment) bool { return a.ID == tt.id })
			}
			if diff := cmp.Diff(want, roles.assignments); diff != "" {
				t.Errorf("%s %s changed the assignments (-want +got):\n%s", tt.method, target, diff)
			}
		})
	}
}
