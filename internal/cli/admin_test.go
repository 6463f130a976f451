package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// adminSession runs administration commands against a fakeAdmin with a
// deterministic Rand (so new role and assignment ids repeat) and records a
// transcript: each command line, the admin requests it sent with their
// bodies, and its output.
type adminSession struct {
	t          *testing.T
	f          *fakeAdmin
	envFile    string
	rand       io.Reader
	transcript bytes.Buffer
}

func newAdminSession(t *testing.T) *adminSession {
	f := newFakeAdmin(t)
	return &adminSession{t: t, f: f, envFile: f.envFile(t, "client1", adminSecret, ""), rand: mrand.NewChaCha8([32]byte{7})}
}

// exec runs args with the session's env file (unless args name one) and
// returns stdout, stderr and the error.
func (s *adminSession) exec(args ...string) (string, string, error) {
	s.t.Helper()
	s.f.reset()
	if !slices.Contains(args, "--env-file") {
		args = append(slices.Clone(args), "--env-file", s.envFile)
	}
	var stdout, stderr bytes.Buffer
	err := Execute(s.t.Context(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: fakeGetenv(nil),
		Now: func() time.Time { return testNow }, Rand: s.rand})
	return stdout.String(), stderr.String(), err
}

// step runs args, which must succeed, and adds them to the transcript.
func (s *adminSession) step(args ...string) string {
	s.t.Helper()
	out, stderr, err := s.exec(args...)
	if err != nil {
		s.t.Fatalf("%s: error = %v (stderr %q)", shellLine(args), err, stderr)
	}
	fmt.Fprintf(&s.transcript, "$ keywarden %s\n", shellLine(args))
	for _, r := range s.f.requests() {
		fmt.Fprintf(&s.transcript, "> %s\n", r)
	}
	if stderr != "" {
		fmt.Fprintf(&s.transcript, "stderr: %s", stderr)
	}
	s.transcript.WriteString(out)
	s.transcript.WriteString("\n")
	return out
}

// fail runs args, which must fail, and returns the error and stderr.
func (s *adminSession) fail(args ...string) (error, string) {
	s.t.Helper()
	_, stderr, err := s.exec(args...)
	if err == nil {
		s.t.Fatalf("%s: error = nil, want an error", shellLine(args))
	}
	return err, stderr
}

