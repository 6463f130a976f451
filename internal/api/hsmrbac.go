package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/internal/rbac"
)

// The Managed HSM local RBAC API (rbac.json of the Key Vault REST
// specification, 7.2 and later), served on managedhsm vaults only:
//
//	GET    /{scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=atScope()|principalId eq '{id}']
//	GET    /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}
//	PUT    /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}
//	DELETE /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}
//	GET    /{scope}/providers/Microsoft.Authorization/roleDefinitions[?$filter=roleName eq '{name}']
//	GET    /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}
//	PUT    /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}
//	DELETE /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}
//
// {scope} is "/", "/keys" or "/keys/{key}" (clients send it with or without
// its leading slash, so the path may hold "//"). The HSM's scopes map onto
// Keywarden's: "/" and "/keys" onto /vaults/{vault}, "/keys/{key}" onto
// /vaults/{vault}/keys/{key}. The API shows only what belongs to the HSM:
// assignments at its scopes, the Managed HSM built-in roles, and custom
// roles assignable there or everywhere. Custom roles it creates are
// assignable only within the HSM, may hold only Managed HSM data actions,
// and only those can be changed or deleted through it.
//
// rbac.json's role assignment has no issuer: assignments created through
// this API are for principals of the built-in token issuer
// (rbac.BuiltinIssuer). Those of external issuers' principals and groups
// are made through the administration API; this API lists, reads and
// deletes them like any other, showing their principal id only.
//
// A role assignment is read (GET) only through a scope covering it — its
// own, or the vault's for an assignment at a key — and deleted only through
// its own scope, as Azure does: a caller authorized at /keys/k1 can neither
// read nor delete an assignment at the HSM's root.

// Wire names of the RBAC API.
const (
	authorizationProvider = "Microsoft.Authorization"
	roleAssignmentsType   = "Microsoft.Authorization/roleAssignments"
	roleDefinitionsType   = "Microsoft.Authorization/roleDefinitions"
	// roleDefinitionIDPrefix precedes a role GUID in role definition ids,
	// as the service (and the spec's examples) spell them.
	roleDefinitionIDPrefix = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
)

// hsmRoleAssignment is rbac.json's RoleAssignment.
type hsmRoleAssignment struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Type       string                      `json:"type"`
	Properties hsmRoleAssignmentProperties `json:"properties"`
}

