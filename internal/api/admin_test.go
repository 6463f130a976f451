package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/rbac"
)

// jsonOf decodes a response body into generic JSON.
func jsonOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response body %q: %v", w.Body, err)
	}
	return m
}

// wantJSON compares a response body with the JSON document want.
func wantJSON(t *testing.T, what string, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	var wm map[string]any
	if err := json.Unmarshal([]byte(want), &wm); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if d := cmp.Diff(wm, jsonOf(t, w)); d != "" {
		t.Errorf("%s body (-want +got):\n%s", what, d)
	}
}

func TestAdminAuthentication(t *testing.T) {
	e := newAdminEnv(t)
	tests := []struct {
		name, method, target, sub, token string
		status                           int
		code, inner                      string
	}{
		{name: "no token", method: "GET", target: "/admin/v1/vaults", status: 401, code: "Unauthorized"},
		{name: "wrong audience", method: "GET", target: "/admin/v1/vaults", token: "https://dev.localhost:8443|" + adminSubject, status: 401, code: "Unauthorized"},
		{name: "no token before body", method: "POST", target: "/admin/v1/vaults", status: 401, code: "Unauthorized"},
		{name: "stranger read", method: "GET", target: "/admin/v1/vaults", sub: strangerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader write", method: "POST", target: "/admin/v1/vaults", sub: readerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader delete", method: "DELETE", target: "/admin/v1/vaults/dev", sub: readerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader principals", method: "POST", target: "/admin/v1/principals", sub: readerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader roles", method: "PUT", target: "/admin/v1/roleDefinitions/x", sub: readerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader assignments", method: "DELETE", target: "/admin/v1/roleAssignments/x", sub: readerSubject, status: 403, code: "Forbidden", inner: "ForbiddenByRbac"},
		{name: "reader reads", method: "GET", target: "/admin/v1/vaults/dev", sub: readerSubject, status: 200},
		{name: "openapi without token", method: "GET", target: "/admin/v1/openapi.json", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" && tt.sub != "" {
				token = adminToken(tt.sub)
			}
			w := do(e.s, tt.method, bareHost, tt.target, token, `{"name":"x"}`)
			wantStatus(t, tt.name, w, tt.status, tt.code)
			if tt.status == 401 {
				want := `Bearer authorization="https://127.0.0.1:8443/Contoso-Tenant", resource="https://localhost:8443"`
				if got := w.Header().Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
			if tt.inner != "" {
				var b errorBody
				json.Unmarshal(w.Body.Bytes(), &b)
				if b.Error.InnerError == nil || b.Error.InnerError.Code != tt.inner {
					t.Errorf("innererror = %+v, want %s", b.Error.InnerError, tt.inner)
				}
			}
		})
	}
	if got := e.vaults.calls; slices.Contains(got, "CreateVault x") || slices.Contains(got, "DeleteVault dev") {
		t.Errorf("refused requests reached the domain: %q", got)
	}
	// Every check is at scope "/" with the route's action.
	if !slices.Contains(e.authz.asked, readerSubject+" "+rbac.ActionVaultsWrite+" /") {
		t.Errorf("Authorize questions %q lack the vault write action at /", e.authz.asked)
	}
}

func TestAdminRouting(t *testing.T) {
	e := newAdminEnv(t)
	tests := []struct {
		name, method, host, target string
		status                     int
		code                       string
	}{
		{"unknown collection", "GET", bareHost, "/admin/v1/keys", 404, "NotFound"},
		{"unknown version", "GET", bareHost, "/admin/v2/vaults", 404, "NotFound"},
		{"too deep", "GET", bareHost, "/admin/v1/vaults/dev/keys", 404, "NotFound"},
		{"wrong method", "PUT", bareHost, "/admin/v1/vaults", 405, "MethodNotAllowed"},
		{"wrong method on item", "POST", bareHost, "/admin/v1/vaults/dev", 405, "MethodNotAllowed"},
		{"trailing slash", "GET", bareHost, "/admin/v1/vaults/", 200, ""},
		{"escaped name", "GET", bareHost, "/admin/v1/vaults/d%65v", 200, ""},
		{"case of literals", "GET", bareHost, "/Admin/V1/Vaults", 200, ""},
		{"localhost is bare", "GET", "localhost:8443", "/admin/v1/vaults", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(e.s, tt.method, tt.host, tt.target, adminToken(adminSubject), "")
			wantStatus(t, tt.name, w, tt.status, tt.code)
		})
	}
	if got := do(e.s, "PUT", bareHost, "/admin/v1/vaults/dev", adminToken(adminSubject), "").Header().Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Errorf("405 Allow = %q, want GET, PATCH, DELETE", got)
	}
	// On a vault's own host, /admin/ is a data-plane path, not this API.
	before := len(e.vaults.calls)
	w := do(e.s, "GET", namedHost, "/admin/v1/vaults?api-version=7.5", adminToken(adminSubject), "")
	if w.Code == http.StatusOK || len(e.vaults.calls) != before {
		t.Errorf("GET /admin/v1/vaults on %s = %d, calls %q; want a data-plane refusal", namedHost, w.Code, e.vaults.calls[before:])
	}
}

