package rbac

// Data actions on the keys of a vault (standard and premium SKUs), as Azure
// Key Vault names them. A handler of the keys API checks exactly one of
// them per request.
const (
	ActionKeysRead                  = "Microsoft.KeyVault/vaults/keys/read"
	ActionKeysCreate                = "Microsoft.KeyVault/vaults/keys/create/action"
	ActionKeysImport                = "Microsoft.KeyVault/vaults/keys/import/action"
	ActionKeysUpdate                = "Microsoft.KeyVault/vaults/keys/update/action"
	ActionKeysDelete                = "Microsoft.KeyVault/vaults/keys/delete"
	ActionKeysRecover               = "Microsoft.KeyVault/vaults/keys/recover/action"
	ActionKeysPurge                 = "Microsoft.KeyVault/vaults/keys/purge/action"
	ActionKeysBackup                = "Microsoft.KeyVault/vaults/keys/backup/action"
	ActionKeysRestore               = "Microsoft.KeyVault/vaults/keys/restore/action"
	ActionKeysEncrypt               = "Microsoft.KeyVault/vaults/keys/encrypt/action"
	ActionKeysDecrypt               = "Microsoft.KeyVault/vaults/keys/decrypt/action"
	ActionKeysWrap                  = "Microsoft.KeyVault/vaults/keys/wrap/action"
	ActionKeysUnwrap                = "Microsoft.KeyVault/vaults/keys/unwrap/action"
	ActionKeysSign                  = "Microsoft.KeyVault/vaults/keys/sign/action"
	ActionKeysVerify                = "Microsoft.KeyVault/vaults/keys/verify/action"
	ActionKeysRelease               = "Microsoft.KeyVault/vaults/keys/release/action"
	ActionKeysRotate                = "Microsoft.KeyVault/vaults/keys/rotate/action"
	ActionKeyRotationPoliciesRead   = "Microsoft.KeyVault/vaults/keyrotationpolicies/read"
	ActionKeyRotationPoliciesWrite  = "Microsoft.KeyVault/vaults/keyrotationpolicies/write"
	actionVaultSecretsReadMetadata  = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
	actionVaultSecretsGetSecret     = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	actionVaultCertificatesRead     = "Microsoft.KeyVault/vaults/certificates/read"
	actionVaultsAll                 = "Microsoft.KeyVault/vaults/*"
	actionVaultsAllRead             = "Microsoft.KeyVault/vaults/*/read"
	actionVaultKeysAll              = "Microsoft.KeyVault/vaults/keys/*"
	actionVaultKeyRotationPolicyAll = "Microsoft.KeyVault/vaults/keyrotationpolicies/*"
)

// VaultKeyDataActions returns the data actions on vault keys, one per
// operation of the keys API, in the order of the Azure documentation. The
// slice is new on every call.
func VaultKeyDataActions() []string {
	return []string{
		ActionKeysRead, ActionKeysCreate, ActionKeysImport, ActionKeysUpdate,
		ActionKeysDelete, ActionKeysRecover, ActionKeysPurge, ActionKeysBackup,
		ActionKeysRestore, ActionKeysEncrypt, ActionKeysDecrypt, ActionKeysWrap,
		ActionKeysUnwrap, ActionKeysSign, ActionKeysVerify, ActionKeysRelease,
		ActionKeysRotate, ActionKeyRotationPoliciesRead, ActionKeyRotationPoliciesWrite,
	}
}