// hsmRoleAssignmentProperties is RoleAssignmentPropertiesWithScope, and
// without scope RoleAssignmentProperties (the PUT body).
type hsmRoleAssignmentProperties struct {
	Scope            string `json:"scope,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
}

// hsmRoleAssignmentCreate is RoleAssignmentCreateParameters.
type hsmRoleAssignmentCreate struct {
	Properties *hsmRoleAssignmentProperties `json:"properties"`
}

// hsmRoleAssignmentList is RoleAssignmentListResult.
type hsmRoleAssignmentList struct {
	Value    []hsmRoleAssignment `json:"value"`
	NextLink *string             `json:"nextLink,omitempty"`
}

// hsmRoleDefinition is rbac.json's RoleDefinition.
type hsmRoleDefinition struct {
	ID         string                      `json:"id"`
	Name       string                      `json:"name"`
	Type       string                      `json:"type"`
	Properties hsmRoleDefinitionProperties `json:"properties"`
}

// hsmRoleDefinitionProperties is RoleDefinitionProperties.
type hsmRoleDefinitionProperties struct {
	RoleName         string          `json:"roleName"`
	Description      string          `json:"description"`
	Type             string          `json:"type"`
	Permissions      []hsmPermission `json:"permissions"`
	AssignableScopes []string        `json:"assignableScopes"`
}

// hsmPermission is rbac.json's Permission.
type hsmPermission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// hsmRoleDefinitionCreate is RoleDefinitionCreateParameters.
type hsmRoleDefinitionCreate struct {
	Properties *hsmRoleDefinitionProperties `json:"properties"`
}

// hsmRoleDefinitionList is RoleDefinitionListResult.
type hsmRoleDefinitionList struct {
	Value    []hsmRoleDefinition `json:"value"`
	NextLink *string             `json:"nextLink,omitempty"`
}

// created marks a handler result answered 201 Created.
type created struct{ v any }

// hsmRBACRoutes returns the routes of the Managed HSM RBAC API. Their
// patterns start at "providers": matchRequest splits the scope off first.
func (s *Server) hsmRBACRoutes() []*route {
	const (
		assignments = "/providers/" + authorizationProvider + "/roleAssignments"
		definitions = "/providers/" + authorizationProvider + "/roleDefinitions"
	)
	return []*route{
		{method: http.MethodGet, pattern: assignments, hsmAction: rbac.ActionHSMRoleAssignmentsRead, scope: hsmScopeOf, since: v7_2, handle: s.listRoleAssignments},
		{method: http.MethodGet, pattern: assignments + "/{name}", hsmAction: rbac.ActionHSMRoleAssignmentsRead, scope: hsmScopeOf, since: v7_2, handle: s.getRoleAssignment},
		{method: http.MethodPut, pattern: assignments + "/{name}", hsmAction: rbac.ActionHSMRoleAssignmentsWrite, scope: hsmScopeOf, since: v7_2, maxBody: jsonBody, handle: s.putRoleAssignment},
		{method: http.MethodDelete, pattern: assignments + "/{name}", hsmAction: rbac.ActionHSMRoleAssignmentsDelete, scope: hsmScopeOf, since: v7_2, handle: s.deleteRoleAssignment},
		{method: http.MethodGet, pattern: definitions, hsmAction: rbac.ActionHSMRoleDefinitionsRead, scope: hsmScopeOf, since: v7_2, handle: s.listRoleDefinitions},
		{method: http.MethodGet, pattern: definitions + "/{name}", hsmAction: rbac.ActionHSMRoleDefinitionsRead, scope: hsmScopeOf, since: v7_2, handle: s.getRoleDefinition},
		{method: http.MethodPut, pattern: definitions + "/{name}", hsmAction: rbac.ActionHSMRoleDefinitionsWrite, scope: hsmScopeOf, since: v7_2, maxBody: jsonBody, handle: s.putRoleDefinition},
		{method: http.MethodDelete, pattern: definitions + "/{name}", hsmAction: rbac.ActionHSMRoleDefinitionsDelete, scope: hsmScopeOf, since: v7_2, handle: s.deleteRoleDefinition},
	}
}

// rbacProviderIndex returns the index of the "providers" segment of a role
// API path ({scope}/providers/Microsoft.Authorization/roleAssignments...),
// or -1.
func rbacProviderIndex(segs []string) int {
	for i := 0; i+2 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") && strings.EqualFold(segs[i+1], authorizationProvider) {
			switch strings.ToLower(segs[i+2]) {
			case "roleassignments", "roledefinitions":
				return i
			}
		}
	}
	return -1
}

// parseHSMScope parses the escaped scope segments of a role API path into
// the HSM scope ("/", "/keys" or "/keys/{key}") and its key name. Empty
// segments and escaped slashes are tolerated.
func parseHSMScope(segs []string) (scope, key string, err error) {
	var parts []string
	for _, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", badParameter("The role scope is not valid; use /, /keys or /keys/{key-name}.")
		}
		for p := range strings.SplitSeq(u, "/") {
			if p != "" {
				parts = append(parts, p)
			}
		}
	}
	switch {
	case len(parts) == 0:
		return "/", "", nil
	case !strings.EqualFold(parts[0], "keys") || len(parts) > 2:
		return "", "", badParameter("The role scope is not valid; use /, /keys or /keys/{key-name}.")
	case len(parts) == 1:
		return "/keys", "", nil
	case !validKeyName(parts[1]):
		return "", "", badParameter("The key name in the role scope is not valid; use 1 to 127 letters, digits and dashes.")
	}
	return "/keys/" + parts[1], parts[1], nil
}

// validKeyName reports whether name matches ^[0-9a-zA-Z-]{1,127}$, the key
// names a role scope may hold.
func validKeyName(name string) bool {
	if len(name) < 1 || len(name) > 127 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// hsmScopeOf is the Keywarden scope of the request's HSM role scope.
func hsmScopeOf(rq *request) string {
	if rq.scopeKey != "" {
		return vaultScope(rq) + "/keys/" + rq.scopeKey
	}
	return vaultScope(rq)
}

// hsmScopeIn maps an HSM scope given in a request body ("/", "/keys",
// "/keys/{key}", with or without the leading slash) onto a Keywarden scope
// of rq's vault.
func hsmScopeIn(rq *request, scope string) (string, error) {
	var segs []string
	if scope != "" {
		segs = []string{url.PathEscape(scope)}
	}
	_, key, err := parseHSMScope(segs)
	if err != nil {
		return "", err
	}
	if key != "" {
		return vaultScope(rq) + "/keys/" + key, nil
	}
	return vaultScope(rq), nil
}

// hsmScopeOut renders a Keywarden scope of rq's vault as an HSM scope: the
// vault as the request's own scope when that is "/" or "/keys" (else "/"),
// a key as "/keys/{key}". ok is false for a scope outside the vault.
func hsmScopeOut(rq *request, scope string) (string, bool) {
	vs := vaultScope(rq)
	if len(scope) < len(vs) || !strings.EqualFold(scope[:len(vs)], vs) {
		return "", false
	}
	rest := scope[len(vs):]
	if rest == "" {
		if rq.hsmScope == "/keys" {
			return "/keys", true
		}
		return "/", true
	}
	key, ok := strings.CutPrefix(rest, "/keys/")
	if !ok || key == "" || strings.Contains(key, "/") {
		return "", false
	}
	return "/keys/" + key, true
}

// hsmRoles returns the role store (Deps.Roles, shared with the
// administration API) or the refusal of a server without one.
func (s *Server) hsmRoles() (Roles, error) {
	if s.roles == nil {
		return nil, notSupported("Role-based access control is not configured on this server.")
	}
	return s.roles, nil
}

// guidRE matches a GUID, as role assignment and definition names must be.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkGUID refuses a name that is not a GUID.
func checkGUID(what, name string) error {
	if !guidRE.MatchString(name) {
		return badParameter("The %s name %s is not a valid GUID.", what, truncate(name, 64))
	}
	return nil
}

// assignmentOut renders a in the wire format; ok is false when a is not
// at a scope of rq's vault.
func assignmentOut(rq *request, a rbac.Assignment) (hsmRoleAssignment, bool) {
	scope, ok := hsmScopeOut(rq, a.Scope)
	if !ok {
		return hsmRoleAssignment{}, false
	}
	prefix := scope
	if prefix == "/" {
		prefix = ""
	}
	return hsmRoleAssignment{
		ID:   prefix + "/providers/" + roleAssignmentsType + "/" + a.ID,
		Name: a.ID,
		Type: roleAssignmentsType,
		Properties: hsmRoleAssignmentProperties{
			Scope:            scope,
			RoleDefinitionID: roleDefinitionIDPrefix + a.RoleID,
			PrincipalID:      a.PrincipalID,
		},
	}, true
}

// vaultAssignment returns the assignment named id when it is at a scope of
// rq's vault reachable through the request's scope, else a 404 refusal:
// with exact, at that very scope (deletion, as Azure); else at a scope that
// scope covers (reading: the scope's own assignments and those below it).
func (s *Server) vaultAssignment(ctx context.Context, rq *request, roles Roles, id string, exact bool) (rbac.Assignment, hsmRoleAssignment, error) {
	all, err := roles.Assignments(ctx, "", "")
	if err != nil {
		return rbac.Assignment{}, hsmRoleAssignment{}, err
	}
	here := hsmScopeOf(rq)
	for _, a := range all {
		if !strings.EqualFold(a.ID, id) {
			continue
		}
		if exact && !strings.EqualFold(a.Scope, here) || !exact && !rbac.ScopeCovers(here, a.Scope) {
			break
		}
		if out, ok := assignmentOut(rq, a); ok {
			return a, out, nil
		}
	}
	return rbac.Assignment{}, hsmRoleAssignment{}, roleAssignmentNotFound(id)
}

// roleAssignmentNotFound is the 404 of an unknown role assignment.
func roleAssignmentNotFound(id string) error {
	return &httpError{status: http.StatusNotFound, code: "RoleAssignmentNotFound", msg: "The role assignment " + truncate(id, 64) + " was not found."}
}

// roleDefinitionNotFound is the 404 of an unknown role definition.
func roleDefinitionNotFound(id string) error {
	return &httpError{status: http.StatusNotFound, code: "RoleDefinitionNotFound", msg: "The role definition " + truncate(id, 64) + " was not found."}
}

// principalFilterRE matches $filter=principalId eq '{id}'.
var principalFilterRE = regexp.MustCompile(`(?i)^\s*principalId\s+eq\s+'([^']*)'\s*$`)

