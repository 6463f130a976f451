package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name, file string
		env        map[string]string
		wantErr    string
		check      func(t *testing.T, c Config)
	}{
		{name: "defaults", file: `{"tenantId":"t1"}`, check: func(t *testing.T, c Config) {
			if c.PublicPort != 8443 || c.Resource != "https://localhost:8443" || c.RootKeyFile != filepath.Join("keywarden-data", "root.key") {
				t.Errorf("Load = port %d resource %s root %s", c.PublicPort, c.Resource, c.RootKeyFile)
			}
		}},
		{name: "env overrides", file: `{"listen":"0.0.0.0:9443","tokenTTL":"2h"}`, env: map[string]string{"KEYWARDEN_LISTEN": "127.0.0.1:7443", "KEYWARDEN_DNS_SUFFIX": "Kv.Example.COM."}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:7443" || c.DNSSuffix != "kv.example.com" || time.Duration(c.TokenTTL) != 2*time.Hour {
				t.Errorf("Load = %+v", c)
			}
		}},
		{name: "unknown field line", file: "{\n\"listen\":\"127.0.0.1:1\",\n\"secret\": \"x\"\n}", wantErr: "c.json:"},
		{name: "syntax error line", file: "{\n\"listen\": \"a:1\",\n}", wantErr: ":3:"},
		{name: "type error line", file: "{\n\"listen\": \"a:1\",\n\"publicPort\": \"x\"}", wantErr: ":3:"},
		{name: "bad retention", file: `{"vaults":[{"name":"dev","sku":"premium","retentionDays":3}]}`, wantErr: "retentionDays 3"},
		{name: "bad sku", file: `{"vaults":[{"name":"dev","sku":"gold","retentionDays":7}]}`, wantErr: "sku"},
		{name: "default vault missing", file: `{"defaultVault":"x"}`, wantErr: "defaultVault"},
		{name: "short ttl", file: `{"tokenTTL":"1m"}`, wantErr: "tokenTTL"},
		{name: "bad tenant", file: `{"tenantId":"a/b"}`, wantErr: "tenantId"},
		{name: "issuer not https", file: `{"externalIssuers":[{"issuer":"http://idp","audiences":["a"]}]}`, wantErr: "externalIssuers[0]"},
		{name: "issuer without audience", file: `{"externalIssuers":[{"issuer":"https://idp"}]}`, wantErr: "audiences"},
		{name: "bad proxy", file: `{"trustedProxies":["10.0.0.0/33"]}`, wantErr: "trustedProxies[0]"},
		{name: "issuers and proxies", file: `{"externalIssuers":[{"issuer":"https://idp.example","audiences":["api://kw"],"groupsClaim":"groups"}],"trustedProxies":["10.0.0.0/8","::1"],"throttle":{"vaultRps":5}}`, check: func(t *testing.T, c Config) {
			if len(c.ExternalIssuers) != 1 || c.ExternalIssuers[0].GroupsClaim != "groups" || len(c.TrustedProxies) != 2 || c.Throttle.VaultRPS != 5 {
				t.Errorf("Load = %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(write(tt.file), env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			tt.check(t, c)
		})
	}
}
