package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// run executes args with vars as the environment and returns stdout, stderr.
func run(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	// Point --env-file nowhere unless the test sets it, so a developer's
	// ./keywarden-data/dev.env cannot leak in.
	if !strings.Contains(strings.Join(args, " "), "--env-file") {
		empty := filepath.Join(t.TempDir(), "empty.env")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--env-file", empty)
	}
	err := Execute(t.Context(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: fakeGetenv(vars), Now: func() time.Time { return testNow }})
	return stdout.String(), stderr.String(), err
}

func TestCommandErrors(t *testing.T) {
	creds := map[string]string{
		envVaultURL: "https://127.0.0.1:1", envTenantID: "t", envClientID: "c",
		envClientSecret: "hunter2", envAuthorityHost: "https://127.0.0.1:1/",
	}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no vault URL", nil, []string{"key", "list"}, "no vault URL"},
		{"no credentials", map[string]string{envVaultURL: "https://127.0.0.1:1"}, []string{"key", "show", "k"}, "no tenant ID"},
		{"bad output", creds, []string{"key", "list", "-o", "yaml"}, `--output "yaml"`},
		{"bad key name", creds, []string{"key", "show", "a/b"}, `key name "a/b"`},
		{"nothing to update", creds, []string{"key", "update", "k"}, "nothing to update"},
		{"two import sources", creds, []string{"key", "import", "k", "--jwk-file", "a", "--pem-file", "b"}, "exactly one of"},
		{"size on EC", creds, []string{"key", "create", "k", "--kty", "EC", "--size", "256"}, "--size applies"},
		{"bad exp", creds, []string{"key", "create", "k", "--exp", "later"}, "--exp:"},
		{"bad ops", creds, []string{"key", "create", "k", "--ops", "fly"}, "--ops:"},
		{"no input", creds, []string{"key", "encrypt", "k"}, "give --value"},
		{"bad value", creds, []string{"key", "encrypt", "k", "--value", "hunter2!"}, "--value: not base64url"},
		{"sign needs alg", creds, []string{"key", "sign", "k", "--digest", "AA"}, `"alg" not set`},
		{"bench ops", creds, []string{"bench", "--ops", "RS1"}, "--ops:"},
		{"bench concurrency", creds, []string{"bench", "--concurrency", "0"}, "--concurrency 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := run(t, tt.vars, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v error = %v, want it to contain %q", tt.args, err, tt.want)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("%v stderr = %q, want the error", tt.args, stderr)
			}
			if strings.Contains(stderr, "Usage:") {
				t.Errorf("%v printed usage on a run error", tt.args)
			}
			if strings.Contains(err.Error()+stderr, "hunter2") {
				t.Errorf("%v echoed a secret", tt.args)
			}
		})
	}
}

func TestKeyHelpListsCommands(t *testing.T) {
	out, _, err := run(t, nil, "key", "--help")
	if err != nil {
		t.Fatalf("key --help error = %v", err)
	}
	for _, c := range strings.Fields("create import list show versions update delete recover purge backup restore encrypt decrypt sign verify wrap unwrap rotate") {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("key --help does not list %q", c)
		}
	}
}

