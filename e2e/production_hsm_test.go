package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keywarden/keywarden/internal/tlsca"
)

// TestInitAndServerHSMSeal prepares a production deployment whose root key
// lives inside a SoftHSM2 token (sealMode "hsm", PINs from the
// environment): `keywarden init` creates the key in the token and no root
// key file; `keywarden server` serves software keys sealed by it; the store
// holds records sealed only under the token key, and without the token's
// PIN the server does not start.
func TestInitAndServerHSMSeal(t *testing.T) {
	module := requireSoftHSM(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SOFTHSM2_CONF="+conf, "KW_HSM_PIN=4711-user", "KW_HSM_SO_PIN=4711-so")
	initToken := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "kw-prod", "--pin", "4711-user", "--so-pin", "4711-so")
	initToken.Env = env
	if out, err := initToken.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	ca, err := tlsca.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsca.NewServerCertificates(ca, []string{"127.0.0.1", "prod.kv.test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "keywarden.json")
	cfg := fmt.Sprintf(`{
  "dataDir": %q,
  "listen": "127.0.0.1:%d",
  "dnsSuffix": "kv.test",
  "tenantId": "contoso",
  "defaultVault": "prod",
  "vaults": [{"name": "prod", "sku": "premium", "retentionDays": 30}],
  "tls": {"certFile": %q, "keyFile": %q},
  "sealMode": "hsm",
  "hsm": {"modulePath": %q, "tokenLabel": "kw-prod", "pinEnv": "KW_HSM_PIN", "soPinEnv": "KW_HSM_SO_PIN"},
  "metrics": {"listen": ""}
}`, data, port, filepath.Join(dir, "pki", tlsca.ServerFile), filepath.Join(dir, "pki", tlsca.ServerKeyFile), module)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(binary, "init", "--config", cfgPath)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keywarden init: %v\n%s", err, out)
	}
	rootID := regexp.MustCompile(`root key\s+(hsm-\S+) inside the HSM token kw-prod`).FindSubmatch(out)
	clientID := regexp.MustCompile(`client id\s+(\S+)`).FindSubmatch(out)
	clientSecret := regexp.MustCompile(`client secret\s+(\S+)`).FindSubmatch(out)
	if rootID == nil || clientID == nil || clientSecret == nil {
		t.Fatalf("keywarden init output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "root.key")); !os.IsNotExist(err) {
		t.Errorf("HSM seal mode wrote a root key file: %v", err)
	}

	srv := startServerProcess(t, cfgPath, env)
	s := &server{t: t, env: map[string]string{"KEYWARDEN_CA_CERT": ca.CertPath()}}
	hc := s.httpClient()
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	srv.waitHealthy(t, hc, base)
	c := productionClient(t, hc, base, "contoso", string(clientID[1]), string(clientSecret[1]), fmt.Sprintf("https://prod.kv.test:%d", port))
	keys := createECKeys(t, c, "sealed", 3)
	for _, k := range keys {
		if err := signVerify(c, k); err != nil {
			t.Error(err)
		}
	}
	if _, err := c.CreateKey(context.Background(), "hsm-key", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM)}, nil); err != nil {
		t.Errorf("RSA-HSM key in the same token: %v", err)
	}
	srv.stop(t)

	// The store names only the token's root key.
	db, err := os.ReadFile(filepath.Join(data, "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(db, rootID[1]) || bytes.Contains(db, []byte("file-")) {
		t.Errorf("the store does not name only the HSM root key %s", rootID[1])
	}
	// The store copied with the server stopped restores into a new data
	// directory, checked with the root key inside the token (--config);
	// without the token's PIN it is refused and nothing is installed.
	snap := filepath.Join(dir, "snapshot.db")
	if err := os.WriteFile(snap, db, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dir, "restored")
	restore := exec.Command(binary, "restore", "--config", cfgPath, "--snapshot", snap, "--data-dir", restored)
	restore.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf, "KW_HSM_PIN=wrong-pin", "KW_HSM_SO_PIN=4711-so")
	if out, err := restore.CombinedOutput(); err == nil {
		t.Errorf("restore with a wrong HSM PIN succeeded:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(restored, "keywarden.db")); !os.IsNotExist(err) {
		t.Errorf("a refused restore installed a store: %v", err)
	}
	restore = exec.Command(binary, "restore", "--config", cfgPath, "--snapshot", snap, "--data-dir", restored)
	restore.Env = env
	out, err = restore.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "every sealed key version opens with the HSM root key "+string(rootID[1])) {
		t.Errorf("restore --config (sealMode hsm): %v\n%s", err, out)
	}

	// Without the token's PIN nothing opens.
	noPIN := exec.Command(binary, "server", "--config", cfgPath)
	noPIN.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf, "KW_HSM_PIN=wrong-pin", "KW_HSM_SO_PIN=4711-so")
	if out, err := noPIN.CombinedOutput(); err == nil {
		t.Errorf("server with a wrong HSM PIN started:\n%s", out)
	}
}
