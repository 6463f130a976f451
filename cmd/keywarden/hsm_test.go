package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
)

// fakeHost is hostTools over a fixed set of files and programs; its
// softhsm2-util "initialises" a token by creating a directory in the
// token directory of the configuration it is given.
type fakeHost struct {
	root  string          // the data directory: its files are real
	files map[string]bool // other paths that exist (modules)
	util  bool            // softhsm2-util is on PATH
	env   map[string]string
	runs  [][]string
}

func (f *fakeHost) tools() hostTools {
	return hostTools{
		lookPath: func(name string) (string, error) {
			if f.util && name == "softhsm2-util" {
				return "/usr/bin/softhsm2-util", nil
			}
			return "", errors.New("not found")
		},
		exists: func(p string) bool {
			if f.files[p] {
				return true
			}
			_, err := os.Stat(p)
			return err == nil && strings.HasPrefix(p, f.root+string(filepath.Separator))
		},
		setenv: func(k, v string) error { f.env[k] = v; return nil },
		run: func(name string, args, env []string) ([]byte, error) {
			f.runs = append(f.runs, append([]string{name}, args...))
			conf := strings.TrimPrefix(env[0], "SOFTHSM2_CONF=")
			return nil, os.Mkdir(filepath.Join(filepath.Dir(conf), "tokens", "token-1"), 0o700)
		},
	}
}

func newFakeHost(root string) *fakeHost {
	return &fakeHost{root: root, files: map[string]bool{}, env: map[string]string{}}
}

func TestPrepareDevHSMOff(t *testing.T) {
	module := softHSMModules()[0]
	tests := []struct {
		name, flag string
		module     bool // the SoftHSM2 module is installed
		util       bool
		wantOff    string
		wantHint   string
	}{
		{name: "nothing installed", wantOff: "no SoftHSM2 module found", wantHint: "sudo apt-get install softhsm2"},
		{name: "module without util", module: true, wantOff: "softhsm2-util not found", wantHint: "sudo apt-get install softhsm2"},
		{name: "turned off", flag: "off", module: true, util: true, wantOff: offByFlag, wantHint: "without --pkcs11-module off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := newFakeHost(dir)
			f.files[module], f.util = tt.module, tt.util
			d, err := prepareDevHSM(dir, tt.flag, f.tools())
			if err != nil {
				t.Fatalf("prepareDevHSM() = %v", err)
			}
			if d.off != tt.wantOff || d.cfg.Enabled() {
				t.Errorf("prepareDevHSM() = off %q, enabled %v; want off %q", d.off, d.cfg.Enabled(), tt.wantOff)
			}
			if line := d.bannerLine(); !strings.HasPrefix(line, "HSM: off") || !strings.Contains(line, tt.wantHint) {
				t.Errorf("bannerLine() = %q, want HSM: off ... %q", line, tt.wantHint)
			}
			if _, err := os.Stat(filepath.Join(dir, "softhsm")); !errors.Is(err, os.ErrNotExist) || len(f.env) != 0 || len(f.runs) != 0 {
				t.Errorf("prepareDevHSM() with HSM off touched the data directory, env %v or ran %v", f.env, f.runs)
			}
		})
	}
	if _, err := prepareDevHSM(t.TempDir(), "/no/such/module.so", newFakeHost("/nowhere").tools()); err == nil || !strings.Contains(err.Error(), "--pkcs11-module /no/such/module.so") {
		t.Errorf("prepareDevHSM(missing module) = %v, want an error naming the flag", err)
	}
}

