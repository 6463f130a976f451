package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditConfig(t *testing.T) {
	c, err := Load("", func(k string) string {
		return map[string]string{"KEYWARDEN_DATA_DIR": "/d", "KEYWARDEN_AUDIT_STDOUT": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Dir != filepath.Join("/d", "audit") || !c.Audit.Stdout {
		t.Errorf("Audit = %+v, want dir /d/audit and stdout on", c.Audit)
	}
	cases := map[string]string{
		"small file":   `{"audit":{"maxFileBytes":100}}`,
		"syslog":       `{"audit":{"syslog":{"network":"http","address":"x"}}}`,
		"no address":   `{"audit":{"syslog":{"network":"udp"}}}`,
		"short period": `{"audit":{"checkpointInterval":"10ms"}}`,
	}
	for name, body := range cases {
		p := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "audit") {
			t.Errorf("%s: Load = %v, want an audit error", name, err)
		}
	}
	p := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(p, []byte(`{"audit":{"dir":"/var/log/kw","syslog":{"network":"udp","address":"127.0.0.1:514"},"maxFileAge":"1h"}}`), 0o600)
	if c, err := Load(p, nil); err != nil || c.Audit.Dir != "/var/log/kw" || c.Audit.Syslog.Address != "127.0.0.1:514" {
		t.Errorf("Load = %+v, %v", c.Audit, err)
	}
}
