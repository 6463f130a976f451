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
}
