package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// grant is one (principal or group, data action, scope) triple.
type grant struct{ principal, action, scope string }

// fakeAuthorizer is a hand-written Authorizer: it allows exactly the
// triples in allow (or everything with allowAll) and records what it was
// asked.
type fakeAuthorizer struct {
	mu       sync.Mutex
	allow    map[grant]bool
	allowAll bool
	err      error
	asked    []grant
}

func (a *fakeAuthorizer) Authorize(ctx context.Context, sub rbac.Subject, action, scope string) (rbac.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, grant{sub.ObjectID, action, scope})
	if a.err != nil {
		return rbac.Decision{}, a.err
	}
	if a.allowAll {
		return rbac.Decision{Allowed: true, AssignmentID: "all"}, nil
	}
	for _, id := range append([]string{sub.ObjectID}, sub.Groups...) {
		if a.allow[grant{id, action, scope}] {
			return rbac.Decision{Allowed: true, AssignmentID: "a-" + id}, nil
		}
	}
	return rbac.Decision{Reason: "no assignment grants it"}, nil
}

// lastAsked returns the last question, or the zero grant.
func (a *fakeAuthorizer) lastAsked() grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.asked) == 0 {
		return grant{}
	}
	return a.asked[len(a.asked)-1]
}

// newServerWith returns a test server like newTestServer, changed by opt.
func newServerWith(t testing.TB, opt func(*Config, *Deps)) (*Server, *fakeVaults) {
	t.Helper()
	f := newFakeVaults()
	cfg := Config{
		TenantID:     testTenant,
		Port:         8443,
		DefaultVault: "dev",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:          func() time.Time { return time.Unix(1700000500, 0) },
		Throttle:     Throttle{VaultRPS: -1, PrincipalRPS: -1},
	}
	d := Deps{Vaults: f, Tokens: fakeTokens{}, Authorizer: AllowAll}
	opt(&cfg, &d)
	return New(cfg, d), f
}

// hsmHost is the managedhsm vault "hsm"'s origin, under its own suffix.
const hsmHost = "hsm.managedhsm.localhost:8443"

// hsmToken is a valid fake token for a managed HSM origin: its audience is
// the HSM resource, not the vaults'.
const hsmToken = "https://127.0.0.1:8443/" + testTenant + "/v2.0|https://managedhsm.localhost:8443"

// tokenFor returns the valid fake token for host's origin.
func tokenFor(host string) string {
	if strings.Contains(strings.ToLower(host), ".managedhsm.localhost") {
		return hsmToken
	}
	return namedToken
}

