package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI runs the keywarden key commands against a dev server, reading
// its dev.env.
func TestCLI(t *testing.T) {
	s := startDev(t, "", 0)
	envFile := filepath.Join(s.dataDir, "dev.env")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--env-file", envFile)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("keywarden %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var created struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	out := run("key", "create", "cli-key", "--kty", "EC", "--curve", "P-256", "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Name != "cli-key" || len(created.Version) != 32 {
		t.Fatalf("key create --output json = %q (%v)", out, err)
	}
	if out := run("key", "list"); !strings.Contains(out, "cli-key") {
		t.Errorf("key list = %q, want cli-key", out)
	}
	if out := run("key", "show", "cli-key"); !strings.Contains(out, created.Version) {
		t.Errorf("key show = %q, want version %s", out, created.Version)
	}
	if out := run("vault", "list"); !strings.Contains(out, "dev") {
		t.Errorf("vault list = %q, want dev", out)
	}
	run("key", "delete", "cli-key")
	run("key", "recover", "cli-key")

	// Administration: a principal holding Crypto User on one key can sign
	// with that key and read nothing else.
	var p struct {
		ClientID     string `json:"clientId"`
		ObjectID     string `json:"objectId"`
		ClientSecret string `json:"clientSecret"`
	}
	stdout, err := exec.Command(binary, "principal", "create", "cli-app", "--output", "json", "--env-file", envFile).Output()
	if err != nil {
		t.Fatalf("principal create: %v", err)
	}
	if err := json.Unmarshal(stdout, &p); err != nil || p.ClientSecret == "" {
		t.Fatalf("principal create --output json: %v %+v", err, p)
	}
	run("role", "assign", "--principal", p.ClientID, "--role", "Key Vault Crypto User", "--vault", "dev", "--key", "cli-key")
	if out := run("role", "assignments", "--principal", p.ClientID); !strings.Contains(out, "/vaults/dev/keys/cli-key") {
		t.Errorf("role assignments = %q, want the key-scope assignment", out)
	}
	run("vault", "create", "cli-vault", "--sku", "standard", "--retention-days", "7")
	if out := run("vault", "list"); !strings.Contains(out, "cli-vault") {
		t.Errorf("vault list = %q, want cli-vault", out)
	}
	app := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append(args, "--env-file", envFile)...)
		cmd.Env = append(cmd.Environ(), "AZURE_CLIENT_ID="+p.ClientID, "AZURE_CLIENT_SECRET="+p.ClientSecret)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	digest := "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564" // SHA-256 of "foo"
	if out, err := app("key", "sign", "cli-key", "--alg", "ES256", "--digest", digest); err != nil {
		t.Errorf("sign as the Crypto User of cli-key: %v\n%s", err, out)
	}
	if out, err := app("key", "list"); err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("key list as a key-scope Crypto User = %v %q, want Forbidden", err, out)
	}
	if out, _ := app("key", "list"); strings.Contains(out, p.ClientSecret) {
		t.Errorf("an error output holds the client secret")
	}
}
