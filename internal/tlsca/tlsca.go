// Package tlsca is the development TLS authority: a local ECDSA P-256 CA
// kept in the data directory and a server certificate issued by it that can
// grow new host names (one per vault) without a restart.
//
// It exists for `keywarden dev` and tests only. The CA private key sits in
// the data directory (ca-key.pem, mode 0600), so anyone who can read that
// directory can mint certificates the CA's trusting clients accept. In
// production the operator configures their own certificate and key, and this
// package is not used.
//
// The package imports only the standard library; it knows nothing of HTTP
// handlers, the store or vaults.
package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// File names inside the directory given to LoadOrCreateCA.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// CAName is the common name of a generated CA.
const CAName = "Keywarden Dev CA"

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 397 * 24 * time.Hour // within the limit browsers and macOS enforce
	minRemaining = 7 * 24 * time.Hour   // re-issue a leaf closer than this to expiry
	backdate     = time.Hour            // tolerate clock skew between machines
)

// CA is a local certificate authority. Its methods are safe for concurrent
// use; a CA is immutable once loaded.
type CA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// LoadOrCreateCA loads the CA stored in dir (ca.pem, ca-key.pem), or creates
// dir (mode 0700) and a new CA valid for ten years from now when neither
// file exists. It refuses, without touching anything, a directory holding
// only one of the two files, a key file accessible by group or others, a key
// that does not match the certificate, and an expired CA.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return loadCA(dir, now)
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createCA(dir, now)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("tlsca: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("tlsca: %w", keyErr)
	default:
		return nil, fmt.Errorf("tlsca: %s holds only one of %s and %s; restore the other or remove both to create a new CA",
			dir, CAFile, CAKeyFile)
	}
}

func createCA(dir string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CAName, Organization: []string{"Keywarden"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// The key goes first: a crash between the two writes leaves a lone key,
	// which LoadOrCreateCA reports rather than silently replacing.
	if err := writeFileAtomic(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CAFile), encodeCert(der), 0o644); err != nil {
		return nil, err
	}
	return &CA{dir: dir, cert: cert, key: key}, nil
}

func loadCA(dir string, now time.Time) (*CA, error) {
	cert, key, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("tlsca: %s is not a CA certificate", filepath.Join(dir, CAFile))
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("tlsca: the dev CA in %s expired on %s; remove %s and %s to create a new one",
			dir, cert.NotAfter.Format(time.DateOnly), CAFile, CAKeyFile)
	}
	return &CA{dir: dir, cert: cert, key: key}, nil
}

// CertPath returns the absolute path of the CA certificate (PEM), for
// clients to trust (SSL_CERT_FILE, the OS trust store, --cacert).
func (c *CA) CertPath() string { return filepath.Join(c.dir, CAFile) }

// Certificate returns the parsed CA certificate. The caller must not modify
// it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Pool returns a new certificate pool holding only the CA certificate.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// loadPair reads a PEM certificate and its PKCS#8 ECDSA key, checking that
// the key file is private and matches the certificate.
func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: %w", err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, nil, fmt.Errorf("tlsca: %s has mode %04o; it must not be accessible by group or others (chmod 600 %s)",
			keyPath, perm, keyPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("tlsca: %s holds no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: %s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	clear(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, nil, fmt.Errorf("tlsca: %s holds no PEM private key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	clear(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: %s: cannot parse private key", keyPath)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("tlsca: %s is not an ECDSA P-256 key", keyPath)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("tlsca: %s does not match %s", keyPath, certPath)
	}
	return cert, key, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsca: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: encoding key: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic replaces path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("tlsca: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("tlsca: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("tlsca: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("tlsca: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsca: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlsca: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tlsca: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tlsca: syncing %s: %w", dir, err)
	}
	return nil
}
