// Package softhsmtest gives tests a SoftHSM2 token to run the PKCS#11
// provider against.
//
// SoftHSM2 reads its configuration (SOFTHSM2_CONF) when the module is
// initialized and keeps one token directory per process, so the package
// creates one token per test process, on first use, in a temporary
// directory that Remove deletes; tests share it and keep apart by using
// distinct key owners (labels). The package sets SOFTHSM2_CONF for the
// whole process with os.Setenv rather than t.Setenv: the setting must
// outlive the first test, since the module may be initialized again
// later.
//
// Where SoftHSM2 is not installed, New skips the test with the install
// command, or fails it when the CI environment variable is set.
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/secret"
)

// TokenLabel is the label of the shared test token.
const TokenLabel = "keywarden-test"

// InstallHint is the command that installs SoftHSM2 on Debian and Ubuntu.
const InstallHint = "apt-get install softhsm2"

// modulePaths are where distributions install the SoftHSM2 module.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// token is the process's one test token, made by setup under once.
var (
	once  sync.Once
	token struct {
		dir string
		cfg pkcs11.Config
		err error
	}
)

// New returns the configuration of the process's test token, creating it
// on first use: a SoftHSM2 configuration in a temporary directory, a token
// initialized with softhsm2-util, and the trusted wrapping key, which is
// set up by opening the provider once with the security officer PIN. The
// returned Config carries the user PIN and the SO PIN.
func New(t testing.TB) pkcs11.Config {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	module := findModule()
	if err != nil || module == "" {
		msg := fmt.Sprintf("SoftHSM2 is not installed (softhsm2-util or libsofthsm2.so missing); install it with: %s", InstallHint)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	once.Do(func() { setup(util, module) })
	if errors.Is(token.err, pkcs11.ErrNoCgo) {
		t.Skip("the PKCS#11 provider needs cgo")
	}
	if token.err != nil {
		t.Fatalf("softhsmtest: %v", token.err)
	}
	return token.cfg
}

// ModulePath returns the path of the installed SoftHSM2 module, or "".
func ModulePath() string { return findModule() }

func findModule() string {
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// setup creates the token and records the result in token.
func setup(util, module string) {
	dir, err := os.MkdirTemp("", "keywarden-softhsm-")
	if err != nil {
		token.err = err
		return
	}
	token.dir = dir
	tokens := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		token.err = err
		return
	}
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		token.err = err
		return
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		token.err = err
		return
	}
	pin, soPIN := randomPIN(), randomPIN()
	cmd := exec.Command(util, "--init-token", "--free", "--label", TokenLabel, "--pin", pin, "--so-pin", soPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		token.err = fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
		return
	}
	token.cfg = pkcs11.Config{
		ModulePath: module,
		TokenLabel: TokenLabel,
		PIN:        secret.New([]byte(pin)),
		SOPIN:      secret.New([]byte(soPIN)),
		PoolSize:   4,
	}
	p, err := pkcs11.Open(token.cfg)
	if err != nil {
		token.err = fmt.Errorf("set up the trusted wrapping key: %w", err)
		return
	}
	_ = p.Close()
}

// randomPIN returns a random 16-character PIN.
func randomPIN() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Remove deletes the test token's directory, if New created one. Call it
// from TestMain after m.Run, when no provider uses the token any more.
func Remove() {
	if token.dir != "" {
		_ = os.RemoveAll(token.dir)
	}
}