func TestPrepareDevHSMToken(t *testing.T) {
	dir := t.TempDir()
	module := softHSMModules()[1]
	f := newFakeHost(dir)
	f.files[module], f.util = true, true

	// First start: configuration, PIN files, token, and the SO PIN so
	// that the trusted wrapping key is made.
	d, err := prepareDevHSM(dir, "", f.tools())
	if err != nil {
		t.Fatalf("prepareDevHSM() = %v", err)
	}
	soft := filepath.Join(dir, "softhsm")
	conf := filepath.Join(soft, "softhsm2.conf")
	if f.env["SOFTHSM2_CONF"] != conf {
		t.Errorf("SOFTHSM2_CONF = %q, want %q", f.env["SOFTHSM2_CONF"], conf)
	}
	text, err := os.ReadFile(conf)
	if err != nil || !strings.Contains(string(text), "directories.tokendir = "+filepath.Join(soft, "tokens")+"\n") {
		t.Errorf("softhsm2.conf = %q, %v; want the token directory in the data directory", text, err)
	}
	pin, so := filepath.Join(soft, "user.pin"), filepath.Join(soft, "so.pin")
	for _, p := range []string{pin, so} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("stat(%s) = %v, %v; want mode 0600", p, st, err)
		}
	}
	userPIN, _ := readPIN(pin)
	soPIN, _ := readPIN(so)
	if len(userPIN) != 32 || userPIN == soPIN {
		t.Errorf("PINs %q and %q: want two different 32-digit PINs", userPIN, soPIN)
	}
	want := []string{"/usr/bin/softhsm2-util", "--init-token", "--free", "--label", "keywarden-dev", "--pin", userPIN, "--so-pin", soPIN}
	if len(f.runs) != 1 || !slices.Equal(f.runs[0], want) {
		t.Errorf("ran %q, want %q", f.runs, want)
	}
	if d.cfg.ModulePath != module || d.cfg.TokenLabel != "keywarden-dev" || d.cfg.PINFile != pin || d.cfg.SOPINFile != so {
		t.Errorf("cfg = %+v, want module, label, pin and so-pin files", d.cfg)
	}
	if line := d.bannerLine(); !strings.HasPrefix(line, "HSM: SoftHSM2 token keywarden-dev ("+module+")") {
		t.Errorf("bannerLine() = %q", line)
	}
	if err := d.markSetUp(); err != nil {
		t.Fatal(err)
	}

	// Restart: the token is reused, without the SO PIN, and softhsm2-util
	// is not needed.
	f.util = false
	d, err = prepareDevHSM(dir, "", f.tools())
	if err != nil {
		t.Fatalf("prepareDevHSM(restart) = %v", err)
	}
	if len(f.runs) != 1 || d.cfg.SOPINFile != "" || d.cfg.PINFile != pin {
		t.Errorf("restart: ran %q, cfg %+v; want no run and no SO PIN", f.runs, d.cfg)
	}
	if again, _ := readPIN(pin); again != userPIN {
		t.Errorf("restart changed the user PIN")
	}

	// A token without its PIN file is an error, not a new token.
	if err := os.Remove(pin); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDevHSM(dir, "", f.tools()); err == nil || !strings.Contains(err.Error(), "user.pin is missing") {
		t.Errorf("prepareDevHSM(no user.pin) = %v, want an error", err)
	}
}

func TestPrintHSMInfo(t *testing.T) {
	var b strings.Builder
	printHSMInfo(&b, config.HSM{ModulePath: "/m.so", TokenLabel: "tok"}, []pkcs11.MechanismPath{
		{Algorithm: "ES256", Path: "CKM_ECDSA", Native: true, Available: true},
		{Algorithm: "RSA-OAEP-256 decrypt", Path: "CKM_RSA_X_509 + OAEP decode in Go", Available: true},
		{Algorithm: "generate EC P-256K", Path: "the token does not generate secp256k1 keys"},
	})
	for _, want := range []string{
		"token   tok\n", "module  /m.so\n",
		"  native  ES256: CKM_ECDSA\n",
		"  built   RSA-OAEP-256 decrypt: CKM_RSA_X_509 + OAEP decode in Go\n",
		"  absent  generate EC P-256K: unavailable (the token does not generate secp256k1 keys)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printHSMInfo() = %q, want it to contain %q", b.String(), want)
		}
	}
}
