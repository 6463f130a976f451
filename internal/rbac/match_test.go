package rbac

import (
	"errors"
	"strings"
	"testing"
)

func TestMatchAction(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/read", true},
		{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/readx", false},
		{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/rea", false},
		{"Microsoft.KeyVault/vaults/keys/read", "", false},
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "Microsoft.KeyVault/vaults/keys/read", true},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/keys/purge/action", true},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/", true},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults", false},
		{"Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/managedHsm/keys/read/action", false},
		{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keys/release/action", true},
		{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/read", false},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keyrotationpolicies/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/a/b/c/read", true},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/create/action", false},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read/action", false},
		{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/read", false},
		{"microsoft.keyvault/VAULTS/keys/READ", "Microsoft.KeyVault/vaults/keys/read", true},
		{"Microsoft.KeyVault/vaults/keys/read", "MICROSOFT.KEYVAULT/VAULTS/KEYS/READ", true},
		{"Keywarden/*", "Keywarden/vaults/write", true},
		{"Keywarden/*", "keywarden/roleAssignments/read", true},
		{"Keywarden/*", "Microsoft.KeyVault/vaults/keys/read", false},
		{"Keywarden/*/read", "Keywarden/vaults/write", false},
		{"*/read", "Keywarden/principals/read", true},
		{"*keys*", "Microsoft.KeyVault/vaults/keys/read", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYc/d", false},
		{"a**c", "abc", true},
		{"a*a*a*a*b", strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.action, func(t *testing.T) {
			if got := MatchAction(tt.pattern, tt.action); got != tt.want {
				t.Errorf("MatchAction(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
			}
		})
	}
}

func TestMatchActionAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		MatchAction("Microsoft.KeyVault/vaults/*/read", "MICROSOFT.KEYVAULT/VAULTS/KEYS/READ")
	})
	if allocs != 0 {
		t.Errorf("MatchAction allocates %v times, want 0", allocs)
	}
}

func TestNormalizeScope(t *testing.T) {
	long := strings.Repeat("k", 127)
	tests := []struct {
		scope string
		want  string // "" = ErrInvalid
	}{
		{"/", "/"},
		{"/vaults/dev", "/vaults/dev"},
		{"/vaults/DEV", "/vaults/dev"},
		{"/vaults/my-vault-1", "/vaults/my-vault-1"},
		{"/vaults/abc", "/vaults/abc"},
		{"/vaults/" + strings.Repeat("a", 24), "/vaults/" + strings.Repeat("a", 24)},
		{"/vaults/Dev/keys/MyKey", "/vaults/dev/keys/MyKey"},
		{"/vaults/dev/keys/k-1", "/vaults/dev/keys/k-1"},
		{"/vaults/dev/keys/" + long, "/vaults/dev/keys/" + long},
		{"", ""},
		{"//", ""},
		{"/vaults", ""},
		{"/vaults/", ""},
		{"/vaults/dev/", ""},
		{"/vaults/ab", ""},
		{"/vaults/" + strings.Repeat("a", 25), ""},
		{"/vaults/1dev", ""},
		{"/vaults/dev-", ""},
		{"/vaults/de_v", ""},
		{"/vaults/dév", ""},
		{"/vaults/dev/keys", ""},
		{"/vaults/dev/keys/", ""},
		{"/vaults/dev/keys/a/b", ""},
		{"/vaults/dev/keys/a_b", ""},
		{"/vaults/dev/keys/" + long + "k", ""},
		{"/vaults/dev/secrets/s", ""},
		{"/keys/k", ""},
		{"vaults/dev", ""},
		{" /", ""},
		{"/vaults/dev/keys/../../other", ""},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			got, err := NormalizeScope(tt.scope)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("NormalizeScope(%q) = %q, %v, want ErrInvalid", tt.scope, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizeScope(%q) = %q, %v, want %q, nil", tt.scope, got, err, tt.want)
			}
		})
	}
}

func TestScopeCovers(t *testing.T) {
	tests := []struct {
		assigned, requested string
		want                bool
	}{
		{"/", "/", true},
		{"/", "/vaults/dev", true},
		{"/", "/vaults/dev/keys/k", true},
		{"/vaults/dev", "/", false},
		{"/vaults/dev", "/vaults/dev", true},
		{"/vaults/dev", "/vaults/DEV", true},
		{"/vaults/dev", "/vaults/dev/keys/k", true},
		{"/vaults/dev", "/vaults/Dev/keys/K", true},
		{"/vaults/dev", "/vaults/dev2", false},
		{"/vaults/dev", "/vaults/dev2/keys/k", false},
		{"/vaults/dev", "/vaults/de", false},
		{"/vaults/dev", "/vaults/other/keys/k", false},
		{"/vaults/dev/keys/k", "/vaults/dev/keys/k", true},
		{"/vaults/dev/keys/MyKey", "/vaults/dev/keys/mykey", true},
		{"/vaults/dev/keys/MyKey", "/vaults/DEV/keys/MYKEY", true},
		{"/vaults/dev/keys/k", "/vaults/dev/keys/k2", false},
		{"/vaults/dev/keys/k", "/vaults/dev/keys/k/x", false},
		{"/vaults/dev/keys/k", "/vaults/dev", false},
		{"/vaults/dev/keys/k", "/", false},
		{"/vaults/dev/keys/k", "/vaults/dev/keys/j", false},
	}
	for _, tt := range tests {
		t.Run(tt.assigned+"~"+tt.requested, func(t *testing.T) {
			if got := ScopeCovers(tt.assigned, tt.requested); got != tt.want {
				t.Errorf("ScopeCovers(%q, %q) = %v, want %v", tt.assigned, tt.requested, got, tt.want)
			}
		})
	}
}
