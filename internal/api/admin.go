package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// The administration API (docs/admin-api.md): vaults, principals, role
// definitions and role assignments as JSON under /admin/v1/ on the bare
// origin. Every route but the OpenAPI document needs a bearer token for the
// bare resource and the route's Keywarden data action at scope "/".

// adminPrefix is the path of every administration route.
const adminPrefix = "/admin/v1"

// adminBody bounds administration request bodies (a PEM certificate is the
// largest).
const adminBody = 64 << 10

// VaultAdmin is the vault administration the admin API calls.
// *vault.Service satisfies it. Methods return *vault.Error for refusals.
type VaultAdmin interface {
	// Vaults lists all vaults.
	Vaults(ctx context.Context) ([]vault.Vault, error)
	// Vault returns one vault. Errors: vault.ErrNotFound.
	Vault(ctx context.Context, name string) (vault.Vault, error)
	// CreateVault creates a vault. Errors: vault.ErrInvalid,
	// vault.ErrConflict.
	CreateVault(ctx context.Context, now time.Time, v vault.Vault) (vault.Vault, error)
	// UpdateVault changes a vault's settings. Errors: vault.ErrNotFound,
	// vault.ErrInvalid.
	UpdateVault(ctx context.Context, now time.Time, name string, p vault.VaultUpdate) (vault.Vault, error)
	// DeleteVault deletes an empty vault. Errors: vault.ErrNotFound,
	// vault.ErrConflict (it holds keys).
	DeleteVault(ctx context.Context, name string) error
}

// *vault.Service is the production implementation of VaultAdmin.
var _ VaultAdmin = (*vault.Service)(nil)

// Credential types.
const (
	CredentialSecret      = "secret"
	CredentialCertificate = "certificate"
)

// Principal is a service principal of the built-in issuer as the admin API
// shows it: never a secret or its hash.
type Principal struct {
	// ClientID is the client (application) id.
	ClientID string
	// ObjectID is the object id role assignments name.
	ObjectID string
	// Name is the display name.
	Name string
	// Disabled principals cannot obtain or use tokens.
	Disabled bool
	// Created is the creation time.
	Created time.Time
	// Credentials are the client secrets and certificates, without their
	// secret parts.
	Credentials []Credential
}

// Credential is a principal's client secret or certificate, without its
// secret part.
type Credential struct {
	// ID identifies the credential within its principal.
	ID string
	// Type is CredentialSecret or CredentialCertificate.
	Type string
	// Created is the creation time.
	Created time.Time
	// Expires is the expiry, or nil for none.
	Expires *time.Time
	// Thumbprint is a certificate's SHA-1 thumbprint in hex; empty for
	// secrets.
	Thumbprint string
}

// Principals manages the service principals of the built-in issuer. cmd
// adapts *auth.Issuer to it. Refusals wrap auth.ErrPrincipalNotFound,
// auth.ErrCredentialNotFound or auth.ErrInvalidArgument.
type Principals interface {
	// Principals lists all principals.
	Principals(ctx context.Context) ([]Principal, error)
	// Principal returns one principal.
	Principal(ctx context.Context, clientID string) (Principal, error)
	// CreatePrincipal creates an enabled principal with one client
	// secret, expiring at secretExpires (nil: never), and returns the
	// secret, which exists nowhere else.
	CreatePrincipal(ctx context.Context, now time.Time, name string, secretExpires *time.Time) (Principal, secret.Bytes, error)
	// SetDisabled disables or enables a principal; a disabled principal's
	// tokens stop working at once.
	SetDisabled(ctx context.Context, now time.Time, clientID string, disabled bool) (Principal, error)
	// DeletePrincipal deletes a principal; its tokens stop working at once.
	DeletePrincipal(ctx context.Context, clientID string) error
	// AddSecret adds a client secret expiring at expires (nil: never) and
	// returns it, which exists nowhere else.
	AddSecret(ctx context.Context, now time.Time, clientID string, expires *time.Time) (Credential, secret.Bytes, error)
	// AddCertificate registers an X.509 certificate (DER) for client
	// assertions.
	AddCertificate(ctx context.Context, now time.Time, clientID string, certDER []byte) (Credential, error)
	// RemoveCredential removes a client secret or certificate.
	RemoveCredential(ctx context.Context, clientID, credentialID string) error
}

