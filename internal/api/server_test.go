package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errorCode returns error.code of an Azure error body.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return b.Error.Code
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name, host, token, target, wantHeader string
	}{
		{
			name: "named origin", host: namedHost, target: "/keys/k1/create?api-version=7.5",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "bare origin", host: bareHost, target: "/keys/k1/create?api-version=7.5",
			wantHeader: `Bearer authorization="https://127.0.0.1:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "named origin case kept", host: "Dev.LocalHost:8443", target: "/keys/k1/create?api-version=7.5",
			wantHeader: `Bearer authorization="https://Dev.LocalHost:8443/Contoso-Tenant", resource="https://LocalHost:8443"`,
		},
		{
			name: "before api-version", host: namedHost, target: "/keys/k1/create",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "before route", host: namedHost, target: "/nothing/here?api-version=1",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "wrong audience", host: namedHost, target: "/keys/k1?api-version=7.5",
			token:      "https://127.0.0.1:8443/" + testTenant + "/v2.0|https://dev.localhost:8443",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "foreign issuer", host: namedHost, target: "/keys/k1?api-version=7.5",
			token:      "https://login.example.com/" + testTenant + "/v2.0|https://localhost:8443",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
		{
			name: "other tenant", host: namedHost, target: "/keys/k1?api-version=7.5",
			token:      "https://127.0.0.1:8443/other/v2.0|https://localhost:8443",
			wantHeader: `Bearer authorization="https://dev.localhost:8443/Contoso-Tenant", resource="https://localhost:8443"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t)
			// An empty body with a JSON content type, as the SDKs send first.
			w := do(s, "POST", tt.host, tt.target, tt.token, "")
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("POST %s = %d %s, want 401", tt.target, w.Code, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantHeader {
				t.Errorf("WWW-Authenticate = %s, want %s", got, tt.wantHeader)
			}
			want := `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`
			if got := w.Body.String(); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want application/json; charset=utf-8", got)
			}
			if got := f.last(); got != (call{}) {
				t.Errorf("domain called before authentication: %+v", got)
			}
		})
	}
}

func TestChallengeHeaderParsesLikeSDKs(t *testing.T) {
	h := challengeHeader(namedHost, testTenant, "https://localhost:8443")
	// Go azkeys: strip "Bearer ", split on spaces, each on "=" into exactly 2.
	params := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(h, "Bearer "), " ") {
		kv := strings.Split(part, "=")
		if len(kv) != 2 {
			t.Fatalf("challenge part %q does not split into 2 on '='", part)
		}
		params[kv[0]] = strings.Trim(strings.TrimSuffix(kv[1], ","), `"`)
	}
	want := map[string]string{"authorization": "https://dev.localhost:8443/" + testTenant, "resource": "https://localhost:8443"}
	if diff := cmp.Diff(want, params); diff != "" {
		t.Errorf("challengeHeader parsed (-want +got):\n%s", diff)
	}
}

func TestVaultResolution(t *testing.T) {
	tests := []struct {
		host      string
		wantVault string
		wantHSM   bool
		wantNamed bool
	}{
		{"dev.localhost:8443", "dev", false, true},
		{"DEV.LocalHost:8443", "dev", false, true},
		{"dev.localhost", "dev", false, true},
		{"dev.localhost.:8443", "dev", false, true},
		{"127.0.0.1:8443", "", false, false},
		{"[::1]:8443", "", false, false},
		{"localhost:8443", "", false, false},
		{"a.b.localhost:8443", "", false, false},
		{"example.com", "", false, false},
		// managedhsm.localhost is under localhost: the longer suffix wins.
		{"hsm1.managedhsm.localhost:8443", "hsm1", true, true},
		{"HSM1.ManagedHSM.localhost", "hsm1", true, true},
		{"managedhsm.localhost:8443", "", false, false},
		{"a.hsm1.managedhsm.localhost:8443", "", false, false},
	}
	s, _ := newTestServer(t)
	for _, tt := range tests {
		name, hsm, named := s.vaultOfHost(tt.host)
		if name != tt.wantVault || hsm != tt.wantHSM || named != tt.wantNamed {
			t.Errorf("vaultOfHost(%q) = %q, %v, %v, want %q, %v, %v", tt.host, name, hsm, named, tt.wantVault, tt.wantHSM, tt.wantNamed)
		}
	}
}

