package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"

	"github.com/keywarden/keywarden/internal/secret"
)

// MaxHSMPoolSize bounds HSM.PoolSize.
const MaxHSMPoolSize = 1024

// HSM selects the PKCS#11 token that holds HSM-protected keys. It is off
// when ModulePath is empty. PINs are given by reference only, as the name
// of an environment variable or the path of a file, never inline.
type HSM struct {
	// ModulePath is the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so; empty turns HSM keys off.
	ModulePath string `json:"modulePath"`
	// TokenLabel selects the token by label (slot numbers are not stable).
	TokenLabel string `json:"tokenLabel"`
	// PINFile or PINEnv gives the user PIN: a file holding it (trailing
	// newline ignored), or the name of the environment variable holding
	// it. Exactly one is required.
	PINFile string `json:"pinFile"`
	PINEnv  string `json:"pinEnv"`
	// SOPINFile or SOPINEnv optionally gives the security officer PIN, by
	// the same references. Give it once, at the first start on a new
	// token, so that the trusted wrapping key is set up; leave it out in
	// normal operation.
	SOPINFile string `json:"soPinFile"`
	SOPINEnv  string `json:"soPinEnv"`
	// PoolSize bounds the token sessions (and concurrent token
	// operations); zero means the provider's default (8).
	PoolSize int `json:"poolSize"`
}

// Enabled reports whether an HSM is configured.
func (h HSM) Enabled() bool { return h.ModulePath != "" }

// envNameRE is what an environment variable name may look like.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// applyEnv applies KEYWARDEN_HSM_MODULE_PATH, KEYWARDEN_HSM_TOKEN_LABEL,
// KEYWARDEN_HSM_PIN_FILE and KEYWARDEN_HSM_PIN_ENV.
func (h *HSM) applyEnv(getenv func(string) string) {
	for k, p := range map[string]*string{
		"KEYWARDEN_HSM_MODULE_PATH": &h.ModulePath,
		"KEYWARDEN_HSM_TOKEN_LABEL": &h.TokenLabel,
		"KEYWARDEN_HSM_PIN_FILE":    &h.PINFile,
		"KEYWARDEN_HSM_PIN_ENV":     &h.PINEnv,
	} {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
}

// validate checks the references: with a module, a token label and
// exactly one user PIN reference; without, nothing else set.
func (h HSM) validate() error {
	if h.ModulePath == "" {
		if h != (HSM{}) {
			return fmt.Errorf("config: hsm.modulePath is required when hsm is configured")
		}
		return nil
	}
	if h.TokenLabel == "" {
		return fmt.Errorf("config: hsm.tokenLabel is required with hsm.modulePath")
	}
	if len(h.TokenLabel) > 32 {
		return fmt.Errorf("config: hsm.tokenLabel %q: PKCS#11 token labels have at most 32 bytes", h.TokenLabel)
	}
	if (h.PINFile == "") == (h.PINEnv == "") {
		return fmt.Errorf("config: hsm: give the user PIN by exactly one of pinFile and pinEnv (never inline)")
	}
	if h.SOPINFile != "" && h.SOPINEnv != "" {
		return fmt.Errorf("config: hsm: give the security officer PIN by at most one of soPinFile and soPinEnv")
	}
	for _, e := range []struct{ name, v string }{{"pinEnv", h.PINEnv}, {"soPinEnv", h.SOPINEnv}} {
		if e.v != "" && !envNameRE.MatchString(e.v) {
			return fmt.Errorf("config: hsm.%s %q is not an environment variable name (give the name, not the PIN)", e.name, e.v)
		}
	}
	if h.PoolSize < 0 || h.PoolSize > MaxHSMPoolSize {
		return fmt.Errorf("config: hsm.poolSize %d: use 0 (default) to %d", h.PoolSize, MaxHSMPoolSize)
	}
	return nil
}

// PINs resolves the user PIN and, when configured, the security officer
// PIN from their references, reading files and getenv. Errors name the
// reference, never the PIN.
func (h HSM) PINs(getenv func(string) string) (pin, soPIN secret.Bytes, err error) {
	if pin, err = resolvePIN("pin", h.PINFile, h.PINEnv, getenv); err != nil {
		return secret.Bytes{}, secret.Bytes{}, err
	}
	if h.SOPINFile == "" && h.SOPINEnv == "" {
		return pin, secret.Bytes{}, nil
	}
	if soPIN, err = resolvePIN("soPin", h.SOPINFile, h.SOPINEnv, getenv); err != nil {
		pin.Clear()
		return secret.Bytes{}, secret.Bytes{}, err
	}
	return pin, soPIN, nil
}

// resolvePIN reads one PIN reference.
func resolvePIN(what, file, env string, getenv func(string) string) (secret.Bytes, error) {
	var b []byte
	switch {
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return secret.Bytes{}, fmt.Errorf("config: hsm.%sFile: %w", what, err)
		}
		b = bytes.TrimRight(raw, "\r\n")
		defer clear(raw)
	case env != "":
		b = []byte(getenv(env))
		defer clear(b)
	}
	if len(b) == 0 {
		src := "file " + file
		if file == "" {
			src = "environment variable " + env
		}
		return secret.Bytes{}, fmt.Errorf("config: hsm.%s: %s is empty or unset", what, src)
	}
	return secret.New(b), nil
}