// Data actions of a Managed HSM (the managedhsm SKU), as the rbac.json
// DataAction enum of the Key Vault REST specification names them.
const (
	ActionHSMKeysRead           = "Microsoft.KeyVault/managedHsm/keys/read/action"
	ActionHSMKeysWrite          = "Microsoft.KeyVault/managedHsm/keys/write/action"
	ActionHSMKeysCreate         = "Microsoft.KeyVault/managedHsm/keys/create"
	ActionHSMKeysDelete         = "Microsoft.KeyVault/managedHsm/keys/delete"
	ActionHSMKeysImport         = "Microsoft.KeyVault/managedHsm/keys/import/action"
	ActionHSMKeysRotate         = "Microsoft.KeyVault/managedHsm/keys/rotate/action"
	ActionHSMKeysBackup         = "Microsoft.KeyVault/managedHsm/keys/backup/action"
	ActionHSMKeysRestore        = "Microsoft.KeyVault/managedHsm/keys/restore/action"
	ActionHSMKeysEncrypt        = "Microsoft.KeyVault/managedHsm/keys/encrypt/action"
	ActionHSMKeysDecrypt        = "Microsoft.KeyVault/managedHsm/keys/decrypt/action"
	ActionHSMKeysWrap           = "Microsoft.KeyVault/managedHsm/keys/wrap/action"
	ActionHSMKeysUnwrap         = "Microsoft.KeyVault/managedHsm/keys/unwrap/action"
	ActionHSMKeysSign           = "Microsoft.KeyVault/managedHsm/keys/sign/action"
	ActionHSMKeysVerify         = "Microsoft.KeyVault/managedHsm/keys/verify/action"
	ActionHSMKeysRelease        = "Microsoft.KeyVault/managedHsm/keys/release/action"
	ActionHSMKeysExport         = "Microsoft.KeyVault/managedHsm/keys/export/action"
	ActionHSMDeletedKeysRead    = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action"
	ActionHSMDeletedKeysRecover = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action"
	ActionHSMDeletedKeysPurge   = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete"

	ActionHSMRoleAssignmentsRead   = "Microsoft.KeyVault/managedHsm/roleAssignments/read/action"
	ActionHSMRoleAssignmentsWrite  = "Microsoft.KeyVault/managedHsm/roleAssignments/write/action"
	ActionHSMRoleAssignmentsDelete = "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action"
	ActionHSMRoleDefinitionsRead   = "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action"
	ActionHSMRoleDefinitionsWrite  = "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action"
	ActionHSMRoleDefinitionsDelete = "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action"

	ActionHSMSecurityDomainDownload     = "Microsoft.KeyVault/managedHsm/securitydomain/download/action"
	ActionHSMSecurityDomainDownloadRead = "Microsoft.KeyVault/managedHsm/securitydomain/download/read"
	ActionHSMSecurityDomainUpload       = "Microsoft.KeyVault/managedHsm/securitydomain/upload/action"
	ActionHSMSecurityDomainUploadRead   = "Microsoft.KeyVault/managedHsm/securitydomain/upload/read"
	ActionHSMSecurityDomainTransferKey  = "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read"
	ActionHSMBackupStart                = "Microsoft.KeyVault/managedHsm/backup/start/action"
	ActionHSMBackupStatus               = "Microsoft.KeyVault/managedHsm/backup/status/action"
	ActionHSMRestoreStart               = "Microsoft.KeyVault/managedHsm/restore/start/action"
	ActionHSMRestoreStatus              = "Microsoft.KeyVault/managedHsm/restore/status/action"
	ActionHSMRNG                        = "Microsoft.KeyVault/managedHsm/rng/action"
)

// HSMDataActions returns every Managed HSM data action above. The slice is
// new on every call.
func HSMDataActions() []string {
	return []string{
		ActionHSMKeysRead, ActionHSMKeysWrite, ActionHSMKeysCreate, ActionHSMKeysDelete,
		ActionHSMKeysImport, ActionHSMKeysRotate, ActionHSMKeysBackup, ActionHSMKeysRestore,
		ActionHSMKeysEncrypt, ActionHSMKeysDecrypt, ActionHSMKeysWrap, ActionHSMKeysUnwrap,
		ActionHSMKeysSign, ActionHSMKeysVerify, ActionHSMKeysRelease, ActionHSMKeysExport,
		ActionHSMDeletedKeysRead, ActionHSMDeletedKeysRecover, ActionHSMDeletedKeysPurge,
		ActionHSMRoleAssignmentsRead, ActionHSMRoleAssignmentsWrite, ActionHSMRoleAssignmentsDelete,
		ActionHSMRoleDefinitionsRead, ActionHSMRoleDefinitionsWrite, ActionHSMRoleDefinitionsDelete,
		ActionHSMSecurityDomainDownload, ActionHSMSecurityDomainDownloadRead,
		ActionHSMSecurityDomainUpload, ActionHSMSecurityDomainUploadRead,
		ActionHSMSecurityDomainTransferKey,
		ActionHSMBackupStart, ActionHSMBackupStatus, ActionHSMRestoreStart, ActionHSMRestoreStatus,
		ActionHSMRNG,
	}
}

// KeywardenDataActions returns the Keywarden administration actions. The
// slice is new on every call.
func KeywardenDataActions() []string {
	return []string{
		ActionVaultsRead, ActionVaultsWrite, ActionPrincipalsRead, ActionPrincipalsWrite,
		ActionRoleDefinitionsRead, ActionRoleDefinitionsWrite,
		ActionRoleAssignmentsRead, ActionRoleAssignmentsWrite,
		ActionSnapshot, ActionRootKeyRead, ActionRootKeyRotate,
	}
}

// MatchAction reports whether the permission pattern matches the action, as
// Azure matches dataActions and notDataActions: "*" matches any run of
// characters, "/" included, and the comparison ignores ASCII case.
// MatchAction does not allocate.
func MatchAction(pattern, action string) bool {
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(action) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case p < len(pattern) && lower(pattern[p]) == lower(action[s]):
			p++
			s++
		case star >= 0:
			// Let the last star swallow one more byte and retry.
			mark++
			p, s = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// lower folds an ASCII upper-case letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
