package rbac

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/keywarden/keywarden/internal/store"
)

// Limits on the strings of roles and assignments.
const (
	maxNameLen       = 256
	maxDescription   = 2048
	maxPermissionLen = 512
	maxPermissions   = 256
	maxPrincipalID   = 1024
	maxIssuerLen     = 1024
)

// Service manages custom roles and role assignments and answers
// authorization decisions. It is safe for concurrent use.
//
// Authorize reads an in-memory snapshot of the custom roles and assignments,
// loaded from the store on first use and rebuilt after every write made
// through this Service, so a write is visible to Authorize when the write
// method returns. Writes made to the store by anything else (another
// process, another Service) are seen only after Invalidate.
type Service struct {
	st store.Store

	// builtin holds the built-in roles, compiled once by New; immutable.
	builtin []*compiledRole

	// mu serialises loading and publishing snapshots.
	mu sync.Mutex
	// snap is the current snapshot; nil until loaded or after Invalidate.
	snap atomic.Pointer[snapshot]
}

// compiledRole is a role with its permission patterns ready for matching.
type compiledRole struct {
	role Role
	// allow and deny are the role's DataActions and NotDataActions.
	allow, deny []string
}

// grant is one assignment in the form Authorize scans.
type grant struct {
	id       string
	scope    string
	keyScope bool
	role     *compiledRole
}

// snapshot is an immutable view of the roles and assignments.
type snapshot struct {
	// custom lists the custom roles ordered by id.
	custom []*compiledRole
	// roles indexes built-in and custom roles by lowercase id.
	roles map[string]*compiledRole
	// assignments lists every assignment ordered by id.
	assignments []Assignment
	// byPrincipal indexes grants by issuer and lowercase principal id,
	// ordered by assignment id.
	byPrincipal map[principalKey][]grant
}

// principalKey names a principal or group: its issuer (exactly as stored)
// and its id in lowercase.
type principalKey struct {
	issuer, id string
}

// New returns a Service that keeps custom roles and assignments in st.
func New(st store.Store) *Service {
	s := &Service{st: st}
	for _, r := range BuiltInRoles() {
		s.builtin = append(s.builtin, compile(r))
	}
	return s
}

// compile prepares r for matching.
func compile(r Role) *compiledRole {
	return &compiledRole{role: r, allow: r.DataActions, deny: r.NotDataActions}
}

// Invalidate drops the snapshot; the next call reloads it from the store.
// Call it when another writer changed roles or assignments in the store.
func (s *Service) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap.Store(nil)
}

