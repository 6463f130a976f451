package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// The built-in OAuth2 authority, served at the root of every origin:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration  OIDC discovery
//	GET  /{tenant}/.well-known/openid-configuration       same document
//	POST /{tenant}/oauth2/v2.0/token                      client credentials,
//	                                                      by secret or by
//	                                                      certificate (RFC 7523)
//	GET  /{tenant}/discovery/v2.0/keys                    JWKS
//
// The issuer and endpoints are derived from the request's Host, so they
// match the authority host the client was configured with (MSAL refuses an
// issuer on another host).

// tokenBodyLimit bounds token request forms.
const tokenBodyLimit = 64 << 10

// jwtBearerAssertion is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// isAuthoritySegment reports whether the second path segment starts an
// authority path.
func isAuthoritySegment(seg string) bool {
	switch strings.ToLower(seg) {
	case "v2.0", "oauth2", "discovery", ".well-known":
		return true
	}
	return false
}

// OpenIDConfiguration is the OIDC discovery document of the authority.
type OpenIDConfiguration struct {
	// Issuer is https://{host}/{tenant}/v2.0.
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is listed because MSAL requires it; only the
	// client-credentials grant is served.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	// TokenEndpoint is https://{host}/{tenant}/oauth2/v2.0/token.
	TokenEndpoint string `json:"token_endpoint"`
	// JWKSURI is https://{host}/{tenant}/discovery/v2.0/keys (MSAL for JS
	// refuses a document without it).
	JWKSURI string `json:"jwks_uri"`
	// The supported values, as OIDC discovery lists them.
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// TokenEndpointAuthSigningAlgValuesSupported are the algorithms a
	// private_key_jwt client assertion may use.
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
}

// TokenResponse is the token endpoint's success answer.
type TokenResponse struct {
	// TokenType is always "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn and ExtExpiresIn are the token's lifetime in seconds.
	ExpiresIn    int `json:"expires_in"`
	ExtExpiresIn int `json:"ext_expires_in"`
	// AccessToken is the signed JWT.
	AccessToken string `json:"access_token"`
}

// authority serves the authority paths (segs = escaped path segments).
func (s *Server) authority(rq *request, segs []string) {
	tenant := segs[0]
	if !strings.EqualFold(tenant, s.cfg.TenantID) {
		desc := "The tenant is not served by this authority."
		if validTenant(tenant) {
			desc = "AADSTS90002: Tenant '" + truncate(tenant, 64) + "' not found."
		}
		s.writeOAuthError(rq, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc})
		return
	}
	path := strings.ToLower(strings.Join(segs[1:], "/"))
	method := rq.r.Method
	switch path {
	case "v2.0/.well-known/openid-configuration", ".well-known/openid-configuration":
		if method == http.MethodGet || method == http.MethodHead {
			s.discovery(rq)
			return
		}
	case "oauth2/v2.0/token", "oauth2/token":
		if method == http.MethodPost {
			s.token(rq)
			return
		}
	case "discovery/v2.0/keys", "discovery/keys":
		if method == http.MethodGet || method == http.MethodHead {
			rq.w.Header().Set("Cache-Control", "public, max-age=300")
			s.writeJSON(rq, http.StatusOK, s.tokens.JWKS())
			return
		}
	case "oauth2/v2.0/authorize", "oauth2/authorize":
		s.writeOAuthError(rq, &oauthError{status: http.StatusBadRequest, code: "unsupported_response_type", desc: "Only the client credentials grant is supported, at the token endpoint."})
		return
	default:
		s.writeOAuthError(rq, &oauthError{status: http.StatusNotFound, code: "invalid_request", desc: "No such authority endpoint."})
		return
	}
	s.writeOAuthError(rq, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "The HTTP method " + method + " is not allowed here."})
}

