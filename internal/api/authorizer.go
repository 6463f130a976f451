package api

import (
	"context"

	"github.com/keywarden/keywarden/internal/rbac"
)

// Authorizer decides whether a subject may perform a data action on a
// Keywarden resource scope ("/", "/vaults/{v}", "/vaults/{v}/keys/{k}").
// *rbac.Service satisfies it; implementations are safe for concurrent use.
type Authorizer interface {
	// Authorize returns the decision for sub performing action at scope.
	// An error is an internal failure (the store is unavailable), never a
	// denial: denials are Decision{Allowed: false} with a Reason for logs.
	Authorize(ctx context.Context, sub rbac.Subject, action, scope string) (rbac.Decision, error)
}

// *rbac.Service is the production Authorizer and role store.
var (
	_ Authorizer = (*rbac.Service)(nil)
	_ Roles      = (*rbac.Service)(nil)
)