func TestRouteDataActions(t *testing.T) {
	s, _ := newTestServer(t)
	vaultActions := append(rbac.VaultKeyDataActions(), kv+"rng/action")
	hsmActions := rbac.HSMDataActions()
	for _, rt := range s.routes {
		rbacAPI := strings.HasPrefix(rt.pattern, "/providers/")
		switch {
		case rbacAPI && rt.action != "":
			t.Errorf("%s %s: action = %q, want none (Managed HSM only)", rt.method, rt.pattern, rt.action)
		case !rbacAPI && !slices.Contains(vaultActions, rt.action):
			t.Errorf("%s %s: action = %q, not a vault key data action", rt.method, rt.pattern, rt.action)
		}
		if !slices.Contains(hsmActions, rt.hsmAction) {
			t.Errorf("%s %s: hsmAction = %q, not a Managed HSM data action", rt.method, rt.pattern, rt.hsmAction)
		}
		if rt.scope == nil {
			t.Errorf("%s %s: no scope", rt.method, rt.pattern)
		}
	}

	// Spot checks against the reference table (auth-and-roles §3.1, §3.3).
	want := map[string][2]string{
		"GET /keys":                          {rbac.ActionKeysRead, rbac.ActionHSMKeysRead},
		"POST /keys/{name}/create":           {rbac.ActionKeysCreate, rbac.ActionHSMKeysCreate},
		"PUT /keys/{name}":                   {rbac.ActionKeysImport, rbac.ActionHSMKeysImport},
		"PATCH /keys/{name}/{version}":       {rbac.ActionKeysUpdate, rbac.ActionHSMKeysWrite},
		"DELETE /keys/{name}":                {rbac.ActionKeysDelete, rbac.ActionHSMKeysDelete},
		"POST /keys/{name}/backup":           {rbac.ActionKeysBackup, rbac.ActionHSMKeysBackup},
		"POST /keys/restore":                 {rbac.ActionKeysRestore, rbac.ActionHSMKeysRestore},
		"POST /keys/{name}/rotate":           {rbac.ActionKeysRotate, rbac.ActionHSMKeysRotate},
		"GET /keys/{name}/rotationpolicy":    {rbac.ActionKeyRotationPoliciesRead, rbac.ActionHSMKeysRead},
		"PUT /keys/{name}/rotationpolicy":    {rbac.ActionKeyRotationPoliciesWrite, rbac.ActionHSMKeysWrite},
		"GET /deletedkeys":                   {rbac.ActionKeysRead, rbac.ActionHSMDeletedKeysRead},
		"DELETE /deletedkeys/{name}":         {rbac.ActionKeysPurge, rbac.ActionHSMDeletedKeysPurge},
		"POST /deletedkeys/{name}/recover":   {rbac.ActionKeysRecover, rbac.ActionHSMDeletedKeysRecover},
		"POST /keys/{name}/{version}/sign":   {rbac.ActionKeysSign, rbac.ActionHSMKeysSign},
		"POST /keys/{name}/wrapkey":          {rbac.ActionKeysWrap, rbac.ActionHSMKeysWrap},
		"POST /keys/{name}/{version}/verify": {rbac.ActionKeysVerify, rbac.ActionHSMKeysVerify},
		"POST /keys/{name}/release":          {rbac.ActionKeysRelease, rbac.ActionHSMKeysRelease},
		"POST /rng":                          {kv + "rng/action", rbac.ActionHSMRNG},
		"PUT /providers/Microsoft.Authorization/roleAssignments/{name}":    {"", rbac.ActionHSMRoleAssignmentsWrite},
		"DELETE /providers/Microsoft.Authorization/roleDefinitions/{name}": {"", rbac.ActionHSMRoleDefinitionsDelete},
	}
	for _, rt := range s.routes {
		key := rt.method + " " + rt.pattern
		if w, ok := want[key]; ok {
			if got := [2]string{rt.action, rt.hsmAction}; got != w {
				t.Errorf("%s: actions = %q, want %q", key, got, w)
			}
			delete(want, key)
		}
	}
	for key := range want {
		t.Errorf("%s: no such route", key)
	}
}

