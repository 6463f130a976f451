package cli

import (
	"strings"
	"testing"
)

// runVaultPolicyScript drives the key policy flags of vault create, update
// and show, with format ("" for tables) as --output, and returns the
// transcript.
func runVaultPolicyScript(t *testing.T, format string) []byte {
	s := newAdminSession(t)
	step := func(args ...string) string {
		if format != "" {
			args = append(args, "-o", format)
		}
		return s.step(args...)
	}
	step("vault", "create", "payments", "--sku", "premium", "--min-rsa-size", "3072", "--allowed-curves", "p-256,P-384",
		"--allowed-key-types", "ec-hsm", "--allowed-key-types", "RSA-HSM", "--require-expiry", "--max-validity", "p1y", "--one-purpose-per-key")
	step("vault", "show", "payments")
	step("vault", "update", "payments", "--allowed-curves", "", "--max-validity", "P2Y", "--require-expiry=false")
	step("vault", "update", "dev", "--one-purpose-per-key")
	step("vault", "update", "dev", "--one-purpose-per-key=false")
	step("vault", "show", "dev")
	return s.transcript.Bytes()
}

// TestVaultKeyPolicyCommands compares the transcript of the key policy
// flags (requests and output) with golden files, as tables and as JSON.
func TestVaultKeyPolicyCommands(t *testing.T) {
	golden(t, "vault-policy.txt", runVaultPolicyScript(t, ""))
	golden(t, "vault-policy-json.txt", runVaultPolicyScript(t, "json"))
}

// TestVaultKeyPolicyFlags checks that bad key policy flags are refused
// before any request.
func TestVaultKeyPolicyFlags(t *testing.T) {
	s := newAdminSession(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"vault", "create", "abc", "--min-rsa-size", "1024"}, "--min-rsa-size 1024: want 2048, 3072 or 4096"},
		{[]string{"vault", "create", "abc", "--allowed-curves", "P-224"}, `--allowed-curves: unknown curve "P-224" (want one of P-256, P-256K, P-384, P-521)`},
		{[]string{"vault", "create", "abc", "--allowed-key-types", "oct"}, `--allowed-key-types: unknown key type "oct"`},
		{[]string{"vault", "create", "abc", "--max-validity", "1y"}, `--max-validity "1y": want an ISO-8601 duration`},
		{[]string{"vault", "update", "abc", "--max-validity", "PT"}, `--max-validity "PT"`},
		{[]string{"vault", "update", "abc", "--min-rsa-size", "8192"}, "--min-rsa-size 8192"},
	}
	for _, tt := range tests {
		t.Run(shellLine(tt.args), func(t *testing.T) {
			err, stderr := s.fail(tt.args...)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(stderr, tt.want) {
				t.Errorf("error = %v, stderr %q; want %q", err, stderr, tt.want)
			}
			if got := s.f.requests(); len(got) != 0 {
				t.Errorf("requests = %q, want none", got)
			}
		})
	}
}
