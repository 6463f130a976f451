package rbac

import (
	"context"
	"fmt"
	"strings"
)

// Authorize decides whether sub may perform the data action at scope. It
// denies by default: the action is allowed only if an assignment to
// sub.ObjectID or one of sub.Groups made for sub.Issuer, at a scope
// covering scope (see ScopeCovers), references a role one of whose
// DataActions matches the action while none of its NotDataActions does (see
// MatchAction). Issuers must be equal exactly: an id names the same
// principal or group only under the same issuer, so the built-in
// administrator's object id in an external token, or a group of one
// external issuer in another's token, matches nothing. Matching of
// principal ids, scopes and actions ignores case.
//
// Authorize reads only the in-memory snapshot once it is loaded; an
// allowing decision does not allocate. Decision.Reason explains a denial
// for logs and must not be sent to clients.
//
// Errors: ErrInvalid for an empty action or a malformed scope (the decision
// then denies); an error of the store when the snapshot cannot be loaded.
func (s *Service) Authorize(ctx context.Context, sub Subject, action, scope string) (Decision, error) {
	if action == "" {
		return Decision{Reason: "empty action"}, fmt.Errorf("%w: empty action", ErrInvalid)
	}
	if _, _, ok := splitScope(scope); !ok {
		return Decision{Reason: fmt.Sprintf("malformed scope %q", scope)}, fmt.Errorf("%w: malformed scope %q", ErrInvalid, scope)
	}
	sn, err := s.current(ctx)
	if err != nil {
		return Decision{Reason: "role assignments unavailable"}, err
	}
	if sub.ObjectID != "" {
		if id, ok := sn.allowed(principalKey{sub.Issuer, strings.ToLower(sub.ObjectID)}, action, scope); ok {
			return Decision{Allowed: true, AssignmentID: id}, nil
		}
	}
	for _, g := range sub.Groups {
		if g == "" {
			continue
		}
		if id, ok := sn.allowed(principalKey{sub.Issuer, strings.ToLower(g)}, action, scope); ok {
			return Decision{Allowed: true, AssignmentID: id}, nil
		}
	}
	return Decision{Reason: sn.denial(sub, action, scope)}, nil
}

// allowed returns the first assignment of principal (its id lowercase) that
// grants action at scope.
func (sn *snapshot) allowed(principal principalKey, action, scope string) (string, bool) {
	for i := range sn.byPrincipal[principal] {
		g := &sn.byPrincipal[principal][i]
		if covers(g.scope, g.keyScope, scope) && g.role.permits(action) {
			return g.id, true
		}
	}
	return "", false
}

// permits reports whether the role's data actions allow action.
func (r *compiledRole) permits(action string) bool {
	return r.allows(action) && !r.denies(action)
}

// allows reports whether a DataActions pattern matches action.
func (r *compiledRole) allows(action string) bool {
	for _, p := range r.allow {
		if MatchAction(p, action) {
			return true
		}
	}
	return false
}

// denies reports whether a NotDataActions pattern matches action.
func (r *compiledRole) denies(action string) bool {
	for _, p := range r.deny {
		if MatchAction(p, action) {
			return true
		}
	}
	return false
}

// denial explains why sub may not perform action at scope.
func (sn *snapshot) denial(sub Subject, action, scope string) string {
	var held, covering []grant
	for _, id := range append([]string{sub.ObjectID}, sub.Groups...) {
		if id == "" {
			continue
		}
		for _, g := range sn.byPrincipal[principalKey{sub.Issuer, strings.ToLower(id)}] {
			held = append(held, g)
			if covers(g.scope, g.keyScope, scope) {
				covering = append(covering, g)
			}
		}
	}
	iss := sub.Issuer
	if iss == BuiltinIssuer {
		iss = "built-in"
	}
	who := fmt.Sprintf("principal %q of issuer %s with %d groups", sub.ObjectID, iss, len(sub.Groups))
	switch {
	case len(held) == 0:
		return fmt.Sprintf("%s holds no role assignment", who)
	case len(covering) == 0:
		return fmt.Sprintf("none of the %d role assignments of %s covers scope %q", len(held), who, scope)
	}
	for _, g := range covering {
		if g.role.allows(action) && g.role.denies(action) {
			return fmt.Sprintf("action %q at scope %q is excluded by the notDataActions of role %q (role assignment %s) of %s",
				action, scope, g.role.role.Name, g.id, who)
		}
	}
	names := make([]string, 0, len(covering))
	for _, g := range covering {
		names = append(names, fmt.Sprintf("%q", g.role.role.Name))
	}
	return fmt.Sprintf("no role of %s at scope %q grants action %q (roles: %s)", who, scope, action, strings.Join(names, ", "))
}
