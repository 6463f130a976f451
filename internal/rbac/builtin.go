package rbac

// Ids of the built-in roles besides the well-known ones in types.go. The
// Azure ids are Azure's own, so role definitions and assignments written
// for Azure carry over unchanged.
const (
	KeyVaultCryptoOfficer                 = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
	KeyVaultCryptoUser                    = "12338af0-0e69-4776-bea7-57ae8d297424"
	KeyVaultCryptoServiceEncryptionUser   = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	KeyVaultCryptoServiceReleaseUser      = "08bbd89e-9f13-488c-ac41-acfcb10c90ab"
	KeyVaultReader                        = "21090545-7ca7-4776-b22c-e363652d74d2"
	KeyVaultCertificateUser               = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"
	ManagedHSMCryptoOfficer               = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
	ManagedHSMCryptoUser                  = "21dbd100-6940-42c2-9190-5d6cb909625b"
	ManagedHSMPolicyAdministrator         = "4bd23610-cdcf-4971-bdee-bdc562cc28e4"
	ManagedHSMCryptoAuditor               = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
	ManagedHSMCryptoServiceEncryptionUser = "33413926-3206-4cdd-b39a-83574fe37a17"
	ManagedHSMCryptoServiceReleaseUser    = "21dbd100-6940-42c2-9190-5d6cb909625c"
	ManagedHSMBackup                      = "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"
	ManagedHSMRestore                     = "6efe6056-5259-49d2-8b3d-d3d73544b20b"
)

// vaultReadOnlyActions is the read-only control-plane set Azure gives the
// Key Vault Administrator, Crypto Officer and Reader roles. Keywarden has
// no control plane and never checks Actions; they are kept for fidelity.
func vaultReadOnlyActions() []string {
	return []string{
		"Microsoft.Authorization/*/read",
		"Microsoft.Insights/alertRules/*",
		"Microsoft.Resources/deployments/*",
		"Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Support/*",
		"Microsoft.KeyVault/checkNameAvailability/read",
		"Microsoft.KeyVault/deletedVaults/read",
		"Microsoft.KeyVault/locations/*/read",
		"Microsoft.KeyVault/vaults/*/read",
		"Microsoft.KeyVault/operations/read",
	}
}