func TestAdminNotConfigured(t *testing.T) {
	s, _ := newTestServer(t) // no admin collaborators, no Authorizer
	for _, target := range []string{"/admin/v1/vaults", "/admin/v1/principals", "/admin/v1/roleDefinitions", "/admin/v1/roleAssignments"} {
		w := do(s, "GET", bareHost, target, bareToken, "")
		if w.Code != http.StatusNotImplemented || !strings.Contains(w.Body.String(), "not configured") {
			t.Errorf("GET %s without collaborators = %d %s, want 501 not configured", target, w.Code, w.Body)
		}
	}
	if w := do(s, "GET", bareHost, "/admin/v1/openapi.json", "", ""); w.Code != http.StatusOK {
		t.Errorf("GET openapi.json without collaborators = %d, want 200", w.Code)
	}
	if w := do(s, "GET", bareHost, "/admin/v1/nothing", bareToken, ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /admin/v1/nothing = %d, want 404", w.Code)
	}
	// Collaborators without an Authorizer: still refused, never open.
	s2 := New(Config{TenantID: testTenant, Port: 8443}, Deps{Vaults: newFakeVaults(), Tokens: fakeTokens{}, VaultAdmin: newAdminFakeVaults()})
	if w := do(s2, "GET", bareHost, "/admin/v1/vaults", bareToken, ""); w.Code != http.StatusNotImplemented {
		t.Errorf("GET vaults without Authorizer = %d, want 501", w.Code)
	}
}

// TestAdminVaultURIBySKU checks that a managedhsm vault's uri is under the
// managed HSM suffix, and every other vault's under the vault suffix.
func TestAdminVaultURIBySKU(t *testing.T) {
	e := newAdminEnv(t)
	w := e.do("POST", "/admin/v1/vaults", adminSubject, `{"name":"hsm1","sku":"managedhsm","retentionDays":30}`)
	wantStatus(t, "POST managedhsm vault", w, 201, "")
	if !strings.Contains(w.Body.String(), `"uri":"https://hsm1.managedhsm.localhost:8443"`) {
		t.Errorf("POST managedhsm vault = %s, want uri https://hsm1.managedhsm.localhost:8443", w.Body)
	}
	w = e.do("POST", "/admin/v1/vaults", adminSubject, `{"name":"kv1","sku":"standard","retentionDays":30}`)
	wantStatus(t, "POST standard vault", w, 201, "")
	if !strings.Contains(w.Body.String(), `"uri":"https://kv1.localhost:8443"`) {
		t.Errorf("POST standard vault = %s, want uri https://kv1.localhost:8443", w.Body)
	}
}

