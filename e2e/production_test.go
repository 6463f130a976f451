package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keywarden/keywarden/internal/tlsca"
)

// TestInitAndServer prepares a production data directory with `keywarden
// init` and serves it with `keywarden server` and an operator certificate.
func TestInitAndServer(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsca.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsca.NewServerCertificates(ca, []string{"127.0.0.1", "prod.kv.test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := fmt.Sprintf(`{
  "dataDir": %q,
  "listen": "127.0.0.1:%d",
  "dnsSuffix": "kv.test",
  "tenantId": "contoso",
  "defaultVault": "prod",
  "vaults": [{"name": "prod", "sku": "premium", "retentionDays": 30, "purgeProtection": true}],
  "tls": {"certFile": %q, "keyFile": %q}
}`, filepath.Join(dir, "data"), port, filepath.Join(dir, "pki", tlsca.ServerFile), filepath.Join(dir, "pki", tlsca.ServerKeyFile))
	cfgPath := filepath.Join(dir, "keywarden.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(binary, "init", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("keywarden init: %v\n%s", err, out)
	}
	clientID := regexp.MustCompile(`client id\s+(\S+)`).FindSubmatch(out)
	clientSecret := regexp.MustCompile(`client secret\s+(\S+)`).FindSubmatch(out)
	if clientID == nil || clientSecret == nil {
		t.Fatalf("keywarden init printed no credentials:\n%s", out)
	}
	if out, err := exec.Command(binary, "init", "--config", cfgPath).CombinedOutput(); err == nil || !strings.Contains(string(out), "already initialised") {
		t.Errorf("second keywarden init = %v, %s; want refusal", err, out)
	}

	srv := startServerProcess(t, cfgPath, nil)
	s := &server{t: t, env: map[string]string{"KEYWARDEN_CA_CERT": ca.CertPath()}}
	hc := s.httpClient()
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	srv.waitHealthy(t, hc, base)
	c := productionClient(t, hc, base, "contoso", string(clientID[1]), string(clientSecret[1]), fmt.Sprintf("https://prod.kv.test:%d", port))
	ctx := context.Background()
	k, err := c.CreateKey(ctx, "prod-key", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
	if err != nil {
		t.Fatalf("CreateKey on the production server: %v", err)
	}
	if *k.Attributes.RecoveryLevel != "CustomizedRecoverable" || *k.Attributes.RecoverableDays != 30 {
		t.Errorf("recovery = %s/%d, want CustomizedRecoverable/30", *k.Attributes.RecoveryLevel, *k.Attributes.RecoverableDays)
	}
	if _, err := c.DeleteKey(ctx, "prod-key", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.PurgeDeletedKey(ctx, "prod-key", nil)
	wantCode(t, "PurgeDeletedKey(purge protection)", err, 403, "Forbidden")
	if _, err := c.RecoverDeletedKey(ctx, "prod-key", nil); err != nil {
		t.Errorf("RecoverDeletedKey: %v", err)
	}

	srv.stop(t)
	if strings.Contains(srv.log.String(), string(clientSecret[1])) {
		t.Errorf("server log contains the client secret")
	}
}

// serverProcess is a `keywarden server` process of a test.
type serverProcess struct {
	cmd  *exec.Cmd
	log  *strings.Builder
	done chan error
}

// startServerProcess starts `keywarden server --config cfgPath` with env
// (nil: the test's environment); it is killed when the test ends, and its
// output is logged if the test failed.
func startServerProcess(t *testing.T, cfgPath string, env []string) *serverProcess {
	t.Helper()
	p := &serverProcess{cmd: exec.Command(binary, "server", "--config", cfgPath), log: &strings.Builder{}, done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("server output:\n%s", p.log.String())
		}
	})
	return p
}

// waitHealthy waits up to 30 s for the server's /healthz.
func (p *serverProcess) waitHealthy(t *testing.T, hc *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit within 20 s.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("server exit after SIGTERM = %v, want clean exit", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("server did not stop after SIGTERM")
	}
}

// productionClient is an azkeys client of vaultURL with a client-secret
// credential whose authority is the server at base.
func productionClient(t *testing.T, hc *http.Client, base, tenant, clientID, secret, vaultURL string) *azkeys.Client {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: base + "/"}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
