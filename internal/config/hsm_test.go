package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHSMConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file string
		env        map[string]string
		wantErr    string
		want       HSM
	}{
		{name: "off by default", file: `{}`, want: HSM{}},
		{name: "pin by file", file: `{"hsm":{"modulePath":"/usr/lib/softhsm/libsofthsm2.so","tokenLabel":"kw","pinFile":"/etc/kw/pin","poolSize":4}}`,
			want: HSM{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "kw", PINFile: "/etc/kw/pin", PoolSize: 4}},
		{name: "pin by env with so pin", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinEnv":"KW_PIN","soPinFile":"/so"}}`,
			want: HSM{ModulePath: "/m.so", TokenLabel: "kw", PINEnv: "KW_PIN", SOPINFile: "/so"}},
		{name: "env overrides", file: `{}`, env: map[string]string{"KEYWARDEN_HSM_MODULE_PATH": "/m.so", "KEYWARDEN_HSM_TOKEN_LABEL": "t", "KEYWARDEN_HSM_PIN_ENV": "P"},
			want: HSM{ModulePath: "/m.so", TokenLabel: "t", PINEnv: "P"}},
		{name: "inline pin refused", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pin":"1234"}}`, wantErr: "unknown field \"pin\""},
		{name: "no module", file: `{"hsm":{"tokenLabel":"kw","pinEnv":"P"}}`, wantErr: "hsm.modulePath is required"},
		{name: "no label", file: `{"hsm":{"modulePath":"/m.so","pinEnv":"P"}}`, wantErr: "hsm.tokenLabel is required"},
		{name: "long label", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"` + strings.Repeat("x", 33) + `","pinEnv":"P"}}`, wantErr: "at most 32 bytes"},
		{name: "no pin", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw"}}`, wantErr: "exactly one of pinFile and pinEnv"},
		{name: "two pins", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinFile":"/p","pinEnv":"P"}}`, wantErr: "exactly one of pinFile and pinEnv"},
		{name: "two so pins", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinEnv":"P","soPinFile":"/s","soPinEnv":"S"}}`, wantErr: "at most one of soPinFile"},
		{name: "pin value as env name", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinEnv":"12-34"}}`, wantErr: "hsm.pinEnv"},
		{name: "negative pool", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinEnv":"P","poolSize":-1}}`, wantErr: "hsm.poolSize -1"},
		{name: "huge pool", file: `{"hsm":{"modulePath":"/m.so","tokenLabel":"kw","pinEnv":"P","poolSize":5000}}`, wantErr: "hsm.poolSize 5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(write(tt.file), func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if c.HSM != tt.want {
				t.Errorf("Load: hsm = %+v, want %+v", c.HSM, tt.want)
			}
			if c.HSM.Enabled() != (tt.want.ModulePath != "") {
				t.Errorf("Enabled() = %v", c.HSM.Enabled())
			}
		})
	}
}

func TestHSMPINs(t *testing.T) {
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("file-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KW_PIN": "env-pin", "KW_SO": "so-pin"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name            string
		h               HSM
		wantPIN, wantSO string
		wantErr         string
	}{
		{name: "file", h: HSM{PINFile: pinFile}, wantPIN: "file-pin"},
		{name: "env and so env", h: HSM{PINEnv: "KW_PIN", SOPINEnv: "KW_SO"}, wantPIN: "env-pin", wantSO: "so-pin"},
		{name: "so file", h: HSM{PINEnv: "KW_PIN", SOPINFile: pinFile}, wantPIN: "env-pin", wantSO: "file-pin"},
		{name: "missing file", h: HSM{PINFile: filepath.Join(dir, "nope")}, wantErr: "hsm.pinFile"},
		{name: "empty file", h: HSM{PINFile: empty}, wantErr: "is empty or unset"},
		{name: "unset env", h: HSM{PINEnv: "KW_NONE"}, wantErr: "environment variable KW_NONE is empty or unset"},
		{name: "unset so env", h: HSM{PINEnv: "KW_PIN", SOPINEnv: "KW_NONE"}, wantErr: "hsm.soPin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin, so, err := tt.h.PINs(getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("PINs() = %v, want error containing %q", err, tt.wantErr)
				}
				for _, secretValue := range []string{"file-pin", "env-pin", "so-pin"} {
					if strings.Contains(err.Error(), secretValue) {
						t.Errorf("PINs() error %q shows a PIN", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("PINs() = %v", err)
			}
			if string(pin.Expose()) != tt.wantPIN || string(so.Expose()) != tt.wantSO {
				t.Errorf("PINs() = %q, %q, want %q, %q", pin.Expose(), so.Expose(), tt.wantPIN, tt.wantSO)
			}
		})
	}
}
