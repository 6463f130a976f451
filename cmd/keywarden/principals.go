package main

import (
	"context"
	"time"

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// principalAdmin adapts the built-in issuer to api.Principals: the api
// package shows principals without importing store.
type principalAdmin struct{ issuer *auth.Issuer }

var _ api.Principals = principalAdmin{}

func apiPrincipal(p store.Principal) api.Principal {
	out := api.Principal{ClientID: p.ClientID, ObjectID: p.ObjectID, Name: p.Name, Disabled: p.Disabled, Created: p.Created}
	for _, c := range p.Secrets {
		out.Credentials = append(out.Credentials, apiSecret(c))
	}
	for _, c := range p.Certificates {
		out.Credentials = append(out.Credentials, apiCertificate(c))
	}
	return out
}

func apiSecret(c store.Credential) api.Credential {
	return api.Credential{ID: c.ID, Type: api.CredentialSecret, Created: c.Created, Expires: c.Expires}
}

func apiCertificate(c store.CertificateCredential) api.Credential {
	return api.Credential{ID: c.ID, Type: api.CredentialCertificate, Created: c.Created, Expires: c.Expires, Thumbprint: c.Thumbprint}
}

func (a principalAdmin) Principals(ctx context.Context) ([]api.Principal, error) {
	ps, err := a.issuer.Principals(ctx)
	out := make([]api.Principal, 0, len(ps))
	for _, p := range ps {
		out = append(out, apiPrincipal(p))
	}
	return out, err
}

func (a principalAdmin) Principal(ctx context.Context, clientID string) (api.Principal, error) {
	p, err := a.issuer.Principal(ctx, clientID)
	return apiPrincipal(p), err
}

func (a principalAdmin) CreatePrincipal(ctx context.Context, now time.Time, name string, secretExpires *time.Time) (api.Principal, secret.Bytes, error) {
	p, cs, err := a.issuer.CreatePrincipal(ctx, now, name, secretExpires)
	return apiPrincipal(p), cs, err
}

func (a principalAdmin) SetDisabled(ctx context.Context, now time.Time, clientID string, disabled bool) (api.Principal, error) {
	p, err := a.issuer.SetDisabled(ctx, now, clientID, disabled)
	return apiPrincipal(p), err
}

func (a principalAdmin) DeletePrincipal(ctx context.Context, clientID string) error {
	return a.issuer.DeletePrincipal(ctx, clientID)
}

func (a principalAdmin) AddSecret(ctx context.Context, now time.Time, clientID string, expires *time.Time) (api.Credential, secret.Bytes, error) {
	c, cs, err := a.issuer.AddSecret(ctx, now, clientID, expires)
	return apiSecret(c), cs, err
}

func (a principalAdmin) AddCertificate(ctx context.Context, now time.Time, clientID string, certDER []byte) (api.Credential, error) {
	c, err := a.issuer.AddCertificate(ctx, now, clientID, certDER)
	return apiCertificate(c), err
}

func (a principalAdmin) RemoveCredential(ctx context.Context, clientID, credentialID string) error {
	return a.issuer.RemoveCredential(ctx, clientID, credentialID)
}
