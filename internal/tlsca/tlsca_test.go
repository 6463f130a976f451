package tlsca

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// handshake runs a TLS handshake over a loopback TCP connection between a
// server using certs and a client trusting only ca, asking for serverName.
// (net.Pipe is unbuffered: a client that rejects the certificate mid-flight
// and a server still writing its flight would block each other.)
func handshake(t *testing.T, ca *CA, certs *Certs, serverName string, now time.Time) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loopback listener: %v", err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serverErr <- tls.Server(c, &tls.Config{GetCertificate: certs.GetCertificate}).Handshake()
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback: %v", err)
	}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	client := tls.Client(cc, &tls.Config{
		RootCAs:    ca.Pool(),
		ServerName: serverName,
		Time:       func() time.Time { return now },
	})
	err = client.Handshake()
	cc.Close()
	<-serverErr
	return err
}

func newTestCerts(t *testing.T, dir string, hosts ...string) (*CA, *Certs) {
	t.Helper()
	ca, err := LoadOrCreateCA(dir, testNow)
	if err != nil {
		t.Fatalf("LoadOrCreateCA() error = %v", err)
	}
	certs, err := NewServerCertificates(ca, hosts, testNow)
	if err != nil {
		t.Fatalf("NewServerCertificates() error = %v", err)
	}
	return ca, certs
}

func TestHandshake(t *testing.T) {
	ca, certs := newTestCerts(t, t.TempDir(), "dev.localhost")
	tests := []struct {
		serverName string
		wantOK     bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"localhost", true},
		{"dev.localhost", true},
		{"DEV.localhost", true},
		{"other.localhost", false},
		{"example.com", false},
		{"127.0.0.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			err := handshake(t, ca, certs, tt.serverName, testNow)
			if (err == nil) != tt.wantOK {
				t.Errorf("handshake(%q) = %v, want ok=%v", tt.serverName, err, tt.wantOK)
			}
		})
	}
}

func TestHandshakeLoopbackListener(t *testing.T) {
	ca, certs := newTestCerts(t, t.TempDir())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: certs.GetCertificate})
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: ca.Pool(),
		Time:    func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatalf("tls.Dial(%s) error = %v", ln.Addr(), err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Errorf("server handshake error = %v", err)
	}
}

