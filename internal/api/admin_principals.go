package api

import (
	"bytes"
	"context"
	"encoding/pem"
	"strings"
	"time"
)

// Principal administration: /admin/v1/principals[/{clientId}[/credentials
// [/{credentialId}]]]. A client secret appears only in the answer that
// created it (clientSecret), is sent with Cache-Control: no-store and is
// never logged.

// maxExpiresInDays bounds secretExpiresInDays and expiresInDays.
const maxExpiresInDays = 3650

// adminPrincipal is the Principal object of the admin API; ClientSecret is
// set only when the principal was just created.
type adminPrincipal struct {
	ClientID     string            `json:"clientId"`
	ObjectID     string            `json:"objectId"`
	Name         string            `json:"name"`
	Disabled     bool              `json:"disabled"`
	Created      int64             `json:"created"`
	Credentials  []adminCredential `json:"credentials"`
	ClientSecret *shownSecret      `json:"clientSecret,omitempty"`
}

// adminCredential is the Credential object of the admin API; ClientSecret
// is set only when the secret was just created.
type adminCredential struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Created      int64        `json:"created"`
	Expires      *int64       `json:"expires,omitempty"`
	Thumbprint   string       `json:"thumbprint,omitempty"`
	ClientSecret *shownSecret `json:"clientSecret,omitempty"`
}

func (p adminPrincipal) clearSecrets() {
	if p.ClientSecret != nil {
		p.ClientSecret.b.Clear()
	}
}

func (c adminCredential) clearSecrets() {
	if c.ClientSecret != nil {
		c.ClientSecret.b.Clear()
	}
}

// adminPrincipalCreate is the body of POST /admin/v1/principals.
type adminPrincipalCreate struct {
	Name                string `json:"name"`
	SecretExpiresInDays *int   `json:"secretExpiresInDays"`
}

// adminPrincipalUpdate is the body of PATCH /admin/v1/principals/{clientId}.
type adminPrincipalUpdate struct {
	Disabled *bool `json:"disabled"`
}

// adminCredentialAdd is the body of POST
// /admin/v1/principals/{clientId}/credentials.
type adminCredentialAdd struct {
	Type          string `json:"type"`
	ExpiresInDays *int   `json:"expiresInDays"`
	Certificate   string `json:"certificate"`
}

func toAdminPrincipal(p Principal) adminPrincipal {
	out := adminPrincipal{
		ClientID:    p.ClientID,
		ObjectID:    p.ObjectID,
		Name:        p.Name,
		Disabled:    p.Disabled,
		Created:     adminTime(p.Created),
		Credentials: make([]adminCredential, 0, len(p.Credentials)),
	}
	for _, c := range p.Credentials {
		out.Credentials = append(out.Credentials, toAdminCredential(c))
	}
	return out
}

func toAdminCredential(c Credential) adminCredential {
	return adminCredential{ID: c.ID, Type: c.Type, Created: adminTime(c.Created), Expires: adminTimePtr(c.Expires), Thumbprint: c.Thumbprint}
}

// expiresIn converts an optional number of days from now to an expiry.
func expiresIn(now time.Time, days *int, prop string) (*time.Time, error) {
	if days == nil {
		return nil, nil
	}
	if *days < 1 || *days > maxExpiresInDays {
		return nil, badParameter("Property %s must be between 1 and %d.", prop, maxExpiresInDays)
	}
	t := now.Add(time.Duration(*days) * 24 * time.Hour)
	return &t, nil
}

func (s *Server) adminListPrincipals(ctx context.Context, rq *request, _ adminParams) (any, error) {
	ps, err := s.admin.principals.Principals(ctx)
	if err != nil {
		return nil, err
	}
	out := adminList[adminPrincipal]{Value: make([]adminPrincipal, 0, len(ps))}
	for _, p := range ps {
		out.Value = append(out.Value, toAdminPrincipal(p))
	}
	return out, nil
}

func (s *Server) adminGetPrincipal(ctx context.Context, rq *request, p adminParams) (any, error) {
	pr, err := s.admin.principals.Principal(ctx, p["clientId"])
	if err != nil {
		return nil, err
	}
	return toAdminPrincipal(pr), nil
}

func (s *Server) adminCreatePrincipal(ctx context.Context, rq *request, _ adminParams) (any, error) {
	var in adminPrincipalCreate
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, badParameter("Property name is required.")
	}
	exp, err := expiresIn(rq.now, in.SecretExpiresInDays, "secretExpiresInDays")
	if err != nil {
		return nil, err
	}
	pr, cs, err := s.admin.principals.CreatePrincipal(ctx, rq.now, in.Name, exp)
	if err != nil {
		return nil, err
	}
	out := toAdminPrincipal(pr)
	out.ClientSecret = &shownSecret{cs}
	return adminCreated{out}, nil
}

func (s *Server) adminUpdatePrincipal(ctx context.Context, rq *request, p adminParams) (any, error) {
	var in adminPrincipalUpdate
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	if in.Disabled == nil {
		return nil, badParameter("Property disabled is required.")
	}
	pr, err := s.admin.principals.SetDisabled(ctx, rq.now, p["clientId"], *in.Disabled)
	if err != nil {
		return nil, err
	}
	return toAdminPrincipal(pr), nil
}

func (s *Server) adminDeletePrincipal(ctx context.Context, rq *request, p adminParams) (any, error) {
	return nil, s.admin.principals.DeletePrincipal(ctx, p["clientId"])
}

func (s *Server) adminAddCredential(ctx context.Context, rq *request, p adminParams) (any, error) {
	var in adminCredentialAdd
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	clientID := p["clientId"]
	switch in.Type {
	case CredentialSecret:
		if in.Certificate != "" {
			return nil, badParameter("Property certificate is only allowed with type certificate.")
		}
		exp, err := expiresIn(rq.now, in.ExpiresInDays, "expiresInDays")
		if err != nil {
			return nil, err
		}
		c, cs, err := s.admin.principals.AddSecret(ctx, rq.now, clientID, exp)
		if err != nil {
			return nil, err
		}
		out := toAdminCredential(c)
		out.ClientSecret = &shownSecret{cs}
		return adminCreated{out}, nil
	case CredentialCertificate:
		if in.ExpiresInDays != nil {
			return nil, badParameter("Property expiresInDays is only allowed with type secret; a certificate expires at its notAfter.")
		}
		der, err := certificateDER(in.Certificate)
		if err != nil {
			return nil, err
		}
		c, err := s.admin.principals.AddCertificate(ctx, rq.now, clientID, der)
		if err != nil {
			return nil, err
		}
		return adminCreated{toAdminCredential(c)}, nil
	case "":
		return nil, badParameter("Property type is required: secret or certificate.")
	}
	return nil, badParameter("Property type %q is invalid: use secret or certificate.", truncate(in.Type, 32))
}

// certificateDER returns the DER of the one PEM CERTIFICATE block of pemText.
func certificateDER(pemText string) ([]byte, error) {
	if strings.TrimSpace(pemText) == "" {
		return nil, badParameter("Property certificate is required: one PEM-encoded X.509 certificate.")
	}
	block, rest := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, badParameter("Property certificate must hold one PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE-----).")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, badParameter("Property certificate must hold exactly one PEM block.")
	}
	return block.Bytes, nil
}

func (s *Server) adminRemoveCredential(ctx context.Context, rq *request, p adminParams) (any, error) {
	return nil, s.admin.principals.RemoveCredential(ctx, p["clientId"], p["credentialId"])
}
