package api

import (
	"context"
	"strings"

	"github.com/keywarden/keywarden/internal/rbac"
)

// Role definitions and role assignments: /admin/v1/roleDefinitions[/{id}]
// and /admin/v1/roleAssignments[/{id}].

// adminRoleDefinition is the RoleDefinition object of the admin API, also
// the body of PUT /admin/v1/roleDefinitions/{id} (id and type optional
// there; no assignableScopes means ["/"], rbac's default).
type adminRoleDefinition struct {
	ID               string            `json:"id"`
	RoleName         string            `json:"roleName"`
	Description      string            `json:"description"`
	Type             string            `json:"type"`
	Permissions      []adminPermission `json:"permissions"`
	AssignableScopes []string          `json:"assignableScopes"`
}

// adminPermission is one permission block of a role definition.
type adminPermission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// adminRoleAssignment is the RoleAssignment object of the admin API.
// PrincipalIssuer is absent for principals and groups of the built-in
// issuer, else the external issuer's URL.
type adminRoleAssignment struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	PrincipalIssuer  string `json:"principalIssuer,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	Scope            string `json:"scope"`
	Created          int64  `json:"created"`
}

// adminAssignmentPut is the body of PUT /admin/v1/roleAssignments/{id}.
// PrincipalIssuer absent or empty names the built-in issuer.
type adminAssignmentPut struct {
	ID               string `json:"id"`
	PrincipalID      string `json:"principalId"`
	PrincipalIssuer  string `json:"principalIssuer"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	Scope            string `json:"scope"`
}

// orEmpty returns s, or an empty slice for nil, so lists encode as [].
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toAdminRole(r rbac.Role) adminRoleDefinition {
	return adminRoleDefinition{
		ID:          r.ID,
		RoleName:    r.Name,
		Description: r.Description,
		Type:        r.Type,
		Permissions: []adminPermission{{
			Actions:        orEmpty(r.Actions),
			NotActions:     orEmpty(r.NotActions),
			DataActions:    orEmpty(r.DataActions),
			NotDataActions: orEmpty(r.NotDataActions),
		}},
		AssignableScopes: orEmpty(r.AssignableScopes),
	}
}

func toAdminAssignment(a rbac.Assignment) adminRoleAssignment {
	return adminRoleAssignment{ID: a.ID, PrincipalID: a.PrincipalID, PrincipalIssuer: a.Issuer, RoleDefinitionID: a.RoleID, Scope: a.Scope, Created: adminTime(a.Created)}
}

func (s *Server) adminListRoles(ctx context.Context, rq *request, _ adminParams) (any, error) {
	rs, err := s.admin.roles.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := adminList[adminRoleDefinition]{Value: make([]adminRoleDefinition, 0, len(rs))}
	for _, r := range rs {
		out.Value = append(out.Value, toAdminRole(r))
	}
	return out, nil
}

func (s *Server) adminGetRole(ctx context.Context, rq *request, p adminParams) (any, error) {
	r, err := s.admin.roles.Role(ctx, p["id"])
	if err != nil {
		return nil, err
	}
	return toAdminRole(r), nil
}

func (s *Server) adminPutRole(ctx context.Context, rq *request, p adminParams) (any, error) {
	var in adminRoleDefinition
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	id := p["id"]
	if in.ID != "" && !strings.EqualFold(in.ID, id) {
		return nil, badParameter("Property id does not match the role definition id of the path.")
	}
	if in.Type != "" && in.Type != rbac.CustomRole {
		return nil, badParameter("Property type must be %s: built-in roles cannot be created or changed.", rbac.CustomRole)
	}
	if strings.TrimSpace(in.RoleName) == "" {
		return nil, badParameter("Property roleName is required.")
	}
	r := rbac.Role{ID: id, Name: in.RoleName, Description: in.Description, Type: rbac.CustomRole, AssignableScopes: in.AssignableScopes}
	switch len(in.Permissions) {
	case 0:
	case 1:
		pm := in.Permissions[0]
		r.Actions, r.NotActions, r.DataActions, r.NotDataActions = pm.Actions, pm.NotActions, pm.DataActions, pm.NotDataActions
	default:
		return nil, badParameter("Property permissions takes one permission block.")
	}
	out, err := s.admin.roles.PutCustomRole(ctx, rq.now, r)
	if err != nil {
		return nil, err
	}
	return toAdminRole(out), nil
}

func (s *Server) adminDeleteRole(ctx context.Context, rq *request, p adminParams) (any, error) {
	return nil, s.admin.roles.DeleteCustomRole(ctx, p["id"])
}

func (s *Server) adminListAssignments(ctx context.Context, rq *request, _ adminParams) (any, error) {
	q := rq.r.URL.Query()
	as, err := s.admin.roles.Assignments(ctx, q.Get("principalId"), q.Get("scope"))
	if err != nil {
		return nil, err
	}
	out := adminList[adminRoleAssignment]{Value: make([]adminRoleAssignment, 0, len(as))}
	for _, a := range as {
		out.Value = append(out.Value, toAdminAssignment(a))
	}
	return out, nil
}

func (s *Server) adminAssign(ctx context.Context, rq *request, p adminParams) (any, error) {
	var in adminAssignmentPut
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	id := p["id"]
	if in.ID != "" && !strings.EqualFold(in.ID, id) {
		return nil, badParameter("Property id does not match the role assignment id of the path.")
	}
	for _, f := range []struct{ name, v string }{{"principalId", in.PrincipalID}, {"roleDefinitionId", in.RoleDefinitionID}, {"scope", in.Scope}} {
		if f.v == "" {
			return nil, badParameter("Property %s is required.", f.name)
		}
	}
	a, err := s.admin.roles.Assign(ctx, rq.now, rbac.Assignment{ID: id, PrincipalID: in.PrincipalID, Issuer: in.PrincipalIssuer, RoleID: in.RoleDefinitionID, Scope: in.Scope})
	if err != nil {
		return nil, err
	}
	return adminCreated{toAdminAssignment(a)}, nil
}

func (s *Server) adminUnassign(ctx context.Context, rq *request, p adminParams) (any, error) {
	return nil, s.admin.roles.Unassign(ctx, p["id"])
}
