package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/keywarden/keywarden/internal/rbac"
)

// authorize checks that the authenticated caller holds the data action rt
// requires on the vault's SKU at the route's resource scope, answering 403
// ForbiddenByRbac when not. It reports whether the request may go on. It
// runs before the route reads its body or calls the domain, so a denied
// caller never learns whether a key exists.
func (s *Server) authorize(rq *request, rt *route) bool {
	action, scope := rt.actionFor(rq.sku), rt.scope(rq)
	authz := s.authz
	if authz == nil {
		// Fail closed: a server wired without an authorizer refuses
		// everything rather than allowing it.
		authz = denyAll{}
	}
	d, err := authz.Authorize(rq.r.Context(), rq.caller.subject(), action, scope)
	if err != nil {
		s.writeError(rq, err)
		return false
	}
	if d.Allowed {
		rq.assignment = d.AssignmentID
		return true
	}
	rq.denial = "rbac: " + action + " on " + scope + ": " + d.Reason
	s.log.LogAttrs(rq.r.Context(), slog.LevelInfo, "authorization denied",
		slog.String("request_id", rq.id), slog.String("caller", rq.caller.Subject),
		slog.String("action", action), slog.String("scope", scope), slog.String("reason", d.Reason))
	s.writeError(rq, forbiddenByRBAC(rq, action, scope))
	return false
}

// subject is the caller as role assignments name it: its object id and
// groups under its principal issuer.
func (c Caller) subject() rbac.Subject {
	return rbac.Subject{Issuer: c.PrincipalIssuer, ObjectID: c.Subject, Groups: c.Groups}
}

// forbiddenByRBAC is Azure's RBAC denial for the caller of rq: the message
// names the caller, action and resource, never why it was denied.
func forbiddenByRBAC(rq *request, action, scope string) error {
	c := rq.caller
	msg := "Caller is not authorized to perform action on resource.\r\n" +
		"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + c.ClientID + ";oid=" + c.Subject + ";iss=" + c.Issuer + "\r\n" +
		"Action: '" + action + "'\r\n" +
		"Resource: '" + scope + "'\r\n" +
		"Assignment: (not found)\r\n" +
		"DenyAssignmentId: null\r\n" +
		"DecisionReason: null \r\n" +
		"Vault: " + rq.vault + ";location=keywarden"
	return &httpError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByRbac", msg: msg}
}

// AllowAll is an Authorizer that allows every authenticated caller every
// action. It exists for tests and for embedding the API where the caller
// is the only user; a server must never be wired with it.
var AllowAll Authorizer = allowAll{}

type allowAll struct{}

func (allowAll) Authorize(context.Context, rbac.Subject, string, string) (rbac.Decision, error) {
	return rbac.Decision{Allowed: true}, nil
}

// denyAll refuses everything: what a Server without an Authorizer does.
type denyAll struct{}

func (denyAll) Authorize(context.Context, rbac.Subject, string, string) (rbac.Decision, error) {
	return rbac.Decision{Reason: "no authorizer is configured"}, nil
}