// Roles manages role definitions and assignments. *rbac.Service satisfies
// it. Refusals wrap rbac.ErrNotFound, rbac.ErrInvalid or rbac.ErrConflict.
type Roles interface {
	// Roles lists the built-in and custom role definitions.
	Roles(ctx context.Context) ([]rbac.Role, error)
	// Role returns one role definition.
	Role(ctx context.Context, id string) (rbac.Role, error)
	// PutCustomRole creates or replaces a custom role definition.
	PutCustomRole(ctx context.Context, now time.Time, r rbac.Role) (rbac.Role, error)
	// DeleteCustomRole deletes an unassigned custom role definition.
	DeleteCustomRole(ctx context.Context, id string) error
	// Assign creates a role assignment.
	Assign(ctx context.Context, now time.Time, a rbac.Assignment) (rbac.Assignment, error)
	// Unassign deletes a role assignment.
	Unassign(ctx context.Context, id string) error
	// Assignments lists role assignments, filtered by principal and scope
	// when those are non-empty.
	Assignments(ctx context.Context, principalID, scope string) ([]rbac.Assignment, error)
}

// admin holds the administration API's collaborators and routes.
type admin struct {
	vaults     VaultAdmin
	principals Principals
	roles      Roles
	snapshots  Snapshots
	rootKeys   RootKeys
	authz      Authorizer
	routes     []*adminRoute
}

// adminDep names the collaborator a route needs.
type adminDep int

const (
	depNone adminDep = iota
	depVaults
	depPrincipals
	depRoles
	depSnapshots
	depRootKeys
)

// adminRoute is one administration route: method, path pattern (below the
// origin, {param} segments match one non-empty percent-decoded segment),
// the data action required at "/" ("" for the unauthenticated OpenAPI
// document), the collaborator it needs, its handler and its timeout (zero:
// defaultTimeout).
type adminRoute struct {
	method  string
	pattern string
	segs    []string
	action  string
	dep     adminDep
	handle  func(ctx context.Context, rq *request, p adminParams) (any, error)
	timeout time.Duration
}

// adminParams are the decoded path parameters of a matched route.
type adminParams map[string]string

// adminCreated marks a handler result answered 201 Created.
type adminCreated struct{ v any }

// adminAccepted marks a handler result answered 202 Accepted (work goes
// on in the background).
type adminAccepted struct{ v any }

// secretHolder is a handler result that shows a secret once: it is sent
// with Cache-Control: no-store and cleared after it is written.
type secretHolder interface{ clearSecrets() }

// newAdmin returns the administration API of s over d's collaborators.
func (s *Server) newAdmin(d Deps) *admin {
	a := &admin{vaults: d.VaultAdmin, principals: d.Principals, roles: d.Roles, snapshots: d.Snapshots, rootKeys: d.RootKeys, authz: d.Authorizer}
	a.routes = s.adminRouteTable()
	for _, r := range a.routes {
		r.segs = strings.Split(strings.TrimPrefix(r.pattern, "/"), "/")
	}
	return a
}