// roleNameFilterRE matches $filter=roleName eq '{name}'.
var roleNameFilterRE = regexp.MustCompile(`(?i)^\s*roleName\s+eq\s+'((?:[^']|'')*)'\s*$`)

// listRoleAssignments answers RoleAssignments_ListForScope: the vault's
// assignments at, above and below the request's scope; with atScope() only
// at or above it; with principalId eq '…' only that principal's.
func (s *Server) listRoleAssignments(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	var principal string
	atScope := false
	switch f := strings.TrimSpace(rq.query.get("$filter")); {
	case f == "":
	case strings.EqualFold(f, "atScope()"):
		atScope = true
	default:
		m := principalFilterRE.FindStringSubmatch(f)
		if m == nil {
			return nil, badParameter("The $filter %s is not supported; use atScope() or principalId eq '{id}'.", truncate(f, 64))
		}
		principal = m[1]
	}
	all, err := roles.Assignments(ctx, principal, "")
	if err != nil {
		return nil, err
	}
	here := hsmScopeOf(rq)
	out := hsmRoleAssignmentList{Value: []hsmRoleAssignment{}}
	for _, a := range all {
		if principal != "" && !strings.EqualFold(a.PrincipalID, principal) {
			continue
		}
		// A key scope sees its vault's and its own assignments; the vault
		// sees all of its own.
		if !rbac.ScopeCovers(a.Scope, here) && (atScope || !rbac.ScopeCovers(here, a.Scope)) {
			continue
		}
		if w, ok := assignmentOut(rq, a); ok {
			out.Value = append(out.Value, w)
		}
	}
	return out, nil
}