// current returns the snapshot, loading it if needed.
func (s *Service) current(ctx context.Context) (*snapshot, error) {
	if sn := s.snap.Load(); sn != nil {
		return sn, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn := s.snap.Load(); sn != nil {
		return sn, nil
	}
	sn, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.snap.Store(sn)
	return sn, nil
}

// rebuild reloads the snapshot after a committed write. On failure it drops
// the snapshot so that the next read retries; the write stands either way.
func (s *Service) rebuild(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.load(context.WithoutCancel(ctx))
	if err != nil {
		sn = nil
	}
	s.snap.Store(sn)
}

// load reads a snapshot from the store. s.mu must be held, so that a
// snapshot read before a write cannot be published after that write's
// rebuild.
func (s *Service) load(ctx context.Context) (*snapshot, error) {
	var (
		defs []store.RoleDefinition
		as   []store.RoleAssignment
	)
	err := s.st.View(ctx, func(tx store.Tx) (err error) {
		if defs, err = tx.RoleDefinitions(); err != nil {
			return err
		}
		as, err = tx.RoleAssignments()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rbac: load roles and assignments: %w", err)
	}
	sn := &snapshot{
		roles:       make(map[string]*compiledRole, len(s.builtin)+len(defs)),
		byPrincipal: make(map[principalKey][]grant),
	}
	for _, r := range s.builtin {
		sn.roles[strings.ToLower(r.role.ID)] = r
	}
	for _, d := range defs {
		id := strings.ToLower(d.ID)
		if _, ok := sn.roles[id]; ok {
			continue // a stored definition never shadows a built-in role
		}
		c := compile(roleFromStore(d))
		sn.custom = append(sn.custom, c)
		sn.roles[id] = c
	}
	for _, a := range as {
		sn.assignments = append(sn.assignments, assignmentFromStore(a))
		role, ok := sn.roles[strings.ToLower(a.RoleDefinitionID)]
		if !ok {
			continue // dangling: grants nothing
		}
		p := principalKey{a.Issuer, strings.ToLower(a.PrincipalID)}
		sn.byPrincipal[p] = append(sn.byPrincipal[p], grant{
			id:       a.ID,
			scope:    a.Scope,
			keyScope: isKeyScope(a.Scope),
			role:     role,
		})
	}
	return sn, nil
}

// roleFromStore converts a stored custom role.
func roleFromStore(d store.RoleDefinition) Role {
	r := Role{
		ID:               d.ID,
		Name:             d.Name,
		Description:      d.Description,
		Type:             CustomRole,
		Actions:          d.Actions,
		NotActions:       d.NotActions,
		DataActions:      d.DataActions,
		NotDataActions:   d.NotDataActions,
		AssignableScopes: d.AssignableScopes,
		Created:          d.Created,
		Updated:          d.Updated,
	}
	r.ManagedHSM = len(r.DataActions) > 0
	for _, a := range r.DataActions {
		if !strings.HasPrefix(strings.ToLower(a), "microsoft.keyvault/managedhsm/") {
			r.ManagedHSM = false
		}
	}
	return r
}

// assignmentFromStore converts a stored assignment.
func assignmentFromStore(a store.RoleAssignment) Assignment {
	return Assignment{ID: a.ID, PrincipalID: a.PrincipalID, Issuer: a.Issuer, RoleID: a.RoleDefinitionID, Scope: a.Scope, Created: a.Created}
}

// cloneRole returns r with its slices copied, so that callers cannot change
// a snapshot.
func cloneRole(r Role) Role {
	r.Actions = slices.Clone(r.Actions)
	r.NotActions = slices.Clone(r.NotActions)
	r.DataActions = slices.Clone(r.DataActions)
	r.NotDataActions = slices.Clone(r.NotDataActions)
	r.AssignableScopes = slices.Clone(r.AssignableScopes)
	return r
}

// Roles lists the built-in roles, in the order of BuiltInRoles, then the
// custom roles ordered by id.
func (s *Service) Roles(ctx context.Context) ([]Role, error) {
	sn, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Role, 0, len(s.builtin)+len(sn.custom))
	for _, r := range s.builtin {
		out = append(out, cloneRole(r.role))
	}
	for _, r := range sn.custom {
		out = append(out, cloneRole(r.role))
	}
	return out, nil
}

// Role returns the built-in or custom role with the id, ignoring case.
//
// Errors: ErrNotFound.
func (s *Service) Role(ctx context.Context, id string) (Role, error) {
	sn, err := s.current(ctx)
	if err != nil {
		return Role{}, err
	}
	r, ok := sn.roles[strings.ToLower(id)]
	if !ok {
		return Role{}, fmt.Errorf("%w: role definition %q", ErrNotFound, id)
	}
	return cloneRole(r.role), nil
}

// RoleByName returns the built-in or custom role with the name, ignoring
// case.
//
// Errors: ErrNotFound.
func (s *Service) RoleByName(ctx context.Context, name string) (Role, error) {
	sn, err := s.current(ctx)
	if err != nil {
		return Role{}, err
	}
	for _, r := range s.builtin {
		if strings.EqualFold(r.role.Name, name) {
			return cloneRole(r.role), nil
		}
	}
	for _, r := range sn.custom {
		if strings.EqualFold(r.role.Name, name) {
			return cloneRole(r.role), nil
		}
	}
	return Role{}, fmt.Errorf("%w: role %q", ErrNotFound, name)
}

// builtinByID returns the built-in role with the id, ignoring case.
func (s *Service) builtinByID(id string) (*compiledRole, bool) {
	for _, r := range s.builtin {
		if strings.EqualFold(r.role.ID, id) {
			return r, true
		}
	}
	return nil, false
}

// canonicalID returns id as a lowercase canonical UUID, or a new UUIDv4 when
// id is empty.
func canonicalID(what, id string) (string, error) {
	if id == "" {
		return uuid.NewString(), nil
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", fmt.Errorf("%w: %s id %q is not a GUID", ErrInvalid, what, id)
	}
	return u.String(), nil
}

// PutCustomRole creates or replaces a custom role and returns it as stored.
// An empty r.ID creates a role with a new random id; an existing id
// replaces that role, keeping its creation time. r.Type is set to
// CustomRole, r.Created (on creation) and r.Updated to now; r.ManagedHSM is
// derived from the data actions. Empty AssignableScopes means ["/"].
//
// The name is required and must be unique, ignoring case, among all roles;
// DataActions needs at least one entry; every permission string must be
// non-empty printable ASCII without spaces, "*" as the wildcard.
//
// Errors: ErrInvalid (bad role, a built-in id), ErrConflict (name taken).
func (s *Service) PutCustomRole(ctx context.Context, now time.Time, r Role) (Role, error) {
	id, err := canonicalID("role definition", r.ID)
	if err != nil {
		return Role{}, err
	}
	if _, ok := s.builtinByID(id); ok {
		return Role{}, fmt.Errorf("%w: role definition %s is built-in and cannot be changed", ErrInvalid, id)
	}
	if err := validateRole(&r); err != nil {
		return Role{}, err
	}
	for _, b := range s.builtin {
		if strings.EqualFold(b.role.Name, r.Name) {
			return Role{}, fmt.Errorf("%w: role name %q is taken by a built-in role", ErrConflict, r.Name)
		}
	}
	now = now.UTC().Truncate(time.Microsecond)
	d := store.RoleDefinition{
		ID:               id,
		Name:             r.Name,
		Description:      r.Description,
		Actions:          r.Actions,
		NotActions:       r.NotActions,
		DataActions:      r.DataActions,
		NotDataActions:   r.NotDataActions,
		AssignableScopes: r.AssignableScopes,
		Created:          now,
		Updated:          now,
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		defs, err := tx.RoleDefinitions()
		if err != nil {
			return err
		}
		for _, o := range defs {
			switch {
			case o.ID == id:
				d.Created = o.Created
			case strings.EqualFold(o.Name, d.Name):
				return fmt.Errorf("%w: role name %q is taken by role definition %s", ErrConflict, d.Name, o.ID)
			}
		}
		return tx.PutRoleDefinition(d)
	})
	if err != nil {
		return Role{}, storeErr("put role definition", err)
	}
	s.rebuild(ctx)
	return cloneRole(roleFromStore(d)), nil
}