func TestLeafSANs(t *testing.T) {
	_, certs := newTestCerts(t, t.TempDir(), "dev.localhost", "10.0.0.1")
	leaf := certs.cur.Load().cert.Leaf
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if diff := cmp.Diff([]string{"10.0.0.1", "127.0.0.1", "::1"}, sorted(ips)); diff != "" {
		t.Errorf("leaf IP SANs mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dev.localhost", "localhost"}, sorted(leaf.DNSNames)); diff != "" {
		t.Errorf("leaf DNS SANs mismatch (-want +got):\n%s", diff)
	}
	if leaf.IsCA {
		t.Error("leaf.IsCA = true, want false")
	}
	if diff := cmp.Diff([]string{"10.0.0.1", "127.0.0.1", "::1", "dev.localhost", "localhost"}, certs.Hosts()); diff != "" {
		t.Errorf("Hosts() mismatch (-want +got):\n%s", diff)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAddHosts(t *testing.T) {
	dir := t.TempDir()
	ca, certs := newTestCerts(t, dir, "dev.localhost")
	if err := handshake(t, ca, certs, "kv1.localhost", testNow); err == nil {
		t.Fatal("handshake(kv1.localhost) before AddHosts succeeded, want failure")
	}
	before := certs.cur.Load()
	if err := certs.AddHosts(testNow, "dev.localhost", "localhost"); err != nil {
		t.Fatalf("AddHosts(covered) error = %v", err)
	}
	if certs.cur.Load() != before {
		t.Error("AddHosts(already covered hosts) re-issued the certificate, want no-op")
	}
	if err := certs.AddHosts(testNow, "kv1.localhost"); err != nil {
		t.Fatalf("AddHosts(kv1.localhost) error = %v", err)
	}
	for _, h := range []string{"kv1.localhost", "dev.localhost", "127.0.0.1"} {
		if err := handshake(t, ca, certs, h, testNow); err != nil {
			t.Errorf("handshake(%q) after AddHosts = %v, want nil", h, err)
		}
	}
	// A restart that only asks for the default hosts keeps the added ones.
	certs2, err := NewServerCertificates(ca, nil, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, ca, certs2, "kv1.localhost", testNow); err != nil {
		t.Errorf("handshake(kv1.localhost) after restart = %v, want nil", err)
	}
}

func TestAddHostsRejects(t *testing.T) {
	_, certs := newTestCerts(t, t.TempDir())
	for _, h := range []string{"*.localhost", "localhost:8443", "", "bad_name.localhost", "-x.localhost", "a..b"} {
		t.Run(h, func(t *testing.T) {
			if err := certs.AddHosts(testNow, h); !errors.Is(err, ErrHost) {
				t.Errorf("AddHosts(%q) = %v, want %v", h, err, ErrHost)
			}
		})
	}
	for _, n := range certs.cur.Load().cert.Leaf.DNSNames {
		if strings.Contains(n, "*") {
			t.Errorf("leaf holds wildcard SAN %q", n)
		}
	}
}

func TestAddHostsConcurrent(t *testing.T) {
	ca, certs := newTestCerts(t, t.TempDir())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := certs.AddHosts(testNow, fmt.Sprintf("kv%d.localhost", i)); err != nil {
				t.Errorf("AddHosts() error = %v", err)
			}
		})
		wg.Go(func() {
			if c, err := certs.GetCertificate(nil); err != nil || c == nil || c.Leaf == nil {
				t.Errorf("GetCertificate() = %v, %v; want a certificate", c, err)
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		if err := handshake(t, ca, certs, fmt.Sprintf("kv%d.localhost", i), testNow); err != nil {
			t.Errorf("handshake(kv%d.localhost) = %v, want nil", i, err)
		}
	}
}

func TestReloadKeepsCA(t *testing.T) {
	dir := t.TempDir()
	ca1, err := LoadOrCreateCA(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadOrCreateCA(dir, testNow.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("LoadOrCreateCA(existing) error = %v", err)
	}
	if !ca1.Certificate().Equal(ca2.Certificate()) {
		t.Error("LoadOrCreateCA(same dir) returned a different CA")
	}
	if got := ca1.Certificate().Subject.CommonName; got != CAName {
		t.Errorf("CA common name = %q, want %q", got, CAName)
	}
	if got, want := ca1.Certificate().NotAfter.Sub(testNow), 10*365*24*time.Hour; got < want-time.Hour {
		t.Errorf("CA validity = %v, want about %v", got, want)
	}
	if p := ca1.CertPath(); !filepath.IsAbs(p) || p != filepath.Join(dir, CAFile) {
		t.Errorf("CertPath() = %q, want absolute %q", p, filepath.Join(dir, CAFile))
	}
	for _, name := range []string{CAKeyFile, ServerKeyFile, ServerFile} {
		if name != CAKeyFile {
			if _, err := NewServerCertificates(ca1, nil, testNow); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	// A relative directory still yields an absolute CertPath.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dir)
	if err == nil {
		ca3, err := LoadOrCreateCA(rel, testNow)
		if err != nil {
			t.Fatalf("LoadOrCreateCA(%q) error = %v", rel, err)
		}
		if !filepath.IsAbs(ca3.CertPath()) {
			t.Errorf("CertPath() = %q, want absolute", ca3.CertPath())
		}
	}
}

func TestLeafReuse(t *testing.T) {
	dir := t.TempDir()
	ca, certs := newTestCerts(t, dir, "dev.localhost")
	first := certs.cur.Load().cert.Leaf
	tests := []struct {
		name      string
		hosts     []string
		now       time.Time
		wantReuse bool
	}{
		{"same hosts", []string{"dev.localhost"}, testNow, true},
		{"subset of hosts", nil, testNow.Add(24 * time.Hour), true},
		{"eight days left", []string{"dev.localhost"}, first.NotAfter.Add(-8 * 24 * time.Hour), true},
		{"six days left", []string{"dev.localhost"}, first.NotAfter.Add(-6 * 24 * time.Hour), false},
		{"new host", []string{"new.localhost"}, testNow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case starts from the first leaf on disk.
			sub := t.TempDir()
			for _, f := range []string{CAFile, CAKeyFile, ServerFile, ServerKeyFile} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(sub, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ca2, err := LoadOrCreateCA(sub, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewServerCertificates(ca2, tt.hosts, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			got := c.cur.Load().cert.Leaf
			if reused := got.Equal(first); reused != tt.wantReuse {
				t.Errorf("NewServerCertificates(%v, %v) reused = %v, want %v", tt.hosts, tt.now, reused, tt.wantReuse)
			}
			// Whatever happened, the old hosts remain covered.
			if err := handshake(t, ca, c, "dev.localhost", tt.now); err != nil {
				t.Errorf("handshake(dev.localhost) = %v, want nil", err)
			}
		})
	}
}

func TestLeafFromOtherCAReissued(t *testing.T) {
	dir := t.TempDir()
	newTestCerts(t, dir)
	// Replace the CA: the stored leaf no longer chains to it.
	for _, f := range []string{CAFile, CAKeyFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	ca, certs := newTestCerts(t, dir)
	if err := handshake(t, ca, certs, "localhost", testNow); err != nil {
		t.Errorf("handshake(localhost) with a new CA = %v, want nil", err)
	}
}

func TestLoadOrCreateCARejects(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		now     time.Time
		wantMsg string
	}{
		{
			name:    "lone certificate",
			prepare: func(t *testing.T, dir string) { remove(t, dir, CAKeyFile) },
			now:     testNow,
			wantMsg: "only one of",
		},
		{
			name:    "lone key",
			prepare: func(t *testing.T, dir string) { remove(t, dir, CAFile) },
			now:     testNow,
			wantMsg: "only one of",
		},
		{
			name: "readable key",
			prepare: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			now:     testNow,
			wantMsg: "mode 0644",
		},
		{
			name:    "expired",
			prepare: func(t *testing.T, dir string) {},
			now:     testNow.Add(11 * 365 * 24 * time.Hour),
			wantMsg: "expired",
		},
		{
			name: "mismatched key",
			prepare: func(t *testing.T, dir string) {
				other := t.TempDir()
				if _, err := LoadOrCreateCA(other, testNow); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(other, CAKeyFile))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, CAKeyFile), b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			now:     testNow,
			wantMsg: "does not match",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCA(dir, testNow); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			_, err := LoadOrCreateCA(dir, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("LoadOrCreateCA() = %v, want error containing %q", err, tt.wantMsg)
			}
		})
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestNormaliseHost(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "LocalHost.", want: "localhost"},
		{in: " dev.localhost ", want: "dev.localhost"},
		{in: "::1", want: "::1"},
		{in: "0:0:0:0:0:0:0:1", want: "::1"},
		{in: "127.0.0.1", want: "127.0.0.1"},
		{in: "kv-1.example.com", want: "kv-1.example.com"},
		{in: "*.localhost", wantErr: true},
		{in: "*", wantErr: true},
		{in: "localhost:8443", wantErr: true},
		{in: "", wantErr: true},
		{in: "a..b", wantErr: true},
		{in: "under_score.localhost", wantErr: true},
		{in: strings.Repeat("a", 64) + ".localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normaliseHost(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("normaliseHost(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