func shellLine(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'") {
			a = fmt.Sprintf("%q", a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

const (
	client1 = "00000000-0000-4000-8000-000000000001" // billing's client id
	object1 = "00000000-0000-4000-8000-000000000002" // billing's object id
	extOID  = "5b1e0c9a-2f7d-4c1e-9a3b-6d8f0e1c2b3a"
)

// runAdminScript drives every administration command once, with format
// ("" for tables) as --output, and returns the transcript.
func runAdminScript(t *testing.T, format string) []byte {
	s := newAdminSession(t)
	step := func(args ...string) string {
		if format != "" {
			args = append(args, "-o", format)
		}
		return s.step(args...)
	}

	step("vault", "list")
	step("vault", "create", "payments", "--sku", "Premium", "--retention-days", "30", "--purge-protection")
	step("vault", "create", "internal", "--default-action", "deny", "--ip", "10.0.0.0/8,2001:db8::/32")
	step("vault", "update", "internal", "--ip", "192.0.2.7", "--ip", "198.51.100.0/24")
	step("vault", "update", "payments", "--default-action", "Deny")
	step("vault", "update", "payments", "--purge-protection")
	step("vault", "show", "internal")
	step("vault", "delete", "internal")
	step("vault", "list")

	step("principal", "create", "billing", "--secret-expires", "1y")
	step("principal", "create", "ops")
	step("principal", "list")
	step("principal", "show", "billing")
	step("principal", "credential", "add", "billing", "--secret", "--expires", "90d")
	step("principal", "disable", "billing")
	step("principal", "enable", client1)
	// The first credential of billing is its creation secret.
	step("principal", "credential", "remove", client1, "00000000-0000-4000-8000-000000000003")
	step("principal", "show", client1)

	step("role", "list")
	step("role", "show", "key vault crypto user")
	step("role", "show", readerRoleID)
	step("role", "create", "--name", "Key Signer", "--description", "sign only",
		"--data-actions", "Microsoft.KeyVault/vaults/keys/read,Microsoft.KeyVault/vaults/keys/sign/action",
		"--not-data-actions", "Microsoft.KeyVault/vaults/keys/sign/action")
	step("role", "assign", "--principal", "billing", "--role", "Key Signer", "--vault", "payments", "--key", "invoice-signing")
	step("role", "assign", "--object-id", extOID, "--role", cryptoUserID)
	step("role", "assign", "--principal", client1, "--role", "Key Vault Reader", "--scope", "/vaults/payments")
	step("role", "assignments")
	step("role", "assignments", "--principal", "billing")
	step("role", "assignments", "--vault", "payments", "--key", "invoice-signing")
	step("role", "assignments", "--object-id", extOID, "--scope", "/")
	signer := s.f.assignments[0].ID
	step("role", "unassign", signer)
	step("role", "delete", "Key Signer")
	step("principal", "delete", "ops")
	step("principal", "list")
	return s.transcript.Bytes()
}

// TestAdminCommands runs every administration command against the fake and
// compares the transcript (requests and output) with golden files, as tables
// and as JSON.
func TestAdminCommands(t *testing.T) {
	golden(t, "admin-session.txt", runAdminScript(t, ""))
	golden(t, "admin-session-json.txt", runAdminScript(t, "json"))
}

// TestAdminChallenge checks the SDK-style challenge flow: one request
// without a token, a token for the challenge's resource (not the origin),
// then the real request with the token.
func TestAdminChallenge(t *testing.T) {
	s := newAdminSession(t)
	for _, args := range [][]string{
		{"vault", "list"},
		{"vault", "create", "payments"},
		{"principal", "list"},
	} {
		if _, stderr, err := s.exec(args...); err != nil {
			t.Fatalf("%v error = %v (%s)", args, err, stderr)
		}
		s.f.mu.Lock()
		unauth, tokens, scopes := s.f.unauthorized, s.f.tokens, slices.Clone(s.f.scopes)
		s.f.mu.Unlock()
		if unauth != 1 || tokens != 1 {
			t.Errorf("%v: %d unauthenticated requests and %d tokens, want 1 and 1", args, unauth, tokens)
		}
		// MSAL adds openid, offline_access and profile.
		if want := s.f.resource + "/.default"; len(scopes) != 1 || strings.Fields(scopes[0])[0] != want {
			t.Errorf("%v: token scopes = %q, want %q", args, scopes, want)
		}
		if got := s.f.requests(); len(got) != 1 {
			t.Errorf("%v: authorised requests = %q, want exactly the command's", args, got)
		}
	}
	if !strings.HasPrefix(s.f.resource, "https://localhost:") || strings.HasPrefix(s.f.srv.URL, "https://localhost:") {
		t.Fatalf("resource %s and origin %s must differ for this test", s.f.resource, s.f.srv.URL)
	}
}

// TestAdminNameResolution checks which requests names and ids cost: a name
// is found through the list, an id is used as is.
func TestAdminNameResolution(t *testing.T) {
	s := newAdminSession(t)
	s.step("principal", "create", "billing")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"principal", "show", "billing"}, []string{"GET /admin/v1/principals"}},
		{[]string{"principal", "show", client1}, []string{"GET /admin/v1/principals/" + client1}},
		{[]string{"principal", "disable", "billing"}, []string{"GET /admin/v1/principals", "PATCH /admin/v1/principals/" + client1 + ` {"disabled":true}`}},
		{[]string{"principal", "enable", client1}, []string{"PATCH /admin/v1/principals/" + client1 + ` {"disabled":false}`}},
		{[]string{"role", "show", "Key Vault Reader"}, []string{"GET /admin/v1/roleDefinitions"}},
		{[]string{"role", "show", readerRoleID}, []string{"GET /admin/v1/roleDefinitions/" + readerRoleID}},
		{
			[]string{"role", "assign", "--principal", "billing", "--role", "key vault reader", "--vault", "dev"},
			[]string{
				"GET /admin/v1/roleDefinitions",
				"GET /admin/v1/principals",
				`PUT /admin/v1/roleAssignments/` + uuidFromRand(t, []byte{7}) + ` {"principalId":"` + object1 + `","roleDefinitionId":"` + readerRoleID + `","scope":"/vaults/dev"}`,
			},
		},
		{
			[]string{"role", "assignments", "--principal", client1, "--vault", "dev"},
			[]string{"GET /admin/v1/principals/" + client1, "GET /admin/v1/roleAssignments?principalId=" + object1 + "&scope=%2Fvaults%2Fdev", "GET /admin/v1/roleDefinitions"},
		},
	}
	for _, tt := range tests {
		if _, stderr, err := s.exec(tt.args...); err != nil {
			t.Fatalf("%v error = %v (%s)", tt.args, err, stderr)
		}
		if diff := cmp.Diff(tt.want, s.f.requests()); diff != "" {
			t.Errorf("%v requests mismatch (-want +got):\n%s", tt.args, diff)
		}
	}
}

