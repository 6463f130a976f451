package rbac

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/store/embedded"
)

// newService returns a Service on a new embedded store in t.TempDir().
func newService(t testing.TB) *Service {
	t.Helper()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatalf("embedded.Open() = %v, want nil", err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db)
}

// now is the time the tests write with.
var now = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

func TestBuiltInRolesWellFormed(t *testing.T) {
	roles := BuiltInRoles()
	if len(roles) != 17 {
		t.Errorf("len(BuiltInRoles()) = %d, want 17", len(roles))
	}
	ids, names := map[string]bool{}, map[string]bool{}
	for _, r := range roles {
		if ids[strings.ToLower(r.ID)] {
			t.Errorf("BuiltInRoles() repeats id %s", r.ID)
		}
		if names[strings.ToLower(r.Name)] {
			t.Errorf("BuiltInRoles() repeats name %q", r.Name)
		}
		ids[strings.ToLower(r.ID)], names[strings.ToLower(r.Name)] = true, true
		if _, err := canonicalID("role", r.ID); err != nil || strings.ToLower(r.ID) != r.ID {
			t.Errorf("role %q id %q is not a lowercase GUID", r.Name, r.ID)
		}
		if r.Type != BuiltInRole {
			t.Errorf("role %q Type = %q, want %q", r.Name, r.Type, BuiltInRole)
		}
		if diff := cmp.Diff([]string{"/"}, r.AssignableScopes); diff != "" {
			t.Errorf("role %q AssignableScopes mismatch (-want +got):\n%s", r.Name, diff)
		}
		if len(r.DataActions) == 0 || r.Description == "" {
			t.Errorf("role %q has no data actions or no description", r.Name)
		}
		wantHSM := strings.HasPrefix(r.Name, "Managed HSM ")
		if r.ManagedHSM != wantHSM {
			t.Errorf("role %q ManagedHSM = %v, want %v", r.Name, r.ManagedHSM, wantHSM)
		}
		for _, a := range r.DataActions {
			if !validPermission(a) {
				t.Errorf("role %q data action %q is not a permission string", r.Name, a)
			}
			if r.ManagedHSM && !strings.HasPrefix(a, "Microsoft.KeyVault/managedHsm/") {
				t.Errorf("Managed HSM role %q has data action %q outside managedHsm", r.Name, a)
			}
		}
	}
	for _, id := range []string{KeywardenAdministrator, KeyVaultAdministrator, ManagedHSMAdministrator} {
		if !ids[id] {
			t.Errorf("BuiltInRoles() lacks well-known id %s", id)
		}
	}

	// Each call returns fresh values.
	roles[0].DataActions[0] = "changed"
	if got := BuiltInRoles()[0].DataActions[0]; got == "changed" {
		t.Errorf("BuiltInRoles() shares slices between calls")
	}
}

