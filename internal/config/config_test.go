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
		{name: "hsm suffix default", file: `{}`, check: func(t *testing.T, c Config) {
			if c.HSMDNSSuffix != "managedhsm.localhost" {
				t.Errorf("Load: hsmDnsSuffix = %q, want managedhsm.localhost", c.HSMDNSSuffix)
			}
		}},
		{name: "hsm suffix env", file: `{}`, env: map[string]string{"KEYWARDEN_HSM_DNS_SUFFIX": "MHSM.Example.COM."}, check: func(t *testing.T, c Config) {
			if c.HSMDNSSuffix != "mhsm.example.com" {
				t.Errorf("Load: hsmDnsSuffix = %q, want mhsm.example.com", c.HSMDNSSuffix)
			}
		}},
		{name: "hsm suffix file", file: `{"dnsSuffix":"vault.example","hsmDnsSuffix":"hsm.example"}`, check: func(t *testing.T, c Config) {
			if c.HSMDNSSuffix != "hsm.example" || c.DNSSuffix != "vault.example" {
				t.Errorf("Load: suffixes = %q, %q", c.DNSSuffix, c.HSMDNSSuffix)
			}
		}},
		{name: "hsm suffix equals dns suffix", file: `{"dnsSuffix":"kv.example","hsmDnsSuffix":"KV.example."}`, wantErr: "hsmDnsSuffix"},
		{name: "hsm suffix not a domain", file: `{"hsmDnsSuffix":"hsm.example:443"}`, wantErr: "hsmDnsSuffix"},
		{name: "hsm suffix empty", file: `{"hsmDnsSuffix":""}`, wantErr: "hsmDnsSuffix"},
		{name: "unknown field line", file: "{\n\"listen\":\"127.0.0.1:1\",\n\"secret\": \"x\"\n}", wantErr: "c.json:"},
		{name: "syntax error line", file: "{\n\"listen\": \"a:1\",\n}", wantErr: ":3:"},
		{name: "type error line", file: "{\n\"listen\": \"a:1\",\n\"publicPort\": \"x\"}", wantErr: ":3:"},
		{name: "bad retention", file: `{"vaults":[{"name":"dev","sku":"premium","retentionDays":3}]}`, wantErr: "retentionDays 3"},
		{name: "bad sku", file: `{"vaults":[{"name":"dev","sku":"gold","retentionDays":7}]}`, wantErr: "sku"},
		{name: "default vault missing", file: `{"defaultVault":"x"}`, wantErr: "defaultVault"},
		{name: "bad seal mode", file: `{"sealMode":"tpm"}`, wantErr: "sealMode"},
		{name: "seal key label with a space", file: `{"sealMode":"hsm","sealKeyLabel":"kw root"}`, wantErr: "sealKeyLabel"},
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
		{name: "metrics and alerts defaults", file: `{}`, check: func(t *testing.T, c Config) {
			if c.Metrics.Listen != "127.0.0.1:9464" {
				t.Errorf("Load: metrics.listen = %q, want 127.0.0.1:9464", c.Metrics.Listen)
			}
			if d := DefaultAlerts(); c.Alerts.PrincipalFailures != d.PrincipalFailures || c.Alerts.Cooldown != d.Cooldown || c.Alerts.QueueSize != d.QueueSize {
				t.Errorf("Load: alerts = %+v, want defaults %+v", c.Alerts, d)
			}
		}},
		{name: "metrics off", file: `{"metrics":{"listen":""}}`, check: func(t *testing.T, c Config) {
			if c.Metrics.Listen != "" {
				t.Errorf("Load: metrics.listen = %q, want empty", c.Metrics.Listen)
			}
		}},
		{name: "metrics off by env", file: `{}`, env: map[string]string{"KEYWARDEN_METRICS_LISTEN": "off"}, check: func(t *testing.T, c Config) {
			if c.Metrics.Listen != "" {
				t.Errorf("Load: metrics.listen = %q, want empty", c.Metrics.Listen)
			}
		}},
		{name: "metrics listen env", file: `{}`, env: map[string]string{"KEYWARDEN_METRICS_LISTEN": "10.0.0.1:9100"}, check: func(t *testing.T, c Config) {
			if c.Metrics.Listen != "10.0.0.1:9100" {
				t.Errorf("Load: metrics.listen = %q, want 10.0.0.1:9100", c.Metrics.Listen)
			}
		}},
		{name: "bad metrics listen", file: `{"metrics":{"listen":"localhost"}}`, wantErr: "metrics.listen"},
		{name: "metrics on api address", file: `{"listen":"127.0.0.1:8443","metrics":{"listen":"127.0.0.1:8443"}}`, wantErr: "metrics.listen"},
		{name: "alerts partial override keeps defaults", file: `{"alerts":{"principalFailures":{"count":5},"cooldown":"1m","disabledRules":["new-key"]}}`, check: func(t *testing.T, c Config) {
			a := c.Alerts
			if a.PrincipalFailures.Count != 5 || time.Duration(a.PrincipalFailures.Window) != 5*time.Minute || time.Duration(a.Cooldown) != time.Minute || len(a.DisabledRules) != 1 {
				t.Errorf("Load: alerts = %+v", a)
			}
		}},
		{name: "alerts unknown rule", file: `{"alerts":{"disabledRules":["nope"]}}`, wantErr: "alerts.disabledRules[0]"},
		{name: "alerts negative count", file: `{"alerts":{"vaultFailures":{"count":-1}}}`, wantErr: "alerts.vaultFailures.count"},
		{name: "alerts negative window", file: `{"alerts":{"cooldown":"-1m"}}`, wantErr: "alerts.cooldown"},
		{name: "alerts small factor", file: `{"alerts":{"rateFactor":0.5}}`, wantErr: "alerts.rateFactor"},
		{name: "alerts bad operation", file: `{"alerts":{"changeOperations":["Key Update"]}}`, wantErr: "alerts.changeOperations[0]"},
		{name: "alerts unknown field", file: `{"alerts":{"threshold":3}}`, wantErr: "c.json:"},
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

func TestValidateFillsAlertDefaults(t *testing.T) {
	c := Defaults()
	c.Alerts = Alerts{}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	d := DefaultAlerts()
	if c.Alerts.PrincipalFailures != d.PrincipalFailures || c.Alerts.VaultFailures != d.VaultFailures || c.Alerts.RateFactor != d.RateFactor || c.Alerts.ExpiryWindow != d.ExpiryWindow || c.Alerts.MaxPrincipals != d.MaxPrincipals {
		t.Errorf("Validate() alerts = %+v, want %+v", c.Alerts, d)
	}
}