// adminRouteTable lists the administration routes. The OpenAPI document
// must describe exactly these (TestOpenAPIListsEveryRoute).
func (s *Server) adminRouteTable() []*adminRoute {
	const p = adminPrefix
	return []*adminRoute{
		{method: http.MethodGet, pattern: p + "/openapi.json", handle: s.adminOpenAPI},

		{method: http.MethodGet, pattern: p + "/vaults", action: rbac.ActionVaultsRead, dep: depVaults, handle: s.adminListVaults},
		{method: http.MethodPost, pattern: p + "/vaults", action: rbac.ActionVaultsWrite, dep: depVaults, handle: s.adminCreateVault},
		{method: http.MethodGet, pattern: p + "/vaults/{name}", action: rbac.ActionVaultsRead, dep: depVaults, handle: s.adminGetVault},
		{method: http.MethodPatch, pattern: p + "/vaults/{name}", action: rbac.ActionVaultsWrite, dep: depVaults, handle: s.adminUpdateVault},
		{method: http.MethodDelete, pattern: p + "/vaults/{name}", action: rbac.ActionVaultsWrite, dep: depVaults, handle: s.adminDeleteVault},

		{method: http.MethodGet, pattern: p + "/principals", action: rbac.ActionPrincipalsRead, dep: depPrincipals, handle: s.adminListPrincipals},
		{method: http.MethodPost, pattern: p + "/principals", action: rbac.ActionPrincipalsWrite, dep: depPrincipals, handle: s.adminCreatePrincipal},
		{method: http.MethodGet, pattern: p + "/principals/{clientId}", action: rbac.ActionPrincipalsRead, dep: depPrincipals, handle: s.adminGetPrincipal},
		{method: http.MethodPatch, pattern: p + "/principals/{clientId}", action: rbac.ActionPrincipalsWrite, dep: depPrincipals, handle: s.adminUpdatePrincipal},
		{method: http.MethodDelete, pattern: p + "/principals/{clientId}", action: rbac.ActionPrincipalsWrite, dep: depPrincipals, handle: s.adminDeletePrincipal},
		{method: http.MethodPost, pattern: p + "/principals/{clientId}/credentials", action: rbac.ActionPrincipalsWrite, dep: depPrincipals, handle: s.adminAddCredential},
		{method: http.MethodDelete, pattern: p + "/principals/{clientId}/credentials/{credentialId}", action: rbac.ActionPrincipalsWrite, dep: depPrincipals, handle: s.adminRemoveCredential},

		{method: http.MethodGet, pattern: p + "/roleDefinitions", action: rbac.ActionRoleDefinitionsRead, dep: depRoles, handle: s.adminListRoles},
		{method: http.MethodGet, pattern: p + "/roleDefinitions/{id}", action: rbac.ActionRoleDefinitionsRead, dep: depRoles, handle: s.adminGetRole},
		{method: http.MethodPut, pattern: p + "/roleDefinitions/{id}", action: rbac.ActionRoleDefinitionsWrite, dep: depRoles, handle: s.adminPutRole},
		{method: http.MethodDelete, pattern: p + "/roleDefinitions/{id}", action: rbac.ActionRoleDefinitionsWrite, dep: depRoles, handle: s.adminDeleteRole},

		{method: http.MethodGet, pattern: p + "/roleAssignments", action: rbac.ActionRoleAssignmentsRead, dep: depRoles, handle: s.adminListAssignments},
		{method: http.MethodPut, pattern: p + "/roleAssignments/{id}", action: rbac.ActionRoleAssignmentsWrite, dep: depRoles, handle: s.adminAssign},
		{method: http.MethodDelete, pattern: p + "/roleAssignments/{id}", action: rbac.ActionRoleAssignmentsWrite, dep: depRoles, handle: s.adminUnassign},

		{method: http.MethodGet, pattern: p + "/snapshot", action: rbac.ActionSnapshot, dep: depSnapshots, handle: s.adminSnapshot, timeout: snapshotTimeout},

		{method: http.MethodGet, pattern: p + "/rootKey", action: rbac.ActionRootKeyRead, dep: depRootKeys, handle: s.adminRootKey},
		{method: http.MethodPost, pattern: p + "/rootKey/rotate", action: rbac.ActionRootKeyRotate, dep: depRootKeys, handle: s.adminRotateRootKey},
	}
}

// isAdminPath reports whether escaped path segments are below /admin/.
func isAdminPath(segs []string) bool {
	return len(segs) >= 2 && strings.EqualFold(segs[0], "admin")
}

