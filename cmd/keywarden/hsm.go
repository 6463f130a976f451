package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
)

// openHSM opens the PKCS#11 provider that cfg configures, resolving the
// PINs through getenv and files. It returns nil, nil when no HSM is
// configured.
func openHSM(cfg config.HSM, getenv func(string) string, log *slog.Logger) (*pkcs11.Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	pin, soPIN, err := cfg.PINs(getenv)
	if err != nil {
		return nil, err
	}
	defer pin.Clear()
	defer soPIN.Clear()
	p, err := pkcs11.Open(pkcs11.Config{ModulePath: cfg.ModulePath, TokenLabel: cfg.TokenLabel, PIN: pin, SOPIN: soPIN, PoolSize: cfg.PoolSize})
	if err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	log.Info("HSM token opened", "module", cfg.ModulePath, "token", cfg.TokenLabel)
	for _, mp := range p.Probe(context.Background()) {
		log.Debug("HSM algorithm path", "path", mp.String())
	}
	return p, nil
}

// Dev mode's own SoftHSM2 token lives in <data-dir>/softhsm.
const (
	devTokenLabel = "keywarden-dev"
	// installSoftHSM is the one command that enables HSM keys in dev mode.
	installSoftHSM = "sudo apt-get install softhsm2"
	// pkcs11Off is the --pkcs11-module value that turns HSM keys off.
	pkcs11Off = "off"
	offByFlag = "turned off with --pkcs11-module off"
)

// softHSMModules returns where distributions install the SoftHSM2 module.
func softHSMModules() []string {
	return []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"}
}

// devHSM is the outcome of prepareDevHSM.
type devHSM struct {
	// cfg configures the engine's HSM; zero when HSM keys are off.
	cfg config.HSM
	// off says why HSM keys are off ("" when on).
	off string
	// dir is <data-dir>/softhsm.
	dir string
	// setUp is the marker file written once the token's trusted wrapping
	// key exists; until then cfg carries the security officer PIN.
	setUp string
}

// hostTools are what prepareDevHSM looks for; tests replace them.
type hostTools struct {
	lookPath func(string) (string, error)
	exists   func(string) bool
	setenv   func(k, v string) error
	run      func(name string, args, env []string) ([]byte, error)
}

func realHostTools() hostTools {
	return hostTools{
		lookPath: exec.LookPath,
		exists:   func(p string) bool { _, err := os.Stat(p); return err == nil },
		setenv:   os.Setenv,
		run: func(name string, args, env []string) ([]byte, error) {
			cmd := exec.Command(name, args...)
			cmd.Env = append(os.Environ(), env...)
			return cmd.CombinedOutput()
		},
	}
}

// findModule returns the PKCS#11 module named by flag ("" for the first
// SoftHSM2 module installed), or "" with the reason HSM keys stay off.
func findModule(flag string, h hostTools) (module, off string, err error) {
	switch flag {
	case pkcs11Off:
		return "", offByFlag, nil
	case "":
		for _, m := range softHSMModules() {
			if h.exists(m) {
				return m, "", nil
			}
		}
		return "", "no SoftHSM2 module found", nil
	}
	if !h.exists(flag) {
		return "", "", fmt.Errorf("--pkcs11-module %s: no such file", flag)
	}
	return flag, "", nil
}

// prepareDevHSM gives dev mode its own SoftHSM2 token in
// <dataDir>/softhsm: it writes softhsm2.conf there (token directory
// <dataDir>/softhsm/tokens), sets SOFTHSM2_CONF for this process — SoftHSM2
// reads it once, when the module is loaded, which happens later — and on
// first start initialises the token "keywarden-dev" with softhsm2-util and
// random PINs kept in user.pin and so.pin (mode 0600, a development
// convenience: a production token's PINs are the operator's). Later starts
// reuse the token, so HSM keys survive restarts. Without a module, or
// without softhsm2-util for a first start, HSM keys stay off and the
// result says why.
func prepareDevHSM(dataDir, moduleFlag string, h hostTools) (devHSM, error) {
	module, off, err := findModule(moduleFlag, h)
	if err != nil || module == "" {
		return devHSM{off: off}, err
	}
	d := devHSM{dir: filepath.Join(dataDir, "softhsm")}
	d.setUp = filepath.Join(d.dir, "initialised")
	tokens := filepath.Join(d.dir, "tokens")
	conf := filepath.Join(d.dir, "softhsm2.conf")
	pinFile, soFile := filepath.Join(d.dir, "user.pin"), filepath.Join(d.dir, "so.pin")
	entries, err := os.ReadDir(tokens)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return devHSM{}, fmt.Errorf("dev HSM: %w", err)
	}
	initialised := len(entries) > 0
	util, utilErr := h.lookPath("softhsm2-util")
	if !initialised && utilErr != nil {
		return devHSM{off: "softhsm2-util not found"}, nil
	}
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return devHSM{}, fmt.Errorf("dev HSM: %w", err)
	}
	text := fmt.Sprintf("# Written by keywarden dev at every start.\ndirectories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := writeFile0600(conf, text); err != nil {
		return devHSM{}, fmt.Errorf("dev HSM: %w", err)
	}
	if err := h.setenv("SOFTHSM2_CONF", conf); err != nil {
		return devHSM{}, fmt.Errorf("dev HSM: %w", err)
	}
	if initialised && !h.exists(pinFile) {
		return devHSM{}, fmt.Errorf("dev HSM: %s holds a token but %s is missing; remove %s to start over (its HSM keys are lost)", tokens, pinFile, d.dir)
	}
	if !initialised {
		// The PIN files are written first: a start interrupted after
		// them initialises the token with the same PINs.
		if !h.exists(pinFile) || !h.exists(soFile) {
			for _, f := range []string{pinFile, soFile} {
				if err := writeFile0600(f, randomPIN()+"\n"); err != nil {
					return devHSM{}, fmt.Errorf("dev HSM: %w", err)
				}
			}
		}
		// A new token has no trusted wrapping key yet.
		if err := os.Remove(d.setUp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return devHSM{}, fmt.Errorf("dev HSM: %w", err)
		}
		pin, err := readPIN(pinFile)
		if err != nil {
			return devHSM{}, err
		}
		soPIN, err := readPIN(soFile)
		if err != nil {
			return devHSM{}, err
		}
		out, err := h.run(util, []string{"--init-token", "--free", "--label", devTokenLabel, "--pin", pin, "--so-pin", soPIN}, []string{"SOFTHSM2_CONF=" + conf})
		if err != nil {
			return devHSM{}, fmt.Errorf("dev HSM: softhsm2-util --init-token: %v: %s", err, out)
		}
	}
	d.cfg = config.HSM{ModulePath: module, TokenLabel: devTokenLabel, PINFile: pinFile}
	if !h.exists(d.setUp) {
		d.cfg.SOPINFile = soFile
	}
	return d, nil
}