// uuidFromRand is the first UUID a session's ChaCha8 Rand seeded with seed
// yields, after the session has drawn none.
func uuidFromRand(t *testing.T, seed []byte) string {
	t.Helper()
	var key [32]byte
	copy(key[:], seed)
	var b [16]byte
	if _, err := mrand.NewChaCha8(key).Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// TestAdminErrors checks that server errors print as "Code: Message (HTTP
// n)" and that the client-side checks hold.
func TestAdminErrors(t *testing.T) {
	s := newAdminSession(t)
	s.step("vault", "create", "busy", "--purge-protection")
	s.step("principal", "create", "billing")
	s.step("principal", "create", "billing")
	s.step("role", "create", "--name", "Dup", "--data-actions", "x")
	readerEnv := s.f.envFile(t, "reader", readerSecret, "")
	wrongEnv := s.f.envFile(t, "client1", "wrong-"+adminSecret, "")

	tests := []struct {
		name   string
		args   []string
		stderr string
		code   string
		status int
	}{
		{"not found", []string{"vault", "show", "nope"}, "Error: show vault nope: NotFound: Vault nope not found. (HTTP 404)\n", "NotFound", 404},
		{"vault holds keys", []string{"vault", "delete", "busy"},
			"Error: delete vault busy: Conflict: Vault busy still holds 2 keys (active or soft-deleted). (HTTP 409)\n", "Conflict", 409},
		{"purge protection off", []string{"vault", "update", "busy", "--purge-protection=false"},
			"Error: update vault busy: BadParameter: Purge protection cannot be turned off once on. (HTTP 400)\n", "BadParameter", 400},
		{"vault exists", []string{"vault", "create", "busy"}, "Error: create vault busy: Conflict: vault busy exists (HTTP 409)\n", "Conflict", 409},
		{"forbidden", []string{"vault", "create", "other", "--env-file", readerEnv},
			"Error: create vault other: Forbidden: Caller is not authorized to perform action on resource. (HTTP 403)\n", "Forbidden", 403},
		{"wrong secret", []string{"principal", "list", "--env-file", wrongEnv},
			"Error: list principals: authenticate: invalid_client: AADSTS7000215: Invalid client secret provided. (HTTP 401)\n", "invalid_client", 401},
		{"built-in role", []string{"role", "delete", "Key Vault Reader"},
			"Error: delete role Key Vault Reader: BadParameter: Built-in roles cannot be deleted. (HTTP 400)\n", "BadParameter", 400},
		{"unknown principal id", []string{"principal", "delete", "00000000-0000-4000-8000-00000000ffff"},
			"Error: delete principal 00000000-0000-4000-8000-00000000ffff: NotFound: Principal 00000000-0000-4000-8000-00000000ffff not found. (HTTP 404)\n", "NotFound", 404},
		{"unknown credential", []string{"principal", "credential", "remove", client1, "nope"},
			"Error: remove credential nope of principal " + client1 + ": NotFound: Credential nope not found. (HTTP 404)\n", "NotFound", 404},
		{"unknown assignment", []string{"role", "unassign", "nope"},
			"Error: remove role assignment nope: NotFound: Role assignment nope not found. (HTTP 404)\n", "NotFound", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, stderr := s.fail(tt.args...)
			if stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.stderr)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.StatusCode != tt.status {
				t.Errorf("error = %v, want an *APIError %s %d", err, tt.code, tt.status)
			}
		})
	}

	resolution := []struct {
		name string
		args []string
		want string
	}{
		{"unknown principal", []string{"principal", "show", "nobody"}, `show principal nobody: no principal with client id or name "nobody"`},
		{"ambiguous principal", []string{"role", "assign", "--principal", "billing", "--role", "Key Vault Reader"}, `2 principals are named "billing": give the client id`},
		{"unknown role", []string{"role", "assign", "--object-id", extOID, "--role", "Nope"}, `no role with id or name "Nope" (see keywarden role list)`},
		{"duplicate role", []string{"role", "create", "--name", "dup", "--data-actions", "y"}, "create role dup: a role with this name exists: "},
	}
	for _, tt := range resolution {
		t.Run(tt.name, func(t *testing.T) {
			err, stderr := s.fail(tt.args...)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(stderr, tt.want) {
				t.Errorf("error = %v, stderr %q, want %q", err, stderr, tt.want)
			}
		})
	}
}

