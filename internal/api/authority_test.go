package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// postForm sends a token request form to s.
func postForm(s http.Handler, host, path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "https://"+host+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func TestDiscovery(t *testing.T) {
	s, _ := newTestServer(t)
	for _, path := range []string{
		"/" + testTenant + "/v2.0/.well-known/openid-configuration",
		"/contoso-tenant/v2.0/.well-known/openid-configuration",
		"/" + testTenant + "/.well-known/openid-configuration",
	} {
		w := do(s, "GET", bareHost, path, "", "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		var got OpenIDConfiguration
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := OpenIDConfiguration{
			Issuer:                            "https://127.0.0.1:8443/" + testTenant + "/v2.0",
			AuthorizationEndpoint:             "https://127.0.0.1:8443/" + testTenant + "/oauth2/v2.0/authorize",
			TokenEndpoint:                     "https://127.0.0.1:8443/" + testTenant + "/oauth2/v2.0/token",
			JWKSURI:                           "https://127.0.0.1:8443/" + testTenant + "/discovery/v2.0/keys",
			ResponseTypesSupported:            []string{"token"},
			SubjectTypesSupported:             []string{"public"},
			IDTokenSigningAlgValuesSupported:  []string{"RS256"},
			GrantTypesSupported:               []string{"client_credentials"},
			TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
			TokenEndpointAuthSigningAlgValuesSupported: []string{"PS256", "RS256", "ES256"},
			ScopesSupported: []string{"openid", "profile", "offline_access"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", path, diff)
		}
	}
	// The issuer follows the host the client used.
	w := do(s, "GET", namedHost, "/"+testTenant+"/v2.0/.well-known/openid-configuration", "", "")
	if !strings.Contains(w.Body.String(), `"issuer":"https://dev.localhost:8443/`+testTenant+`/v2.0"`) {
		t.Errorf("discovery on %s = %s, want issuer on that host", namedHost, w.Body)
	}
}

func TestJWKS(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, "GET", bareHost, "/"+testTenant+"/discovery/v2.0/keys", "", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET jwks = %d %s", w.Code, w.Body)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "k1" {
		t.Errorf("GET jwks = %s, %v; want one key k1", w.Body, err)
	}
}

func TestToken(t *testing.T) {
	good := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {"app"},
		"client_secret": {"s3cret"},
		"scope":         {"https://localhost:8443/.default openid offline_access profile"},
		"claims":        {`{"access_token":{"xms_cc":{"values":["CP1"]}}}`},
		"client_info":   {"1"},
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	// withAssertion replaces the secret by an assertion (the fake accepts
	// none).
	withAssertion := func(assertion, typ string) url.Values {
		f := with("client_secret", "")
		if assertion != "" {
			f.Set("client_assertion", assertion)
		}
		if typ != "" {
			f.Set("client_assertion_type", typ)
		}
		return f
	}
	tokenPath := "/" + testTenant + "/oauth2/v2.0/token"
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		oauth  string // expected error, "" for success
	}{
		{"success", tokenPath, good, 200, ""},
		{"tenant case-insensitive", "/CONTOSO-TENANT/oauth2/v2.0/token", good, 200, ""},
		{"bad secret", tokenPath, with("client_secret", "nope"), 401, "invalid_client"},
		{"unknown client", tokenPath, with("client_id", "who"), 401, "invalid_client"},
		{"no secret", tokenPath, with("client_secret", ""), 401, "invalid_client"},
		{"no client id", tokenPath, with("client_id", ""), 400, "invalid_request"},
		{"no grant", tokenPath, with("grant_type", ""), 400, "invalid_request"},
		{"other grant", tokenPath, with("grant_type", "password"), 400, "unsupported_grant_type"},
		{"no resource scope", tokenPath, with("scope", "openid profile"), 400, "invalid_scope"},
		{"two resources", tokenPath, with("scope", "https://a/.default https://b/.default"), 400, "invalid_scope"},
		{"unknown tenant", "/other/oauth2/v2.0/token", good, 400, "invalid_request"},
		{"assertion and secret", tokenPath, with("client_assertion", "a.b.c"), 400, "invalid_request"},
		{"assertion without type", tokenPath, withAssertion("a.b.c", ""), 400, "invalid_request"},
		{"assertion of another type", tokenPath, withAssertion("a.b.c", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), 400, "invalid_request"},
		{"assertion type without assertion", tokenPath, withAssertion("", jwtBearerAssertion), 400, "invalid_request"},
		{"assertion refused", tokenPath, withAssertion("a.b.c", jwtBearerAssertion), 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			w := postForm(s, bareHost, tt.path, tt.form)
			if w.Code != tt.status {
				t.Fatalf("POST %s = %d %s, want %d", tt.path, w.Code, w.Body, tt.status)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("POST %s body %s: %v", tt.path, w.Body, err)
			}
			if tt.oauth != "" {
				if body["error"] != tt.oauth || body["error_description"] == "" {
					t.Errorf("POST %s body = %s, want error %s with a description", tt.path, w.Body, tt.oauth)
				}
				if strings.Contains(w.Body.String(), "nope") {
					t.Errorf("POST %s body %s echoes the secret", tt.path, w.Body)
				}
				return
			}
			want := map[string]any{
				"token_type": "Bearer", "expires_in": 3600.0, "ext_expires_in": 3600.0,
				"access_token": "https://127.0.0.1:8443/" + testTenant + "/v2.0|https://localhost:8443",
			}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("POST %s (-want +got):\n%s", tt.path, diff)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("POST %s Cache-Control = %q, want no-store", tt.path, got)
			}
		})
	}
}

