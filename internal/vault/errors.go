package vault

import (
	"errors"
	"fmt"
)

// Error kinds. Every error the Service returns for a client-caused or
// state-caused refusal wraps one of these; the api package maps them to
// HTTP statuses in one place. Other errors are internal failures.
var (
	// ErrNotFound: the vault, key, version or deleted key does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is soft-deleted, or restore over an existing name (409).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the key's state or key_ops refuse the operation, or purge
	// protection holds (403).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: bad input — type, size, curve, algorithm, length, name,
	// tags, attributes, backup blob (400).
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: a provider (HSM) cannot serve now; retry later (503).
	ErrUnavailable = errors.New("unavailable")
)

// Error is a domain refusal: a kind (one of the Err* sentinels above), an
// optional inner code as Azure names it (KeyDisabled, KeyOperationForbidden,
// ObjectIsDeletedButRecoverable, KeyTypeNotSupported, ...) and a client-safe
// message that never holds secret input.
type Error struct {
	// Kind is one of ErrNotFound, ErrConflict, ErrForbidden, ErrInvalid,
	// ErrUnavailable.
	Kind error
	// Code is Azure's inner error code, or empty.
	Code string
	// Msg is the client-safe message.
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind so errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Kind }

func newErr(kind error, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error {
	return newErr(ErrInvalid, "", format, args...)
}

func keyNotFound(name, version string) error {
	id := name
	if version != "" {
		id = name + "/" + version
	}
	return newErr(ErrNotFound, "", "A key with (name/id) %s was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", id)
}

func deletedKeyNotFound(name string) error {
	return newErr(ErrNotFound, "", "Deleted Key not found: %s", name)
}

func vaultNotFound(name string) error {
	return newErr(ErrNotFound, "VaultNotFound", "Vault %s was not found.", name)
}

func deletedButRecoverable(name string) error {
	return newErr(ErrConflict, "ObjectIsDeletedButRecoverable", "Key %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.", name)
}