// validateRole checks and normalises the fields of a custom role.
func validateRole(r *Role) error {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return fmt.Errorf("%w: role name is required", ErrInvalid)
	case len(r.Name) > maxNameLen || !printable(r.Name, true):
		return fmt.Errorf("%w: role name must be at most %d printable characters", ErrInvalid, maxNameLen)
	case len(r.Description) > maxDescription:
		return fmt.Errorf("%w: role description is longer than %d bytes", ErrInvalid, maxDescription)
	case len(r.DataActions) == 0:
		return fmt.Errorf("%w: role %q needs at least one data action", ErrInvalid, r.Name)
	}
	for _, list := range []struct {
		field string
		perms []string
	}{
		{"actions", r.Actions}, {"notActions", r.NotActions},
		{"dataActions", r.DataActions}, {"notDataActions", r.NotDataActions},
	} {
		if len(list.perms) > maxPermissions {
			return fmt.Errorf("%w: role %q has more than %d %s", ErrInvalid, r.Name, maxPermissions, list.field)
		}
		for _, p := range list.perms {
			if !validPermission(p) {
				return fmt.Errorf("%w: %s entry %q is not a permission string", ErrInvalid, list.field, p)
			}
		}
	}
	if len(r.AssignableScopes) == 0 {
		r.AssignableScopes = []string{"/"}
	}
	scopes := make([]string, 0, len(r.AssignableScopes))
	for _, sc := range r.AssignableScopes {
		n, err := NormalizeScope(sc)
		if err != nil {
			return fmt.Errorf("%w: assignable scope %q is not a valid scope", ErrInvalid, sc)
		}
		scopes = append(scopes, n)
	}
	r.AssignableScopes = scopes
	return nil
}

