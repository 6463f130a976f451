package vault

import (
	"crypto"
	"net/netip"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
)

// SKU is a vault's service tier.
type SKU string

// Vault SKUs.
const (
	Standard   SKU = "standard"
	Premium    SKU = "premium"
	ManagedHSM SKU = "managedhsm"
)

// Vault is a vault's settings.
type Vault struct {
	// Name is the vault's name, lowercase, the first label of its host.
	Name string
	// SKU is the tier.
	SKU SKU
	// RetentionDays is the soft-delete retention, 7..90.
	RetentionDays int
	// PurgeProtection forbids purge before the retention ends.
	PurgeProtection bool
	// Network restricts the client addresses that may reach the vault; nil
	// allows every address. Values returned by the Service are shared and
	// must not be modified.
	Network *NetworkRules
	// KeyPolicy holds the rules new key versions must follow; the zero
	// value has none. Values returned by the Service are shared and must
	// not be modified.
	KeyPolicy KeyPolicy
	// Created is the creation time.
	Created time.Time
}

// Network rule default actions.
const (
	// NetworkAllow lets every address through; IP rules do not restrict.
	NetworkAllow = "Allow"
	// NetworkDeny lets through only addresses an IP rule contains.
	NetworkDeny = "Deny"
)

// NetworkRules restrict which client addresses may reach a vault. A nil
// *NetworkRules allows every address. Build them with ParseNetworkRules.
type NetworkRules struct {
	// DefaultAction is NetworkAllow or NetworkDeny: what happens to an
	// address no rule contains.
	DefaultAction string
	// IPRules are the allowed prefixes, masked; a single address is a /32
	// (IPv4) or /128 (IPv6) prefix. IPv4 rules are never IPv4-mapped IPv6.
	IPRules []netip.Prefix
}

// VaultUpdate is a change to a vault's settings. Nil fields are left as
// they are.
type VaultUpdate struct {
	// PurgeProtection can be turned on, never off.
	PurgeProtection *bool
	// RetentionDays is fixed after creation: only the current value is
	// accepted.
	RetentionDays *int
	// Network replaces the network rules.
	Network *NetworkRules
	// KeyPolicy replaces the key policy when non-nil; a zero KeyPolicy
	// removes every rule.
	KeyPolicy *KeyPolicy
}

// RecoveryLevel returns the Azure DeletionRecoveryLevel of the vault.
func (v Vault) RecoveryLevel() string {
	custom := v.RetentionDays < 90
	switch {
	case custom && v.PurgeProtection:
		return "CustomizedRecoverable"
	case custom:
		return "CustomizedRecoverable+Purgeable"
	case v.PurgeProtection:
		return "Recoverable"
	default:
		return "Recoverable+Purgeable"
	}
}

// Operation is a JSON Web Key operation as listed in key_ops.
type Operation string

// Key operations.
const (
	OpEncrypt   Operation = "encrypt"
	OpDecrypt   Operation = "decrypt"
	OpSign      Operation = "sign"
	OpVerify    Operation = "verify"
	OpWrapKey   Operation = "wrapKey"
	OpUnwrapKey Operation = "unwrapKey"
	OpImport    Operation = "import"
	OpExport    Operation = "export"
)

// Ref names a key version: an empty Version means the current version.
type Ref struct {
	// Vault is the vault name.
	Vault string
	// Name is the key name (matched case-insensitively).
	Name string
	// Version is the version id, or empty for the current version.
	Version string
}

// ReleasePolicy is a secure key release policy.
type ReleasePolicy struct {
	// ContentType is the policy document's content type.
	ContentType string
	// Immutable forbids later changes.
	Immutable bool
	// Data is the policy document.
	Data []byte
}

// KeyVersion is one version of a key as clients see it: public part,
// attributes and tags. It never holds private material.
type KeyVersion struct {
	// Name is the key name in the case used at creation.
	Name string
	// Version is the 32-hex-character version id.
	Version string
	// Spec is the key's shape; Spec.Protection tells software or hsm.
	Spec keys.Spec
	// Public is *rsa.PublicKey or *keys.ECPublicKey; nil for oct.
	Public crypto.PublicKey
	// Ops are the permitted operations.
	Ops []Operation
	// Enabled, NotBefore and Expires are the validity attributes.
	Enabled   bool
	NotBefore *time.Time
	Expires   *time.Time
	// Created and Updated are the version's timestamps.
	Created, Updated time.Time
	// Tags are the version's tags.
	Tags map[string]string
	// Exportable and ReleasePolicy govern secure key release.
	Exportable    bool
	ReleasePolicy *ReleasePolicy
	// RecoveryLevel and RecoverableDays reflect the vault's settings.
	RecoveryLevel   string
	RecoverableDays int
	// LastUsed is the start of the latest minute in which the version was
	// used for a cryptographic operation (encrypt, decrypt, wrapKey,
	// unwrapKey, sign, verify), in UTC; nil when it never was (or only
	// before Keywarden recorded use).
	LastUsed *time.Time
	// Provenance tells how the version's material was imported; nil for
	// material Keywarden generated (or imported before it recorded this).
	Provenance *Provenance
}

