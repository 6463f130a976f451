package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/vault"
)

// fakeAuditor records RequestInfos; readyErr and recordErr inject failures.
type fakeAuditor struct {
	mu        sync.Mutex
	infos     []RequestInfo
	readyErr  error
	recordErr error
}

func (a *fakeAuditor) Ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readyErr
}

func (a *fakeAuditor) Record(ctx context.Context, info RequestInfo) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.recordErr != nil {
		return a.recordErr
	}
	a.infos = append(a.infos, info)
	return nil
}

// take returns and forgets the recorded infos.
func (a *fakeAuditor) take() []RequestInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.infos
	a.infos = nil
	return out
}

func newAuditedServer(t *testing.T, opt func(*Config, *Deps)) (*Server, *fakeVaults, *fakeAuditor, *[]RequestInfo) {
	t.Helper()
	a := &fakeAuditor{}
	var observed []RequestInfo
	s, f := newServerWith(t, func(c *Config, d *Deps) {
		d.Audit = a
		d.Observers = []func(RequestInfo){func(i RequestInfo) { observed = append(observed, i) }}
		if opt != nil {
			opt(c, d)
		}
	})
	return s, f, a, &observed
}

func TestAuditOneRecordPerRequest(t *testing.T) {
	type want struct {
		op, result, sig, vault, key, version, alg, code, appID, objectID string
		status                                                           int
	}
	cases := []struct {
		name                        string
		method, host, target, token string
		body                        string
		want                        want
	}{
		{"create", "POST", bareHost, "/keys/k1/create?api-version=7.5", bareToken, `{"kty":"RSA"}`,
			want{op: "KeyCreate", result: "Success", sig: "OK", vault: "dev", key: "k1", version: "0123456789abcdef0123456789abcdef", objectID: "oid-1", appID: "app", status: 200}},
		{"sign", "POST", bareHost, "/keys/k1/sign?api-version=7.5", bareToken, `{"alg":"RS256","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
			want{op: "KeySign", result: "Success", sig: "OK", vault: "dev", key: "k1", version: "0123456789abcdef0123456789abcdef", alg: "RS256", objectID: "oid-1", appID: "app", status: 200}},
		{"get version", "GET", namedHost, "/keys/k1/00000000000000000000000000000001?api-version=7.5", namedToken, "",
			want{op: "KeyGet", result: "Success", sig: "OK", vault: "dev", key: "k1", version: "00000000000000000000000000000001", objectID: "oid-1", appID: "app", status: 200}},
		{"no token", "POST", bareHost, "/keys/k1/sign?api-version=7.5", "", `{}`,
			want{op: "KeySign", result: "Failure", sig: "Unauthorized", vault: "dev", key: "k1", code: "Unauthorized", status: 401}},
		{"bad token", "GET", bareHost, "/keys?api-version=7.5", "garbage", "",
			want{op: "KeyList", result: "Failure", sig: "Unauthorized", vault: "dev", code: "Unauthorized", status: 401}},
		{"unknown path", "GET", bareHost, "/nothing/here?api-version=7.5", bareToken, "",
			want{op: "Unknown", result: "Failure", sig: "NotFound", vault: "dev", code: "NotFound", objectID: "oid-1", appID: "app", status: 404}},
		{"wrong method", "PUT", bareHost, "/keys/k1/sign?api-version=7.5", bareToken, "",
			want{op: "Unknown", result: "Failure", sig: "MethodNotAllowed", vault: "dev", code: "MethodNotAllowed", objectID: "oid-1", appID: "app", status: 405}},
		{"malformed", "POST", bareHost, "/keys/k1/sign?api-version=7.5", bareToken, `{"alg":`,
			want{op: "KeySign", result: "Failure", sig: "BadRequest", vault: "dev", key: "k1", code: "BadParameter", objectID: "oid-1", appID: "app", status: 400}},
		{"oversize", "POST", bareHost, "/keys/k1/sign?api-version=7.5", bareToken, `{"alg":"RS256","value":"` + strings.Repeat("A", 300<<10) + `"}`,
			want{op: "KeySign", result: "Failure", sig: "RequestEntityTooLarge", vault: "dev", key: "k1", code: "BadParameter", objectID: "oid-1", appID: "app", status: 413}},
		{"no vault", "GET", "nope.localhost:8443", "/keys?api-version=7.5", namedToken, "",
			want{op: "KeyList", result: "Failure", sig: "NotFound", vault: "", code: "VaultNotFound", status: 404}},
		{"token", "POST", bareHost, "/" + testTenant + "/oauth2/v2.0/token", "", "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=https%3A%2F%2Flocalhost%3A8443%2F.default",
			want{op: "Authentication", result: "Success", sig: "OK", appID: "app", status: 200}},
		{"token refused", "POST", bareHost, "/" + testTenant + "/oauth2/v2.0/token", "", "grant_type=client_credentials&client_id=app&client_secret=WRONG-s3cret&scope=https%3A%2F%2Flocalhost%3A8443%2F.default",
			want{op: "Authentication", result: "Failure", sig: "Unauthorized", appID: "app", code: "invalid_client", status: 401}},
		{"audit keys", "GET", bareHost, "/audit/v1/keys", "", "",
			want{op: "AuditKeysGet", result: "Failure", sig: "NotImplemented", code: "BadParameter", status: 501}},
	}
	s, _, a, observed := newAuditedServer(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			*observed = nil
			var w interface{ Result() *http.Response }
			if tc.want.op == "Authentication" {
				w = doForm(s, tc.method, tc.host, tc.target, tc.body)
			} else {
				w = do(s, tc.method, tc.host, tc.target, tc.token, tc.body)
			}
			status := w.Result().StatusCode
			infos := a.take()
			if len(infos) != 1 {
				t.Fatalf("%d audit records, want exactly 1", len(infos))
			}
			if len(*observed) != 1 {
				t.Errorf("%d observer calls, want 1", len(*observed))
			}
			i := infos[0]
			got := want{op: i.OperationName, result: i.ResultType, sig: i.ResultSignature, vault: i.Vault, key: i.Key, version: i.Version,
				alg: i.Algorithm, code: i.ErrorCode, appID: i.AppID, objectID: i.ObjectID, status: i.Status}
			if got != tc.want {
				t.Errorf("record = %+v\nwant       %+v", got, tc.want)
			}
			if status != i.Status {
				t.Errorf("answered %d, recorded %d", status, i.Status)
			}
			if i.RequestID == "" || i.Time.IsZero() || i.CallerIP == "" || i.Method != tc.method {
				t.Errorf("record lacks request id, time, caller ip or method: %+v", i)
			}
			if strings.Contains(i.RequestURI, "s3cret") || strings.Contains(i.RequestURI, "skiptoken") {
				t.Errorf("RequestURI = %q", i.RequestURI)
			}
		})
	}
}

// doForm posts a form.
func doForm(s http.Handler, method, host, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://"+host+target, strings.NewReader(body))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestAuditRequestURIKeepsOnlyVersionAndPageSize(t *testing.T) {
	s, _, a, _ := newAuditedServer(t, nil)
	do(s, "GET", bareHost, "/keys?api-version=7.5&maxresults=3&$skiptoken=c2VjcmV0&other=x", bareToken, "")
	i := a.take()[0]
	if want := "https://" + bareHost + "/keys?api-version=7.5&maxresults=3"; i.RequestURI != want {
		t.Errorf("RequestURI = %q, want %q", i.RequestURI, want)
	}
}

func TestAuditFirewallAndThrottle(t *testing.T) {
	s, f, a, _ := newAuditedServer(t, func(c *Config, d *Deps) {
		c.Throttle = Throttle{VaultRPS: 0.0001, VaultBurst: 1, PrincipalRPS: -1}
	})
	f.network["other"] = &vault.NetworkRules{DefaultAction: vault.NetworkDeny, IPRules: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	do(s, "GET", "other.localhost:8443", "/keys?api-version=7.5", namedToken, "")
	do(s, "GET", bareHost, "/keys?api-version=7.5", bareToken, "")
	do(s, "GET", bareHost, "/keys?api-version=7.5", bareToken, "")
	infos := a.take()
	if len(infos) != 3 {
		t.Fatalf("%d records, want 3", len(infos))
	}
	if i := infos[0]; i.Status != 403 || i.InnerCode != "ForbiddenByFirewall" || i.OperationName != "KeyList" || i.Vault != "other" {
		t.Errorf("firewall record = %+v", i)
	}
	if i := infos[2]; i.Status != 429 || i.ResultSignature != "TooManyRequests" || i.OperationName != "KeyList" {
		t.Errorf("throttle record = %+v", i)
	}
}

func TestAuditFailsClosed(t *testing.T) {
	t.Run("not ready", func(t *testing.T) {
		s, f, a, _ := newAuditedServer(t, nil)
		a.readyErr = errors.New("disk full")
		w := do(s, "POST", bareHost, "/keys/k1/create?api-version=7.5", bareToken, `{"kty":"RSA"}`)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "ServiceUnavailable") {
			t.Errorf("create while the audit is not ready = %d %s, want 503 with Retry-After", w.Code, w.Body)
		}
		if len(f.calls) != 0 {
			t.Errorf("the domain was called: %+v", f.calls)
		}
		w = doForm(s, "POST", bareHost, "/"+testTenant+"/oauth2/v2.0/token", "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=https%3A%2F%2Flocalhost%3A8443%2F.default")
		if c := w.Code; c != 503 || strings.Contains(w.Body.String(), "access_token") {
			t.Errorf("token while the audit is not ready = %d %s", c, w.Body)
		}
	})
	t.Run("record fails", func(t *testing.T) {
		s, _, a, observed := newAuditedServer(t, nil)
		a.recordErr = errors.New("fsync failed")
		w := do(s, "POST", bareHost, "/keys/k1/sign?api-version=7.5", bareToken, `{"alg":"RS256","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
		if w.Code != 503 || strings.Contains(w.Body.String(), `"value"`) || strings.Contains(w.Body.String(), "kid") {
			t.Errorf("sign whose record fails = %d %s, want 503 without the result", w.Code, w.Body)
		}
		if w.Header().Get("x-ms-request-id") == "" || w.Header().Get("Retry-After") == "" {
			t.Errorf("headers = %v", w.Header())
		}
		if len(*observed) != 1 || (*observed)[0].Status != 503 {
			t.Errorf("observers saw %+v, want the 503", *observed)
		}
	})
}

func TestAdminOperationNames(t *testing.T) {
	s, _ := newTestServer(t)
	want := map[string]string{
		"GET /admin/v1/vaults": "VaultList", "POST /admin/v1/vaults": "VaultPut", "GET /admin/v1/vaults/{name}": "VaultGet",
		"PATCH /admin/v1/vaults/{name}": "VaultPatch", "DELETE /admin/v1/vaults/{name}": "VaultDelete",
		"POST /admin/v1/principals": "PrincipalCreate", "PATCH /admin/v1/principals/{clientId}": "PrincipalPatch",
		"POST /admin/v1/principals/{clientId}/credentials":                  "PrincipalCredentialCreate",
		"DELETE /admin/v1/principals/{clientId}/credentials/{credentialId}": "PrincipalCredentialDelete",
		"PUT /admin/v1/roleAssignments/{id}":                                "RoleAssignmentPut",
		"GET /admin/v1/roleDefinitions":                                     "RoleDefinitionList",
	}
	for _, rt := range s.admin.routes {
		if w, ok := want[rt.method+" "+rt.pattern]; ok {
			if got := adminOperation(rt.method, rt.pattern); got != w {
				t.Errorf("adminOperation(%s %s) = %s, want %s", rt.method, rt.pattern, got, w)
			}
		}
	}
	for _, rt := range s.routes {
		if rt.op == "" {
			t.Errorf("%s %s has no operation name", rt.method, rt.pattern)
		}
	}
}