func TestAPIError(t *testing.T) {
	resp := &http.Response{
		StatusCode: http.StatusNotFound,
		Status:     "404 Not Found",
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"error":{"code":"KeyNotFound","message":"A key with (name/id) k was not found in this key vault."}}`)),
		Request:    httptest.NewRequest(http.MethodGet, "https://127.0.0.1:8443/keys/k/", nil),
	}
	sdkErr := runtime.NewResponseError(resp)
	err := apiError("show key k", sdkErr)
	want := "show key k: KeyNotFound: A key with (name/id) k was not found in this key vault. (HTTP 404)"
	if err.Error() != want {
		t.Errorf("apiError() = %q, want %q", err, want)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "KeyNotFound" || ae.StatusCode != 404 {
		t.Errorf("apiError() = %#v, want an *APIError KeyNotFound 404", err)
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Errorf("apiError() does not wrap the *azcore.ResponseError")
	}
	if apiError("x", nil) != nil {
		t.Errorf("apiError(nil) != nil")
	}
	plain := errors.New("dial tcp: refused")
	if err := apiError("list keys", plain); !errors.Is(err, plain) || err.Error() != "list keys: dial tcp: refused" {
		t.Errorf("apiError(plain) = %v", err)
	}
}

// fakeVault is the least of an Azure-compatible server that the SDK needs:
// OpenID discovery, a client-credentials token endpoint, the Key Vault
// bearer challenge, GET key and sign.
type fakeVault struct {
	srv    *httptest.Server
	tokens atomic.Int32
}

const fakeTenant = "tenant1"

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+fakeTenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		base := f.srv.URL + "/" + fakeTenant
		writeJSON(w, 200, map[string]any{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	})
	mux.HandleFunc("POST /"+fakeTenant+"/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_id") != "client1" || r.FormValue("client_secret") != "s3cret" {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "bad client credentials"})
			return
		}
		f.tokens.Add(1)
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": "tok"})
	})
	mux.HandleFunc("/keys/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, f.srv.URL, fakeTenant, f.srv.URL))
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "Unauthorized", "message": "no token"}})
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/keys/"), "/")
		name := parts[0]
		if name != "app" {
			writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "KeyNotFound", "message": "A key with (name/id) " + name + " was not found in this key vault."}})
			return
		}
		kid := f.srv.URL + "/keys/app/v1"
		switch {
		case r.Method == http.MethodGet:
			writeJSON(w, 200, map[string]any{
				"key": map[string]any{"kid": kid, "kty": "EC", "crv": "P-256", "x": rfcX, "y": rfcY, "key_ops": []string{"sign", "verify"}},
				"attributes": map[string]any{"enabled": true, "created": 1893456000, "updated": 1893456000, "recoveryLevel": "Recoverable+Purgeable", "lastUsed": 1893456060,
					"provenance": map[string]any{"method": "byok", "generator": "vendor tool 2.1", "kek": "https://dev.localhost/keys/kek/v1", "imported": 1893456000}},
			})
		case r.Method == http.MethodPost && parts[len(parts)-1] == "sign":
			var body struct{ Alg, Value string }
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Alg != "ES256" {
				writeJSON(w, 400, map[string]any{"error": map[string]string{"code": "BadParameter", "message": "bad sign request"}})
				return
			}
			writeJSON(w, 200, map[string]any{"kid": kid, "value": "c2ln"})
		default:
			writeJSON(w, 405, map[string]any{"error": map[string]string{"code": "MethodNotAllowed", "message": r.Method}})
		}
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// envFile writes a dev.env for f and returns its path.
func (f *fakeVault) envFile(t *testing.T, secret string) string {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("KEYWARDEN_VAULT_URL=%s\nKEYWARDEN_CA_CERT=ca.pem\nAZURE_TENANT_ID=%s\nAZURE_CLIENT_ID=client1\nAZURE_CLIENT_SECRET=%s\nAZURE_AUTHORITY_HOST=%s/\n",
		f.srv.URL, fakeTenant, secret, f.srv.URL)
	path := filepath.Join(dir, "dev.env")
	if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFakeServer drives the real SDK client set-up (credential, TLS with the
// CA, challenge) against a minimal fake; the integrator's end-to-end test
// against the real server covers the rest.
func TestFakeServer(t *testing.T) {
	f := newFakeVault(t)
	envFile := f.envFile(t, "s3cret")

	out, _, err := run(t, nil, "key", "show", "app", "--env-file", envFile, "-o", "json")
	if err != nil {
		t.Fatalf("key show error = %v", err)
	}
	var got keyDoc
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("key show output %q: %v", out, err)
	}
	if got.Name != "app" || got.Version != "v1" || got.Curve != "P-256" || !got.Enabled || got.PublicKey == nil || got.PublicKey.X != rfcX {
		t.Errorf("key show = %+v, want app v1 P-256 enabled with the RFC x", got)
	}
	if want := time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC); got.LastUsed == nil || !got.LastUsed.Equal(want) {
		t.Errorf("key show lastUsed = %v, want %v", got.LastUsed, want)
	}
	if !strings.Contains(out, `"lastUsed": "2030-01-01T00:01:00Z"`) {
		t.Errorf("key show -o json = %s, want lastUsed in RFC 3339", out)
	}
	wantProv := provenanceDoc{Method: "byok", Generator: "vendor tool 2.1", KEK: "https://dev.localhost/keys/kek/v1", Imported: ptrTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	if got.Provenance == nil || got.Provenance.Method != wantProv.Method || got.Provenance.Generator != wantProv.Generator || got.Provenance.KEK != wantProv.KEK || !got.Provenance.Imported.Equal(*wantProv.Imported) {
		t.Errorf("key show provenance = %+v, want %+v", got.Provenance, wantProv)
	}
	out, _, err = run(t, nil, "key", "show", "app", "--env-file", envFile)
	if err != nil {
		t.Fatalf("key show error = %v", err)
	}
	if !strings.Contains(out, "LAST-USED") || !strings.Contains(out, "2030-01-01T00:01:00Z") {
		t.Errorf("key show = %q, want a LAST-USED column with 2030-01-01T00:01:00Z", out)
	}
	if !strings.Contains(out, "IMPORTED-BY") || !strings.Contains(out, "vendor tool 2.1") || !strings.Contains(out, "https://dev.localhost/keys/kek/v1") {
		t.Errorf("key show = %q, want the provenance block (IMPORTED-BY byok, generator, KEK)", out)
	}

	out, _, err = run(t, nil, "key", "sign", "app", "--alg", "es256", "--digest", encodeBase64URL(make([]byte, 32)), "--env-file", envFile)
	if err != nil {
		t.Fatalf("key sign error = %v", err)
	}
	if !strings.Contains(out, "ES256") || !strings.Contains(out, "c2ln") {
		t.Errorf("key sign = %q, want ES256 and the signature c2ln", out)
	}

	_, stderr, err := run(t, nil, "key", "show", "missing", "--env-file", envFile)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "KeyNotFound" || ae.StatusCode != 404 {
		t.Fatalf("key show missing error = %v, want KeyNotFound 404", err)
	}
	if want := "Error: show key missing: KeyNotFound: A key with (name/id) missing was not found in this key vault. (HTTP 404)\n"; stderr != want {
		t.Errorf("key show missing stderr = %q, want %q", stderr, want)
	}

	badEnv := f.envFile(t, "wrong")
	_, _, err = run(t, nil, "key", "show", "app", "--env-file", badEnv)
	if !errors.As(err, &ae) || ae.Code != "invalid_client" || ae.StatusCode != 401 {
		t.Errorf("key show with a wrong secret error = %v, want invalid_client 401", err)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
