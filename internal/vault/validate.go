package vault

import (
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/keywarden/keywarden/internal/keys"
)

var (
	keyNameRE   = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
	vaultNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,22}[a-z0-9]$`)
	versionRE   = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// Limits on tags, as Azure Key Vault documents them.
const (
	maxTags        = 15
	maxTagNameLen  = 256
	maxTagValueLen = 256
)

func validateName(name string) error {
	if !keyNameRE.MatchString(name) {
		return invalidf("The key name '%s' is invalid: it must be 1-127 characters of letters, digits and dashes.", truncate(name, 140))
	}
	return nil
}

func validateVersion(version string) error {
	if version != "" && !versionRE.MatchString(version) {
		return invalidf("The key version '%s' is invalid.", truncate(version, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return invalidf("Too many tags: %d. A key version may have at most %d tags.", len(tags), maxTags)
	}
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > maxTagNameLen {
			return invalidf("Tag name '%s' is invalid: it must be 1-%d characters.", truncate(k, 64), maxTagNameLen)
		}
		if utf8.RuneCountInString(v) > maxTagValueLen {
			return invalidf("The value of tag '%s' is too long: at most %d characters.", truncate(k, 64), maxTagValueLen)
		}
	}
	return nil
}

var allOps = []Operation{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey, OpImport, OpExport}

// defaultOps returns the key_ops a key of type t gets when none are given.
func defaultOps(t keys.Type) []Operation {
	switch t {
	case keys.RSA:
		return []Operation{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey}
	case keys.EC:
		return []Operation{OpSign, OpVerify}
	default:
		return []Operation{OpEncrypt, OpDecrypt, OpWrapKey, OpUnwrapKey}
	}
}

// validateOps checks key_ops values; import is exclusive of every other op.
func validateOps(ops []Operation) error {
	for _, op := range ops {
		if !slices.Contains(allOps, op) {
			return invalidf("Invalid key operation: '%s'.", truncate(string(op), 32))
		}
	}
	if slices.Contains(ops, OpImport) && len(ops) > 1 {
		return invalidf("The 'import' key operation cannot be combined with other operations.")
	}
	return nil
}

// checkImportOps refuses a key_ops update that touches the import
// operation: a version created for import (a BYOK key-exchange key) keeps
// exactly its key_ops for its lifetime, since its private key unwraps
// transfer blobs, and no other version can gain import. Setting the same
// operations again, in any order, is no change.
func checkImportOps(old []string, ops []Operation) error {
	had, has := slices.Contains(old, string(OpImport)), slices.Contains(ops, OpImport)
	switch {
	case had && !sameOps(old, opsToStrings(ops)):
		return invalidf("The key_ops of a key with the 'import' key operation (a key-exchange key) cannot be changed: create a new key for other operations.")
	case !had && has:
		return invalidf("The 'import' key operation can only be set when a key is created: create a new key-exchange key.")
	}
	return nil
}

// validateSpec normalises and checks a key spec for a vault. It fills
// defaults (RSA 2048, P-256), turns software requests into HSM ones in a
// managedhsm vault, and makes the vault the Owner of HSM keys.
func (s *Service) validateSpec(v Vault, spec keys.Spec, generating bool) (keys.Spec, error) {
	if v.SKU == ManagedHSM {
		spec.Protection = keys.HSM
	}
	if spec.Protection == "" {
		spec.Protection = keys.Software
	}
	kty := wireType(spec)
	switch spec.Type {
	case keys.RSA:
		if generating {
			if spec.Size == 0 {
				spec.Size = 2048
			}
			if spec.Size != 2048 && spec.Size != 3072 && spec.Size != 4096 {
				return spec, newErr(ErrInvalid, "KeySizeNotSupported", "The key size %d is not supported for %s keys: use 2048, 3072 or 4096.", spec.Size, kty)
			}
			if spec.PublicExponent != 0 && spec.PublicExponent != 65537 {
				return spec, invalidf("The public exponent %d is not supported: use 65537.", spec.PublicExponent)
			}
		}
		spec.Curve = ""
	case keys.EC:
		if spec.Curve == "" && generating {
			spec.Curve = keys.P256
		}
		switch spec.Curve {
		case keys.P256, keys.P384, keys.P521, keys.P256K:
		default:
			return spec, newErr(ErrInvalid, "CurveNotSupported", "Invalid curve: '%s'. Use P-256, P-384, P-521 or P-256K.", truncate(string(spec.Curve), 32))
		}
		spec.Size = 0
	case keys.Oct:
		if v.SKU != ManagedHSM {
			return spec, newErr(ErrInvalid, "KeyTypeNotSupported", "Invalid kty value: %s. Symmetric keys are only supported in managed HSM vaults.", kty)
		}
	default:
		return spec, newErr(ErrInvalid, "KeyTypeNotSupported", "Invalid kty value: %s.", truncate(string(spec.Type), 32))
	}
	if spec.Protection == keys.HSM {
		if v.SKU == Standard {
			return spec, newErr(ErrInvalid, "KeyTypeNotSupported", "Invalid kty value: %s. HSM-protected keys need a premium or managedhsm vault; vault %s is standard.", kty, v.Name)
		}
		if s.hsm == nil {
			return spec, newErr(ErrInvalid, "KeyTypeNotSupported", "HSM-protected keys (%s) are not available: this server has no PKCS#11 provider configured.", kty)
		}
		// HSM objects are namespaced by vault: the provider labels them
		// with the owner and checks it on every load.
		spec.Owner = v.Name
	}
	return spec, nil
}

// wireType returns the kty value of a spec (RSA, EC-HSM, oct-HSM, ...).
func wireType(spec keys.Spec) string {
	if spec.Protection == keys.HSM {
		return string(spec.Type) + "-HSM"
	}
	return string(spec.Type)
}

// checkRelease refuses what needs secure key release, which this server
// does not offer yet.
func checkRelease(a Attributes, p *ReleasePolicy) error {
	if (a.Exportable != nil && *a.Exportable) || p != nil {
		return newErr(ErrInvalid, "FeatureNotSupported", "Exportable keys and release policies need secure key release, which this server does not support yet.")
	}
	return nil
}
