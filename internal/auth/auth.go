// Package auth is Keywarden's built-in token issuer: service principals with
// hashed client secrets, the OAuth2 client-credentials exchange (Authenticate
// then IssueToken), ES256 access tokens shaped like Microsoft identity
// platform v2.0 tokens, their public keys (JWKS), and token verification with
// a cache for the request hot path.
//
// It serves no HTTP: the api package exposes discovery, token and JWKS
// endpoints by calling an Issuer, and maps ErrInvalidClient and
// ErrInvalidToken to generic OAuth2 and 401 answers. The token-signing key is
// sealed (internal/seal) before it reaches the store. This package imports
// store only for its record types and the Store interface; it imports no
// store backend and nothing of HTTP.
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
)

func invalidToken(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, reason) }

func invalidClient(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidClient, reason) }

// Identity is the verified caller behind a bearer token.
type Identity struct {
	// ObjectID is the principal's object id (oid and sub claims); role
	// assignments refer to it.
	ObjectID string
	// ClientID is the principal's client id (azp and appid claims).
	ClientID string
	// TenantID is the tid claim.
	TenantID string
	// Roles are the principal's coarse roles, read from its record when the
	// token was verified (not from the token).
	Roles []string
	// Issuer is the iss claim.
	Issuer string
	// ExpiresAt is the token's exp claim.
	ExpiresAt time.Time
}

// principalStore is the part of persistent storage an Issuer uses, one
// transaction per call; storeAdapter implements it over a store.Store.
type principalStore interface {
	// Principal returns the principal with client id clientID. Errors:
	// store.ErrNotFound.
	Principal(ctx context.Context, clientID string) (store.Principal, error)
	// InsertPrincipal stores a new principal and fails if one with the same
	// client id exists.
	InsertPrincipal(ctx context.Context, p store.Principal) error
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