// BuiltInRoles returns the built-in roles: the Azure Key Vault roles, the
// Managed HSM local roles and Keywarden Administrator, in that order. Each
// call returns new values the caller may modify.
//
// The Managed HSM roles follow the published permission matrix with two
// readings of it: Crypto Officer also holds keys/export/action (its
// description grants key export, the matrix has no export row), and Crypto
// Auditor does not hold keys/deletedKeys/delete (purge), which the matrix
// marks for it against the role's description as a read-only role.
func BuiltInRoles() []Role {
	hsmRoleRead := []string{ActionHSMRoleAssignmentsRead, ActionHSMRoleDefinitionsRead}
	hsmRoleManage := []string{
		ActionHSMRoleAssignmentsRead, ActionHSMRoleAssignmentsWrite, ActionHSMRoleAssignmentsDelete,
		ActionHSMRoleDefinitionsRead, ActionHSMRoleDefinitionsWrite, ActionHSMRoleDefinitionsDelete,
	}
	roles := []Role{
		{
			ID:          KeyVaultAdministrator,
			Name:        "Key Vault Administrator",
			Description: "All data-plane operations on a vault and every object in it; cannot manage vaults or role assignments.",
			Actions:     vaultReadOnlyActions(),
			DataActions: []string{actionVaultsAll},
		},
		{
			ID:          KeyVaultCryptoOfficer,
			Name:        "Key Vault Crypto Officer",
			Description: "Any action on the keys of a vault, purge and release included, except managing permissions.",
			Actions:     vaultReadOnlyActions(),
			DataActions: []string{actionVaultKeysAll, actionVaultKeyRotationPolicyAll},
		},
		{
			ID:          KeyVaultCryptoUser,
			Name:        "Key Vault Crypto User",
			Description: "Cryptographic operations with keys; no create, delete, rotate or purge.",
			DataActions: []string{
				ActionKeysRead, ActionKeysUpdate, ActionKeysBackup,
				ActionKeysEncrypt, ActionKeysDecrypt, ActionKeysWrap, ActionKeysUnwrap,
				ActionKeysSign, ActionKeysVerify,
			},
		},
		{
			ID:          KeyVaultCryptoServiceEncryptionUser,
			Name:        "Key Vault Crypto Service Encryption User",
			Description: "Read key metadata and wrap and unwrap with keys, as a service encrypting its data does.",
			Actions: []string{
				"Microsoft.EventGrid/eventSubscriptions/write",
				"Microsoft.EventGrid/eventSubscriptions/read",
				"Microsoft.EventGrid/eventSubscriptions/delete",
			},
			DataActions: []string{ActionKeysRead, ActionKeysWrap, ActionKeysUnwrap},
		},
		{
			ID:          KeyVaultCryptoServiceReleaseUser,
			Name:        "Key Vault Crypto Service Release User",
			Description: "Release keys to a trusted execution environment.",
			DataActions: []string{ActionKeysRelease},
		},
		{
			ID:          KeyVaultReader,
			Name:        "Key Vault Reader",
			Description: "Read the metadata of vaults and their keys, public keys included; no private material, no use.",
			Actions:     vaultReadOnlyActions(),
			DataActions: []string{actionVaultsAllRead, actionVaultSecretsReadMetadata},
		},
		{
			ID:          KeyVaultCertificateUser,
			Name:        "Key Vault Certificate User",
			Description: "Read whole certificates, their secret and key parts included.",
			DataActions: []string{
				actionVaultCertificatesRead, actionVaultSecretsGetSecret,
				actionVaultSecretsReadMetadata, ActionKeysRead,
			},
		},
		{
			ID:          ManagedHSMAdministrator,
			Name:        "Managed HSM Administrator",
			Description: "Security domain, full backup and restore, and role management of a Managed HSM; no key operations.",
			ManagedHSM:  true,
			DataActions: append([]string{
				ActionHSMSecurityDomainDownload, ActionHSMSecurityDomainDownloadRead,
				ActionHSMSecurityDomainUpload, ActionHSMSecurityDomainUploadRead,
				ActionHSMSecurityDomainTransferKey,
				ActionHSMBackupStart, ActionHSMBackupStatus,
				ActionHSMRestoreStart, ActionHSMRestoreStatus,
			}, hsmRoleManage...),
		},
		{
			ID:          ManagedHSMCryptoOfficer,
			Name:        "Managed HSM Crypto Officer",
			Description: "Role management, purge and recovery of deleted keys, and key export; no other key operations.",
			ManagedHSM:  true,
			DataActions: append([]string{
				ActionHSMDeletedKeysRead, ActionHSMDeletedKeysRecover, ActionHSMDeletedKeysPurge,
				ActionHSMKeysExport,
			}, hsmRoleManage...),
		},
		{
			ID:          ManagedHSMCryptoUser,
			Name:        "Managed HSM Crypto User",
			Description: "Every key management and cryptographic operation except purge, recovery and export.",
			ManagedHSM:  true,
			DataActions: append([]string{
				ActionHSMKeysRead, ActionHSMKeysWrite, ActionHSMKeysCreate, ActionHSMKeysDelete,
				ActionHSMKeysImport, ActionHSMKeysRotate,
				ActionHSMKeysEncrypt, ActionHSMKeysDecrypt, ActionHSMKeysSign, ActionHSMKeysVerify,
				ActionHSMKeysWrap, ActionHSMKeysUnwrap,
				ActionHSMKeysBackup, ActionHSMKeysRestore, ActionHSMKeysRelease,
			}, hsmRoleRead...),
		},
		{
			ID:          ManagedHSMPolicyAdministrator,
			Name:        "Managed HSM Policy Administrator",
			Description: "Create and delete role definitions and role assignments of a Managed HSM.",
			ManagedHSM:  true,
			DataActions: hsmRoleManage,
		},
		{
			ID:          ManagedHSMCryptoAuditor,
			Name:        "Managed HSM Crypto Auditor",
			Description: "Read key attributes and role management data without using keys.",
			ManagedHSM:  true,
			DataActions: append([]string{ActionHSMKeysRead}, hsmRoleRead...),
		},
		{
			ID:          ManagedHSMCryptoServiceEncryptionUser,
			Name:        "Managed HSM Crypto Service Encryption User",
			Description: "Read key metadata and wrap and unwrap with keys for service encryption.",
			ManagedHSM:  true,
			DataActions: []string{ActionHSMKeysRead, ActionHSMKeysWrap, ActionHSMKeysUnwrap},
		},
		{
			ID:          ManagedHSMCryptoServiceReleaseUser,
			Name:        "Managed HSM Crypto Service Release User",
			Description: "Release keys to a trusted execution environment.",
			ManagedHSM:  true,
			DataActions: []string{ActionHSMKeysRelease},
		},
		{
			ID:          ManagedHSMBackup,
			Name:        "Managed HSM Backup",
			Description: "Back up single keys or the whole Managed HSM.",
			ManagedHSM:  true,
			DataActions: []string{ActionHSMKeysBackup, ActionHSMBackupStart, ActionHSMBackupStatus},
		},
		{
			ID:          ManagedHSMRestore,
			Name:        "Managed HSM Restore",
			Description: "Restore single keys or the whole Managed HSM.",
			ManagedHSM:  true,
			DataActions: []string{ActionHSMKeysRestore, ActionHSMRestoreStart, ActionHSMRestoreStatus},
		},
		{
			ID:          KeywardenAdministrator,
			Name:        "Keywarden Administrator",
			Description: "Manage Keywarden: vaults, principals, role definitions, role assignments and store snapshots.",
			DataActions: []string{"Keywarden/*"},
		},
	}
	for i := range roles {
		roles[i].Type = BuiltInRole
		roles[i].AssignableScopes = []string{"/"}
	}
	return roles
}
