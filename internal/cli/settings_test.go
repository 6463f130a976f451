package cli

import (
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/secret"
)

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{
			name: "dev.env",
			in: `KEYWARDEN_VAULT_URL=https://127.0.0.1:8443
KEYWARDEN_VAULT_DNS_URL=https://dev.localhost:8443
KEYWARDEN_CA_CERT=/data/ca.pem
AZURE_TENANT_ID=t1
AZURE_CLIENT_ID=c1
AZURE_CLIENT_SECRET=s3cr=t
AZURE_AUTHORITY_HOST=https://127.0.0.1:8443/
`,
			want: map[string]string{
				"KEYWARDEN_VAULT_URL":     "https://127.0.0.1:8443",
				"KEYWARDEN_VAULT_DNS_URL": "https://dev.localhost:8443",
				"KEYWARDEN_CA_CERT":       "/data/ca.pem",
				"AZURE_TENANT_ID":         "t1",
				"AZURE_CLIENT_ID":         "c1",
				"AZURE_CLIENT_SECRET":     "s3cr=t",
				"AZURE_AUTHORITY_HOST":    "https://127.0.0.1:8443/",
			},
		},
		{
			name: "comments blanks export quotes",
			in:   "# comment\n\n  export A = \"x y\"  \nB='z'\r\nC=\nD=\"\n",
			want: map[string]string{"A": "x y", "B": "z", "C": "", "D": "\""},
		},
		{
			name: "last wins",
			in:   "A=1\nA=2\n",
			want: map[string]string{"A": "2"},
		},
		{name: "empty", in: "", want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnvFile(strings.NewReader(tt.in), "dev.env")
			if err != nil {
				t.Fatalf("parseEnvFile() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseEnvFile() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEnvFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no equals", "A=1\nAZURE_CLIENT_SECRET hunter2\n", "dev.env:2: want KEY=value"},
		{"empty key", "=value\n", "dev.env:1: want KEY=value"},
		{"bad key", "1A=x\n", "dev.env:1: want KEY=value"},
		{"space in key", "A B=hunter2\n", "dev.env:1: want KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnvFile(strings.NewReader(tt.in), "dev.env")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("parseEnvFile() error = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("parseEnvFile() error %q echoes the line", err)
			}
		})
	}
}

// fakeFiles is a readFile over a map.
func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		data, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(data), nil
	}
}

func fakeGetenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

const testEnvFile = `KEYWARDEN_VAULT_URL=https://file:8443
KEYWARDEN_CA_CERT=ca.pem
AZURE_TENANT_ID=file-tenant
AZURE_CLIENT_ID=file-client
AZURE_CLIENT_SECRET=file-secret
AZURE_AUTHORITY_HOST=https://file-auth/
`

// settingsView is settings with the secret exposed, for comparison.
type settingsView struct {
	VaultURL, CACert, TenantID, ClientID, ClientSecret, AuthorityHost string
}

func view(s settings) settingsView {
	return settingsView{s.vaultURL, s.caCert, s.tenantID, s.clientID, string(s.clientSecret.Expose()), s.authorityHost}
}