// TestAdminArgumentErrors checks the checks made before any request: the
// server is never reached.
func TestAdminArgumentErrors(t *testing.T) {
	s := newAdminSession(t)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"vault", "create", "Payments"}, `vault name "Payments": want 3 to 24 lowercase letters, digits and dashes`},
		{[]string{"vault", "create", "../x"}, `vault name "../x"`},
		{[]string{"vault", "create", "abc", "--sku", "gold"}, `--sku: unknown SKU "gold" (want one of managedhsm, premium, standard)`},
		{[]string{"vault", "create", "abc", "--retention-days", "6"}, "--retention-days 6: want 7 to 90"},
		{[]string{"vault", "create", "abc", "--retention-days", "91"}, "--retention-days 91: want 7 to 90"},
		{[]string{"vault", "create", "abc", "--default-action", "Block"}, `--default-action: unknown default action "Block"`},
		{[]string{"vault", "create", "abc", "--ip", "10.0.0.0/33"}, `--ip "10.0.0.0/33": want an IP address or a CIDR prefix`},
		{[]string{"vault", "update", "abc", "--ip", "example.com"}, `--ip "example.com"`},
		{[]string{"vault", "update", "abc"}, "nothing to update: give --purge-protection, --default-action, --ip or a key policy flag"},
		{[]string{"vault", "show"}, "accepts 1 arg(s), received 0"},
		{[]string{"principal", "create", "x", "--secret-expires", "12h"}, `--secret-expires "12h": want whole days such as 90d, 12w or 1y`},
		{[]string{"principal", "create", "x", "--secret-expires", "0"}, `--secret-expires "0": want at least one day`},
		{[]string{"principal", "credential", "add", client1}, "give exactly one of --secret and --certificate"},
		{[]string{"principal", "credential", "add", client1, "--secret", "--certificate", certFile}, "give exactly one of --secret and --certificate"},
		{[]string{"principal", "credential", "add", client1, "--certificate", certFile, "--expires", "90d"}, "--expires applies to --secret only"},
		{[]string{"principal", "credential", "add", client1, "--certificate", certFile}, "no PEM CERTIFICATE block"},
		{[]string{"principal", "credential", "remove", client1}, "accepts 2 arg(s), received 1"},
		{[]string{"role", "create", "--data-actions", "a"}, `required flag(s) "name" not set`},
		{[]string{"role", "create", "--name", "x"}, "--data-actions: want at least one data action"},
		{[]string{"role", "create", "--name", "x", "--data-actions", "a", "--id", "nope"}, `--id "nope": want a UUID`},
		{[]string{"role", "create", "--name", "x", "--data-actions", "a", "--assignable-scopes", "/keys"}, `--assignable-scopes: scope "/keys"`},
		{[]string{"role", "assign", "--role", "r"}, "give --principal CLIENT_ID or --object-id OBJECT_ID"},
		{[]string{"role", "assign", "--role", "r", "--principal", "a", "--object-id", "b"}, "give --principal or --object-id, not both"},
		{[]string{"role", "assign", "--object-id", "b", "--role", "r", "--key", "k"}, "--key needs --vault"},
		{[]string{"role", "assign", "--object-id", "b", "--role", "r", "--vault", "dev", "--scope", "/"}, "give --scope or --vault [--key], not both"},
		{[]string{"role", "assign", "--object-id", "b", "--role", "r", "--scope", "/vaults/dev/secrets/s"}, `scope "/vaults/dev/secrets/s": want /, /vaults/VAULT or /vaults/VAULT/keys/KEY`},
		{[]string{"role", "assign", "--object-id", "b", "--role", "r", "--vault", "dev", "--key", "a/b"}, `key name "a/b"`},
		{[]string{"role", "assignments", "--scope", "vaults/dev"}, `scope "vaults/dev"`},
		{[]string{"role", "list", "-o", "yaml"}, `--output "yaml": want table or json`},
	}
	for _, tt := range tests {
		t.Run(shellLine(tt.args), func(t *testing.T) {
			err, stderr := s.fail(tt.args...)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want the error", stderr)
			}
			if got := s.f.requests(); len(got) != 0 {
				t.Errorf("requests = %q, want none", got)
			}
		})
	}
}