func TestAuthorizationAsks(t *testing.T) {
	const ver = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		method, target, body string
		action, hsmAction    string
		scope                string // with {v} for the vault
	}{
		{"GET", "/keys", "", kvKeysRead, hsmKeysRead, "/vaults/{v}"},
		{"POST", "/keys/restore", `{"value":"YmxvYg"}`, kv + "keys/restore/action", hsm + "keys/restore/action", "/vaults/{v}"},
		{"POST", "/keys/My-Key/create", `{"kty":"RSA"}`, kv + "keys/create/action", hsm + "keys/create", "/vaults/{v}/keys/My-Key"},
		{"PUT", "/keys/k1", `{}`, kv + "keys/import/action", hsm + "keys/import/action", "/vaults/{v}/keys/k1"},
		{"GET", "/keys/k1/" + ver, "", kvKeysRead, hsmKeysRead, "/vaults/{v}/keys/k1"},
		{"GET", "/keys/my%2Dkey", "", kvKeysRead, hsmKeysRead, "/vaults/{v}/keys/my-key"},
		{"PATCH", "/keys/k1", "", kv + "keys/update/action", hsmKeysWrite, "/vaults/{v}/keys/k1"},
		{"DELETE", "/keys/k1", "", kv + "keys/delete", hsm + "keys/delete", "/vaults/{v}/keys/k1"},
		{"GET", "/keys/k1/versions", "", kvKeysRead, hsmKeysRead, "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/backup", "", kv + "keys/backup/action", hsm + "keys/backup/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/rotate", "", kv + "keys/rotate/action", hsm + "keys/rotate/action", "/vaults/{v}/keys/k1"},
		{"GET", "/keys/k1/rotationpolicy", "", kv + "keyrotationpolicies/read", hsmKeysRead, "/vaults/{v}/keys/k1"},
		{"PUT", "/keys/k1/rotationpolicy", `{}`, kv + "keyrotationpolicies/write", hsmKeysWrite, "/vaults/{v}/keys/k1"},
		{"GET", "/deletedkeys", "", kvKeysRead, hsm + "keys/deletedKeys/read/action", "/vaults/{v}"},
		{"GET", "/deletedkeys/k1", "", kvKeysRead, hsm + "keys/deletedKeys/read/action", "/vaults/{v}/keys/k1"},
		{"DELETE", "/deletedkeys/k1", "", kv + "keys/purge/action", hsm + "keys/deletedKeys/delete", "/vaults/{v}/keys/k1"},
		{"POST", "/deletedkeys/k1/recover", "", kv + "keys/recover/action", hsm + "keys/deletedKeys/recover/action", "/vaults/{v}/keys/k1"},
		{"POST", "/rng", `{"count":4}`, kv + "rng/action", hsm + "rng/action", "/vaults/{v}"},
		{"POST", "/keys/k1//encrypt", `{}`, kv + "keys/encrypt/action", hsm + "keys/encrypt/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/" + ver + "/decrypt", `{}`, kv + "keys/decrypt/action", hsm + "keys/decrypt/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/wrapKey", `{}`, kv + "keys/wrap/action", hsm + "keys/wrap/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/unwrapkey", `{}`, kv + "keys/unwrap/action", hsm + "keys/unwrap/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/sign", `{}`, kv + "keys/sign/action", hsm + "keys/sign/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/verify", `{}`, kv + "keys/verify/action", hsm + "keys/verify/action", "/vaults/{v}/keys/k1"},
		{"POST", "/keys/k1/release", `{}`, kv + "keys/release/action", hsm + "keys/release/action", "/vaults/{v}/keys/k1"},
		{"GET", "/keys/k1/attestation", "", kvKeysRead, hsmKeysRead, "/vaults/{v}/keys/k1"},
	}
	for _, origin := range []struct {
		host, vault string
		sku         vault.SKU
	}{
		{namedHost, "dev", vault.Premium},
		{"DEV.localhost:8443", "dev", vault.Premium},
		{bareHost, "dev", vault.Premium},
		{hsmHost, "hsm", vault.ManagedHSM},
	} {
		for _, tt := range tests {
			t.Run(origin.host+" "+tt.method+" "+tt.target, func(t *testing.T) {
				a := &fakeAuthorizer{allowAll: true}
				s, _ := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer = a })
				do(s, tt.method, origin.host, tt.target+"?api-version=7.6", tokenFor(origin.host), tt.body)
				want := grant{"oid-1", tt.action, strings.ReplaceAll(tt.scope, "{v}", origin.vault)}
				if origin.sku == vault.ManagedHSM {
					want.action = tt.hsmAction
				}
				if got := a.lastAsked(); got != want {
					t.Errorf("asked %+v, want %+v", got, want)
				}
			})
		}
	}
}

// wantForbidden is the 403 body of oid-1 (client app, issuer of
// namedToken) denied keys/read on key k1 of dev.
const wantForbidden = `{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.\r\n` +
	`If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n` +
	`Caller: appid=app;oid=oid-1;iss=https://127.0.0.1:8443/Contoso-Tenant/v2.0\r\n` +
	`Action: 'Microsoft.KeyVault/vaults/keys/read'\r\n` +
	`Resource: '/vaults/dev/keys/k1'\r\n` +
	`Assignment: (not found)\r\n` +
	`DenyAssignmentId: null\r\n` +
	`DecisionReason: null \r\n` +
	`Vault: dev;location=keywarden","innererror":{"code":"ForbiddenByRbac"}}}`

