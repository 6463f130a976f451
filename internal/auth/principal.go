package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

const (
	secretBytes = 32 // entropy of a client secret
	// maxClientIDLen and maxSecretLen bound Authenticate's inputs.
	maxClientIDLen = 128
	maxSecretLen   = 256
	// maxNameLen bounds a principal's display name, in bytes.
	maxNameLen = 256
	// MaxSecrets bounds the client secrets of one principal: Authenticate
	// runs Argon2id once per secret.
	MaxSecrets = 5
	// MaxCertificates bounds the client certificates of one principal.
	MaxCertificates = 10
)

// CreatePrincipal creates and stores an enabled service principal called
// name (1 to 256 bytes of UTF-8 without control characters). Its client id
// and object id are random UUIDv4s; its one client secret is 32 random
// bytes, base64url-encoded without padding, returned here once and stored
// only as an Argon2id hash. The secret expires at secretExpires, or never
// when it is nil. It holds no roles: access is granted by role assignments
// to its object id (package rbac). Errors: ErrInvalidArgument for a bad
// name or an expiry not after now; a store error.
func (i *Issuer) CreatePrincipal(ctx context.Context, now time.Time, name string, secretExpires *time.Time) (store.Principal, secret.Bytes, error) {
	if err := checkName(name); err != nil {
		return store.Principal{}, secret.Bytes{}, err
	}
	if err := checkExpiry(now, secretExpires); err != nil {
		return store.Principal{}, secret.Bytes{}, err
	}
	var ids [2]string
	for n := range ids {
		id, err := newUUID(i.rand)
		if err != nil {
			return store.Principal{}, secret.Bytes{}, err
		}
		ids[n] = id
	}
	cred, cs, err := i.newSecret(ctx, now, secretExpires)
	if err != nil {
		return store.Principal{}, secret.Bytes{}, err
	}
	p := store.Principal{
		ClientID: ids[0],
		ObjectID: ids[1],
		Name:     name,
		Secrets:  []store.Credential{cred},
		Created:  now,
	}
	if err := i.store.InsertPrincipal(ctx, p); err != nil {
		cs.Clear()
		return store.Principal{}, secret.Bytes{}, fmt.Errorf("auth: storing principal: %w", err)
	}
	return p, cs, nil
}

// Principals lists every principal of the built-in issuer, ordered by
// client id. Credentials appear as stored: secret hashes and certificates,
// never a secret.
func (i *Issuer) Principals(ctx context.Context) ([]store.Principal, error) {
	ps, err := i.store.Principals(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: listing principals: %w", err)
	}
	return ps, nil
}

// Principal returns the principal with client id clientID. Errors:
// ErrPrincipalNotFound; a store error.
func (i *Issuer) Principal(ctx context.Context, clientID string) (store.Principal, error) {
	p, err := i.store.Principal(ctx, clientID)
	if err != nil {
		return store.Principal{}, principalError(clientID, err)
	}
	return p, nil
}

// SetDisabled disables (disabled true) or enables a principal and returns
// it. A disabled principal obtains no tokens, and the tokens it holds are
// refused at once on this node (and on others after at most their
// CacheTTL). now is the time of the change. Errors: ErrPrincipalNotFound;
// a store error.
func (i *Issuer) SetDisabled(ctx context.Context, now time.Time, clientID string, disabled bool) (store.Principal, error) {
	p, err := i.store.UpdatePrincipal(ctx, clientID, func(p *store.Principal) error {
		p.Disabled = disabled
		return nil
	})
	// Invalidate even after a failed update: a cache entry must never
	// outlive a change that may have committed.
	i.InvalidatePrincipal(clientID)
	if err != nil {
		return store.Principal{}, principalError(clientID, err)
	}
	return p, nil
}

