package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultHosts returns the hosts every server certificate covers.
func defaultHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// ErrHost reports a host name that cannot go into a certificate: empty,
// a wildcard, a host:port, or not a valid DNS name or IP address.
var ErrHost = errors.New("tlsca: invalid host")

// Certs serves the server certificate issued by a CA and re-issues it when
// hosts are added. It is safe for concurrent use: GetCertificate is
// lock-free and always sees a complete certificate; AddHosts calls are
// serialised.
type Certs struct {
	ca  *CA
	mu  sync.Mutex // serialises issuance and file writes
	cur atomic.Pointer[leaf]
}

// leaf is one immutable issued certificate and the hosts it covers.
type leaf struct {
	cert  *tls.Certificate
	hosts []string // normalised, sorted, unique
}

// NewServerCertificates returns the server certificate for hosts plus
// localhost, 127.0.0.1 and ::1. IP addresses become IP SANs and names DNS
// SANs; no wildcard is ever issued (each vault host is added by name). The
// certificate stored in the CA's directory (server.pem, server-key.pem, mode
// 0600) is reused if this CA signed it, it covers every host and it is valid
// for more than seven days after now; otherwise a new one is issued and
// stored, keeping the hosts the old one covered. Errors: ErrHost, or a file
// write error.
func NewServerCertificates(ca *CA, hosts []string, now time.Time) (*Certs, error) {
	want, err := normaliseHosts(append(defaultHosts(), hosts...))
	if err != nil {
		return nil, err
	}
	c := &Certs{ca: ca}
	var old []string
	if cert, key, err := loadPair(c.path(ServerFile), c.path(ServerKeyFile)); err == nil &&
		cert.CheckSignatureFrom(ca.cert) == nil {
		covered := certHosts(cert)
		if covers(covered, want) && !now.Before(cert.NotBefore) && cert.NotAfter.Sub(now) > minRemaining {
			c.cur.Store(&leaf{
				cert:  &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
				hosts: covered,
			})
			return c, nil
		}
		old = covered
	}
	l, err := c.issue(union(old, want), now)
	if err != nil {
		return nil, err
	}
	c.cur.Store(l)
	return c, nil
}

// GetCertificate returns the current server certificate whatever the
// ClientHello asks for. It is meant for tls.Config.GetCertificate.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load().cert, nil
}

// Hosts returns the hosts the current certificate covers, sorted.
func (c *Certs) Hosts() []string { return slices.Clone(c.cur.Load().hosts) }

// AddHosts makes the server certificate cover hosts as well. When they are
// all covered already it does nothing; otherwise it issues and stores a new
// certificate for the union, which later handshakes use. On error the
// current certificate stays in use. Errors: ErrHost, or a file write error.
func (c *Certs) AddHosts(now time.Time, hosts ...string) error {
	add, err := normaliseHosts(hosts)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.cur.Load()
	if covers(cur.hosts, add) {
		return nil
	}
	l, err := c.issue(union(cur.hosts, add), now)
	if err != nil {
		return err
	}
	c.cur.Store(l)
	return nil
}

func (c *Certs) path(name string) string { return filepath.Join(c.ca.dir, name) }

// issue creates, stores and returns a leaf for hosts.
func (c *Certs) issue(hosts []string, now time.Time) (*leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: generating server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(c.ca.cert.NotAfter) {
		notAfter = c.ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Keywarden Dev Server", Organization: []string{"Keywarden"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca.cert, &key.PublicKey, c.ca.key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: issuing server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// Key first: a crash in between leaves a mismatched pair, which the next
	// start detects and replaces.
	if err := writeFileAtomic(c.path(ServerKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(c.path(ServerFile), encodeCert(der), 0o600); err != nil {
		return nil, err
	}
	return &leaf{
		cert:  &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		hosts: hosts,
	}, nil
}

// certHosts returns the SANs of cert in normalised form.
func certHosts(cert *x509.Certificate) []string {
	var hs []string
	for _, ip := range cert.IPAddresses {
		hs = append(hs, ip.String())
	}
	for _, n := range cert.DNSNames {
		if h, err := normaliseHost(n); err == nil {
			hs = append(hs, h)
		}
	}
	return union(hs, nil)
}

// covers reports whether every host of want is in have (both normalised).
func covers(have, want []string) bool {
	for _, h := range want {
		if _, ok := slices.BinarySearch(have, h); !ok {
			return false
		}
	}
	return true
}

// union returns the sorted, de-duplicated union of a and b.
func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func normaliseHosts(hosts []string) ([]string, error) {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n, err := normaliseHost(h)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return union(out, nil), nil
}

// normaliseHost returns h as it appears in a certificate: an IP address in
// canonical form, or a lowercase DNS name without a trailing dot.
func normaliseHost(h string) (string, error) {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	switch {
	case h == "":
		return "", fmt.Errorf("%w: empty name", ErrHost)
	case strings.Contains(h, "*"):
		return "", fmt.Errorf("%w: %q: wildcards are never issued; add each host by name", ErrHost, h)
	case strings.Contains(h, ":"):
		return "", fmt.Errorf("%w: %q: give a host name or IP address without a port", ErrHost, h)
	case len(h) > 253:
		return "", fmt.Errorf("%w: %q: longer than 253 characters", ErrHost, h)
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: %q: bad DNS label %q", ErrHost, h, label)
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return "", fmt.Errorf("%w: %q: bad character %q", ErrHost, h, r)
			}
		}
	}
	return h, nil
}
