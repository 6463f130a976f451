package pkcs11

import (
	"errors"

	"github.com/keywarden/keywarden/internal/secret"
)

// DefaultPoolSize is the number of sessions Open uses when Config.PoolSize
// is zero.
const DefaultPoolSize = 8

// Config selects a PKCS#11 module and token. The caller resolves the PINs
// from their references (environment variable or file); they are never
// configured inline.
type Config struct {
	// ModulePath is the file name of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	ModulePath string
	// TokenLabel selects the token by its label (slot numbers are not
	// stable: SoftHSM renumbers them).
	TokenLabel string
	// PIN is the user PIN.
	PIN secret.Bytes
	// SOPIN is the security officer PIN. It is optional: when set, Open
	// creates the trusted wrapping key if the token has none, which takes
	// the security officer. Leave it empty in normal operation.
	SOPIN secret.Bytes
	// PoolSize bounds the number of open sessions and so the number of
	// concurrent token operations; zero means DefaultPoolSize.
	PoolSize int
}

// validate checks the fields every Open needs.
func (c Config) validate() error {
	switch {
	case c.ModulePath == "":
		return errors.New("pkcs11: no module path configured")
	case c.TokenLabel == "":
		return errors.New("pkcs11: no token label configured")
	case c.PIN.IsZero():
		return errors.New("pkcs11: no user PIN configured")
	case c.PoolSize < 0:
		return errors.New("pkcs11: negative session pool size")
	}
	return nil
}

// ErrNoCgo is returned by Open in binaries built without cgo, which cannot
// load a PKCS#11 module.
var ErrNoCgo = errors.New("pkcs11: this binary was built without cgo (CGO_ENABLED=0) and cannot load a PKCS#11 module; rebuild with CGO_ENABLED=1 to use HSM keys")

// MechanismPath says how the provider runs one algorithm on the token: with
// the token's own mechanism, or with a construction over the token's
// primitives (the private key still never leaves the token).
type MechanismPath struct {
	// Algorithm names what is done, e.g. "RSA-OAEP-256" or "generate EC
	// P-256K".
	Algorithm string
	// Path describes the mechanisms used, e.g. "CKM_RSA_X_509 + OAEP
	// decode in Go", or why the algorithm is unavailable.
	Path string
	// Native reports that a token mechanism implements the algorithm
	// completely.
	Native bool
	// Available reports that the algorithm can be used at all.
	Available bool
}

// String formats p as "Algorithm: Path", with "unavailable" for an
// algorithm that cannot be used.
func (p MechanismPath) String() string {
	if !p.Available {
		return p.Algorithm + ": unavailable (" + p.Path + ")"
	}
	return p.Algorithm + ": " + p.Path
}