func TestForbiddenBody(t *testing.T) {
	var logs strings.Builder
	a := &fakeAuthorizer{}
	s, f := newServerWith(t, func(c *Config, d *Deps) {
		d.Authorizer = a
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	if w.Code != http.StatusForbidden {
		t.Fatalf("GET /keys/k1 = %d %s, want 403", w.Code, w.Body)
	}
	// Compare the decoded JSON: the encoder escapes "'" and "\r" its own way.
	var got, want errorBody
	decodeInto(t, w.Body.String(), &got)
	decodeInto(t, wantForbidden, &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("403 body mismatch (-want +got):\n%s", diff)
	}
	if c := f.last(); c.Method != "" {
		t.Errorf("domain called after denial: %+v", c)
	}
	id := w.Header().Get("x-ms-request-id")
	if !strings.Contains(logs.String(), "request_id="+id) || !strings.Contains(logs.String(), "no assignment grants it") {
		t.Errorf("log lacks the request id %s and the denial reason:\n%s", id, logs.String())
	}
	if strings.Contains(w.Body.String(), "no assignment grants it") {
		t.Errorf("403 body reveals the decision reason: %s", w.Body)
	}
}

func TestAuthorizationOrder(t *testing.T) {
	notFound := &vault.Error{Kind: vault.ErrNotFound, Code: "KeyNotFound", Msg: "A key with (name/id) k1 was not found in this key vault."}
	tests := []struct {
		name, method, target, token, body string
		allow                             []grant
		status                            int
		code                              string
	}{
		{name: "denied missing key is 403, not 404", method: "GET", target: "/keys/k1?api-version=7.5", status: 403, code: "Forbidden"},
		{name: "allowed missing key is 404", method: "GET", target: "/keys/k1?api-version=7.5", status: 404, code: "KeyNotFound",
			allow: []grant{{"oid-1", kvKeysRead, "/vaults/dev/keys/k1"}}},
		{name: "grant on another key", method: "GET", target: "/keys/k1?api-version=7.5", status: 403, code: "Forbidden",
			allow: []grant{{"oid-1", kvKeysRead, "/vaults/dev/keys/k2"}}},
		{name: "grant of another action", method: "GET", target: "/keys/k1?api-version=7.5", status: 403, code: "Forbidden",
			allow: []grant{{"oid-1", kv + "keys/sign/action", "/vaults/dev/keys/k1"}}},
		{name: "group grant", method: "GET", target: "/keys/k1?api-version=7.5", token: namedToken + "|oid-2|g1,g2", status: 404, code: "KeyNotFound",
			allow: []grant{{"g2", kvKeysRead, "/vaults/dev/keys/k1"}}},
		{name: "denied before body parsing", method: "POST", target: "/keys/k1/create?api-version=7.5", body: `{not json`, status: 403, code: "Forbidden"},
		{name: "denied before api-version", method: "GET", target: "/keys/k1?api-version=0.1", status: 403, code: "Forbidden"},
		{name: "denied before version gating", method: "POST", target: "/keys/k1/rotate?api-version=7.2", status: 403, code: "Forbidden"},
		{name: "unauthenticated is 401 first", method: "GET", target: "/keys/k1?api-version=7.5", token: "-", status: 401, code: "Unauthorized"},
		{name: "unknown route is 404 without asking", method: "GET", target: "/secrets/s1?api-version=7.5", status: 404, code: "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeAuthorizer{allow: map[grant]bool{}}
			for _, g := range tt.allow {
				a.allow[g] = true
			}
			s, f := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer = a })
			f.err = notFound
			token := tt.token
			switch token {
			case "":
				token = namedToken
			case "-":
				token = ""
			}
			w := do(s, tt.method, namedHost, tt.target, token, tt.body)
			if w.Code != tt.status || errorCode(t, w) != tt.code {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.target, w.Code, w.Body, tt.status, tt.code)
			}
			if tt.status == 403 && f.last().Method != "" {
				t.Errorf("domain called after denial: %+v", f.last())
			}
			if tt.code == "NotFound" && len(a.asked) != 0 {
				t.Errorf("authorizer asked %v for an unknown route", a.asked)
			}
		})
	}
}

func TestAuthorizerFailure(t *testing.T) {
	a := &fakeAuthorizer{err: errors.New("store down")}
	s, f := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer = a })
	w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "store down") {
		t.Errorf("GET with failing authorizer = %d %s, want a generic 500", w.Code, w.Body)
	}
	if f.last().Method != "" {
		t.Errorf("domain called after authorizer failure: %+v", f.last())
	}
}