func TestResolveSettingsPrecedence(t *testing.T) {
	files := map[string]string{
		defaultEnvFile:           testEnvFile,
		"/etc/kw/other.env":      "KEYWARDEN_VAULT_URL=https://other:8443\n",
		"/abs/dev.env":           "KEYWARDEN_CA_CERT=/ca/abs.pem\n",
		"/relative/dir/dev.env":  "KEYWARDEN_CA_CERT=ca.pem\n",
		"/relative/env/dev.env":  "",
		"/relative/flag/dev.env": "",
	}
	allEnv := map[string]string{
		envVaultURL:      "https://env:8443",
		envCACert:        "env-ca.pem",
		envTenantID:      "env-tenant",
		envClientID:      "env-client",
		envClientSecret:  "env-secret",
		envAuthorityHost: "https://env-auth/",
	}
	allFlags := connFlags{
		vaultURL:      "https://flag:8443",
		caCert:        "flag-ca.pem",
		tenantID:      "flag-tenant",
		clientID:      "flag-client",
		authorityHost: "https://flag-auth/",
		envFile:       defaultEnvFile,
	}
	tests := []struct {
		name  string
		flags connFlags
		env   map[string]string
		want  settingsView
	}{
		{
			name:  "file only",
			flags: connFlags{envFile: defaultEnvFile},
			want: settingsView{"https://file:8443", filepath.Join("keywarden-data", "ca.pem"), "file-tenant", "file-client",
				"file-secret", "https://file-auth/"},
		},
		{
			name:  "env beats file",
			flags: connFlags{envFile: defaultEnvFile},
			env:   allEnv,
			want:  settingsView{"https://env:8443", "env-ca.pem", "env-tenant", "env-client", "env-secret", "https://env-auth/"},
		},
		{
			name:  "flags beat env",
			flags: allFlags,
			env:   allEnv,
			want:  settingsView{"https://flag:8443", "flag-ca.pem", "flag-tenant", "flag-client", "env-secret", "https://flag-auth/"},
		},
		{
			name:  "mixed",
			flags: connFlags{envFile: defaultEnvFile, tenantID: "flag-tenant"},
			env:   map[string]string{envClientID: "env-client"},
			want: settingsView{"https://file:8443", filepath.Join("keywarden-data", "ca.pem"), "flag-tenant", "env-client",
				"file-secret", "https://file-auth/"},
		},
		{
			name:  "other env file",
			flags: connFlags{envFile: "/etc/kw/other.env", envFileSet: true},
			want:  settingsView{VaultURL: "https://other:8443"},
		},
		{
			name:  "missing default env file",
			flags: connFlags{envFile: "./nowhere/dev.env"},
			env:   map[string]string{envVaultURL: "https://env:8443"},
			want:  settingsView{VaultURL: "https://env:8443"},
		},
		{
			name:  "absolute CA path in file",
			flags: connFlags{envFile: "/abs/dev.env"},
			want:  settingsView{CACert: "/ca/abs.pem"},
		},
		{
			name:  "relative CA path in file is relative to the file",
			flags: connFlags{envFile: "/relative/dir/dev.env"},
			want:  settingsView{CACert: "/relative/dir/ca.pem"},
		},
		{
			name:  "relative CA path in env stays",
			flags: connFlags{envFile: "/relative/env/dev.env"},
			env:   map[string]string{envCACert: "ca.pem"},
			want:  settingsView{CACert: "ca.pem"},
		},
		{
			name:  "relative CA path in flag stays",
			flags: connFlags{envFile: "/relative/flag/dev.env", caCert: "ca.pem"},
			want:  settingsView{CACert: "ca.pem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveSettings(tt.flags, fakeGetenv(tt.env), fakeFiles(files))
			if err != nil {
				t.Fatalf("resolveSettings() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, view(got)); diff != "" {
				t.Errorf("resolveSettings() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveSettingsErrors(t *testing.T) {
	files := fakeFiles(map[string]string{"/bad/dev.env": "AZURE_CLIENT_SECRET hunter2\n"})
	tests := []struct {
		name  string
		flags connFlags
		want  string
	}{
		{"missing explicit env file", connFlags{envFile: "/nowhere.env", envFileSet: true}, "read env file: open /nowhere.env: file does not exist"},
		{"malformed env file", connFlags{envFile: "/bad/dev.env"}, "/bad/dev.env:1: want KEY=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveSettings(tt.flags, fakeGetenv(nil), files)
			if err == nil || err.Error() != tt.want {
				t.Errorf("resolveSettings() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckSettings(t *testing.T) {
	full := func() settings {
		s, err := resolveSettings(connFlags{envFile: defaultEnvFile}, fakeGetenv(nil), fakeFiles(map[string]string{defaultEnvFile: testEnvFile}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := full().checkVaultURL(); err != nil {
		t.Errorf("checkVaultURL() error = %v", err)
	}
	if err := full().checkCredentials(); err != nil {
		t.Errorf("checkCredentials() error = %v", err)
	}
	for _, bad := range []string{"", "http://127.0.0.1:8443", "127.0.0.1:8443", "https://"} {
		s := full()
		s.vaultURL = bad
		if _, err := s.checkVaultURL(); err == nil {
			t.Errorf("checkVaultURL(%q) error = nil, want an error", bad)
		}
	}
	missing := []struct {
		name  string
		unset func(*settings)
		want  string
	}{
		{"tenant", func(s *settings) { s.tenantID = "" }, "no tenant ID: set --tenant-id, AZURE_TENANT_ID or the env file"},
		{"client", func(s *settings) { s.clientID = "" }, "no client ID: set --client-id, AZURE_CLIENT_ID or the env file"},
		{"secret", func(s *settings) { s.clientSecret = secret.Bytes{} }, "no client secret: set AZURE_CLIENT_SECRET or the env file, or give a certificate with --client-certificate or AZURE_CLIENT_CERTIFICATE_PATH"},
		{"authority", func(s *settings) { s.authorityHost = "" }, "no authority host: set --authority-host, AZURE_AUTHORITY_HOST or the env file"},
	}
	for _, tt := range missing {
		t.Run(tt.name, func(t *testing.T) {
			s := full()
			tt.unset(&s)
			if err := s.checkCredentials(); err == nil || err.Error() != tt.want {
				t.Errorf("checkCredentials() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSkipChallengeVerification(t *testing.T) {
	tests := []struct {
		url       string
		skip      bool
		vaultName string
	}{
		{"https://127.0.0.1:8443", true, "dev"},
		{"https://[::1]:8443/", true, "dev"},
		{"https://localhost:8443", true, "dev"},
		{"https://dev.localhost:8443", false, "dev"},
		{"https://payments.vault.example.com", false, "payments"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := skipChallengeVerification(u); got != tt.skip {
			t.Errorf("skipChallengeVerification(%s) = %v, want %v", tt.url, got, tt.skip)
		}
		if got := vaultName(u); got != tt.vaultName {
			t.Errorf("vaultName(%s) = %q, want %q", tt.url, got, tt.vaultName)
		}
	}
}

func TestNewHTTPClientTrustsCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	withCA, err := newHTTPClient(caFile, 4)
	if err != nil {
		t.Fatalf("newHTTPClient(%s) error = %v", caFile, err)
	}
	resp, err := withCA.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with the CA error = %v", err)
	}
	resp.Body.Close()

	withoutCA, err := newHTTPClient("", 4)
	if err != nil {
		t.Fatalf("newHTTPClient(\"\") error = %v", err)
	}
	if resp, err := withoutCA.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("GET without the CA succeeded, want a certificate error")
	}

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newHTTPClient(notPEM, 1); err == nil {
		t.Errorf("newHTTPClient(%s) error = nil, want an error", notPEM)
	}
	if _, err := newHTTPClient(filepath.Join(t.TempDir(), "missing.pem"), 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("newHTTPClient(missing) error = %v, want ErrNotExist", err)
	}
}
