package cli

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/secret"
)

// The environment variables (and env file keys) the commands read.
const (
	envVaultURL      = "KEYWARDEN_VAULT_URL"
	envCACert        = "KEYWARDEN_CA_CERT"
	envTenantID      = "AZURE_TENANT_ID"
	envClientID      = "AZURE_CLIENT_ID"
	envClientSecret  = "AZURE_CLIENT_SECRET"
	envAuthorityHost = "AZURE_AUTHORITY_HOST"
	// envClientCertificate names a PEM (certificate and private key) or
	// PKCS#12 file; when set, the commands authenticate with a client
	// certificate (an RFC 7523 client assertion) instead of the secret.
	envClientCertificate = "AZURE_CLIENT_CERTIFICATE_PATH"
	// envClientCertificatePassword decrypts the certificate file, if needed.
	envClientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	// envAdminURL overrides the origin of the administration API.
	envAdminURL = "KEYWARDEN_ADMIN_URL"
)

// defaultEnvFile is where `keywarden dev` writes its env file by default.
const defaultEnvFile = "./keywarden-data/dev.env"

// connFlags holds the connection flags of one top-level command.
type connFlags struct {
	vaultURL      string
	caCert        string
	tenantID      string
	clientID      string
	authorityHost string
	clientCert    string
	adminURL      string
	envFile       string
	// envFileSet reports whether --env-file was given explicitly; a missing
	// default env file is not an error, a missing explicit one is.
	envFileSet bool
}

func (f *connFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.vaultURL, "vault-url", "", "vault URL, such as https://127.0.0.1:8443 (env "+envVaultURL+")")
	fs.StringVar(&f.caCert, "ca-cert", "", "PEM file of a CA to trust besides the system roots (env "+envCACert+")")
	fs.StringVar(&f.tenantID, "tenant-id", "", "tenant ID (env "+envTenantID+")")
	fs.StringVar(&f.clientID, "client-id", "", "client ID; the secret comes from "+envClientSecret+" or the env file only (env "+envClientID+")")
	fs.StringVar(&f.authorityHost, "authority-host", "", "token authority, such as https://127.0.0.1:8443/ (env "+envAuthorityHost+")")
	fs.StringVar(&f.clientCert, "client-certificate", "", "PEM (certificate and private key) or PKCS#12 file to authenticate with instead of the client secret (env "+envClientCertificate+")")
	fs.StringVar(&f.envFile, "env-file", defaultEnvFile, "KEY=value file read for settings not given by flag or environment")
}

// registerAdmin adds the connection flags of the administration commands:
// those of register plus --admin-url.
func (f *connFlags) registerAdmin(cmd *cobra.Command) {
	f.register(cmd)
	cmd.PersistentFlags().StringVar(&f.adminURL, "admin-url", "",
		"origin of the administration API (default: the vault URL's origin, or the authority host's for a named vault URL) (env "+envAdminURL+")")
}

// settings are the resolved connection settings of one command.
type settings struct {
	vaultURL      string
	caCert        string
	tenantID      string
	clientID      string
	clientSecret  secret.Bytes
	authorityHost string
	// clientCert is the client certificate file; when set it is used
	// instead of clientSecret.
	clientCert         string
	clientCertPassword secret.Bytes
	adminURL           string
}

// resolveSettings applies the precedence flag > environment > env file. It
// reads the env file with readFile (os.ReadFile outside tests). A relative
// KEYWARDEN_CA_CERT found in the env file is taken relative to the file.
func resolveSettings(f connFlags, getenv func(string) string, readFile func(string) ([]byte, error)) (settings, error) {
	file := map[string]string{}
	path := f.envFile
	if path == "" {
		path = defaultEnvFile
	}
	data, err := readFile(path)
	switch {
	case err == nil:
		file, err = parseEnvFile(bytes.NewReader(data), path)
		clear(data)
		if err != nil {
			return settings{}, err
		}
	case errors.Is(err, fs.ErrNotExist) && !f.envFileSet:
		// No dev env file: flags and environment only.
	default:
		return settings{}, fmt.Errorf("read env file: %w", err)
	}

	pick := func(flag, key string) string {
		if flag != "" {
			return flag
		}
		if v := getenv(key); v != "" {
			return v
		}
		return file[key]
	}
	s := settings{
		vaultURL:      pick(f.vaultURL, envVaultURL),
		caCert:        pick(f.caCert, envCACert),
		tenantID:      pick(f.tenantID, envTenantID),
		clientID:      pick(f.clientID, envClientID),
		clientSecret:  secret.New([]byte(pick("", envClientSecret))),
		authorityHost: pick(f.authorityHost, envAuthorityHost),
		clientCert:    pick(f.clientCert, envClientCertificate),
		adminURL:      pick(f.adminURL, envAdminURL),
	}
	if s.clientCert != "" {
		s.clientCertPassword = secret.New([]byte(pick("", envClientCertificatePassword)))
	}
	if f.caCert == "" && getenv(envCACert) == "" && s.caCert != "" && !filepath.IsAbs(s.caCert) {
		s.caCert = filepath.Join(filepath.Dir(path), s.caCert)
	}
	if f.clientCert == "" && getenv(envClientCertificate) == "" && s.clientCert != "" && !filepath.IsAbs(s.clientCert) {
		s.clientCert = filepath.Join(filepath.Dir(path), s.clientCert)
	}
	return s, nil
}

// parseEnvFile parses KEY=value lines. Blank lines and lines starting with #
// are skipped, an "export " prefix is allowed, and a value wrapped in single
// or double quotes is unwrapped. A later line for the same key wins. Errors
// name the file and line but never echo the line, which may hold a secret.
func parseEnvFile(r io.Reader, name string) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvKey(key) {
			return nil, fmt.Errorf("%s:%d: want KEY=value", name, n)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return vars, nil
}

func validEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkVaultURL validates the vault URL: https with a host.
func (s settings) checkVaultURL() (*url.URL, error) {
	if s.vaultURL == "" {
		return nil, errors.New("no vault URL: set --vault-url, " + envVaultURL + " or the env file")
	}
	u, err := url.Parse(s.vaultURL)
	if err != nil {
		return nil, fmt.Errorf("vault URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("vault URL %q: want https://host[:port]", s.vaultURL)
	}
	return u, nil
}

// checkCredentials reports the first missing credential setting. A client
// certificate, when set, stands in for the client secret.
func (s settings) checkCredentials() error {
	missing := func(what, flag, env string) error {
		if flag == "" {
			return fmt.Errorf("no %s: set %s or the env file", what, env)
		}
		return fmt.Errorf("no %s: set %s, %s or the env file", what, flag, env)
	}
	switch {
	case s.tenantID == "":
		return missing("tenant ID", "--tenant-id", envTenantID)
	case s.clientID == "":
		return missing("client ID", "--client-id", envClientID)
	case s.clientSecret.IsZero() && s.clientCert == "":
		return fmt.Errorf("no client secret: set %s or the env file, or give a certificate with --client-certificate or %s",
			envClientSecret, envClientCertificate)
	case s.authorityHost == "":
		return missing("authority host", "--authority-host", envAuthorityHost)
	}
	return nil
}

// skipChallengeVerification reports whether the azkeys challenge resource
// check must be disabled for vaultURL: true when the host is an IP address
// or a bare, single-label origin such as localhost, where no vault name
// precedes the server's domain; false for a named origin like dev.localhost.
func skipChallengeVerification(u *url.URL) bool {
	host := u.Hostname()
	return net.ParseIP(host) != nil || !strings.Contains(host, ".")
}

// newHTTPClient returns an HTTPS client that trusts the system roots plus the
// CA certificates in the PEM file caFile, if any. maxIdle is the number of
// idle connections kept per host (the bench concurrency).
func newHTTPClient(caFile string, maxIdle int) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", caFile)
		}
	}
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = true
	tr.MaxIdleConnsPerHost = max(maxIdle, 2)
	return &http.Client{Transport: tr}, nil
}

// newKeysClient builds the azkeys client of the documented client contract:
// one HTTPS client, trusting the CA, shared by the credential and the keys
// client.
func newKeysClient(s settings, httpClient *http.Client) (*azkeys.Client, error) {
	u, err := s.checkVaultURL()
	if err != nil {
		return nil, err
	}
	cred, err := newCredential(s, httpClient)
	if err != nil {
		return nil, err
	}
	client, err := azkeys.NewClient(s.vaultURL, cred, &azkeys.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: httpClient},
		DisableChallengeResourceVerification: skipChallengeVerification(u),
	})
	if err != nil {
		return nil, fmt.Errorf("keys client: %w", err)
	}
	return client, nil
}

// newCredential returns the azidentity credential of s over httpClient: a
// ClientCertificateCredential when a client certificate is set, else a
// ClientSecretCredential. Errors never hold the secret or the key.
func newCredential(s settings, httpClient *http.Client) (azcore.TokenCredential, error) {
	if err := s.checkCredentials(); err != nil {
		return nil, err
	}
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.authorityHost},
		Transport: httpClient,
	}
	if s.clientCert != "" {
		data, err := os.ReadFile(s.clientCert)
		if err != nil {
			return nil, fmt.Errorf("read client certificate: %w", err)
		}
		var password []byte
		if !s.clientCertPassword.IsZero() {
			password = s.clientCertPassword.Expose()
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		clear(data)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", s.clientCert, err)
		}
		cred, err := azidentity.NewClientCertificateCredential(s.tenantID, s.clientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewClientSecretCredential(s.tenantID, s.clientID, string(s.clientSecret.Expose()),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	return cred, nil
}

// adminOrigin returns the origin of the administration API,
// scheme://host[:port] without a path: --admin-url (KEYWARDEN_ADMIN_URL) if
// set; else the vault URL's origin when it is the server's bare origin (an IP
// address or a single-label host); else, for a named vault origin such as
// https://dev.localhost:8443, the origin of the authority host, which is the
// built-in issuer at the bare origin.
func (s settings) adminOrigin() (string, error) {
	origin := func(what, raw string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if u.Scheme != "https" || u.Host == "" {
			return "", fmt.Errorf("%s %q: want https://host[:port]", what, raw)
		}
		return "https://" + u.Host, nil
	}
	if s.adminURL != "" {
		return origin("admin URL", s.adminURL)
	}
	if s.vaultURL == "" {
		return "", errors.New("no admin URL: set --vault-url, " + envVaultURL + ", --admin-url, " + envAdminURL + " or the env file")
	}
	u, err := s.checkVaultURL()
	if err != nil {
		return "", err
	}
	if skipChallengeVerification(u) {
		return "https://" + u.Host, nil
	}
	if s.authorityHost == "" {
		return "", fmt.Errorf("no admin URL for the named vault URL %s: set --admin-url, %s, or the authority host", s.vaultURL, envAdminURL)
	}
	return origin("authority host", s.authorityHost)
}

// vaultName names the vault at u: the first label of a named origin
// (dev.localhost → dev), or "dev" for an IP or single-label bare origin.
func vaultName(u *url.URL) string {
	if skipChallengeVerification(u) {
		return "dev"
	}
	label, _, _ := strings.Cut(u.Hostname(), ".")
	return label
}