// TestVaultResolutionSuffixOrder checks that the longer suffix is matched
// first whichever of the two it is.
func TestVaultResolutionSuffixOrder(t *testing.T) {
	for _, tt := range []struct {
		dns, hsm, host, wantVault string
		wantHSM                   bool
	}{
		{"vault.example", "example", "kv1.vault.example", "kv1", false},
		{"vault.example", "example", "hsm1.example", "hsm1", true},
		{"example", "hsm.example", "hsm1.hsm.example", "hsm1", true},
		{"example", "hsm.example", "kv1.example", "kv1", false},
		{"vault.azure.net", "managedhsm.azure.net", "kv1.vault.azure.net", "kv1", false},
		{"vault.azure.net", "managedhsm.azure.net", "hsm1.managedhsm.azure.net", "hsm1", true},
	} {
		s, _ := newServerWith(t, func(c *Config, _ *Deps) { c.DNSSuffix, c.HSMDNSSuffix = tt.dns, tt.hsm })
		name, hsm, named := s.vaultOfHost(tt.host)
		if !named || name != tt.wantVault || hsm != tt.wantHSM {
			t.Errorf("suffixes %q/%q: vaultOfHost(%q) = %q, %v, %v, want %q, %v, true", tt.dns, tt.hsm, tt.host, name, hsm, named, tt.wantVault, tt.wantHSM)
		}
	}
}

// TestManagedHSMOrigin checks that a managedhsm vault is served only under
// the HSM suffix and any other vault only under the vault suffix, that each
// origin's challenge names its own resource, and that a token for one
// resource is refused at the other.
func TestManagedHSMOrigin(t *testing.T) {
	s, _ := newTestServer(t)
	const (
		hsmResource   = "https://managedhsm.localhost:8443"
		vaultResource = "https://localhost:8443"
	)
	for _, tt := range []struct {
		name, host, token string
		status            int
		code, resource    string
	}{
		{"hsm with hsm token", "hsm.managedhsm.localhost:8443", hsmToken, 200, "", ""},
		{"hsm challenge", "hsm.managedhsm.localhost:8443", "", 401, "Unauthorized", hsmResource},
		{"hsm refuses a vault token", "hsm.managedhsm.localhost:8443", namedToken, 401, "Unauthorized", hsmResource},
		{"vault with vault token", "dev.localhost:8443", namedToken, 200, "", ""},
		{"vault challenge", "dev.localhost:8443", "", 401, "Unauthorized", vaultResource},
		{"vault refuses an hsm token", "dev.localhost:8443", hsmToken, 401, "Unauthorized", vaultResource},
		{"hsm under the vault suffix", "hsm.localhost:8443", namedToken, 404, "VaultNotFound", ""},
		{"hsm under the vault suffix, no token", "hsm.localhost:8443", "", 404, "VaultNotFound", ""},
		{"vault under the hsm suffix", "dev.managedhsm.localhost:8443", hsmToken, 404, "VaultNotFound", ""},
		{"unknown hsm", "nope.managedhsm.localhost:8443", hsmToken, 404, "VaultNotFound", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := do(s, "GET", tt.host, "/keys?api-version=7.5", tt.token, "")
			if w.Code != tt.status {
				t.Fatalf("GET %s/keys = %d %s, want %d", tt.host, w.Code, w.Body, tt.status)
			}
			if tt.code != "" && errorCode(t, w) != tt.code {
				t.Errorf("GET %s/keys code = %s, want %s", tt.host, errorCode(t, w), tt.code)
			}
			if tt.resource != "" {
				want := challengeHeader(tt.host, testTenant, tt.resource)
				if got := w.Header().Get("WWW-Authenticate"); got != want {
					t.Errorf("challenge = %s, want %s", got, want)
				}
			}
		})
	}
}

// TestManagedHSMNotAtBareOrigin checks that a managedhsm default vault is
// not served at the bare origin.
func TestManagedHSMNotAtBareOrigin(t *testing.T) {
	s, _ := newServerWith(t, func(c *Config, _ *Deps) { c.DefaultVault = "hsm" })
	for _, tok := range []string{bareToken, hsmToken, ""} {
		w := do(s, "GET", bareHost, "/keys?api-version=7.5", tok, "")
		if w.Code != 404 || errorCode(t, w) != "VaultNotFound" {
			t.Errorf("GET bare /keys (token %q) = %d %s, want 404 VaultNotFound", tok, w.Code, w.Body)
		}
	}
}