// markSetUp records that the token's trusted wrapping key exists, so that
// later starts leave the security officer PIN out.
func (d devHSM) markSetUp() error {
	if d.cfg.SOPINFile == "" {
		return nil
	}
	return writeFile0600(d.setUp, "The trusted wrapping key of the dev token is set up.\n")
}

// bannerLine is what the dev banner says about HSM keys.
func (d devHSM) bannerLine() string {
	if d.off != "" {
		hint := "Enable HSM keys with: " + installSoftHSM
		if d.off == offByFlag {
			hint = "Enable HSM keys by starting without --pkcs11-module off."
		}
		return fmt.Sprintf("HSM: off (%s): software keys only; -HSM key types are refused.\n     %s", d.off, hint)
	}
	return fmt.Sprintf("HSM: SoftHSM2 token %s (%s)\n     token and its PINs in %s (development only)", d.cfg.TokenLabel, d.cfg.ModulePath, d.dir)
}

func readPIN(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dev HSM: %w", err)
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "", fmt.Errorf("dev HSM: %s is empty", path)
	}
	return string(b), nil
}

// randomPIN returns 32 random hex digits.
func randomPIN() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newHSMCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "Inspect the PKCS#11 token of HSM-protected keys",
	}
	cmd.AddCommand(newHSMInfoCommand())
	return cmd
}

func newHSMInfoCommand() *cobra.Command {
	var path, dataDir, module string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Print the token, its module, and the path each algorithm takes on it",
		Long: `info opens the token of a server's configuration (--config) or of a dev data
directory (--data-dir, whose SoftHSM2 token keywarden dev created) and prints
its label, its module, and the start-up probe: for every algorithm, whether
the token runs it with its own mechanism or Keywarden builds it from the
token's primitives (the private key still never leaves the token).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var h config.HSM
			switch {
			case (path == "") == (dataDir == ""):
				return errors.New("give exactly one of --config and --data-dir")
			case path != "":
				c, err := config.Load(path, os.Getenv)
				if err != nil {
					return err
				}
				if !c.HSM.Enabled() {
					return fmt.Errorf("%s configures no HSM (hsm.modulePath)", path)
				}
				h = c.HSM
				h.SOPINFile, h.SOPINEnv = "", ""
			default:
				abs, err := filepath.Abs(dataDir)
				if err != nil {
					return err
				}
				dir := filepath.Join(abs, "softhsm")
				tools := realHostTools()
				if !tools.exists(filepath.Join(dir, "user.pin")) {
					return fmt.Errorf("%s has no dev SoftHSM2 token (keywarden dev creates one where SoftHSM2 is installed: %s)", abs, installSoftHSM)
				}
				m, off, err := findModule(module, tools)
				if err != nil {
					return err
				}
				if m == "" {
					return fmt.Errorf("%s; install it with: %s", off, installSoftHSM)
				}
				if err := os.Setenv("SOFTHSM2_CONF", filepath.Join(dir, "softhsm2.conf")); err != nil {
					return err
				}
				h = config.HSM{ModulePath: m, TokenLabel: devTokenLabel, PINFile: filepath.Join(dir, "user.pin")}
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			p, err := openHSM(h, os.Getenv, log)
			if err != nil {
				return err
			}
			defer p.Close()
			printHSMInfo(cmd.OutOrStdout(), h, p.Probe(cmd.Context()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "config", "", "path of the server's JSON config file")
	f.StringVar(&dataDir, "data-dir", "", "data directory of keywarden dev")
	f.StringVar(&module, "pkcs11-module", "", "PKCS#11 module of the dev token (default: the installed SoftHSM2 module)")
	return cmd
}

// printHSMInfo writes the token, the module and one line per algorithm
// path.
func printHSMInfo(w io.Writer, h config.HSM, paths []pkcs11.MechanismPath) {
	fmt.Fprintf(w, "token   %s\nmodule  %s\nalgorithms (native: the token's own mechanism; built: built by Keywarden, over the token's primitives or with the public key in Go; absent: unavailable):\n", h.TokenLabel, h.ModulePath)
	for _, p := range paths {
		kind := "built "
		switch {
		case !p.Available:
			kind = "absent"
		case p.Native:
			kind = "native"
		}
		fmt.Fprintf(w, "  %s  %s\n", kind, p)
	}
}
