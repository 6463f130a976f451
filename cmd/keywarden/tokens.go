package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/store"
)

// tokenAuthority adapts the built-in issuer (which issues tokens) and the
// verifier (which checks the built-in issuer's and trusted external
// issuers' tokens) to the api's TokenAuthority.
type tokenAuthority struct {
	issuer   *auth.Issuer
	verifier *auth.Verifier
}

func (t tokenAuthority) JWKS() jose.JSONWebKeySet { return t.issuer.JWKS() }

func (t tokenAuthority) IssueToken(ctx context.Context, now time.Time, req api.TokenRequest) (string, int, error) {
	var p store.Principal
	var err error
	if req.ClientAssertion != "" {
		p, err = t.issuer.AuthenticateAssertion(ctx, now, req.ClientID, req.ClientAssertion, req.TokenEndpoint)
	} else {
		p, err = t.issuer.Authenticate(ctx, now, req.ClientID, req.ClientSecret)
	}
	if errors.Is(err, auth.ErrInvalidClient) {
		return "", 0, fmt.Errorf("%w: %w", api.ErrInvalidClient, err)
	}
	if err != nil {
		return "", 0, err
	}
	return t.issuer.IssueToken(ctx, now, p, req.Tenant, req.Issuer, req.Audience)
}

func (t tokenAuthority) Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (api.Caller, error) {
	id, err := t.verifier.Verify(ctx, now, token, validIssuer, validAudience)
	if err != nil {
		return api.Caller{}, err
	}
	c := api.Caller{Subject: id.ObjectID, ClientID: id.ClientID, Groups: id.Groups, Issuer: id.Issuer, TenantID: id.TenantID}
	if id.External {
		// Role assignments bind external principals to their issuer; the
		// built-in issuer's principals to rbac.BuiltinIssuer, whatever host
		// their token's iss names.
		c.PrincipalIssuer = id.Issuer
	}
	return c, nil
}