// validPermission reports whether p can be a permission string: 1 to
// maxPermissionLen printable ASCII characters without spaces, such as
// "Microsoft.KeyVault/vaults/keys/*" or "Keywarden/*".
func validPermission(p string) bool {
	if p == "" || len(p) > maxPermissionLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 free of control characters;
// spaces are allowed only if space is true.
func printable(s string, space bool) bool {
	for _, c := range s {
		if c == unicode.ReplacementChar || unicode.IsControl(c) || (!space && unicode.IsSpace(c)) {
			return false
		}
	}
	return true
}

// DeleteCustomRole deletes a custom role.
//
// Errors: ErrInvalid for a built-in role, ErrNotFound, ErrConflict while an
// assignment references the role.
func (s *Service) DeleteCustomRole(ctx context.Context, id string) error {
	if _, ok := s.builtinByID(id); ok {
		return fmt.Errorf("%w: role definition %s is built-in and cannot be deleted", ErrInvalid, id)
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("%w: role definition %q", ErrNotFound, id)
	}
	cid := u.String()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		as, err := tx.RoleAssignments()
		if err != nil {
			return err
		}
		for _, a := range as {
			if strings.EqualFold(a.RoleDefinitionID, cid) {
				return fmt.Errorf("%w: role definition %s is assigned (role assignment %s)", ErrConflict, cid, a.ID)
			}
		}
		if err := tx.DeleteRoleDefinition(cid); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: role definition %s", ErrNotFound, cid)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return storeErr("delete role definition", err)
	}
	s.rebuild(ctx)
	return nil
}

