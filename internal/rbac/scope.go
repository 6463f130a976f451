package rbac

import (
	"fmt"
	"strings"
)

// Scope prefixes.
const (
	vaultsPrefix = "/vaults/"
	keysInfix    = "/keys/"
)

// NormalizeScope validates an assignment scope and returns its stored form.
// A scope is "/" (the whole server), "/vaults/{v}" or "/vaults/{v}/keys/{k}".
// Vault names are 3 to 24 characters of lowercase letters, digits and
// dashes, starting with a letter and ending with a letter or digit; they
// are accepted in any case and lowercased. Key names are 1 to 127 letters,
// digits and dashes; they are kept as given and matched ignoring case.
//
// Errors: ErrInvalid.
func NormalizeScope(scope string) (string, error) {
	vault, key, ok := splitScope(scope)
	if !ok {
		return "", fmt.Errorf("%w: scope %q is not \"/\", \"/vaults/{vault}\" or \"/vaults/{vault}/keys/{key}\" with valid names", ErrInvalid, scope)
	}
	switch {
	case vault == "":
		return "/", nil
	case key == "":
		return vaultsPrefix + strings.ToLower(vault), nil
	default:
		return vaultsPrefix + strings.ToLower(vault) + keysInfix + key, nil
	}
}

// splitScope parses a scope in any case into its vault and key names, both
// empty for "/". It does not allocate.
func splitScope(scope string) (vault, key string, ok bool) {
	if scope == "/" {
		return "", "", true
	}
	rest, found := strings.CutPrefix(scope, vaultsPrefix)
	if !found {
		return "", "", false
	}
	vault, key, hasKey := strings.Cut(rest, "/")
	if !validVaultName(vault) {
		return "", "", false
	}
	if !hasKey {
		return vault, "", true
	}
	key, found = strings.CutPrefix(key, "keys/")
	if !found || !validKeyName(key) {
		return "", "", false
	}
	return vault, key, true
}

// validVaultName reports whether name, ignoring ASCII case, matches
// ^[a-z][a-z0-9-]{1,22}[a-z0-9]$.
func validVaultName(name string) bool {
	if len(name) < 3 || len(name) > 24 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := lower(name[i])
		letter, digit := 'a' <= c && c <= 'z', '0' <= c && c <= '9'
		switch {
		case i == 0 && !letter:
			return false
		case i == len(name)-1 && !letter && !digit:
			return false
		case !letter && !digit && c != '-':
			return false
		}
	}
	return true
}

// validKeyName reports whether name matches ^[0-9a-zA-Z-]{1,127}$.
func validKeyName(name string) bool {
	if len(name) < 1 || len(name) > 127 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := lower(name[i])
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

// ScopeCovers reports whether an assignment at scope assigned applies to a
// request at scope requested: "/" covers everything, a vault scope covers
// the vault and its keys, a key scope covers that key only. Both scopes
// compare ignoring ASCII case; neither is validated. It does not allocate.
func ScopeCovers(assigned, requested string) bool {
	return covers(assigned, isKeyScope(assigned), requested)
}

// covers is ScopeCovers with the key-scope test of assigned precomputed.
func covers(assigned string, keyScope bool, requested string) bool {
	if assigned == "/" {
		return true
	}
	n := len(assigned)
	if len(requested) < n || !strings.EqualFold(requested[:n], assigned) {
		return false
	}
	return len(requested) == n || (!keyScope && requested[n] == '/')
}

// isKeyScope reports whether scope names a key.
func isKeyScope(scope string) bool {
	rest, ok := strings.CutPrefix(scope, vaultsPrefix)
	return ok && strings.Contains(rest, "/")
}