// TestAdminSecretsNotInErrors checks that neither the configured client
// secret nor a secret the server generated shows in any error or stderr,
// and that the one-time secret does show on stdout with its note.
func TestAdminSecretsNotInErrors(t *testing.T) {
	s := newAdminSession(t)
	out := s.step("principal", "create", "billing")
	if !strings.Contains(out, "GENERATED-SECRET-") || !strings.Contains(out, secretNote) {
		t.Fatalf("principal create output %q lacks the secret or its note", out)
	}
	jsonOut, stderr, err := s.exec("principal", "credential", "add", "billing", "--secret", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var cred credentialDoc
	if err := json.Unmarshal([]byte(jsonOut), &cred); err != nil || !strings.HasPrefix(cred.ClientSecret, "GENERATED-SECRET-") || cred.ClientID != client1 {
		t.Fatalf("credential add -o json = %q (%v), want the secret and the client id", jsonOut, err)
	}
	if stderr != secretNote+"\n" {
		t.Errorf("credential add -o json stderr = %q, want the shown-once note", stderr)
	}

	wrongEnv := s.f.envFile(t, "client1", "wrong-"+adminSecret, "")
	secrets := []string{adminSecret, readerSecret, "GENERATED-SECRET", "GARBLED-SECRET-VALUE"}
	for _, args := range [][]string{
		{"principal", "create", "garbled"},
		{"principal", "create", "garbled", "-o", "json"},
		{"principal", "show", "nobody"},
		{"principal", "list", "--env-file", wrongEnv},
		{"principal", "credential", "add", "billing", "--secret", "--env-file", wrongEnv},
		{"principal", "credential", "add", "00000000-0000-4000-8000-00000000ffff", "--secret"},
		{"vault", "show", "nope"},
	} {
		err, stderr := s.fail(args...)
		for _, secret := range secrets {
			if strings.Contains(err.Error(), secret) || strings.Contains(stderr, secret) {
				t.Errorf("%v: error %q / stderr %q shows a secret", args, err, stderr)
			}
		}
	}
	err, _ = s.fail("principal", "create", "garbled")
	if !strings.Contains(err.Error(), "create principal garbled: decode response (HTTP 201)") {
		t.Errorf("garbled answer error = %v, want a decode error", err)
	}
}

// testCertificate writes a PEM file holding a new self-signed RSA client
// certificate and its PKCS#8 key, and returns the certificate and the path.
func testCertificate(t *testing.T, dir string) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certclient"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	path := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// TestAdminClientCertificate authenticates with azidentity's
// ClientCertificateCredential, from the env file (a path relative to it)
// and from --client-certificate, and adds a certificate credential without
// sending its private key.
func TestAdminClientCertificate(t *testing.T) {
	s := newAdminSession(t)
	certEnv := s.f.envFile(t, "certclient", "", "")
	cert, certPath := testCertificate(t, filepath.Dir(certEnv))
	s.f.certificate = cert

	if _, _, err := s.exec("vault", "list", "--env-file", certEnv); err == nil ||
		!strings.Contains(err.Error(), "no client secret") {
		t.Fatalf("vault list with neither secret nor certificate error = %v, want no client secret", err)
	}
	if _, stderr, err := s.exec("vault", "list", "--env-file", certEnv, "--client-certificate", certPath); err != nil {
		t.Fatalf("vault list --client-certificate error = %v (%s)", err, stderr)
	}
	f, err := os.OpenFile(certEnv, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s=client.pem\n", envClientCertificate)
	f.Close()
	if _, stderr, err := s.exec("principal", "create", "billing", "--env-file", certEnv); err != nil {
		t.Fatalf("principal create with %s error = %v (%s)", envClientCertificate, err, stderr)
	}
	if s.f.tokens != 1 {
		t.Errorf("tokens = %d, want 1", s.f.tokens)
	}

	out, stderr, err := s.exec("principal", "credential", "add", "billing", "--certificate", certPath, "-o", "json")
	if err != nil {
		t.Fatalf("credential add --certificate error = %v (%s)", err, stderr)
	}
	var d credentialDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != "certificate" || d.Thumbprint != sha1Hex(cert.Raw) || d.ClientSecret != "" {
		t.Errorf("credential add --certificate = %+v, want a certificate with thumbprint %s", d, sha1Hex(cert.Raw))
	}
	if stderr != "" {
		t.Errorf("credential add --certificate stderr = %q, want nothing", stderr)
	}
	reqs := s.f.requests()
	if len(reqs) != 2 || !strings.Contains(reqs[1], "BEGIN CERTIFICATE") || strings.Contains(reqs[1], "PRIVATE KEY") {
		t.Errorf("requests = %q, want the list and a POST holding the certificate and no private key", reqs)
	}

	s.f.certificate = nil // the server no longer trusts it
	err, _ = s.fail("vault", "list", "--env-file", certEnv)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "invalid_client" {
		t.Errorf("vault list with an untrusted certificate error = %v, want invalid_client", err)
	}
}

// TestVaultList lists the server's vaults through the admin API, from the
// bare origin and from a named vault URL (via the authority host's origin).
func TestVaultList(t *testing.T) {
	s := newAdminSession(t)
	out, _, err := s.exec("vault", "list")
	if err != nil {
		t.Fatalf("vault list error = %v", err)
	}
	want := "NAME  SKU       RETENTION-DAYS  PURGE-PROTECTION  DEFAULT-ACTION  IP-RULES  URL                         CREATED\n" +
		"dev   standard  90              false             Allow           -         https://dev.localhost:8443  2026-01-01T00:00:00Z\n"
	if out != want {
		t.Errorf("vault list = %q, want %q", out, want)
	}

	port := s.f.srv.URL[strings.LastIndex(s.f.srv.URL, ":")+1:]
	named := s.f.envFile(t, "client1", adminSecret, "https://dev.localhost:"+port)
	out, _, err = s.exec("vault", "list", "-o", "json", "--env-file", named)
	if err != nil {
		t.Fatalf("vault list --output json (named vault URL) error = %v", err)
	}
	var got vaultListDoc
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("vault list output %q: %v", out, err)
	}
	wantDoc := vaultListDoc{Vaults: []vaultDoc{{
		Name: "dev", URL: "https://dev.localhost:8443", SKU: "standard", RetentionDays: 90,
		NetworkRules: networkRules{DefaultAction: "Allow", IPRules: []string{}}, Created: testTime("2026-01-01T00:00:00Z"),
	}}}
	if diff := cmp.Diff(wantDoc, got); diff != "" {
		t.Errorf("vault list mismatch (-want +got):\n%s", diff)
	}

	// --admin-url wins over a vault URL that points elsewhere.
	elsewhere := s.f.envFile(t, "client1", adminSecret, "https://127.0.0.1:1")
	if _, _, err := s.exec("vault", "list", "--env-file", elsewhere); err == nil {
		t.Errorf("vault list against https://127.0.0.1:1 succeeded")
	}
	if _, stderr, err := s.exec("vault", "list", "--env-file", elsewhere, "--admin-url", s.f.srv.URL+"/ignored/path"); err != nil {
		t.Errorf("vault list --admin-url error = %v (%s)", err, stderr)
	}
}

// TestAdminWithoutChallenge covers servers that ask for no token and 401s
// without a challenge.
func TestAdminWithoutChallenge(t *testing.T) {
	var auths []string
	open := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Method+" "+r.Header.Get("Authorization"))
		switch {
		case r.URL.Path == "/admin/v1/vaults" && r.Method == http.MethodGet:
			writeJSON(w, 200, map[string]any{"value": []any{}})
		case r.URL.Path == "/admin/v1/vaults/abc" && r.Method == http.MethodDelete:
			w.WriteHeader(204)
		case r.URL.Path == "/admin/v1/principals":
			w.WriteHeader(401) // no challenge
		case r.URL.Path == "/admin/v1/roleDefinitions":
			http.Error(w, "upstream connect error", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	defer open.Close()
	f := &fakeAdmin{srv: open}
	env := f.envFile(t, "client1", adminSecret, "")
	s := &adminSession{t: t, f: &fakeAdmin{}, envFile: env, rand: mrand.NewChaCha8([32]byte{})}

	out, _, err := s.exec("vault", "list", "-o", "json")
	if err != nil || out != "{\n  \"vaults\": []\n}\n" {
		t.Errorf("vault list = %q, %v; want an empty list", out, err)
	}
	if _, _, err := s.exec("vault", "delete", "abc"); err != nil {
		t.Errorf("vault delete error = %v", err)
	}
	if want := []string{"GET ", "GET ", "DELETE "}; !cmp.Equal(auths, want) {
		t.Errorf("requests = %q, want %q (one probe each, no token)", auths, want)
	}
	err, _ = s.fail("principal", "list")
	if !strings.Contains(err.Error(), "list principals: 401 without a WWW-Authenticate challenge") {
		t.Errorf("principal list error = %v, want no challenge", err)
	}
	err, stderr := s.fail("role", "list")
	if want := "Error: list roles: Bad Gateway: upstream connect error (HTTP 502)\n"; stderr != want {
		t.Errorf("role list stderr = %q (%v), want %q", stderr, err, want)
	}
}

func TestChallengeResource(t *testing.T) {
	tests := []struct {
		headers []string
		want    string
		err     string
	}{
		{[]string{`Bearer authorization="https://127.0.0.1:8443/t1", resource="https://localhost:8443"`}, "https://localhost:8443", ""},
		{[]string{`Bearer authorization="https://login/t", scope="https://vault.azure.net/.default"`}, "https://vault.azure.net/.default", ""},
		{[]string{`Basic realm="x"`, `bearer resource=https://r,authorization="a"`}, "https://r", ""},
		{[]string{`Bearer resource="quo\"ted"`}, `quo"ted`, ""},
		{nil, "", "401 without a WWW-Authenticate challenge"},
		{[]string{`Bearer authorization="https://a/t"`}, "", "401 challenge names no resource"},
	}
	for _, tt := range tests {
		got, err := challengeResource(tt.headers)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("challengeResource(%q) error = %v, want %q", tt.headers, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("challengeResource(%q) = %q, %v; want %q", tt.headers, got, err, tt.want)
		}
	}
}

func TestNewAdminAPIError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{403, `{"error":{"code":"Forbidden","message":"denied","innererror":{"code":"ForbiddenByRbac"}}}`, "Forbidden: denied (HTTP 403)"},
		{429, `{"error":{"code":"Throttled","message":""}}`, "Throttled (HTTP 429)"},
		{502, "bad gateway\nmore", "Bad Gateway: bad gateway (HTTP 502)"},
		{500, strings.Repeat("x", 300), "Internal Server Error (HTTP 500)"},
		{500, "", "Internal Server Error (HTTP 500)"},
	}
	for _, tt := range tests {
		if got := newAdminAPIError(tt.status, []byte(tt.body)).Error(); got != tt.want {
			t.Errorf("newAdminAPIError(%d, %q) = %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
}

func TestAdminOrigin(t *testing.T) {
	tests := []struct {
		s    settings
		want string
		err  string
	}{
		{settings{vaultURL: "https://127.0.0.1:8443/"}, "https://127.0.0.1:8443", ""},
		{settings{vaultURL: "https://localhost:8443"}, "https://localhost:8443", ""},
		{settings{vaultURL: "https://[::1]:8443"}, "https://[::1]:8443", ""},
		{settings{vaultURL: "https://dev.localhost:8443", authorityHost: "https://127.0.0.1:8443/"}, "https://127.0.0.1:8443", ""},
		{settings{vaultURL: "https://dev.localhost:8443", authorityHost: "https://127.0.0.1:8443/", adminURL: "https://admin:9443/x"}, "https://admin:9443", ""},
		{settings{adminURL: "https://admin:9443"}, "https://admin:9443", ""},
		{settings{}, "", "no admin URL: set --vault-url"},
		{settings{vaultURL: "https://dev.localhost:8443"}, "", "no admin URL for the named vault URL"},
		{settings{vaultURL: "http://127.0.0.1:8443"}, "", "want https://host[:port]"},
		{settings{adminURL: "admin:9443"}, "", `admin URL "admin:9443": want https://host[:port]`},
		{settings{vaultURL: "https://dev.localhost", authorityHost: "http://x/"}, "", `authority host "http://x/"`},
	}
	for _, tt := range tests {
		got, err := tt.s.adminOrigin()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("adminOrigin(%+v) error = %v, want %q", tt.s, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("adminOrigin(%+v) = %q, %v; want %q", tt.s, got, err, tt.want)
		}
	}
}

func TestAdminHelpListsCommands(t *testing.T) {
	for cmd, subs := range map[string]string{
		"principal":            "create list show disable enable delete credential",
		"principal credential": "add remove",
		"role":                 "list show create delete assign unassign assignments",
		"vault":                "create list show update delete",
	} {
		out, _, err := run(t, nil, append(strings.Fields(cmd), "--help")...)
		if err != nil {
			t.Fatalf("%s --help error = %v", cmd, err)
		}
		for _, c := range strings.Fields(subs) {
			if !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("%s --help does not list %q", cmd, c)
			}
		}
	}
}