// serveAdmin serves an administration request (segs = escaped path
// segments): route, collaborator check, authentication, principal
// throttle, authorization at "/", body limit, one call, JSON answer.
func (s *Server) serveAdmin(rq *request, segs []string) {
	a := s.admin
	rt, params, status := a.match(rq.r.Method, segs)
	if rt == nil {
		if status == http.StatusMethodNotAllowed {
			rq.w.Header().Set("Allow", strings.Join(a.methods(segs), ", "))
			s.writeError(rq, &httpError{status: status, code: "MethodNotAllowed", msg: "The HTTP method " + rq.r.Method + " is not allowed on this resource."})
			return
		}
		s.writeError(rq, &httpError{status: http.StatusNotFound, code: "NotFound", msg: "The requested resource does not exist."})
		return
	}
	if err := a.configured(rt); err != nil {
		s.writeError(rq, err)
		return
	}
	if rt.action != "" {
		if !s.authenticate(rq, s.cfg.BareResource) {
			return
		}
		// The principal's request budget is the one its data-plane
		// requests draw on.
		if !s.throttle(rq, s.principalLimits, "principal", rq.caller.Issuer+"|"+rq.caller.Subject) {
			return
		}
		if !s.adminAuthorize(rq, rt.action) {
			return
		}
	}
	if rt.action != "" && !s.auditReady(rq) {
		return
	}
	rq.r.Body = http.MaxBytesReader(rq.w.ResponseWriter, rq.r.Body, adminBody)
	rq.now = s.now()
	timeout := defaultTimeout
	if rt.timeout > 0 {
		timeout = rt.timeout
	}
	ctx, cancel := context.WithTimeout(rq.r.Context(), timeout)
	defer cancel()
	out, err := rt.handle(ctx, rq, params)
	if err != nil {
		s.writeError(rq, err)
		return
	}
	inner := out
	if c, ok := out.(adminCreated); ok {
		inner = c.v
	}
	if c, ok := inner.(secretHolder); ok {
		rq.w.Header().Set("Cache-Control", "no-store")
		defer c.clearSecrets()
	}
	switch v := out.(type) {
	case nil:
		rq.w.WriteHeader(http.StatusNoContent)
	case *heldStream:
		rq.w.Header().Set("Content-Length", strconv.FormatInt(v.size, 10))
		rq.w.stream = v
		rq.w.WriteHeader(http.StatusOK)
	case adminCreated:
		s.writeJSON(rq, http.StatusCreated, v.v)
	case adminAccepted:
		s.writeJSON(rq, http.StatusAccepted, v.v)
	default:
		s.writeJSON(rq, http.StatusOK, out)
	}
}

// configured refuses a route whose collaborator the server was built
// without: 501, so that a server without the admin API says so clearly.
func (a *admin) configured(rt *adminRoute) error {
	var missing bool
	switch rt.dep {
	case depVaults:
		missing = a.vaults == nil
	case depPrincipals:
		missing = a.principals == nil
	case depRoles:
		missing = a.roles == nil
	case depSnapshots:
		missing = a.snapshots == nil
	case depRootKeys:
		missing = a.rootKeys == nil
	}
	if missing || rt.action != "" && a.authz == nil {
		return notSupported("This part of the administration API is not configured on this server.")
	}
	return nil
}

// adminAuthorize checks that the authenticated caller holds action at scope
// "/", answering 403 ForbiddenByRbac when not. It reports whether the
// request may go on.
func (s *Server) adminAuthorize(rq *request, action string) bool {
	d, err := s.admin.authz.Authorize(rq.r.Context(), rq.caller.subject(), action, "/")
	if err != nil {
		s.writeError(rq, err)
		return false
	}
	if d.Allowed {
		rq.assignment = d.AssignmentID
		return true
	}
	rq.denial = "rbac: " + action + " on /: " + d.Reason
	s.log.LogAttrs(rq.r.Context(), slog.LevelInfo, "authorization denied",
		slog.String("request_id", rq.id), slog.String("caller", rq.caller.Subject),
		slog.String("action", action), slog.String("scope", "/"), slog.String("reason", d.Reason))
	s.writeError(rq, &httpError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByRbac",
		msg: "Caller is not authorized to perform action on resource.\r\n" +
			"Caller: appid=" + rq.caller.ClientID + ";oid=" + rq.caller.Subject + "\r\n" +
			"Action: '" + action + "'\r\n" +
			"Resource: '/'"})
	return false
}

