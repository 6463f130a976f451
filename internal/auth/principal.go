package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

const (
	secretBytes = 32 // entropy of a client secret
	// maxClientIDLen and maxSecretLen bound Authenticate's inputs.
	maxClientIDLen = 128
	maxSecretLen   = 256
)

// CreatePrincipal creates and stores an enabled service principal called
// name with the given coarse roles. Its client id and object id are random
// UUIDv4s; its one client secret is 32 random bytes, base64url-encoded
// without padding, returned here once and stored only as an Argon2id hash.
func (i *Issuer) CreatePrincipal(ctx context.Context, now time.Time, name string, roles []string) (store.Principal, secret.Bytes, error) {
	if name == "" {
		return store.Principal{}, secret.Bytes{}, errors.New("auth: CreatePrincipal: empty name")
	}
	var ids [3]string
	for n := range ids {
		id, err := newUUID(i.rand)
		if err != nil {
			return store.Principal{}, secret.Bytes{}, err
		}
		ids[n] = id
	}
	raw := make([]byte, secretBytes)
	if _, err := io.ReadFull(i.rand, raw); err != nil {
		return store.Principal{}, secret.Bytes{}, fmt.Errorf("auth: generating client secret: %w", err)
	}
	enc := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(enc, raw)
	clear(raw)
	cs := secret.Own(enc)

	if err := i.acquireHash(ctx); err != nil {
		return store.Principal{}, secret.Bytes{}, err
	}
	hash, err := hashSecret(i.rand, cs.Expose(), i.argon)
	i.releaseHash()
	if err != nil {
		return store.Principal{}, secret.Bytes{}, err
	}
	p := store.Principal{
		ClientID: ids[0],
		ObjectID: ids[1],
		Name:     name,
		Secrets:  []store.Credential{{ID: ids[2], Hash: hash, Created: now}},
		Roles:    slices.Clone(roles),
		Created:  now,
	}
	if err := i.store.InsertPrincipal(ctx, p); err != nil {
		cs.Clear()
		return store.Principal{}, secret.Bytes{}, fmt.Errorf("auth: storing principal: %w", err)
	}
	return p, cs, nil
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