// discovery answers the OIDC discovery document for the request's host.
func (s *Server) discovery(rq *request) {
	base := "https://" + rq.r.Host + "/" + s.cfg.TenantID
	var algs []string
	for _, k := range s.tokens.JWKS().Keys {
		if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	if algs == nil {
		algs = []string{"ES256"}
	}
	s.writeJSON(rq, http.StatusOK, OpenIDConfiguration{
		Issuer:                            base + "/v2.0",
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		JWKSURI:                           base + "/discovery/v2.0/keys",
		ResponseTypesSupported:            []string{"token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  algs,
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: []string{"PS256", "RS256", "ES256"},
		ScopesSupported: []string{"openid", "profile", "offline_access"},
	})
}

// token serves the client-credentials grant.
func (s *Server) token(rq *request) {
	r := rq.r
	r.Body = http.MaxBytesReader(rq.w.ResponseWriter, r.Body, tokenBodyLimit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeOAuthError(rq, &oauthError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: "The request body is too large."})
			return
		}
		s.writeOAuthError(rq, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "The request body is not a valid form."})
		return
	}
	if !s.servesHost(r.Host) {
		// The token endpoint URL a client assertion's aud must name, and
		// the issued token's iss, are built from Host: a host this server
		// does not serve would let an assertion made for another token
		// endpoint (Entra ID's, say) be replayed here.
		rq.denial = "token request for a host not served: " + truncate(r.Host, 128)
		s.writeOAuthError(rq, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "The token endpoint is not served on this host."})
		return
	}
	treq, oerr := s.tokenRequest(rq)
	if oerr != nil {
		s.writeOAuthError(rq, oerr)
		return
	}
	if !s.auditReady(rq) {
		return
	}
	tok, exp, err := s.tokens.IssueToken(r.Context(), s.now(), treq)
	switch {
	case errors.Is(err, ErrInvalidClient):
		rq.denial = "token request: " + err.Error()
		desc := "AADSTS7000215: Invalid client secret provided, or the client is unknown or disabled."
		if treq.ClientAssertion != "" {
			desc = "AADSTS700027: The client assertion is not valid, or the client is unknown or disabled."
		}
		s.writeOAuthError(rq, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc})
		return
	case err != nil:
		s.writeOAuthError(rq, err)
		return
	}
	rq.w.Header().Set("Cache-Control", "no-store")
	rq.w.Header().Set("Pragma", "no-cache")
	s.writeJSON(rq, http.StatusOK, TokenResponse{TokenType: "Bearer", ExpiresIn: exp, ExtExpiresIn: exp, AccessToken: tok})
}

// servesHost reports whether host (a Host header, port optional) is one the
// server answers as itself: a bare host (localhost, an IP address, either
// DNS suffix), a vault host {vault}.{suffix} or {vault}.{hsmSuffix} (or a
// deeper name under a suffix), or the host of the configured bare resource — the hosts
// validIssuer accepts in the built-in issuer's iss. The port is not
// checked: the server may sit behind a proxy or port mapping.
func (s *Server) servesHost(host string) bool {
	name := strings.TrimSuffix(strings.ToLower(hostname(host)), ".")
	switch {
	case name == "":
		return false
	case name == "localhost", s.underSuffix(name), isIP(name):
		return true
	}
	bare := strings.TrimPrefix(s.cfg.BareResource, "https://")
	bare, _, _ = strings.Cut(bare, "/")
	return strings.EqualFold(hostname(bare), name)
}

// tokenRequest validates a parsed token form. The client authenticates with
// client_secret (form or HTTP Basic) or with client_assertion and
// client_assertion_type jwt-bearer, never both. The claims and client_info
// fields MSAL adds are ignored.
func (s *Server) tokenRequest(rq *request) (TokenRequest, *oauthError) {
	f := rq.r.PostForm
	switch gt := f.Get("grant_type"); {
	case gt == "":
		return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "The request body must contain the grant_type parameter."}
	case gt != "client_credentials":
		return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "Only the client_credentials grant is supported."}
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if bid, bsecret, ok := rq.r.BasicAuth(); ok && secret == "" {
		if id == "" || id == bid {
			id, secret = bid, bsecret
		}
	}
	if id == "" {
		return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "The request body must contain the client_id parameter."}
	}
	assertion, assertionType := f.Get("client_assertion"), f.Get("client_assertion_type")
	switch {
	case assertion != "" || assertionType != "":
		if assertionType != jwtBearerAssertion || assertion == "" {
			return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "A client assertion needs client_assertion and client_assertion_type " + jwtBearerAssertion + "."}
		}
		if secret != "" {
			return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: "The client must authenticate with either a secret or an assertion, not both."}
		}
	case secret == "":
		rq.denial = "token request without client credentials"
		return TokenRequest{}, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "The request must contain client_secret, or client_assertion and client_assertion_type."}
	}
	var resource string
	for _, sc := range strings.Fields(f.Get("scope")) {
		r, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			continue // openid, offline_access, profile
		}
		if resource != "" || r == "" {
			return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: "The scope must name exactly one resource as <resource>/.default."}
		}
		resource = r
	}
	if resource == "" {
		return TokenRequest{}, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: "The scope must name a resource as <resource>/.default."}
	}
	return TokenRequest{
		ClientID:        id,
		ClientSecret:    secret,
		ClientAssertion: assertion,
		TokenEndpoint:   "https://" + rq.r.Host + rq.r.URL.EscapedPath(),
		Tenant:          s.cfg.TenantID,
		Issuer:          "https://" + rq.r.Host + "/" + s.cfg.TenantID + "/v2.0",
		Audience:        resource,
	}, nil
}

// healthz answers liveness probes.
func (s *Server) healthz(rq *request) {
	if m := rq.r.Method; m != http.MethodGet && m != http.MethodHead {
		rq.w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	h := rq.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write([]byte("ok\n"))
}