// getRoleAssignment answers RoleAssignments_Get: the assignment at the
// request's scope or below it (404 else).
func (s *Server) getRoleAssignment(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	_, out, err := s.vaultAssignment(ctx, rq, roles, rq.name, false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// putRoleAssignment answers RoleAssignments_Create: 201 with the
// assignment of a role visible in this HSM at the request's scope.
func (s *Server) putRoleAssignment(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	if err := checkGUID("role assignment", rq.name); err != nil {
		return nil, err
	}
	var in hsmRoleAssignmentCreate
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	if in.Properties == nil || in.Properties.PrincipalID == "" || in.Properties.RoleDefinitionID == "" {
		return nil, badParameter("properties.principalId and properties.roleDefinitionId are required.")
	}
	roleID := in.Properties.RoleDefinitionID
	if i := strings.LastIndexByte(roleID, '/'); i >= 0 {
		roleID = roleID[i+1:]
	}
	role, err := roles.Role(ctx, roleID)
	if err != nil || !roleVisible(rq, role) {
		return nil, badParameter("The role definition %s does not exist in this managed HSM.", truncate(in.Properties.RoleDefinitionID, 128))
	}
	a, err := roles.Assign(ctx, rq.now, rbac.Assignment{
		ID:          rq.name,
		PrincipalID: in.Properties.PrincipalID,
		RoleID:      role.ID,
		Scope:       hsmScopeOf(rq),
	})
	if err != nil {
		return nil, err
	}
	out, ok := assignmentOut(rq, a)
	if !ok {
		return nil, errInternalScope
	}
	return created{out}, nil
}

// errInternalScope reports a store answer outside the vault asked about;
// it is answered as an internal failure.
var errInternalScope = errors.New("api: role store returned an assignment outside the vault")

// isNotFound reports whether err is the role store's not-found refusal.
func isNotFound(err error) bool { return errors.Is(err, rbac.ErrNotFound) }

// deleteRoleAssignment answers RoleAssignments_Delete: 200 with the
// deleted assignment, which must be at the request's scope (404 else).
func (s *Server) deleteRoleAssignment(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	a, out, err := s.vaultAssignment(ctx, rq, roles, rq.name, true)
	if err != nil {
		return nil, err
	}
	if err := roles.Unassign(ctx, a.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// roleVisible reports whether r is shown in rq's HSM: a Managed HSM
// built-in role, or a custom role assignable everywhere or only within the
// vault.
func roleVisible(rq *request, r rbac.Role) bool {
	if r.Type != rbac.CustomRole {
		return r.ManagedHSM
	}
	if len(r.AssignableScopes) == 0 {
		return false
	}
	for _, sc := range r.AssignableScopes {
		if _, ok := hsmScopeOut(rq, sc); !ok && sc != "/" {
			return false
		}
	}
	return true
}

// roleOwned reports whether r is a custom role of rq's HSM: assignable
// only within the vault, so this API may change or delete it.
func roleOwned(rq *request, r rbac.Role) bool {
	if r.Type != rbac.CustomRole || len(r.AssignableScopes) == 0 {
		return false
	}
	for _, sc := range r.AssignableScopes {
		if _, ok := hsmScopeOut(rq, sc); !ok {
			return false
		}
	}
	return true
}

// roleOut renders r in the wire format, its assignable scopes as HSM
// scopes: the server and the vault as "/" (role definitions live at the
// HSM's root), a key as "/keys/{key}".
func roleOut(rq *request, r rbac.Role) hsmRoleDefinition {
	scopes := []string{}
	for _, sc := range r.AssignableScopes {
		out, ok := hsmScopeOut(rq, sc)
		switch {
		case sc == "/" || ok && !strings.HasPrefix(out, "/keys/"):
			out = "/"
		case !ok:
			continue
		}
		if !slices.Contains(scopes, out) {
			scopes = append(scopes, out)
		}
	}
	nonNil := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return hsmRoleDefinition{
		ID:   roleDefinitionIDPrefix + r.ID,
		Name: r.ID,
		Type: roleDefinitionsType,
		Properties: hsmRoleDefinitionProperties{
			RoleName:    r.Name,
			Description: r.Description,
			Type:        r.Type,
			Permissions: []hsmPermission{{
				Actions:        nonNil(r.Actions),
				NotActions:     nonNil(r.NotActions),
				DataActions:    nonNil(r.DataActions),
				NotDataActions: nonNil(r.NotDataActions),
			}},
			AssignableScopes: scopes,
		},
	}
}

// listRoleDefinitions answers RoleDefinitions_List: the roles visible in
// the HSM, with roleName eq '…' only that one.
func (s *Server) listRoleDefinitions(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	var name string
	filtered := false
	switch f := strings.TrimSpace(rq.query.get("$filter")); {
	case f == "", strings.EqualFold(f, "atScopeAndBelow()"):
	default:
		m := roleNameFilterRE.FindStringSubmatch(f)
		if m == nil {
			return nil, badParameter("The $filter %s is not supported; use roleName eq '{name}'.", truncate(f, 64))
		}
		name, filtered = strings.ReplaceAll(m[1], "''", "'"), true
	}
	all, err := roles.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := hsmRoleDefinitionList{Value: []hsmRoleDefinition{}}
	for _, r := range all {
		if !roleVisible(rq, r) || filtered && !strings.EqualFold(r.Name, name) {
			continue
		}
		out.Value = append(out.Value, roleOut(rq, r))
	}
	return out, nil
}

// visibleRole returns the role named id when rq's HSM shows it, else a 404
// refusal.
func visibleRole(ctx context.Context, rq *request, roles Roles, id string) (rbac.Role, error) {
	r, err := roles.Role(ctx, id)
	if err != nil {
		return rbac.Role{}, err
	}
	if !roleVisible(rq, r) {
		return rbac.Role{}, roleDefinitionNotFound(id)
	}
	return r, nil
}

// getRoleDefinition answers RoleDefinitions_Get.
func (s *Server) getRoleDefinition(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	r, err := visibleRole(ctx, rq, roles, rq.name)
	if err != nil {
		return nil, err
	}
	return roleOut(rq, r), nil
}

// putRoleDefinition answers RoleDefinitions_CreateOrUpdate: 201 with the
// custom role, assignable within the HSM only (at its scopes given, by
// default the whole HSM), holding Managed HSM data actions only.
func (s *Server) putRoleDefinition(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	if err := checkGUID("role definition", rq.name); err != nil {
		return nil, err
	}
	var in hsmRoleDefinitionCreate
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	p := in.Properties
	if p == nil || p.RoleName == "" {
		return nil, badParameter("properties.roleName is required.")
	}
	if p.Type != "" && p.Type != rbac.CustomRole {
		return nil, badParameter("Only custom roles (type CustomRole) can be created or updated.")
	}
	r := rbac.Role{ID: rq.name, Name: p.RoleName, Description: p.Description, Type: rbac.CustomRole, ManagedHSM: true}
	for _, perm := range p.Permissions {
		for _, a := range append(append([]string(nil), perm.DataActions...), perm.NotDataActions...) {
			if len(a) < len(hsm) || !strings.EqualFold(a[:len(hsm)], hsm) {
				return nil, badParameter("The data action %s is not a Managed HSM data action (%s…).", truncate(a, 128), hsm)
			}
		}
		r.Actions = append(r.Actions, perm.Actions...)
		r.NotActions = append(r.NotActions, perm.NotActions...)
		r.DataActions = append(r.DataActions, perm.DataActions...)
		r.NotDataActions = append(r.NotDataActions, perm.NotDataActions...)
	}
	for _, sc := range p.AssignableScopes {
		ks, err := hsmScopeIn(rq, sc)
		if err != nil {
			return nil, err
		}
		r.AssignableScopes = append(r.AssignableScopes, ks)
	}
	if len(r.AssignableScopes) == 0 {
		r.AssignableScopes = []string{vaultScope(rq)}
	}
	switch old, err := roles.Role(ctx, rq.name); {
	case err == nil && !roleOwned(rq, old):
		return nil, &httpError{status: http.StatusConflict, code: "Conflict",
			msg: "The role definition " + rq.name + " exists and is not a custom role of this managed HSM."}
	case err != nil && !isNotFound(err):
		return nil, err
	}
	out, err := roles.PutCustomRole(ctx, rq.now, r)
	if err != nil {
		return nil, err
	}
	return created{roleOut(rq, out)}, nil
}

// deleteRoleDefinition answers RoleDefinitions_Delete: 200 with the
// deleted custom role of this HSM.
func (s *Server) deleteRoleDefinition(ctx context.Context, rq *request) (any, error) {
	roles, err := s.hsmRoles()
	if err != nil {
		return nil, err
	}
	r, err := visibleRole(ctx, rq, roles, rq.name)
	if err != nil {
		return nil, err
	}
	if !roleOwned(rq, r) {
		return nil, badParameter("The role definition %s is not a custom role of this managed HSM; it cannot be deleted here.", rq.name)
	}
	if err := roles.DeleteCustomRole(ctx, r.ID); err != nil {
		return nil, err
	}
	return roleOut(rq, r), nil
}