func TestParentHost(t *testing.T) {
	for in, want := range map[string]string{
		"dev.localhost:8443":      "localhost:8443",
		"kv1.example.com":         "example.com",
		"kv1.vault.example.com:1": "vault.example.com:1",
	} {
		if got := parentHost(in); got != want {
			t.Errorf("parentHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnknownVault(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, "GET", "nope.localhost:8443", "/keys?api-version=7.5", "", "")
	if w.Code != http.StatusNotFound {
		t.Fatalf("GET unknown vault = %d, want 404", w.Code)
	}
	if got := errorCode(t, w); got != "VaultNotFound" {
		t.Errorf("error.code = %q, want VaultNotFound", got)
	}
}

func TestNoDefaultVault(t *testing.T) {
	s, _ := newTestServer(t)
	s.cfg.DefaultVault = ""
	w := do(s, "GET", bareHost, "/keys?api-version=7.5", bareToken, "")
	if w.Code != http.StatusNotFound {
		t.Fatalf("GET /keys on bare origin without default vault = %d, want 404", w.Code)
	}
}

func TestAPIVersion(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		{"2016-10-01", true}, {"7.0", true}, {"7.1", true}, {"7.2", true}, {"7.3", true},
		{"7.4", true}, {"7.5", true}, {"7.6", true}, {"7.3-preview", true}, {"7.4-preview.1", true},
		{"7.5-preview.1", true}, {"7.6-preview.1", true}, {"7.6-preview.2", true}, {"7.6-PREVIEW.2", true},
		{"2025-06-01", true}, {"2025-06-01-preview", true}, {"2025-07-01", true},
		{"", false}, {"7", false}, {"7.7", false}, {"7.5-preview.2", false}, {"8.0", false},
		{"2026-01-01-preview", false}, {"7.5x", false}, {"latest", false},
	}
	for _, tt := range tests {
		if _, ok := parseAPIVersion(tt.v); ok != tt.ok {
			t.Errorf("parseAPIVersion(%q) ok = %v, want %v", tt.v, ok, tt.ok)
		}
	}
	s, _ := newTestServer(t)
	for _, target := range []string{"/keys", "/keys?api-version=", "/keys?api-version=9.9", "/keys?apiversion=7.5"} {
		w := do(s, "GET", namedHost, target, namedToken, "")
		if w.Code != http.StatusBadRequest || errorCode(t, w) != "BadParameter" {
			t.Errorf("GET %s = %d %s, want 400 BadParameter", target, w.Code, w.Body)
		}
	}
	for _, target := range []string{"/keys?API-Version=7.5", "/keys?api%2Dversion=7.5", "/keys?api-version=7.4-Preview.1"} {
		if w := do(s, "GET", namedHost, target, namedToken, ""); w.Code != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", target, w.Code, w.Body)
		}
	}
}

func TestRequestID(t *testing.T) {
	s, _ := newTestServer(t)
	req := httptest.NewRequest("GET", "https://"+namedHost+"/keys?api-version=7.5", nil)
	req.Header.Set("x-ms-client-request-id", "client-abc")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if got := w.Header().Get("x-ms-request-id"); !guid.MatchString(got) {
		t.Errorf("x-ms-request-id = %q, want a GUID", got)
	}
	if got := w.Header().Get("x-ms-client-request-id"); got != "client-abc" {
		t.Errorf("x-ms-client-request-id = %q, want client-abc", got)
	}
}

func TestBodyLimit(t *testing.T) {
	s, f := newTestServer(t)
	big := `{"alg":"RS256","value":"` + strings.Repeat("A", jsonBody) + `"}`
	w := do(s, "POST", namedHost, "/keys/k1//sign?api-version=7.5", namedToken, big)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST sign with %d bytes = %d, want 413", len(big), w.Code)
	}
	if got := f.last(); got != (call{}) {
		t.Errorf("domain called with oversize body: %+v", got)
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newTestServer(t)
	for _, host := range []string{bareHost, namedHost, "nope.localhost:8443"} {
		if w := do(s, "GET", host, "/healthz", "", ""); w.Code != 200 || w.Body.String() != "ok\n" {
			t.Errorf("GET %s/healthz = %d %q, want 200 ok", host, w.Code, w.Body)
		}
	}
}

func TestRequestLog(t *testing.T) {
	var buf strings.Builder
	s, _ := newTestServer(t)
	s.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := do(s, "POST", namedHost, "/keys/k1//sign?api-version=7.5&sig=SECRETQUERY", namedToken, `{"alg":"RS256","value":"AAAA"}`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("request log %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{
		"msg": "request", "request_id": w.Header().Get("x-ms-request-id"), "method": "POST",
		"path": "/keys/k1//sign", "status": 200.0, "vault": "dev", "caller": "oid-1",
	} {
		if rec[k] != want {
			t.Errorf("request log %s = %v, want %v", k, rec[k], want)
		}
	}
	if _, ok := rec["duration"]; !ok {
		t.Errorf("request log has no duration: %s", buf.String())
	}
	if strings.Contains(buf.String(), "SECRETQUERY") || strings.Contains(buf.String(), "AAAA") {
		t.Errorf("request log leaks the query or body: %s", buf.String())
	}
}

func TestInternalErrorLogged(t *testing.T) {
	var buf strings.Builder
	s, f := newTestServer(t)
	s.log = slog.New(slog.NewJSONHandler(&buf, nil))
	f.err = errors.New("store: disk failure detail")
	w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	if w.Code != 500 || strings.Contains(w.Body.String(), "disk failure") {
		t.Errorf("GET with internal error = %d %s, want 500 without detail", w.Code, w.Body)
	}
	id := w.Header().Get("x-ms-request-id")
	if !strings.Contains(buf.String(), "disk failure detail") || !strings.Contains(buf.String(), id) {
		t.Errorf("log %s lacks the detail or request id %s", buf.String(), id)
	}
}