// Assign creates a role assignment and returns it as stored. An empty a.ID
// creates one with a new random id. The role must exist and be assignable
// at the scope; the scope is normalised (see NormalizeScope); a.Created is
// set to now. Assignments are immutable: assigning an existing id again
// with the same principal, issuer, role and scope returns the existing
// assignment.
//
// a.Issuer is BuiltinIssuer ("") for a principal or group of the built-in
// issuer, else an external issuer's URL: https, with a host, at most 1024
// bytes, compared exactly. The package does not know which external
// issuers the server trusts: an assignment naming an issuer that is not
// configured is accepted and matches no token until it is.
//
// Errors: ErrInvalid (bad principal id, issuer, scope or id, unknown role,
// scope outside the role's assignable scopes), ErrConflict (the id exists
// with other values, or the principal already holds the role at the
// scope).
func (s *Service) Assign(ctx context.Context, now time.Time, a Assignment) (Assignment, error) {
	id, err := canonicalID("role assignment", a.ID)
	if err != nil {
		return Assignment{}, err
	}
	if a.PrincipalID == "" || len(a.PrincipalID) > maxPrincipalID || !printable(a.PrincipalID, false) {
		return Assignment{}, fmt.Errorf("%w: principal id must be 1 to %d printable characters without spaces", ErrInvalid, maxPrincipalID)
	}
	if err := ValidIssuer(a.Issuer); err != nil {
		return Assignment{}, err
	}
	scope, err := NormalizeScope(a.Scope)
	if err != nil {
		return Assignment{}, err
	}
	rec := store.RoleAssignment{
		ID:          id,
		PrincipalID: a.PrincipalID,
		Issuer:      a.Issuer,
		Scope:       scope,
		Created:     now.UTC().Truncate(time.Microsecond),
	}
	var existing *store.RoleAssignment
	err = s.st.Update(ctx, func(tx store.Tx) error {
		existing = nil
		var assignable []string
		if b, ok := s.builtinByID(a.RoleID); ok {
			rec.RoleDefinitionID, assignable = b.role.ID, b.role.AssignableScopes
		} else {
			d, err := tx.RoleDefinition(canonicalOr(a.RoleID))
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: role definition %q does not exist", ErrInvalid, a.RoleID)
			} else if err != nil {
				return err
			}
			rec.RoleDefinitionID, assignable = d.ID, d.AssignableScopes
		}
		if !slices.ContainsFunc(assignable, func(as string) bool { return ScopeCovers(as, scope) }) {
			return fmt.Errorf("%w: role definition %s is not assignable at scope %q", ErrInvalid, rec.RoleDefinitionID, scope)
		}
		as, err := tx.RoleAssignments()
		if err != nil {
			return err
		}
		for _, o := range as {
			same := strings.EqualFold(o.PrincipalID, rec.PrincipalID) && o.Issuer == rec.Issuer &&
				o.RoleDefinitionID == rec.RoleDefinitionID && strings.EqualFold(o.Scope, rec.Scope)
			switch {
			case o.ID == id && same:
				existing = &o
				return nil
			case o.ID == id:
				return fmt.Errorf("%w: role assignment %s exists with another principal, issuer, role or scope", ErrConflict, id)
			case same:
				return fmt.Errorf("%w: principal %q already holds role %s at scope %q (role assignment %s)",
					ErrConflict, rec.PrincipalID, rec.RoleDefinitionID, rec.Scope, o.ID)
			}
		}
		return tx.PutRoleAssignment(rec)
	})
	if err != nil {
		return Assignment{}, storeErr("assign role", err)
	}
	if existing != nil {
		return assignmentFromStore(*existing), nil
	}
	s.rebuild(ctx)
	return assignmentFromStore(rec), nil
}

// ValidIssuer checks the issuer of a role assignment: BuiltinIssuer, or an
// https URL with a host, without user info, query or fragment, of at most
// 1024 printable characters.
//
// Errors: ErrInvalid.
func ValidIssuer(iss string) error {
	if iss == BuiltinIssuer {
		return nil
	}
	u, err := url.Parse(iss)
	if err != nil || len(iss) > maxIssuerLen || !printable(iss, false) ||
		u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: principal issuer %q is not an https URL (of at most %d characters)", ErrInvalid, iss, maxIssuerLen)
	}
	return nil
}

// canonicalOr returns id as a canonical UUID if it is one, else unchanged.
func canonicalOr(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

// Unassign deletes a role assignment.
//
// Errors: ErrNotFound.
func (s *Service) Unassign(ctx context.Context, id string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		err := tx.DeleteRoleAssignment(canonicalOr(id))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: role assignment %q", ErrNotFound, id)
		}
		return err
	})
	if err != nil {
		return storeErr("unassign role", err)
	}
	s.rebuild(ctx)
	return nil
}

// Assignments lists role assignments ordered by id. A non-empty principalID
// keeps those of that principal or group (ignoring case), of any issuer;
// a non-empty scope
// keeps those made at exactly that scope (normalised, ignoring case).
//
// Errors: ErrInvalid for a malformed scope.
func (s *Service) Assignments(ctx context.Context, principalID, scope string) ([]Assignment, error) {
	if scope != "" {
		n, err := NormalizeScope(scope)
		if err != nil {
			return nil, err
		}
		scope = n
	}
	sn, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	out := []Assignment{}
	for _, a := range sn.assignments {
		if principalID != "" && !strings.EqualFold(a.PrincipalID, principalID) {
			continue
		}
		if scope != "" && !strings.EqualFold(a.Scope, scope) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// storeErr wraps an error of a write transaction: the package's own errors
// pass unchanged, others are labelled with op.
func storeErr(op string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
		return err
	}
	return fmt.Errorf("rbac: %s: %w", op, err)
}
