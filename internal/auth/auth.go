// Package auth is Keywarden's identity layer: the built-in token issuer with
// its service principals (client secrets and client certificates), the
// OAuth2 client-credentials exchange (Authenticate or AuthenticateAssertion,
// then IssueToken), ES256 access tokens shaped like Microsoft identity
// platform v2.0 tokens, their public keys (JWKS), and token verification
// with a cache for the request hot path — for the built-in issuer's tokens
// and for those of trusted external OpenID Connect issuers (Verifier).
//
// It serves no HTTP: the api package exposes discovery, token and JWKS
// endpoints by calling an Issuer, and maps ErrInvalidClient and
// ErrInvalidToken to generic OAuth2 and 401 answers. Its only HTTP use is
// as a client, fetching external issuers' discovery documents and JWKS. The
// token-signing key is sealed (internal/seal) before it reaches the store.
// This package imports store only for its record types and the Store
// interface; it imports no store backend. Authorization (roles) lives in
// package rbac, keyed by Identity.ObjectID and Identity.Groups under the
// issuer Identity.External and Identity.Issuer name.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// Errors returned by the Issuer. Their Error text may carry a reason for the
// server log (unknown client, expired, wrong audience, ...); it never carries
// a secret or a token, and clients must only ever see a generic message.
var (
	// ErrInvalidClient reports failed client authentication: unknown client
	// id, wrong secret, disabled principal or expired credential alike.
	ErrInvalidClient = errors.New("auth: invalid client")
	// ErrInvalidToken reports a bearer token that is not acceptable for any
	// reason: malformed, wrong algorithm or key, bad signature, expired or
	// not yet valid, wrong issuer or audience, unknown or disabled
	// principal.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrPrincipalNotFound reports a principal management call naming a
	// client id that does not exist.
	ErrPrincipalNotFound = errors.New("auth: principal not found")
	// ErrCredentialNotFound reports RemoveCredential naming a credential the
	// principal does not hold.
	ErrCredentialNotFound = errors.New("auth: credential not found")
	// ErrInvalidArgument reports a refused principal management request: an
	// empty or overlong name, an expiry not in the future, a certificate
	// that does not parse, has expired, holds an unsupported key or is
	// already registered, or a principal at its credential limit.
	ErrInvalidArgument = errors.New("auth: invalid argument")
)

func invalidToken(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, reason) }

func invalidClient(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidClient, reason) }

func invalidArgument(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, reason)
}

// Identity is the verified caller behind a bearer token.
type Identity struct {
	// ObjectID is the principal's object id, which role assignments refer
	// to: for the built-in issuer the oid (and sub) claim; for an external
	// issuer its configured principal claim (by default oid, else sub).
	ObjectID string
	// ClientID is the client application id (azp, else appid claim); empty
	// when an external token names none.
	ClientID string
	// TenantID is the tid claim; empty when an external token has none.
	TenantID string
	// Groups are the group ids of an external token's configured groups
	// claim; role assignments to a group apply to its members. Always nil
	// for the built-in issuer's tokens.
	Groups []string
	// Issuer is the iss claim: which issuer vouches for ObjectID. The
	// built-in issuer's varies with the host the client used.
	Issuer string
	// External reports that a configured external issuer verified the
	// token: Issuer is then exactly that issuer's configured URL. False for
	// the built-in issuer's tokens. Role assignments are bound to the
	// issuer this tells apart (rbac.Subject.Issuer): the external Issuer,
	// or rbac.BuiltinIssuer when External is false.
	External bool
	// ExpiresAt is the token's exp claim.
	ExpiresAt time.Time
}

// principalStore is the part of persistent storage an Issuer uses, one
// transaction per call; storeAdapter implements it over a store.Store.
type principalStore interface {
	// Principal returns the principal with client id clientID. Errors:
	// store.ErrNotFound.
	Principal(ctx context.Context, clientID string) (store.Principal, error)
	// Principals lists every principal ordered by client id.
	Principals(ctx context.Context) ([]store.Principal, error)
	// InsertPrincipal stores a new principal and fails if one with the same
	// client id exists.
	InsertPrincipal(ctx context.Context, p store.Principal) error
	// UpdatePrincipal reads the principal with client id clientID, applies
	// edit and stores the result in one transaction, returning it. Errors:
	// store.ErrNotFound, or edit's error (nothing is stored).
	UpdatePrincipal(ctx context.Context, clientID string, edit func(*store.Principal) error) (store.Principal, error)
	// DeletePrincipal removes a principal. Errors: store.ErrNotFound.
	DeletePrincipal(ctx context.Context, clientID string) error
	// LoadOrStoreBlob returns the system blob called name, first storing
	// data under that name if no such blob exists, atomically: concurrent
	// callers all get the same stored blob.
	LoadOrStoreBlob(ctx context.Context, name string, data []byte) ([]byte, error)
}

type storeAdapter struct{ s store.Store }

func (a storeAdapter) Principal(ctx context.Context, clientID string) (store.Principal, error) {
	var p store.Principal
	err := a.s.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.Principal(clientID)
		return err
	})
	return p, err
}

func (a storeAdapter) Principals(ctx context.Context) ([]store.Principal, error) {
	var ps []store.Principal
	err := a.s.View(ctx, func(tx store.Tx) error {
		var err error
		ps, err = tx.Principals()
		return err
	})
	return ps, err
}

func (a storeAdapter) UpdatePrincipal(ctx context.Context, clientID string, edit func(*store.Principal) error) (store.Principal, error) {
	var out store.Principal
	err := a.s.Update(ctx, func(tx store.Tx) error {
		p, err := tx.Principal(clientID)
		if err != nil {
			return err
		}
		if err := edit(&p); err != nil {
			return err
		}
		out = p
		return tx.PutPrincipal(p)
	})
	return out, err
}

func (a storeAdapter) DeletePrincipal(ctx context.Context, clientID string) error {
	return a.s.Update(ctx, func(tx store.Tx) error { return tx.DeletePrincipal(clientID) })
}

func (a storeAdapter) InsertPrincipal(ctx context.Context, p store.Principal) error {
	return a.s.Update(ctx, func(tx store.Tx) error {
		switch _, err := tx.Principal(p.ClientID); {
		case err == nil:
			return fmt.Errorf("auth: principal %s already exists", p.ClientID)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return tx.PutPrincipal(p)
	})
}

func (a storeAdapter) LoadOrStoreBlob(ctx context.Context, name string, data []byte) ([]byte, error) {
	var out []byte
	err := a.s.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Blob(name)
		switch {
		case err == nil:
			out = b
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		out = data
		return tx.PutBlob(name, data)
	})
	return out, err
}