func TestBuiltInRoleExactDefinitions(t *testing.T) {
	tests := []struct {
		id, name    string
		dataActions []string
	}{
		{KeyVaultAdministrator, "Key Vault Administrator", []string{"Microsoft.KeyVault/vaults/*"}},
		{KeyVaultCryptoOfficer, "Key Vault Crypto Officer", []string{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"}},
		{KeyVaultCryptoUser, "Key Vault Crypto User", []string{
			"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action",
			"Microsoft.KeyVault/vaults/keys/backup/action", "Microsoft.KeyVault/vaults/keys/encrypt/action",
			"Microsoft.KeyVault/vaults/keys/decrypt/action", "Microsoft.KeyVault/vaults/keys/wrap/action",
			"Microsoft.KeyVault/vaults/keys/unwrap/action", "Microsoft.KeyVault/vaults/keys/sign/action",
			"Microsoft.KeyVault/vaults/keys/verify/action",
		}},
		{KeyVaultCryptoServiceEncryptionUser, "Key Vault Crypto Service Encryption User", []string{
			"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action",
		}},
		{KeyVaultCryptoServiceReleaseUser, "Key Vault Crypto Service Release User", []string{"Microsoft.KeyVault/vaults/keys/release/action"}},
		{KeyVaultReader, "Key Vault Reader", []string{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}},
		{KeyVaultCertificateUser, "Key Vault Certificate User", []string{
			"Microsoft.KeyVault/vaults/certificates/read", "Microsoft.KeyVault/vaults/secrets/getSecret/action",
			"Microsoft.KeyVault/vaults/secrets/readMetadata/action", "Microsoft.KeyVault/vaults/keys/read",
		}},
		{KeywardenAdministrator, "Keywarden Administrator", []string{"Keywarden/*"}},
	}
	roles := map[string]Role{}
	for _, r := range BuiltInRoles() {
		roles[r.ID] = r
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := roles[tt.id]
			if !ok {
				t.Fatalf("BuiltInRoles() has no role %s", tt.id)
			}
			if r.Name != tt.name {
				t.Errorf("role %s Name = %q, want %q", tt.id, r.Name, tt.name)
			}
			if diff := cmp.Diff(tt.dataActions, r.DataActions); diff != "" {
				t.Errorf("role %q DataActions mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// actionSet returns the listed actions as a set.
func actionSet(actions ...string) map[string]bool {
	m := map[string]bool{}
	for _, a := range actions {
		m[a] = true
	}
	return m
}

// TestVaultRolePermissions checks every built-in role against every vault
// key data action through Authorize, with the role assigned at vault scope
// and asked at key scope, and at key scope and asked at that key.
func TestVaultRolePermissions(t *testing.T) {
	all := VaultKeyDataActions()
	if len(all) != 19 {
		t.Fatalf("len(VaultKeyDataActions()) = %d, want 19", len(all))
	}
	tests := []struct {
		role    string
		allowed map[string]bool
	}{
		{KeyVaultAdministrator, actionSet(all...)},
		{KeyVaultCryptoOfficer, actionSet(all...)},
		{KeyVaultCryptoUser, actionSet(
			ActionKeysRead, ActionKeysUpdate, ActionKeysBackup, ActionKeysEncrypt, ActionKeysDecrypt,
			ActionKeysWrap, ActionKeysUnwrap, ActionKeysSign, ActionKeysVerify)},
		{KeyVaultCryptoServiceEncryptionUser, actionSet(ActionKeysRead, ActionKeysWrap, ActionKeysUnwrap)},
		{KeyVaultCryptoServiceReleaseUser, actionSet(ActionKeysRelease)},
		// "vaults/*/read" matches keyrotationpolicies/read too: Azure's
		// Reader reads rotation policies, never uses or changes keys.
		{KeyVaultReader, actionSet(ActionKeysRead, ActionKeyRotationPoliciesRead)},
		{KeyVaultCertificateUser, actionSet(ActionKeysRead)},
		{KeywardenAdministrator, actionSet()},
		{ManagedHSMAdministrator, actionSet()},
		{ManagedHSMCryptoUser, actionSet()},
	}
	s := newService(t)
	ctx := t.Context()
	for _, tt := range tests {
		for _, at := range []string{"/vaults/dev", "/vaults/dev/keys/k1"} {
			if _, err := s.Assign(ctx, now, Assignment{PrincipalID: tt.role + at, RoleID: tt.role, Scope: at}); err != nil {
				t.Fatalf("Assign(%s at %s) = %v, want nil", tt.role, at, err)
			}
		}
	}
	for _, tt := range tests {
		role, err := s.Role(ctx, tt.role)
		if err != nil {
			t.Fatalf("Role(%s) = %v, want nil", tt.role, err)
		}
		t.Run(role.Name, func(t *testing.T) {
			for _, at := range []string{"/vaults/dev", "/vaults/dev/keys/k1"} {
				sub := Subject{ObjectID: tt.role + at}
				for _, action := range all {
					d, err := s.Authorize(ctx, sub, action, "/vaults/dev/keys/K1")
					if err != nil {
						t.Fatalf("Authorize(%s) = %v, want nil", action, err)
					}
					if d.Allowed != tt.allowed[action] {
						t.Errorf("Authorize(%q assigned at %s, %s, /vaults/dev/keys/K1).Allowed = %v, want %v (%s)",
							role.Name, at, action, d.Allowed, tt.allowed[action], d.Reason)
					}
					// Another key of the vault: only the vault-scope assignment reaches it.
					d, err = s.Authorize(ctx, sub, action, "/vaults/dev/keys/k2")
					if err != nil {
						t.Fatalf("Authorize(%s) = %v, want nil", action, err)
					}
					if want := tt.allowed[action] && at == "/vaults/dev"; d.Allowed != want {
						t.Errorf("Authorize(%q assigned at %s, %s, /vaults/dev/keys/k2).Allowed = %v, want %v",
							role.Name, at, action, d.Allowed, want)
					}
				}
			}
		})
	}

	t.Run("Observations", func(t *testing.T) {
		// The reference's observations, spelled out.
		for _, c := range []struct {
			role, action string
			want         bool
		}{
			{KeyVaultCryptoUser, ActionKeysCreate, false},
			{KeyVaultCryptoUser, ActionKeysDelete, false},
			{KeyVaultCryptoUser, ActionKeysRotate, false},
			{KeyVaultCryptoUser, ActionKeysPurge, false},
			{KeyVaultCryptoOfficer, ActionKeysPurge, true},
			{KeyVaultCryptoOfficer, ActionKeysRelease, true},
			{KeyVaultReader, ActionKeysRead, true},
			{KeyVaultReader, ActionKeysSign, false},
		} {
			d, err := s.Authorize(ctx, Subject{ObjectID: c.role + "/vaults/dev"}, c.action, "/vaults/dev/keys/k1")
			if err != nil || d.Allowed != c.want {
				t.Errorf("Authorize(%s, %s).Allowed = %v, %v, want %v", c.role, c.action, d.Allowed, err, c.want)
			}
		}
	})
}

func TestHSMRolePermissions(t *testing.T) {
	tests := []struct {
		role, action string
		want         bool
	}{
		{ManagedHSMAdministrator, ActionHSMSecurityDomainDownload, true},
		{ManagedHSMAdministrator, ActionHSMSecurityDomainUploadRead, true},
		{ManagedHSMAdministrator, ActionHSMBackupStart, true},
		{ManagedHSMAdministrator, ActionHSMRestoreStatus, true},
		{ManagedHSMAdministrator, ActionHSMRoleAssignmentsWrite, true},
		{ManagedHSMAdministrator, ActionHSMKeysRead, false},
		{ManagedHSMAdministrator, ActionHSMKeysSign, false},
		{ManagedHSMAdministrator, ActionHSMKeysCreate, false},
		{ManagedHSMCryptoOfficer, ActionHSMDeletedKeysPurge, true},
		{ManagedHSMCryptoOfficer, ActionHSMDeletedKeysRecover, true},
		{ManagedHSMCryptoOfficer, ActionHSMDeletedKeysRead, true},
		{ManagedHSMCryptoOfficer, ActionHSMKeysExport, true},
		{ManagedHSMCryptoOfficer, ActionHSMRoleDefinitionsDelete, true},
		{ManagedHSMCryptoOfficer, ActionHSMKeysCreate, false},
		{ManagedHSMCryptoOfficer, ActionHSMKeysSign, false},
		{ManagedHSMCryptoOfficer, ActionHSMSecurityDomainDownload, false},
		{ManagedHSMCryptoUser, ActionHSMKeysCreate, true},
		{ManagedHSMCryptoUser, ActionHSMKeysDelete, true},
		{ManagedHSMCryptoUser, ActionHSMKeysRotate, true},
		{ManagedHSMCryptoUser, ActionHSMKeysImport, true},
		{ManagedHSMCryptoUser, ActionHSMKeysSign, true},
		{ManagedHSMCryptoUser, ActionHSMKeysUnwrap, true},
		{ManagedHSMCryptoUser, ActionHSMKeysBackup, true},
		{ManagedHSMCryptoUser, ActionHSMKeysRestore, true},
		{ManagedHSMCryptoUser, ActionHSMKeysRelease, true},
		{ManagedHSMCryptoUser, ActionHSMRoleAssignmentsRead, true},
		{ManagedHSMCryptoUser, ActionHSMRoleAssignmentsWrite, false},
		{ManagedHSMCryptoUser, ActionHSMDeletedKeysPurge, false},
		{ManagedHSMCryptoUser, ActionHSMDeletedKeysRecover, false},
		{ManagedHSMCryptoUser, ActionHSMKeysExport, false},
		{ManagedHSMCryptoUser, ActionHSMBackupStart, false},
		{ManagedHSMPolicyAdministrator, ActionHSMRoleAssignmentsWrite, true},
		{ManagedHSMPolicyAdministrator, ActionHSMRoleDefinitionsRead, true},
		{ManagedHSMPolicyAdministrator, ActionHSMKeysRead, false},
		{ManagedHSMCryptoAuditor, ActionHSMKeysRead, true},
		{ManagedHSMCryptoAuditor, ActionHSMRoleAssignmentsRead, true},
		{ManagedHSMCryptoAuditor, ActionHSMRoleAssignmentsWrite, false},
		{ManagedHSMCryptoAuditor, ActionHSMKeysDecrypt, false},
		{ManagedHSMCryptoAuditor, ActionHSMDeletedKeysPurge, false},
		{ManagedHSMCryptoServiceEncryptionUser, ActionHSMKeysRead, true},
		{ManagedHSMCryptoServiceEncryptionUser, ActionHSMKeysWrap, true},
		{ManagedHSMCryptoServiceEncryptionUser, ActionHSMKeysUnwrap, true},
		{ManagedHSMCryptoServiceEncryptionUser, ActionHSMKeysEncrypt, false},
		{ManagedHSMCryptoServiceEncryptionUser, ActionHSMRoleAssignmentsRead, false},
		{ManagedHSMCryptoServiceReleaseUser, ActionHSMKeysRelease, true},
		{ManagedHSMCryptoServiceReleaseUser, ActionHSMKeysRead, false},
		{ManagedHSMBackup, ActionHSMKeysBackup, true},
		{ManagedHSMBackup, ActionHSMBackupStatus, true},
		{ManagedHSMBackup, ActionHSMRestoreStart, false},
		{ManagedHSMBackup, ActionHSMKeysRestore, false},
		{ManagedHSMRestore, ActionHSMKeysRestore, true},
		{ManagedHSMRestore, ActionHSMRestoreStart, true},
		{ManagedHSMRestore, ActionHSMBackupStart, false},
		// Vault roles do not reach Managed HSM actions, nor the reverse.
		{KeyVaultAdministrator, ActionHSMKeysRead, false},
		{ManagedHSMCryptoUser, ActionKeysRead, false},
	}
	roles := map[string]*compiledRole{}
	for _, r := range BuiltInRoles() {
		roles[r.ID] = compile(r)
	}
	for _, tt := range tests {
		r := roles[tt.role]
		t.Run(r.role.Name+"~"+tt.action, func(t *testing.T) {
			if got := r.permits(tt.action); got != tt.want {
				t.Errorf("%q.permits(%q) = %v, want %v", r.role.Name, tt.action, got, tt.want)
			}
		})
	}

	// Every Managed HSM data action but rng is granted by some HSM role.
	for _, action := range HSMDataActions() {
		granted := false
		for _, r := range roles {
			granted = granted || (r.role.ManagedHSM && r.permits(action))
		}
		if !granted && action != ActionHSMRNG {
			t.Errorf("no Managed HSM built-in role grants %q", action)
		}
	}
}

func TestKeywardenAdministrator(t *testing.T) {
	r := compile(BuiltInRoles()[len(BuiltInRoles())-1])
	if r.role.ID != KeywardenAdministrator {
		t.Fatalf("last built-in role = %s, want Keywarden Administrator", r.role.ID)
	}
	for _, a := range KeywardenDataActions() {
		if !r.permits(a) {
			t.Errorf("Keywarden Administrator permits(%q) = false, want true", a)
		}
	}
	for _, a := range append(VaultKeyDataActions(), HSMDataActions()...) {
		if r.permits(a) {
			t.Errorf("Keywarden Administrator permits(%q) = true, want false", a)
		}
	}
}

// TestSnapshotOnlyAdministrator checks that of the built-in roles only
// Keywarden Administrator may take a store snapshot, and that a reader's
// wildcard does not grant it.
func TestSnapshotOnlyAdministrator(t *testing.T) {
	for _, role := range BuiltInRoles() {
		if got, want := compile(role).permits(ActionSnapshot), role.ID == KeywardenAdministrator; got != want {
			t.Errorf("%s permits(%q) = %v, want %v", role.Name, ActionSnapshot, got, want)
		}
	}
	if MatchAction("Keywarden/*/read", ActionSnapshot) {
		t.Errorf("MatchAction(Keywarden/*/read, %q) = true, want false", ActionSnapshot)
	}
}