func TestTokenBasicAuth(t *testing.T) {
	s, _ := newTestServer(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"https://localhost:8443/.default"}}
	req := httptest.NewRequest("POST", "https://"+bareHost+"/"+testTenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "s3cret")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("POST token with basic auth = %d %s, want 200", w.Code, w.Body)
	}
}

// TestTokenThenVault runs the client flow against the fakes: challenge,
// token for the challenge's resource, authenticated request.
func TestTokenThenVault(t *testing.T) {
	s, _ := newTestServer(t)
	for _, host := range []string{namedHost, bareHost} {
		w := do(s, "GET", host, "/keys/k1?api-version=7.5", "", "")
		h := w.Header().Get("WWW-Authenticate")
		_, resource, _ := strings.Cut(h, `resource="`)
		resource = strings.TrimSuffix(resource, `"`)
		w = postForm(s, bareHost, "/"+testTenant+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"},
			"scope": {resource + "/.default"},
		})
		var tok TokenResponse
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			t.Fatal(err)
		}
		if w := do(s, "GET", host, "/keys/k1?api-version=7.5", tok.AccessToken, ""); w.Code != http.StatusOK {
			t.Errorf("GET on %s with token for %s = %d %s, want 200", host, resource, w.Code, w.Body)
		}
	}
}

// recordingTokens is fakeTokens remembering the token requests it got.
type recordingTokens struct {
	fakeTokens
	got []TokenRequest
}

func (r *recordingTokens) IssueToken(ctx context.Context, now time.Time, req TokenRequest) (string, int, error) {
	r.got = append(r.got, req)
	return r.fakeTokens.IssueToken(ctx, now, req)
}

// TestTokenHost checks that the token endpoint answers only on hosts the
// server serves: the token endpoint URL a client assertion's aud must name
// is built from Host, so another host would accept assertions made for
// another authority (such as Entra ID's token endpoint).
func TestTokenHost(t *testing.T) {
	path := "/" + testTenant + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"https://localhost:8443/.default"},
		"client_assertion_type": {jwtBearerAssertion}, "client_assertion": {"a.b.c"},
	}
	tests := []struct {
		host   string
		served bool
	}{
		{bareHost, true},
		{namedHost, true},
		{"localhost:8443", true},
		{"localhost", true},
		{"[::1]:8443", true},
		{"Dev.LocalHost.:8443", true},
		{"kv.example.com", true}, // the configured bare resource's host
		{"kv.example.com:443", true},
		{"login.microsoftonline.com", false},
		{"login.microsoftonline.com:8443", false},
		{"localhost.evil.example:8443", false},
		{"example.com", false},
		{"evil-localhost:8443", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			rec := &recordingTokens{}
			s, _ := newServerWith(t, func(c *Config, d *Deps) {
				c.BareResource = "https://kv.example.com"
				d.Tokens = rec
			})
			req := httptest.NewRequest("POST", "https://localhost"+path, strings.NewReader(form.Encode()))
			req.Host = tt.host
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if !tt.served {
				var body map[string]any
				json.Unmarshal(w.Body.Bytes(), &body)
				if w.Code != http.StatusBadRequest || body["error"] != "invalid_request" {
					t.Errorf("POST token on %s = %d %s, want 400 invalid_request", tt.host, w.Code, w.Body)
				}
				if len(rec.got) != 0 {
					t.Errorf("POST token on %s reached IssueToken with %+v", tt.host, rec.got)
				}
				return
			}
			// The fake refuses every assertion: 401 after IssueToken saw
			// the endpoint on the host the client used.
			if w.Code != http.StatusUnauthorized || len(rec.got) != 1 {
				t.Fatalf("POST token on %s = %d %s (%d token requests), want 401 from IssueToken", tt.host, w.Code, w.Body, len(rec.got))
			}
			if want := "https://" + tt.host + path; rec.got[0].TokenEndpoint != want {
				t.Errorf("TokenEndpoint = %q, want %q", rec.got[0].TokenEndpoint, want)
			}
		})
	}
}

// TestHSMSuffixHosts checks that the token endpoint host check and the
// issuer check accept the managed HSM suffix's hosts as well as the vault
// suffix's, and nothing beside them.
func TestHSMSuffixHosts(t *testing.T) {
	s, _ := newServerWith(t, func(c *Config, _ *Deps) {
		c.DNSSuffix, c.HSMDNSSuffix, c.BareResource = "vault.example", "mhsm.example", "https://kv.example.com"
	})
	for host, want := range map[string]bool{
		"hsm1.mhsm.example:8443": true,
		"mhsm.example":           true,
		"HSM1.MHSM.Example":      true,
		"kv1.vault.example":      true,
		"vault.example:8443":     true,
		"example":                false,
		"other.example":          false,
		"mhsm.example.evil":      false,
		"evilmhsm.example":       false,
	} {
		if got := s.servesHost(host); got != want {
			t.Errorf("servesHost(%q) = %v, want %v", host, got, want)
		}
		iss := "https://" + host + "/" + testTenant + "/v2.0"
		if got := s.validIssuer(iss, "kv1.vault.example:8443"); got != want {
			t.Errorf("validIssuer(%q) = %v, want %v", iss, got, want)
		}
	}
}