// match finds the route for method and escaped path segments; a trailing
// "/" is ignored. status is 404 or 405 when rt is nil.
func (a *admin) match(method string, segs []string) (rt *adminRoute, p adminParams, status int) {
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	pathFound := false
	for _, r := range a.routes {
		p, ok := r.matchPath(segs)
		if !ok {
			continue
		}
		if r.method == method || method == http.MethodHead && r.method == http.MethodGet && r.action == "" {
			return r, p, http.StatusOK
		}
		pathFound = true
	}
	if pathFound {
		return nil, nil, http.StatusMethodNotAllowed
	}
	return nil, nil, http.StatusNotFound
}

// methods lists the methods served at the escaped path segments.
func (a *admin) methods(segs []string) []string {
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	var out []string
	for _, r := range a.routes {
		if _, ok := r.matchPath(segs); ok && !slices.Contains(out, r.method) {
			out = append(out, r.method)
		}
	}
	return out
}

// matchPath matches escaped path segments against the route's pattern.
func (r *adminRoute) matchPath(segs []string) (adminParams, bool) {
	if len(segs) != len(r.segs) {
		return nil, false
	}
	var p adminParams
	for i, want := range r.segs {
		got, err := url.PathUnescape(segs[i])
		if err != nil {
			return nil, false
		}
		if name, ok := strings.CutPrefix(want, "{"); ok {
			if got == "" {
				return nil, false
			}
			if p == nil {
				p = adminParams{}
			}
			p[strings.TrimSuffix(name, "}")] = got
			continue
		}
		if !strings.EqualFold(got, want) {
			return nil, false
		}
	}
	return p, true
}

// adminList is the {"value":[…]} answer of every listing.
type adminList[T any] struct {
	Value []T `json:"value"`
}

// decodeStrict reads the JSON object body into v, which must point to a
// struct. Properties v does not declare (compared exactly, at every
// nesting level) are refused with 400 BadParameter, as is an empty body.
// Messages never quote the body.
func (rq *request) decodeStrict(v any) error {
	body, err := io.ReadAll(rq.r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badParameter("The request body could not be read.")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badParameter("The request body is required.")
	}
	if body[0] != '{' {
		return badParameter("The request body must be a JSON object.")
	}
	if err := decodeJSON(body, v); err != nil {
		return err
	}
	return checkFields(body, reflect.TypeOf(v), "")
}

// checkFields refuses JSON object properties that t does not declare,
// recursing into nested structs and slices of them. raw is known to
// decode into t.
func checkFields(raw json.RawMessage, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil // null
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return badParameter("Property %s is not recognized.", truncate(path+k, 64))
			}
			if err := checkFields(obj[k], ft, path+k+"."); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // json.RawMessage, []byte
		}
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for _, it := range items {
			if err := checkFields(it, t.Elem(), path); err != nil {
				return err
			}
		}
	}
	return nil
}

// adminTime returns t as integer Unix seconds.
func adminTime(t time.Time) int64 { return t.Unix() }

// adminTimePtr returns t as integer Unix seconds, nil for nil.
func adminTimePtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

// shownSecret is a secret the admin API shows once, in the answer that
// created it: it encodes as a JSON string and prints redacted everywhere
// else. The secret must consist of characters JSON needs no escape for
// (base64url).
type shownSecret struct{ b secret.Bytes }

// MarshalJSON encodes the secret as a JSON string.
func (s shownSecret) MarshalJSON() ([]byte, error) {
	raw := s.b.Expose()
	out := make([]byte, 0, len(raw)+2)
	out = append(out, '"')
	for _, c := range raw {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return nil, errors.New("api: secret needs JSON escaping")
		}
	}
	out = append(out, raw...)
	return append(out, '"'), nil
}

// String redacts the secret.
func (shownSecret) String() string { return "[REDACTED]" }

// GoString redacts the secret.
func (shownSecret) GoString() string { return "[REDACTED]" }

// LogValue redacts the secret.
func (shownSecret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }
