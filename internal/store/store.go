// Package store is the transactional persistence contract of Keywarden:
// record types and the Store interface that the embedded (bbolt) and
// PostgreSQL backends implement.
//
// Records hold only sealed secrets: private key material and other secrets
// are sealed under the root key by the caller before a record reaches a
// Store. This package imports no backend and knows nothing of HTTP.
//
// # Time values
//
// Every implementation keeps time values to the microsecond (the resolution
// of PostgreSQL timestamptz) and truncates finer digits: a time t is read
// back as t.UTC().Truncate(time.Microsecond). Times are returned in UTC
// without a monotonic clock reading, and the zero time reads back as the zero
// time. Compare times with time.Time.Equal, not ==.
//
// # Listings
//
// Listings return an empty result, not an error, when nothing matches,
// including for a vault or key that does not exist. Byte slices, slices and
// maps may read back as nil when stored empty, and as empty when stored nil.
//
// The conformance suite in package storetest checks every rule above.
package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// SchemaVersion is the store schema this binary writes. A store whose schema
// is newer is refused with ErrSchemaTooNew.
const SchemaVersion = 1

// Errors returned by every implementation.
var (
	// ErrNotFound reports a missing record. Never (nil, nil).
	ErrNotFound = errors.New("store: not found")
	// ErrSchemaTooNew reports a store written by a newer Keywarden.
	ErrSchemaTooNew = errors.New("store: schema is newer than this binary")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("store: closed")
)

// Store is a transactional store. Implementations are safe for concurrent
// use; Update transactions are serialisable and durable when Update returns
// nil (no acknowledged write is lost on a crash).
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committing if fn returns
	// nil and rolling back otherwise. fn may be retried and must be free of
	// side effects outside the transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store.
	Close() error
}

// Snapshotter is an optional capability of a Store: a consistent copy of
// the whole store, in the backend's own format, taken while the store keeps
// serving. Like the store, a snapshot holds only sealed secrets, never the
// root key.
type Snapshotter interface {
	// Snapshot writes the store as of one committed transaction to w and
	// returns the number of bytes written. Updates committed while it runs
	// are not in the copy; they go on while it runs (an implementation may
	// hold some of them back briefly: see its documentation). It stops with ctx.Err() when ctx is done; the bytes written
	// to w are then not a usable snapshot.
	Snapshot(ctx context.Context, w io.Writer) (int64, error)
}

// Page selects a slice of an ordered listing.
type Page struct {
	// After is the exclusive lower bound of the sort key ("" = from start).
	After string
	// Limit is the maximum number of records; zero means no limit.
	Limit int
}

// Tx is one transaction. Names of keys are matched case-insensitively: an
// implementation folds them with Fold. Read methods in a write transaction
// see the transaction's own writes.
type Tx interface {
	// Vault returns the vault named name. Errors: ErrNotFound.
	Vault(name string) (Vault, error)
	// Vaults lists all vaults ordered by name.
	Vaults() ([]Vault, error)
	// PutVault creates or replaces a vault.
	PutVault(v Vault) error
	// DeleteVault removes a vault record (callers check it holds no keys).
	// Errors: ErrNotFound.
	DeleteVault(name string) error

	// Key returns a key of a vault, active or soft-deleted. Errors:
	// ErrNotFound.
	Key(vault, name string) (Key, error)
	// Keys lists keys of a vault ordered by Fold(name); deleted selects
	// soft-deleted keys (true) or active ones (false). Page.After is a
	// folded name.
	Keys(vault string, deleted bool, p Page) ([]Key, error)
	// PutKey creates or replaces a key record.
	PutKey(k Key) error
	// DeleteKey removes a key and all its versions (purge). Errors:
	// ErrNotFound.
	DeleteKey(vault, name string) error

	// Version returns one version of a key. Errors: ErrNotFound.
	Version(vault, name, id string) (Version, error)
	// Versions lists versions of a key ordered by ID. Page.After is an ID.
	Versions(vault, name string, p Page) ([]Version, error)
	// PutVersion creates or replaces a version record.
	PutVersion(v Version) error

	// Principal returns a principal by client id. Errors: ErrNotFound.
	Principal(clientID string) (Principal, error)
	// Principals lists all principals ordered by client id.
	Principals() ([]Principal, error)
	// PutPrincipal creates or replaces a principal.
	PutPrincipal(p Principal) error
	// DeletePrincipal removes a principal. Errors: ErrNotFound.
	DeletePrincipal(clientID string) error

	// RoleDefinition returns a custom role definition by id. Errors:
	// ErrNotFound.
	RoleDefinition(id string) (RoleDefinition, error)
	// RoleDefinitions lists custom role definitions ordered by id.
	RoleDefinitions() ([]RoleDefinition, error)
	// PutRoleDefinition creates or replaces a custom role definition.
	PutRoleDefinition(d RoleDefinition) error
	// DeleteRoleDefinition removes a custom role definition. Errors:
	// ErrNotFound.
	DeleteRoleDefinition(id string) error

	// RoleAssignment returns a role assignment by id. Errors: ErrNotFound.
	RoleAssignment(id string) (RoleAssignment, error)
	// RoleAssignments lists all role assignments ordered by id.
	RoleAssignments() ([]RoleAssignment, error)
	// PutRoleAssignment creates or replaces a role assignment.
	PutRoleAssignment(a RoleAssignment) error
	// DeleteRoleAssignment removes a role assignment. Errors: ErrNotFound.
	DeleteRoleAssignment(id string) error

	// Blob returns a named system blob (sealed token-signing key, ...).
	// Errors: ErrNotFound.
	Blob(name string) ([]byte, error)
	// PutBlob creates or replaces a named system blob.
	PutBlob(name string, data []byte) error
}

