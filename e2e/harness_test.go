// Package e2e drives a real keywarden process over TLS through the
// unmodified Azure SDK for Go (azkeys + azidentity), with the real token
// flow, on the bare origin and on a named vault origin.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// binary is the keywarden binary built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keywarden-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keywarden")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../cmd/keywarden")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building keywarden:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `keywarden dev` process.
type server struct {
	t       *testing.T
	dataDir string
	port    int
	// metricsPort serves /metrics, /healthz and /readyz (plain HTTP).
	metricsPort int
	cmd         *exec.Cmd
	env         map[string]string
	logMu       sync.Mutex
	banner      strings.Builder // stdout
	log         strings.Builder // stderr: the structured logs
	done        chan struct{}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDev starts `keywarden dev` on dataDir (a new temp dir when empty)
// and waits until it serves.
func startDev(t *testing.T, dataDir string, port int, extra ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	if port == 0 {
		port = freePort(t)
	}
	s := &server{t: t, dataDir: dataDir, port: port, done: make(chan struct{})}
	args := append([]string{"dev", "--data-dir", dataDir, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	s.cmd = exec.Command(binary, args...)
	s.metricsPort = freePort(t)
	s.cmd.Env = append(os.Environ(), "KEYWARDEN_LOG_LEVEL=debug", fmt.Sprintf("KEYWARDEN_METRICS_LISTEN=127.0.0.1:%d", s.metricsPort))
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start keywarden dev: %v", err)
	}
	var readers sync.WaitGroup
	collect := func(r io.Reader, into *strings.Builder) {
		defer readers.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.logMu.Lock()
			into.WriteString(sc.Text() + "\n")
			s.logMu.Unlock()
		}
	}
	readers.Add(2)
	go collect(out, &s.banner)
	go collect(errOut, &s.log)
	go func() {
		readers.Wait()
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server output:\n%s", s.all())
		}
	})
	s.waitReady()
	return s
}

// output returns the server's logs (stderr).
func (s *server) output() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// all returns stdout and stderr, for failure reports.
func (s *server) all() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.banner.String() + s.log.String()
}

// waitReady waits for dev.env (written at each start) and /healthz.
func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	envPath := filepath.Join(s.dataDir, "dev.env")
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("keywarden dev exited early:\n%s", s.all())
		default:
		}
		if env, err := readEnv(envPath); err == nil && strings.Contains(env["KEYWARDEN_VAULT_URL"], fmt.Sprint(s.port)) {
			s.env = env
			c := s.httpClient()
			resp, err := c.Get(env["KEYWARDEN_VAULT_URL"] + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("keywarden dev not ready after 60s:\n%s", s.all())
}

// stop sends SIGTERM and waits (graceful shutdown).
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// kill sends SIGKILL and waits.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

func readEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("dev.env: bad line %q", line)
		}
		env[k] = v
	}
	if len(env) < 7 {
		return nil, fmt.Errorf("dev.env incomplete")
	}
	return env, nil
}

// httpClient trusts the published CA and maps every *.localhost and *.test
// name to 127.0.0.1 (as the /etc/hosts line of the README does).
func (s *server) httpClient() *http.Client {
	s.t.Helper()
	pem, err := os.ReadFile(s.env["KEYWARDEN_CA_CERT"])
	if err != nil {
		s.t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("CA PEM holds no certificate")
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, _ := net.SplitHostPort(addr)
				if strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".test") {
					addr = net.JoinHostPort("127.0.0.1", port)
				}
				return dialer.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 32,
		},
	}
}

// credential returns the dev principal's client-secret credential.
func (s *server) credential(hc *http.Client) *azidentity.ClientSecretCredential {
	s.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.env["AZURE_TENANT_ID"], s.env["AZURE_CLIENT_ID"], s.env["AZURE_CLIENT_SECRET"], &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.env["AZURE_AUTHORITY_HOST"]},
			Transport: hc,
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		s.t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

// client returns an azkeys client for the bare origin (named=false, resource
// verification off) or for the named origin dev.localhost (verification on).
func (s *server) client(named bool) *azkeys.Client {
	s.t.Helper()
	hc := s.httpClient()
	url := s.env["KEYWARDEN_VAULT_URL"]
	if named {
		url = s.env["KEYWARDEN_VAULT_DNS_URL"]
	}
	c, err := azkeys.NewClient(url, s.credential(hc), &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: hc,
			Retry:     policy.RetryOptions{MaxRetries: 1},
		},
		DisableChallengeResourceVerification: !named,
	})
	if err != nil {
		s.t.Fatalf("azkeys.NewClient: %v", err)
	}
	return c
}