// DeletePrincipal deletes a principal with all its credentials; its tokens
// are refused at once on this node (and on others after at most their
// CacheTTL). Role assignments to its object id are package rbac's to
// remove. Errors: ErrPrincipalNotFound; a store error.
func (i *Issuer) DeletePrincipal(ctx context.Context, clientID string) error {
	err := i.store.DeletePrincipal(ctx, clientID)
	i.InvalidatePrincipal(clientID)
	if err != nil {
		return principalError(clientID, err)
	}
	return nil
}

// AddSecret adds a new client secret to a principal, expiring at expires
// (nil: never), and returns its credential record and the secret, which is
// shown only here and stored only as an Argon2id hash. Errors:
// ErrPrincipalNotFound; ErrInvalidArgument for an expiry not after now or a
// principal already holding MaxSecrets secrets; a store error.
func (i *Issuer) AddSecret(ctx context.Context, now time.Time, clientID string, expires *time.Time) (store.Credential, secret.Bytes, error) {
	if err := checkExpiry(now, expires); err != nil {
		return store.Credential{}, secret.Bytes{}, err
	}
	// Fail fast before the Argon2id work; the update checks again.
	if p, err := i.Principal(ctx, clientID); err != nil {
		return store.Credential{}, secret.Bytes{}, err
	} else if len(p.Secrets) >= MaxSecrets {
		return store.Credential{}, secret.Bytes{}, invalidArgument(fmt.Sprintf("principal already holds %d client secrets", MaxSecrets))
	}
	cred, cs, err := i.newSecret(ctx, now, expires)
	if err != nil {
		return store.Credential{}, secret.Bytes{}, err
	}
	_, err = i.store.UpdatePrincipal(ctx, clientID, func(p *store.Principal) error {
		if len(p.Secrets) >= MaxSecrets {
			return invalidArgument(fmt.Sprintf("principal already holds %d client secrets", MaxSecrets))
		}
		p.Secrets = append(slices.Clone(p.Secrets), cred)
		return nil
	})
	if err != nil {
		cs.Clear()
		return store.Credential{}, secret.Bytes{}, principalError(clientID, err)
	}
	return cred, cs, nil
}

// RemoveCredential removes the client secret or certificate with id
// credentialID from a principal. Tokens already issued stay valid until
// they expire, as in Microsoft Entra ID. Errors: ErrPrincipalNotFound;
// ErrCredentialNotFound; a store error.
func (i *Issuer) RemoveCredential(ctx context.Context, clientID, credentialID string) error {
	_, err := i.store.UpdatePrincipal(ctx, clientID, func(p *store.Principal) error {
		if n := slices.IndexFunc(p.Secrets, func(c store.Credential) bool { return c.ID == credentialID }); n >= 0 {
			p.Secrets = slices.Delete(slices.Clone(p.Secrets), n, n+1)
			return nil
		}
		if n := slices.IndexFunc(p.Certificates, func(c store.CertificateCredential) bool { return c.ID == credentialID }); n >= 0 {
			p.Certificates = slices.Delete(slices.Clone(p.Certificates), n, n+1)
			return nil
		}
		return fmt.Errorf("%w: %s has no credential %s", ErrCredentialNotFound, clientID, credentialID)
	})
	if err != nil {
		return principalError(clientID, err)
	}
	return nil
}

// newSecret generates a client secret and its credential record.
func (i *Issuer) newSecret(ctx context.Context, now time.Time, expires *time.Time) (store.Credential, secret.Bytes, error) {
	id, err := newUUID(i.rand)
	if err != nil {
		return store.Credential{}, secret.Bytes{}, err
	}
	raw := make([]byte, secretBytes)
	if _, err := io.ReadFull(i.rand, raw); err != nil {
		return store.Credential{}, secret.Bytes{}, fmt.Errorf("auth: generating client secret: %w", err)
	}
	enc := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(enc, raw)
	clear(raw)
	cs := secret.Own(enc)

	if err := i.acquireHash(ctx); err != nil {
		cs.Clear()
		return store.Credential{}, secret.Bytes{}, err
	}
	hash, err := hashSecret(i.rand, cs.Expose(), i.argon)
	i.releaseHash()
	if err != nil {
		cs.Clear()
		return store.Credential{}, secret.Bytes{}, err
	}
	c := store.Credential{ID: id, Hash: hash, Created: now}
	if expires != nil {
		e := *expires
		c.Expires = &e
	}
	return c, cs, nil
}