func TestAdminVaults(t *testing.T) {
	e := newAdminEnv(t)
	const admin = adminSubject

	w := e.do("POST", "/admin/v1/vaults", admin, `{"name":"payments","sku":"Standard","retentionDays":30,"purgeProtection":false,
		"networkRules":{"defaultAction":"deny","ipRules":["10.1.2.3/8","2001:db8::/32","192.0.2.7"]},"keyPolicy":{"minRsaSize": 3072}}`)
	wantStatus(t, "POST vaults", w, 201, "")
	want := `{"name":"payments","sku":"standard","retentionDays":30,"purgeProtection":false,
		"networkRules":{"defaultAction":"Deny","ipRules":["10.0.0.0/8","2001:db8::/32","192.0.2.7/32"]},
		"keyPolicy":{"minRsaSize":3072},
		"uri":"https://payments.localhost:8443","created":1767225600}`
	wantJSON(t, "POST vaults", w, want)
	wantJSON(t, "GET vault", e.do("GET", "/admin/v1/vaults/payments", admin, ""), want)

	w = e.do("GET", "/admin/v1/vaults", admin, "")
	wantStatus(t, "GET vaults", w, 200, "")
	wantJSON(t, "GET vaults", w, `{"value":[
		{"name":"dev","sku":"premium","retentionDays":90,"purgeProtection":false,"networkRules":{"defaultAction":"Allow","ipRules":[]},
		 "uri":"https://dev.localhost:8443","created":1700000000},`+want+`]}`)

	steps := []struct {
		name, method, target, body string
		status                     int
		code                       string
		has                        string // a substring the body must hold
	}{
		{"duplicate", "POST", "/admin/v1/vaults", `{"name":"payments","sku":"premium"}`, 409, "Conflict", "already exists"},
		{"bad name", "POST", "/admin/v1/vaults", `{"name":"Pay","sku":"premium"}`, 400, "BadParameter", ""},
		{"no name", "POST", "/admin/v1/vaults", `{"sku":"premium"}`, 400, "BadParameter", "name"},
		{"no sku", "POST", "/admin/v1/vaults", `{"name":"abc"}`, 400, "BadParameter", "sku"},
		{"zero retention", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","retentionDays":0}`, 400, "BadParameter", "retentionDays"},
		{"unknown field", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","location":"x"}`, 400, "BadParameter", "location"},
		{"read-only field", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","uri":"https://x"}`, 400, "BadParameter", "uri"},
		{"unknown nested field", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","networkRules":{"defaultAction":"Allow","bypass":"x"}}`, 400, "BadParameter", "networkRules.bypass"},
		{"field case", "POST", "/admin/v1/vaults", `{"Name":"abc","sku":"premium"}`, 400, "BadParameter", "Name"},
		{"bad ip rule", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","networkRules":{"defaultAction":"Deny","ipRules":["10.0.0.0/33"]}}`, 400, "BadParameter", "10.0.0.0/33"},
		{"bad default action", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","networkRules":{"defaultAction":"Block"}}`, 400, "BadParameter", "Block"},
		{"bad key policy", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":[1]}`, 400, "BadParameter", "keyPolicy"},
		{"wrong type", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","retentionDays":"30"}`, 400, "BadParameter", "retentionDays"},
		{"not an object", "POST", "/admin/v1/vaults", `["abc"]`, 400, "BadParameter", ""},
		{"not JSON", "POST", "/admin/v1/vaults", `{"name":`, 400, "BadParameter", ""},
		{"empty body", "POST", "/admin/v1/vaults", ``, 400, "BadParameter", "required"},
		{"retention change", "PATCH", "/admin/v1/vaults/payments", `{"retentionDays":60}`, 400, "BadParameter", "cannot be changed"},
		{"same retention", "PATCH", "/admin/v1/vaults/payments", `{"retentionDays":30}`, 200, "", `"retentionDays":30`},
		{"purge protection on", "PATCH", "/admin/v1/vaults/payments", `{"purgeProtection":true}`, 200, "", `"purgeProtection":true`},
		{"purge protection off", "PATCH", "/admin/v1/vaults/payments", `{"purgeProtection":false}`, 400, "BadParameter", "cannot be turned off"},
		{"network replaced", "PATCH", "/admin/v1/vaults/payments", `{"networkRules":{"defaultAction":"Allow","ipRules":[]}}`, 200, "", `"networkRules":{"defaultAction":"Allow","ipRules":[]}`},
		{"key policy removed", "PATCH", "/admin/v1/vaults/payments", `{"keyPolicy":null}`, 200, "", `"uri"`},
		{"patch sku", "PATCH", "/admin/v1/vaults/payments", `{"sku":"premium"}`, 400, "BadParameter", "sku"},
		{"patch missing", "PATCH", "/admin/v1/vaults/nope", `{}`, 404, "VaultNotFound", ""},
		{"get missing", "GET", "/admin/v1/vaults/nope", ``, 404, "VaultNotFound", ""},
		{"delete missing", "DELETE", "/admin/v1/vaults/nope", ``, 404, "VaultNotFound", ""},
		{"oversize", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":{"maxValidity":"` + strings.Repeat("a", adminBody) + `"}}`, 413, "BadParameter", ""},
	}
	for _, st := range steps {
		w := e.do(st.method, st.target, admin, st.body)
		wantStatus(t, st.name, w, st.status, st.code)
		if !strings.Contains(w.Body.String(), st.has) {
			t.Errorf("%s body %s does not hold %s", st.name, w.Body, st.has)
		}
	}
	if v := e.vaults.vaults["payments"]; !v.KeyPolicy.IsZero() || !v.PurgeProtection {
		t.Errorf("vault after PATCHes = %+v, want purge protection and no key policy", v)
	}

	e.vaults.full["payments"] = true
	w = e.do("DELETE", "/admin/v1/vaults/payments", admin, "")
	wantStatus(t, "DELETE vault with keys", w, 409, "Conflict")
	e.vaults.full["payments"] = false
	w = e.do("DELETE", "/admin/v1/vaults/Payments", admin, "")
	wantStatus(t, "DELETE vault", w, 204, "")
	if w.Body.Len() != 0 {
		t.Errorf("DELETE vault body = %q, want none", w.Body)
	}
	wantStatus(t, "GET deleted vault", e.do("GET", "/admin/v1/vaults/payments", admin, ""), 404, "VaultNotFound")
}

// selfSignedPEM returns a PEM certificate for a fresh P-256 key.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "billing"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestAdminPrincipals(t *testing.T) {
	e := newAdminEnv(t)
	const admin = adminSubject

	w := e.do("POST", "/admin/v1/principals", admin, `{"name":"billing","secretExpiresInDays":365}`)
	wantStatus(t, "POST principals", w, 201, "")
	wantJSON(t, "POST principals", w, `{"clientId":"client-1","objectId":"object-client-1","name":"billing","disabled":false,"created":1767225600,
		"credentials":[{"id":"cred-1","type":"secret","created":1767225600,"expires":1798761600}],
		"clientSecret":"secret-1_Zq9"}`)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("POST principals Cache-Control = %q, want no-store", cc)
	}

	shown := `{"clientId":"client-1","objectId":"object-client-1","name":"billing","disabled":false,"created":1767225600,
		"credentials":[{"id":"cred-1","type":"secret","created":1767225600,"expires":1798761600}]}`
	wantJSON(t, "GET principal", e.do("GET", "/admin/v1/principals/client-1", admin, ""), shown)
	wantJSON(t, "GET principals", e.do("GET", "/admin/v1/principals", readerSubject, ""), `{"value":[`+shown+`]}`)

	w = e.do("PATCH", "/admin/v1/principals/client-1", admin, `{"disabled":true}`)
	wantStatus(t, "PATCH principal", w, 200, "")
	if m := jsonOf(t, w); m["disabled"] != true || m["clientSecret"] != nil {
		t.Errorf("PATCH principal = %v, want disabled and no secret", m)
	}

	w = e.do("POST", "/admin/v1/principals/client-1/credentials", admin, `{"type":"secret","expiresInDays":90}`)
	wantStatus(t, "POST secret", w, 201, "")
	wantJSON(t, "POST secret", w, `{"id":"cred-2","type":"secret","created":1767225600,"expires":1775001600,"clientSecret":"secret-2_Zq9"}`)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("POST secret Cache-Control = %q, want no-store", cc)
	}

	w = e.do("POST", "/admin/v1/principals/client-1/credentials", admin, `{"type":"certificate","certificate":`+jsonString(selfSignedPEM(t))+`}`)
	wantStatus(t, "POST certificate", w, 201, "")
	m := jsonOf(t, w)
	if m["type"] != "certificate" || m["thumbprint"] == nil || m["clientSecret"] != nil || m["id"] != "cred-3" {
		t.Errorf("POST certificate = %v, want a certificate credential with thumbprint and no secret", m)
	}

	steps := []struct {
		name, method, target, body string
		status                     int
		code                       string
		has                        string
	}{
		{"no name", "POST", "/admin/v1/principals", `{}`, 400, "BadParameter", "name"},
		{"long name", "POST", "/admin/v1/principals", `{"name":"` + strings.Repeat("n", 300) + `"}`, 400, "BadParameter", "256"},
		{"expiry zero", "POST", "/admin/v1/principals", `{"name":"x","secretExpiresInDays":0}`, 400, "BadParameter", "secretExpiresInDays"},
		{"expiry huge", "POST", "/admin/v1/principals", `{"name":"x","secretExpiresInDays":100000}`, 400, "BadParameter", "secretExpiresInDays"},
		{"unknown field", "POST", "/admin/v1/principals", `{"name":"x","roles":["admin"]}`, 400, "BadParameter", "roles"},
		{"client secret in body", "POST", "/admin/v1/principals", `{"name":"x","clientSecret":"chosen"}`, 400, "BadParameter", "clientSecret"},
		{"patch nothing", "PATCH", "/admin/v1/principals/client-1", `{}`, 400, "BadParameter", "disabled"},
		{"patch name", "PATCH", "/admin/v1/principals/client-1", `{"name":"y"}`, 400, "BadParameter", "name"},
		{"patch missing", "PATCH", "/admin/v1/principals/nope", `{"disabled":false}`, 404, "NotFound", ""},
		{"get missing", "GET", "/admin/v1/principals/nope", ``, 404, "NotFound", ""},
		{"delete missing", "DELETE", "/admin/v1/principals/nope", ``, 404, "NotFound", ""},
		{"credential type missing", "POST", "/admin/v1/principals/client-1/credentials", `{}`, 400, "BadParameter", "type"},
		{"credential type bad", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"password"}`, 400, "BadParameter", "password"},
		{"certificate with expiry", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"certificate","expiresInDays":3,"certificate":"x"}`, 400, "BadParameter", "expiresInDays"},
		{"secret with certificate", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"secret","certificate":"x"}`, 400, "BadParameter", "certificate"},
		{"certificate not PEM", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"certificate","certificate":"MIIB"}`, 400, "BadParameter", "PEM"},
		{"certificate key PEM", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"certificate","certificate":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}`, 400, "BadParameter", "PEM"},
		{"certificate refused", "POST", "/admin/v1/principals/client-1/credentials", `{"type":"certificate","certificate":"-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"}`, 400, "BadParameter", "X.509"},
		{"credential for missing", "POST", "/admin/v1/principals/nope/credentials", `{"type":"secret"}`, 404, "NotFound", ""},
		{"remove missing credential", "DELETE", "/admin/v1/principals/client-1/credentials/cred-9", ``, 404, "NotFound", ""},
		{"remove credential", "DELETE", "/admin/v1/principals/client-1/credentials/cred-2", ``, 204, "", ""},
		{"delete principal", "DELETE", "/admin/v1/principals/client-1", ``, 204, "", ""},
		{"deleted principal", "GET", "/admin/v1/principals/client-1", ``, 404, "NotFound", ""},
	}
	for _, st := range steps {
		w := e.do(st.method, st.target, admin, st.body)
		wantStatus(t, st.name, w, st.status, st.code)
		if !strings.Contains(w.Body.String(), st.has) {
			t.Errorf("%s body %s does not hold %s", st.name, w.Body, st.has)
		}
	}

	// Secrets appear in no log line.
	logs := e.logs.String()
	if !strings.Contains(logs, "/admin/v1/principals") {
		t.Fatalf("request log holds no admin request: %q", logs)
	}
	for _, s := range e.principals.secrets {
		if strings.Contains(logs, string(s.Expose())) {
			t.Errorf("log holds client secret %s", s.Expose())
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAdminRoles(t *testing.T) {
	e := newAdminEnv(t)
	const admin = adminSubject
	const roleID = "9a4b1f1e-0000-4000-8000-000000000001"

	w := e.do("GET", "/admin/v1/roleDefinitions/"+rbac.KeywardenAdministrator, readerSubject, "")
	wantStatus(t, "GET built-in role", w, 200, "")
	wantJSON(t, "GET built-in role", w, `{"id":"`+rbac.KeywardenAdministrator+`","roleName":"Keywarden Administrator",
		"description":"Manages vaults, principals and roles.","type":"AKVBuiltInRole",
		"permissions":[{"actions":[],"notActions":[],"dataActions":["Keywarden/*"],"notDataActions":[]}],"assignableScopes":["/"]}`)

	w = e.do("PUT", "/admin/v1/roleDefinitions/"+roleID, admin, `{"roleName":"Signer","description":"Signs.",
		"permissions":[{"dataActions":["Microsoft.KeyVault/vaults/keys/sign/action"],"notDataActions":[]}]}`)
	wantStatus(t, "PUT role", w, 200, "")
	custom := `{"id":"` + roleID + `","roleName":"Signer","description":"Signs.","type":"CustomRole",
		"permissions":[{"actions":[],"notActions":[],"dataActions":["Microsoft.KeyVault/vaults/keys/sign/action"],"notDataActions":[]}],
		"assignableScopes":["/"]}`
	wantJSON(t, "PUT role", w, custom)

	w = e.do("GET", "/admin/v1/roleDefinitions", admin, "")
	wantStatus(t, "GET roles", w, 200, "")
	if v, _ := jsonOf(t, w)["value"].([]any); len(v) != 2 {
		t.Errorf("GET roles = %s, want the built-in and the custom role", w.Body)
	}

	w = e.do("PUT", "/admin/v1/roleAssignments/a-1", admin, `{"principalId":"object-1","roleDefinitionId":"`+roleID+`","scope":"/vaults/dev/keys/k1"}`)
	wantStatus(t, "PUT assignment", w, 201, "")
	wantJSON(t, "PUT assignment", w, `{"id":"a-1","principalId":"object-1","roleDefinitionId":"`+roleID+`","scope":"/vaults/dev/keys/k1","created":1767225600}`)

	w = e.do("GET", "/admin/v1/roleAssignments?principalId=object-1&scope=%2Fvaults%2Fdev%2Fkeys%2Fk1", readerSubject, "")
	wantStatus(t, "GET assignments", w, 200, "")
	wantJSON(t, "GET assignments", w, `{"value":[{"id":"a-1","principalId":"object-1","roleDefinitionId":"`+roleID+`","scope":"/vaults/dev/keys/k1","created":1767225600}]}`)
	if got := e.roles.filters[len(e.roles.filters)-1]; got != [2]string{"object-1", "/vaults/dev/keys/k1"} {
		t.Errorf("Assignments filters = %q, want object-1 and the key scope", got)
	}
	wantJSON(t, "GET no assignments", e.do("GET", "/admin/v1/roleAssignments?principalId=nobody", admin, ""), `{"value":[]}`)

	steps := []struct {
		name, method, target, body string
		status                     int
		code                       string
		has                        string
	}{
		{"get missing role", "GET", "/admin/v1/roleDefinitions/nope", ``, 404, "NotFound", ""},
		{"put built-in type", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"roleName":"x","type":"AKVBuiltInRole"}`, 400, "BadParameter", "CustomRole"},
		{"put built-in id", "PUT", "/admin/v1/roleDefinitions/" + rbac.KeywardenAdministrator, `{"roleName":"x"}`, 400, "BadParameter", "built-in"},
		{"put id mismatch", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"id":"other","roleName":"x"}`, 400, "BadParameter", "id"},
		{"put no name", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"description":"x"}`, 400, "BadParameter", "roleName"},
		{"put two blocks", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"roleName":"x","permissions":[{},{}]}`, 400, "BadParameter", "permissions"},
		{"put bad action", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"roleName":"x","permissions":[{"dataActions":["bad"]}]}`, 400, "BadParameter", "bad"},
		{"put unknown nested", "PUT", "/admin/v1/roleDefinitions/" + roleID, `{"roleName":"x","permissions":[{"dataActionz":[]}]}`, 400, "BadParameter", "permissions.dataActionz"},
		{"delete built-in", "DELETE", "/admin/v1/roleDefinitions/" + rbac.KeywardenAdministrator, ``, 400, "BadParameter", ""},
		{"delete assigned", "DELETE", "/admin/v1/roleDefinitions/" + roleID, ``, 409, "Conflict", ""},
		{"assign again", "PUT", "/admin/v1/roleAssignments/a-1", `{"principalId":"object-1","roleDefinitionId":"` + roleID + `","scope":"/"}`, 409, "Conflict", ""},
		{"assign unknown role", "PUT", "/admin/v1/roleAssignments/a-2", `{"principalId":"object-1","roleDefinitionId":"nope","scope":"/"}`, 400, "BadParameter", ""},
		{"assign no scope", "PUT", "/admin/v1/roleAssignments/a-2", `{"principalId":"object-1","roleDefinitionId":"` + roleID + `"}`, 400, "BadParameter", "scope"},
		{"assign id mismatch", "PUT", "/admin/v1/roleAssignments/a-2", `{"id":"a-3","principalId":"o","roleDefinitionId":"` + roleID + `","scope":"/"}`, 400, "BadParameter", "id"},
		{"assign created given", "PUT", "/admin/v1/roleAssignments/a-2", `{"principalId":"o","roleDefinitionId":"` + roleID + `","scope":"/","created":1}`, 400, "BadParameter", "created"},
		{"unassign", "DELETE", "/admin/v1/roleAssignments/a-1", ``, 204, "", ""},
		{"unassign again", "DELETE", "/admin/v1/roleAssignments/a-1", ``, 404, "NotFound", ""},
		{"delete custom", "DELETE", "/admin/v1/roleDefinitions/" + roleID, ``, 204, "", ""},
	}
	for _, st := range steps {
		w := e.do(st.method, st.target, admin, st.body)
		wantStatus(t, st.name, w, st.status, st.code)
		if !strings.Contains(w.Body.String(), st.has) {
			t.Errorf("%s body %s does not hold %s", st.name, w.Body, st.has)
		}
	}
}

func TestShownSecretRedacts(t *testing.T) {
	e := newAdminEnv(t)
	_, cs, _ := e.principals.CreatePrincipal(t.Context(), time.Unix(0, 0), "x", nil)
	s := shownSecret{cs}
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(got, "secret-") {
			t.Errorf("shownSecret printed as %q", got)
		}
	}
	b, err := json.Marshal(adminCredential{ID: "c", ClientSecret: &s})
	if err != nil || !strings.Contains(string(b), `"clientSecret":"secret-1_Zq9"`) {
		t.Errorf("json.Marshal(credential) = %s, %v; want the secret shown", b, err)
	}
}

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string            `json:"operationId"`
		Action      string            `json:"x-keywarden-data-action"`
		Security    *[]map[string]any `json:"security"`
		Responses   map[string]any    `json:"responses"`
		Parameters  []struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
	} `json:"paths"`
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := newAdminEnv(t)
	w := e.do("GET", "/admin/v1/openapi.json", "", "")
	wantStatus(t, "GET openapi.json", w, 200, "")
	var doc openAPIDoc
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	var fromRoutes, fromDoc []string
	for _, rt := range e.s.admin.routes {
		key := rt.method + " " + rt.pattern
		fromRoutes = append(fromRoutes, key)
		op, ok := doc.Paths[rt.pattern][strings.ToLower(rt.method)]
		if !ok {
			continue
		}
		if op.Action != rt.action {
			t.Errorf("%s: x-keywarden-data-action %q, route requires %q", key, op.Action, rt.action)
		}
		if rt.action == "" && (op.Security == nil || len(*op.Security) != 0) {
			t.Errorf("%s: needs no token but the document does not say security: []", key)
		}
		if op.OperationID == "" || len(op.Responses) == 0 {
			t.Errorf("%s: no operationId or responses", key)
		}
		var params []string
		for _, p := range op.Parameters {
			if p.In == "path" {
				params = append(params, "{"+p.Name+"}")
			}
		}
		for _, seg := range rt.segs {
			if strings.HasPrefix(seg, "{") && !slices.Contains(params, seg) {
				t.Errorf("%s: path parameter %s not described", key, seg)
			}
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			fromDoc = append(fromDoc, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(fromRoutes)
	slices.Sort(fromDoc)
	if d := cmp.Diff(fromRoutes, fromDoc); d != "" {
		t.Errorf("OpenAPI operations differ from the route table (-routes +document):\n%s", d)
	}
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("openapi.json Cache-Control = %q", cc)
	}
}

func TestAdminThrottled(t *testing.T) {
	authz := &adminFakeAuthz{grants: map[string][]string{adminSubject: {rbac.ActionVaultsRead}}}
	s := New(Config{TenantID: testTenant, Port: 8443, Now: func() time.Time { return time.Unix(1767225600, 0) },
		Throttle: Throttle{VaultRPS: -1, PrincipalRPS: 1, PrincipalBurst: 1}},
		Deps{Vaults: newFakeVaults(), Tokens: adminFakeTokens{}, Authorizer: authz, VaultAdmin: newAdminFakeVaults()})
	if w := do(s, "GET", bareHost, "/admin/v1/vaults", adminToken(adminSubject), ""); w.Code != http.StatusOK {
		t.Fatalf("first GET vaults = %d %s", w.Code, w.Body)
	}
	w := do(s, "GET", bareHost, "/admin/v1/vaults", adminToken(adminSubject), "")
	wantStatus(t, "second GET vaults", w, http.StatusTooManyRequests, "Throttled")
	if w.Header().Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
}