// Provenance methods: how a version's material reached Keywarden.
const (
	// ProvenanceImport is a client's plaintext private key (a JWK).
	ProvenanceImport = "import"
	// ProvenanceBYOK is a BYOK transfer blob unwrapped inside the HSM.
	ProvenanceBYOK = "byok"
)

// Provenance is how an imported version's material reached Keywarden.
type Provenance struct {
	// Method is ProvenanceImport or ProvenanceBYOK.
	Method string
	// Generator is the tool that made a BYOK transfer blob, as the blob
	// names it; empty for other methods.
	Generator string
	// KEK is the key id of the key-exchange key a BYOK blob was wrapped
	// for; empty for other methods.
	KEK string
	// Imported is when the material was imported, in UTC.
	Imported time.Time
}

// DeletedKey is the current version of a soft-deleted key with its deletion
// dates.
type DeletedKey struct {
	KeyVersion
	// DeletedDate is when the key was deleted.
	DeletedDate time.Time
	// ScheduledPurgeDate is when the system purges it.
	ScheduledPurgeDate time.Time
}

// Attributes are the settable attributes of a version. Nil fields are left
// as they are (update) or take their defaults (create).
type Attributes struct {
	// Enabled defaults to true.
	Enabled *bool
	// NotBefore and Expires bound the version's validity.
	NotBefore *time.Time
	Expires   *time.Time
	// Exportable may only be set at create/import.
	Exportable *bool
}

// CreateParams describe a key to generate.
type CreateParams struct {
	// Spec is the key's type, size/curve and protection. Zero Size/Curve
	// take Azure's defaults (RSA 2048, P-256).
	Spec keys.Spec
	// Ops are the permitted operations; nil takes the type's default.
	Ops []Operation
	// Attributes are the initial attributes.
	Attributes Attributes
	// Tags are the version's tags.
	Tags map[string]string
	// ReleasePolicy is the release policy, if any.
	ReleasePolicy *ReleasePolicy
}

// ImportParams describe a key brought by the client.
type ImportParams struct {
	// Spec gives the type and protection; size/curve come from the key.
	Spec keys.Spec
	// Private is *rsa.PrivateKey, *keys.ECPrivateKey or secret.Bytes (oct);
	// nil when Transfer is set.
	Private any
	// Transfer is a bring-your-own-key transfer blob to unwrap inside the
	// HSM instead of Private.
	Transfer *Transfer
	// Ops are the permitted operations; nil takes the type's default.
	Ops []Operation
	// Attributes are the initial attributes.
	Attributes Attributes
	// Tags are the version's tags.
	Tags map[string]string
	// ReleasePolicy is the release policy, if any.
	ReleasePolicy *ReleasePolicy
}

// Transfer is a parsed bring-your-own-key transfer blob: a key wrapped for
// a key-exchange key (KEK) of the vault it is imported into.
type Transfer struct {
	// KEK names the key-exchange key, as the blob's kid resolves.
	KEK Ref
	// KEKID is the key id the blob's kid names, without a version
	// (https://{vault host}/keys/{name}), as the blob spells it; refusals
	// quote it.
	KEKID string
	// Origin is the origin the import was sent to (https://{host}[:port],
	// the host in lower case), which names the vault the KEK must be in.
	// The provenance records the KEK by it, the KEK's stored name and the
	// id of the version that unwrapped the blob, whatever the blob's
	// spelling; where it is empty, by KEKID.
	Origin string
	// Generator is the tool that made the blob, as the blob names it.
	Generator string
	// Ciphertext is the CKM_RSA_AES_KEY_WRAP ciphertext.
	Ciphertext []byte
}

// UpdateParams change a version's mutable state. Nil fields are unchanged.
type UpdateParams struct {
	// Ops replaces key_ops when non-nil.
	Ops []Operation
	// Attributes are merged field by field.
	Attributes Attributes
	// Tags replaces the tags when non-nil.
	Tags map[string]string
	// ReleasePolicy replaces the release policy when non-nil.
	ReleasePolicy *ReleasePolicy
}

// LifetimeAction is one trigger/action pair of a rotation policy.
type LifetimeAction struct {
	// Type is "Rotate" or "Notify".
	Type string
	// TimeAfterCreate and TimeBeforeExpiry are ISO-8601 durations; exactly
	// one is set.
	TimeAfterCreate, TimeBeforeExpiry string
}

// RotationPolicy is a key's rotation policy.
type RotationPolicy struct {
	// Actions are the lifetime actions (at most one Rotate, one Notify).
	Actions []LifetimeAction
	// ExpiryTime is the ISO-8601 duration set as exp of rotated versions.
	ExpiryTime string
	// Created and Updated are zero for a key that never had a policy set.
	Created, Updated time.Time
}

// Page is one page of a listing: items and the continuation marker of the
// next page ("" on the last page).
type Page[T any] struct {
	// Items are this page's items.
	Items []T
	// Next is the opaque continuation marker, empty on the last page.
	Next string
}
