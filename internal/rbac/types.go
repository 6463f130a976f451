// Package rbac holds Keywarden's role-based access control: the built-in
// role definitions (Azure Key Vault and Managed HSM roles with their exact
// data actions, and the Keywarden Administrator role), custom roles, role
// assignments at a scope, and the decision whether a principal may perform
// a data action on a resource.
//
// It is domain logic: no HTTP, no wire format. It reads and writes role
// definitions and assignments through store.Store.
package rbac

import (
	"errors"
	"time"
)

// Errors wrapped by the package's refusals.
var (
	// ErrNotFound: no such role definition or assignment.
	ErrNotFound = errors.New("rbac: not found")
	// ErrInvalid: a bad role definition or assignment (unknown role,
	// malformed scope, bad permission string, built-in role changed).
	ErrInvalid = errors.New("rbac: invalid")
	// ErrConflict: a role name or assignment that already exists, or a
	// custom role still assigned.
	ErrConflict = errors.New("rbac: conflict")
)

// Role types as Azure names them.
const (
	BuiltInRole = "AKVBuiltInRole"
	CustomRole  = "CustomRole"
)

// Keywarden administration actions (data actions at scope "/"): managing
// vaults, principals, role definitions and role assignments. Azure does
// this in its control plane, which has no data actions.
const (
	ActionVaultsRead           = "Keywarden/vaults/read"
	ActionVaultsWrite          = "Keywarden/vaults/write"
	ActionPrincipalsRead       = "Keywarden/principals/read"
	ActionPrincipalsWrite      = "Keywarden/principals/write"
	ActionRoleDefinitionsRead  = "Keywarden/roleDefinitions/read"
	ActionRoleDefinitionsWrite = "Keywarden/roleDefinitions/write"
	ActionRoleAssignmentsRead  = "Keywarden/roleAssignments/read"
	ActionRoleAssignmentsWrite = "Keywarden/roleAssignments/write"
	// ActionSnapshot reads a snapshot of the whole store (sealed key
	// material, hashed client secrets, role assignments). It ends in
	// "/action", not "/read", so that a custom role granting
	// "Keywarden/*/read" does not grant it.
	ActionSnapshot = "Keywarden/snapshot/action"
	// ActionRootKeyRead shows the root keyring (ids, mode, rotation
	// progress; never key material).
	ActionRootKeyRead = "Keywarden/rootKey/read"
	// ActionRootKeyRotate starts a root key rotation.
	ActionRootKeyRotate = "Keywarden/rootKey/rotate/action"
)

// Well-known role definition ids.
const (
	// KeywardenAdministrator may do every Keywarden/* action.
	KeywardenAdministrator = "4a1c6b3e-8a0f-4e7d-9c55-6f1f0e2d7b10"
	// KeyVaultAdministrator is Azure's Key Vault Administrator.
	KeyVaultAdministrator = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	// ManagedHSMAdministrator is Azure's Managed HSM Administrator.
	ManagedHSMAdministrator = "a290e904-7015-4bba-90c8-60543313cdb4"
)

// Role is a role definition, built-in or custom.
type Role struct {
	// ID is the role definition GUID.
	ID string
	// Name is the role name ("Key Vault Crypto User").
	Name string
	// Description says what the role is for.
	Description string
	// Type is BuiltInRole or CustomRole.
	Type string
	// Actions, NotActions, DataActions and NotDataActions are the
	// permission strings; "*" matches any run of characters.
	Actions, NotActions, DataActions, NotDataActions []string
	// AssignableScopes are where the role may be assigned.
	AssignableScopes []string
	// ManagedHSM marks the Managed HSM local roles.
	ManagedHSM bool
	// Created and Updated are zero for built-in roles.
	Created, Updated time.Time
}

// BuiltinIssuer is the Issuer of an Assignment or Subject of the built-in
// token issuer: the empty string. The built-in issuer's iss claim varies
// with the host a client used, so its principals are not named by that
// claim; the token verifier tells them apart (auth.Identity.External).
const BuiltinIssuer = ""

// Assignment binds a principal or group to a role at a scope.
type Assignment struct {
	// ID is the assignment GUID.
	ID string
	// PrincipalID is the object id of a principal or a group.
	PrincipalID string
	// Issuer is who vouches for PrincipalID: BuiltinIssuer ("") for the
	// built-in token issuer's principals, else the URL of the trusted
	// external issuer whose tokens carry PrincipalID as their principal
	// claim or in their groups claim, exactly as that issuer is configured.
	// The assignment applies only to subjects of that issuer.
	Issuer string
	// RoleID is the role definition GUID.
	RoleID string
	// Scope is "/", "/vaults/{v}" or "/vaults/{v}/keys/{k}".
	Scope string
	// Created is the creation time.
	Created time.Time
}

// Subject is who asks: a principal's object id and the groups it is in,
// both as named by the issuer of the principal's token.
type Subject struct {
	// Issuer is the issuer that vouches for ObjectID and Groups:
	// BuiltinIssuer ("") for the built-in token issuer, else the external
	// issuer's URL (the token's iss). Only assignments of that issuer
	// apply.
	Issuer string
	// ObjectID is the principal's object id (oid, else sub).
	ObjectID string
	// Groups are the group ids from the token's group claim.
	Groups []string
}

// Decision is the outcome of an authorization check.
type Decision struct {
	// Allowed reports whether the action is permitted.
	Allowed bool
	// AssignmentID is the assignment that granted it, when Allowed.
	AssignmentID string
	// Reason explains a denial for logs (never sent to clients).
	Reason string
}
