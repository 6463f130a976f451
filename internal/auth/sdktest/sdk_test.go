package sdktest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/go-jose/go-jose/v4"

	"github.com/keywarden/keywarden/internal/api"
	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// tokens adapts an *auth.Issuer to api.TokenAuthority as cmd/keywarden
// does.
type tokens struct{ issuer *auth.Issuer }

func (t tokens) JWKS() jose.JSONWebKeySet { return t.issuer.JWKS() }

func (t tokens) IssueToken(ctx context.Context, now time.Time, req api.TokenRequest) (string, int, error) {
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

func (t tokens) Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (api.Caller, error) {
	id, err := t.issuer.Verify(ctx, now, token, validIssuer, validAudience)
	if err != nil {
		return api.Caller{}, err
	}
	return api.Caller{Subject: id.ObjectID, ClientID: id.ClientID}, nil
}

// noVaults satisfies api.Vaults; the authority endpoints never call it.
type noVaults struct{ api.Vaults }

// TestClientCertificateCredential drives the unmodified
// azidentity.ClientCertificateCredential (MSAL: PS256 assertion with
// x5t#S256, optionally x5c) against api's authority endpoints over TLS,
// backed by a real Issuer, and checks the token it gets.
func TestClientCertificateCredential(t *testing.T) {
	ctx := context.Background()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root, err := seal.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := auth.NewIssuer(ctx, auth.IssuerOptions{Store: db, Sealer: root.Derive("token-signing")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, _, err := issuer.CreatePrincipal(ctx, now, "cert-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cert-app"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := issuer.AddCertificate(ctx, now, p.ClientID, der); err != nil {
		t.Fatalf("AddCertificate() = %v", err)
	}

	var s *api.Server
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
	ts.StartTLS()
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	s = api.New(api.Config{TenantID: tenant, Logger: slog.New(slog.DiscardHandler)}, api.Deps{Vaults: noVaults{}, Tokens: tokens{issuer}})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	authority := "https://127.0.0.1:" + port
	resource := "https://localhost:" + port

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name      string
		key       *rsa.PrivateKey
		sendChain bool
		wantErr   bool
	}{
		{"registered certificate", key, false, false},
		{"registered certificate with x5c", key, true, false},
		{"wrong private key", other, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(tenant, p.ClientID, []*x509.Certificate{cert}, tt.key, &azidentity.ClientCertificateCredentialOptions{
				ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority + "/"}, Transport: hc},
				DisableInstanceDiscovery: true,
				SendCertificateChain:     tt.sendChain,
			})
			if tt.key == other {
				// azidentity checks that key and certificate match; use a
				// certificate of the wrong key with the registered one's
				// identity instead.
				if err == nil {
					t.Fatal("NewClientCertificateCredential(mismatched key) = nil error")
				}
				otherDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
				otherCert, _ := x509.ParseCertificate(otherDER)
				cred, err = azidentity.NewClientCertificateCredential(tenant, p.ClientID, []*x509.Certificate{otherCert}, other, &azidentity.ClientCertificateCredentialOptions{
					ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority + "/"}, Transport: hc},
					DisableInstanceDiscovery: true,
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if tt.wantErr {
				if err == nil {
					t.Fatal("GetToken(unregistered certificate) = nil error, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken() = %v", err)
			}
			id, err := issuer.Verify(ctx, time.Now(), tok.Token,
				func(iss string) bool { return iss == authority+"/"+tenant+"/v2.0" },
				func(aud string) bool { return aud == resource })
			if err != nil {
				t.Fatalf("Verify(token from certificate credential) = %v", err)
			}
			if id.ClientID != p.ClientID || id.ObjectID != p.ObjectID {
				t.Errorf("Verify() = %+v, want client %s object %s", id, p.ClientID, p.ObjectID)
			}
		})
	}
}