// Vault is a named container of keys.
type Vault struct {
	// Name is the vault name, lowercase, also the first label of its host.
	Name string
	// SKU is standard, premium or managedhsm.
	SKU string
	// RetentionDays is the soft-delete retention (7..90).
	RetentionDays int
	// PurgeProtection forbids purging before the retention ends.
	PurgeProtection bool
	// Network is the vault's network rules; nil allows every address.
	Network *NetworkRules
	// KeyPolicy is the vault key policy document (minimum sizes, allowed
	// curves, purpose separation), opaque to the store; nil when unset.
	KeyPolicy []byte
	// Created is the creation time.
	Created time.Time
}

// NetworkRules restrict which client addresses may reach a vault.
type NetworkRules struct {
	// DefaultAction is "Allow" or "Deny": what happens to an address no
	// rule matches.
	DefaultAction string
	// IPRules are IPv4/IPv6 addresses or CIDR prefixes that are allowed.
	IPRules []string
}

// Key is a key name in a vault with its key-level state.
type Key struct {
	// Vault is the owning vault's name.
	Vault string
	// Name is the key name in the case used at creation.
	Name string
	// Current is the ID of the current (latest) version.
	Current string
	// Created and Updated are key-level timestamps.
	Created, Updated time.Time
	// Deleted is non-nil while the key is soft-deleted.
	Deleted *Deletion
	// RotationPolicy is the key's rotation policy; nil when never set.
	RotationPolicy *RotationPolicy
}

// Deletion records a soft delete.
type Deletion struct {
	// Date is when the key was deleted.
	Date time.Time
	// ScheduledPurge is when the key will be purged by the system.
	ScheduledPurge time.Time
}

// RotationPolicy is a key's rotation policy.
type RotationPolicy struct {
	// Actions are the lifetime actions.
	Actions []LifetimeAction
	// ExpiryTime is the ISO-8601 duration applied as exp of new versions.
	ExpiryTime string
	// Created and Updated are the policy's timestamps.
	Created, Updated time.Time
}

// LifetimeAction is one trigger/action pair of a rotation policy.
type LifetimeAction struct {
	// Type is "Rotate" or "Notify".
	Type string
	// TimeAfterCreate and TimeBeforeExpiry are ISO-8601 durations; exactly
	// one is set.
	TimeAfterCreate, TimeBeforeExpiry string
}