// decodeInto unmarshals the JSON text s into v.
func decodeInto(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// TestAuthorizeIssuerBinding runs the real rbac.Service: role assignments
// bind a principal or group id to its issuer, so a caller of another issuer
// with the same id — external or built-in — is denied, on the vault API
// and on the administration API alike.
func TestAuthorizeIssuerBinding(t *testing.T) {
	const (
		idpA = "https://idp-a.example.test/realms/apps"
		idpB = "https://idp-b.example.test"
	)
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	roles := rbac.New(db)
	now := time.Unix(1700000000, 0)
	for _, a := range []rbac.Assignment{
		{PrincipalID: "admin-oid", RoleID: rbac.KeywardenAdministrator, Scope: "/"},
		{PrincipalID: "admin-oid", RoleID: rbac.KeyVaultAdministrator, Scope: "/"},
		{PrincipalID: "alice", Issuer: idpA, RoleID: rbac.KeyVaultReader, Scope: "/vaults/dev"},
		{PrincipalID: "signers", Issuer: idpA, RoleID: rbac.KeyVaultReader, Scope: "/vaults/dev"},
	} {
		if _, err := roles.Assign(t.Context(), now, a); err != nil {
			t.Fatalf("Assign(%+v) = %v", a, err)
		}
	}
	s, _ := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer, d.Roles = roles, roles })
	token := func(subject, groups, issuer string) string {
		return namedToken + "|" + subject + "|" + groups + "|" + issuer
	}
	tests := []struct {
		name, host, target, token string
		status                    int
	}{
		{"built-in administrator", namedHost, "/keys/k1?api-version=7.5", token("admin-oid", "", ""), 200},
		{"built-in administrator, admin API", bareHost, "/admin/v1/roleAssignments", token("admin-oid", "", ""), 200},
		{"external token with the administrator's id", namedHost, "/keys/k1?api-version=7.5", token("admin-oid", "", idpA), 403},
		{"external token with the administrator's id, admin API", bareHost, "/admin/v1/roleAssignments", token("admin-oid", "", idpB), 403},
		{"external group named as the administrator", namedHost, "/keys/k1?api-version=7.5", token("x", "admin-oid", idpA), 403},
		{"principal of its issuer", namedHost, "/keys/k1?api-version=7.5", token("alice", "", idpA), 200},
		{"same id, other issuer", namedHost, "/keys/k1?api-version=7.5", token("alice", "", idpB), 403},
		{"same id, built-in issuer", namedHost, "/keys/k1?api-version=7.5", token("alice", "", ""), 403},
		{"group of its issuer", namedHost, "/keys/k1?api-version=7.5", token("bob", "signers", idpA), 200},
		{"same group, other issuer", namedHost, "/keys/k1?api-version=7.5", token("bob", "signers", idpB), 403},
		{"same group, built-in issuer", namedHost, "/keys/k1?api-version=7.5", token("bob", "signers", ""), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(s, "GET", tt.host, tt.target, tt.token, "")
			if w.Code != tt.status {
				t.Errorf("GET %s as %q = %d %s, want %d", tt.target, tt.token, w.Code, w.Body, tt.status)
			}
		})
	}
}

// TestNoAuthorizerFailsClosed checks that a Server wired without an
// Authorizer refuses every data-plane request instead of allowing it.
func TestNoAuthorizerFailsClosed(t *testing.T) {
	s, _ := newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer = nil })
	w := do(s, "GET", namedHost, "/keys?api-version=7.5", namedToken, "")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "ForbiddenByRbac") {
		t.Errorf("GET /keys without an Authorizer = %d %s, want 403 ForbiddenByRbac", w.Code, w.Body)
	}
	s, _ = newServerWith(t, func(_ *Config, d *Deps) { d.Authorizer = AllowAll })
	if w := do(s, "GET", namedHost, "/keys?api-version=7.5", namedToken, ""); w.Code != http.StatusOK {
		t.Errorf("GET /keys with AllowAll = %d %s, want 200", w.Code, w.Body)
	}
}