// principalError maps store.ErrNotFound to ErrPrincipalNotFound and wraps
// other errors; errors of this package pass through.
func principalError(clientID string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrPrincipalNotFound, clientID)
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, ErrCredentialNotFound):
		return err
	}
	return fmt.Errorf("auth: principal %s: %w", clientID, err)
}

// checkName validates a principal's display name.
func checkName(name string) error {
	switch {
	case name == "":
		return invalidArgument("empty principal name")
	case len(name) > maxNameLen:
		return invalidArgument(fmt.Sprintf("principal name longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name):
		return invalidArgument("principal name is not UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalidArgument("principal name holds control characters")
	}
	return nil
}

// checkExpiry refuses an expiry that is not after now.
func checkExpiry(now time.Time, expires *time.Time) error {
	if expires != nil && !expires.After(now) {
		return invalidArgument("expiry is not in the future")
	}
	return nil
}

// Authenticate checks a client id and secret (the OAuth2 client-credentials
// grant) and returns the principal. Unknown client, wrong secret, disabled
// principal and expired credential all yield ErrInvalidClient, after the
// same Argon2id work; a store failure is returned as such.
func (i *Issuer) Authenticate(ctx context.Context, now time.Time, clientID, clientSecret string) (store.Principal, error) {
	if clientID == "" || len(clientID) > maxClientIDLen || clientSecret == "" || len(clientSecret) > maxSecretLen {
		return store.Principal{}, invalidClient("malformed client id or secret")
	}
	cs := []byte(clientSecret)
	defer clear(cs)

	p, err := i.store.Principal(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the time a real check takes, so that response times do not
		// reveal which client ids exist.
		if err := i.dummyHash(ctx, cs); err != nil {
			return store.Principal{}, err
		}
		return store.Principal{}, invalidClient("unknown client " + clientID)
	case err != nil:
		return store.Principal{}, fmt.Errorf("auth: authenticating client: %w", err)
	}
	if len(p.Secrets) == 0 {
		if err := i.dummyHash(ctx, cs); err != nil {
			return store.Principal{}, err
		}
		return store.Principal{}, invalidClient("client " + clientID + " has no secrets")
	}

	reason := "wrong secret for client " + clientID
	matched := false
	for _, c := range p.Secrets {
		if err := i.acquireHash(ctx); err != nil {
			return store.Principal{}, err
		}
		ok, err := verifySecret(c.Hash, cs)
		i.releaseHash()
		switch {
		case err != nil:
			reason = fmt.Sprintf("unusable stored hash for credential %s of client %s", c.ID, clientID)
		case ok && c.Expires != nil && !now.Before(*c.Expires):
			reason = fmt.Sprintf("expired credential %s of client %s", c.ID, clientID)
		case ok:
			matched = true
		}
	}
	switch {
	case !matched:
		return store.Principal{}, invalidClient(reason)
	case p.Disabled:
		return store.Principal{}, invalidClient("disabled client " + clientID)
	}
	return p, nil
}

// dummyHash runs one Argon2id evaluation whose result is discarded.
func (i *Issuer) dummyHash(ctx context.Context, cs []byte) error {
	if err := i.acquireHash(ctx); err != nil {
		return err
	}
	defer i.releaseHash()
	_, err := hashSecret(zeroReader{}, cs, i.argon)
	return err
}

// acquireHash waits for a slot to run Argon2id, bounding the memory that
// concurrent token requests can claim to GOMAXPROCS × the hash's memory.
func (i *Issuer) acquireHash(ctx context.Context) error {
	select {
	case i.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to check a client secret: %w", ctx.Err())
	}
}

func (i *Issuer) releaseHash() { <-i.hashSem }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// newUUID returns a random (version 4) UUID in canonical form.
func newUUID(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("auth: generating id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}