// Version is one immutable key version plus its mutable attributes.
type Version struct {
	// Vault, Name and ID locate the version; Name is the key's name as
	// stored in Key.Name.
	Vault, Name, ID string
	// Type is RSA, EC or oct; Protection is software or hsm.
	Type, Protection string
	// Size is the RSA/AES size in bits; Curve the EC curve.
	Size  int
	Curve string
	// Public is the public key as PKIX DER (RSA, NIST EC) or uncompressed
	// point (P-256K); empty for oct.
	Public []byte
	// SealedPrivate is the private material sealed under the root key.
	SealedPrivate []byte
	// Enabled, NotBefore and Expires are the version's validity attributes.
	Enabled   bool
	NotBefore *time.Time
	Expires   *time.Time
	// Ops are the permitted key operations.
	Ops []string
	// Tags are the version's tags.
	Tags map[string]string
	// Exportable and ReleasePolicy govern secure key release.
	Exportable    bool
	ReleasePolicy *ReleasePolicy
	// Created and Updated are the version's timestamps.
	Created, Updated time.Time
	// LastUsed is the start of the latest minute in which the version was
	// used for a cryptographic operation, as last written by the vault's
	// last-use flush; nil when never recorded. Writing it does not change
	// Updated.
	LastUsed *time.Time
	// Provenance records how the version's material was brought in; nil
	// for material Keywarden generated.
	Provenance *Provenance
}

// Provenance is how an imported key version's material reached Keywarden.
type Provenance struct {
	// Method is "import" (a client's plaintext private key) or "byok" (a
	// transfer blob unwrapped inside the HSM).
	Method string
	// Generator is the tool that made a BYOK transfer blob, as the blob
	// names it; empty for other methods.
	Generator string
	// KEK is the key id of the key-exchange key that a BYOK blob was
	// wrapped for; empty for other methods.
	KEK string
	// Imported is when the material was imported.
	Imported time.Time
}

// ReleasePolicy is a secure key release policy document.
type ReleasePolicy struct {
	// ContentType is the policy's content type.
	ContentType string
	// Immutable forbids later changes.
	Immutable bool
	// Data is the policy document.
	Data []byte
}

// Principal is a service principal of the built-in token issuer.
type Principal struct {
	// ClientID is the principal's client (application) id.
	ClientID string
	// ObjectID is the principal's object id (the oid claim).
	ObjectID string
	// Name is a display name.
	Name string
	// Disabled principals cannot obtain or use tokens.
	Disabled bool
	// Secrets are the principal's client secrets, hashed.
	Secrets []Credential
	// Certificates are the principal's client certificates (public parts),
	// used for JWT client assertions (RFC 7523).
	Certificates []CertificateCredential
	// Created is the creation time.
	Created time.Time
}

// Credential is one hashed client secret.
type Credential struct {
	// ID identifies the credential.
	ID string
	// Hash is a slow hash of the secret (self-describing encoding).
	Hash string
	// Expires is the optional expiry.
	Expires *time.Time
	// Created is the creation time.
	Created time.Time
}

// Fold returns the case-folded form of a key name used for lookups and
// ordering.
func Fold(name string) string { return strings.ToLower(name) }

// CertificateCredential is one client certificate of a principal.
type CertificateCredential struct {
	// ID identifies the credential.
	ID string
	// DER is the X.509 certificate.
	DER []byte
	// Thumbprint is the SHA-1 thumbprint (x5t), hex; ThumbprintSHA256 the
	// SHA-256 one (x5t#S256).
	Thumbprint, ThumbprintSHA256 string
	// Expires is the credential's expiry (the certificate's NotAfter unless
	// set earlier).
	Expires *time.Time
	// Created is the creation time.
	Created time.Time
}

// RoleDefinition is a custom role. Built-in roles are defined in code
// (package rbac) and never stored.
type RoleDefinition struct {
	// ID is the role definition's GUID.
	ID string
	// Name is the role's display name (roleName), unique.
	Name string
	// Description says what the role is for.
	Description string
	// Actions, NotActions, DataActions and NotDataActions are the
	// permission strings, wildcards allowed as in Azure.
	Actions, NotActions, DataActions, NotDataActions []string
	// AssignableScopes are the scopes it may be assigned at.
	AssignableScopes []string
	// Created and Updated are timestamps.
	Created, Updated time.Time
}

// RoleAssignment binds a principal (or a group) to a role at a scope.
type RoleAssignment struct {
	// ID is the assignment's GUID (also its name).
	ID string
	// PrincipalID is the object id of a principal or group.
	PrincipalID string
	// Issuer is the issuer that vouches for PrincipalID: "" for the
	// built-in token issuer, else the URL of a trusted external issuer.
	Issuer string
	// RoleDefinitionID is the GUID of a built-in or custom role.
	RoleDefinitionID string
	// Scope is "/", "/vaults/{v}" or "/vaults/{v}/keys/{k}".
	Scope string
	// Created is the creation time.
	Created time.Time
}
