// Package config loads Keywarden's one typed, validated configuration from a
// JSON file and KEYWARDEN_* environment overrides.
//
// Secrets are never inline: the root key and the TLS private key are given
// as file paths, the HSM PINs as file paths or environment variable names.
// Other packages receive their part of Config from cmd and never read files
// or the environment themselves.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration.
type Config struct {
	// DataDir holds the store, the root key (by default) and dev files.
	DataDir string `json:"dataDir"`
	// Listen is the TLS listen address, host:port.
	Listen string `json:"listen"`
	// PublicPort is the port clients use in URLs; 0 means the Listen port.
	PublicPort int `json:"publicPort"`
	// DNSSuffix is the parent domain of vault hosts: {vault}.{DNSSuffix}.
	DNSSuffix string `json:"dnsSuffix"`
	// HSMDNSSuffix is the parent domain of managedhsm vault hosts:
	// {vault}.{HSMDNSSuffix}, as Azure's managedhsm.azure.net is separate
	// from vault.azure.net. It must differ from DNSSuffix; either may be a
	// subdomain of the other (the longer suffix is matched first).
	HSMDNSSuffix string `json:"hsmDnsSuffix"`
	// TenantID is the tenant of the built-in token issuer.
	TenantID string `json:"tenantId"`
	// Resource is the token audience named in the bare-origin challenge;
	// empty means https://{DNSSuffix}:{PublicPort}.
	Resource string `json:"resource"`
	// DefaultVault is the vault served at the bare origin ("" for none).
	DefaultVault string `json:"defaultVault"`
	// Vaults are created at start if missing.
	Vaults []Vault `json:"vaults"`
	// TLS is the operator's certificate (required by `keywarden server`).
	TLS TLS `json:"tls"`
	// RootKeyFile is the path of the root key file; empty means
	// {DataDir}/root.key. In "hsm" seal mode a key file found there is
	// moved into the HSM (re-sealed, then removed) on start.
	RootKeyFile string `json:"rootKeyFile"`
	// SealMode is where the root key that seals key material lives:
	// "file" (default: RootKeyFile) or "hsm" (an AES key inside the token
	// of the hsm section, which never leaves it).
	SealMode string `json:"sealMode"`
	// SealKeyLabel is the CKA_LABEL of the root key objects in sealMode
	// "hsm"; empty means "kw-root". Deployments sharing a token need
	// distinct labels.
	SealKeyLabel string `json:"sealKeyLabel"`
	// TokenTTL is the lifetime of issued access tokens.
	TokenTTL Duration `json:"tokenTTL"`
	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout Duration `json:"shutdownTimeout"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `json:"maxBodyBytes"`
	// ExternalIssuers are trusted external OIDC issuers (Entra ID,
	// Keycloak, Dex, Kubernetes service accounts).
	ExternalIssuers []ExternalIssuer `json:"externalIssuers"`
	// TrustedProxies are the addresses/CIDRs whose X-Forwarded-For header
	// is believed for network rules; empty: the TCP peer only.
	TrustedProxies []string `json:"trustedProxies"`
	// Throttle sets request limits; zero values take the defaults (on,
	// generous), negative values turn a limit off.
	Throttle Throttle `json:"throttle"`
	// LogFormat is "text" or "json"; LogLevel is debug, info, warn, error.
	LogFormat string `json:"logFormat"`
	LogLevel  string `json:"logLevel"`
	// Audit configures the audit trail (file sink, stdout, syslog).
	Audit Audit `json:"audit"`
	// Metrics configures the observability listener (/metrics, /healthz,
	// /readyz).
	Metrics Metrics `json:"metrics"`
	// Alerts configures the built-in alert engine; zero values take the
	// defaults.
	Alerts Alerts `json:"alerts"`
	// HSM selects the PKCS#11 token of HSM-protected keys; empty: none.
	HSM HSM `json:"hsm"`
}

// Metrics configures the plain-HTTP observability listener.
type Metrics struct {
	// Listen is the host:port serving /metrics, /healthz and /readyz
	// (plain HTTP: keep it on loopback or a private network). Empty turns
	// the listener off; the environment value "off" does the same.
	Listen string `json:"listen"`
}

// Alerts configures the built-in alert engine. Zero values take the
// defaults of DefaultAlerts.
type Alerts struct {
	// Disabled turns the whole engine off.
	Disabled bool `json:"disabled"`
	// DisabledRules names rules to turn off (see AlertRules).
	DisabledRules []string `json:"disabledRules"`
	// Cooldown is the minimum time between two alerts of one rule about
	// one subject.
	Cooldown Duration `json:"cooldown"`
	// PrincipalFailures and VaultFailures are the failed-operation
	// thresholds per principal and per vault.
	PrincipalFailures Threshold `json:"principalFailures"`
	VaultFailures     Threshold `json:"vaultFailures"`
	// RateFactor, RateFloor and RateWarmUp drive the rate-spike rule: a
	// principal's operations in the current minute alert above
	// max(RateFactor × its learned per-minute baseline, RateFloor), once
	// it has been seen for RateWarmUp.
	RateFactor float64  `json:"rateFactor"`
	RateFloor  int      `json:"rateFloor"`
	RateWarmUp Duration `json:"rateWarmUp"`
	// NewKeyLearning is how long a principal's keys are learned before a
	// key it has not used before raises an alert.
	NewKeyLearning Duration `json:"newKeyLearning"`
	// ExpiryWindow is how long before a version's expiry it raises an
	// alert.
	ExpiryWindow Duration `json:"expiryWindow"`
	// MaxPrincipals bounds the principals tracked; MaxKeysPerPrincipal
	// bounds the keys remembered for each.
	MaxPrincipals       int `json:"maxPrincipals"`
	MaxKeysPerPrincipal int `json:"maxKeysPerPrincipal"`
	// QueueSize bounds the events waiting for the engine; more are
	// dropped and counted.
	QueueSize int `json:"queueSize"`
	// DeletionOperations and ChangeOperations replace the default lists
	// of operation names that raise the deletion and change alerts.
	DeletionOperations []string `json:"deletionOperations"`
	ChangeOperations   []string `json:"changeOperations"`
}

// Threshold is a count within a sliding window.
type Threshold struct {
	// Count is the number of events that raises the alert.
	Count int `json:"count"`
	// Window is the sliding window the events must fall in.
	Window Duration `json:"window"`
}

// AlertRules returns the names of the built-in alert rules, which
// Alerts.DisabledRules may name.
func AlertRules() []string {
	return []string{
		"principal-failures", "vault-failures", "rate-spike", "new-key",
		"deletion", "change", "refused-purge", "key-expiry",
	}
}

// DefaultAlerts returns the alert engine's defaults.
func DefaultAlerts() Alerts {
	return Alerts{
		Cooldown:            Duration(15 * time.Minute),
		PrincipalFailures:   Threshold{Count: 20, Window: Duration(5 * time.Minute)},
		VaultFailures:       Threshold{Count: 100, Window: Duration(5 * time.Minute)},
		RateFactor:          10,
		RateFloor:           100,
		RateWarmUp:          Duration(time.Hour),
		NewKeyLearning:      Duration(24 * time.Hour),
		ExpiryWindow:        Duration(30 * 24 * time.Hour),
		MaxPrincipals:       10000,
		MaxKeysPerPrincipal: 1000,
		QueueSize:           4096,
	}
}

// Vault is a vault to create at start.
type Vault struct {
	// Name is the vault name (first label of its host).
	Name string `json:"name"`
	// SKU is standard, premium or managedhsm.
	SKU string `json:"sku"`
	// RetentionDays is the soft-delete retention, 7..90.
	RetentionDays int `json:"retentionDays"`
	// PurgeProtection forbids purge before the retention ends.
	PurgeProtection bool `json:"purgeProtection"`
}

// ExternalIssuer is a trusted external OIDC issuer.
type ExternalIssuer struct {
	// Issuer is the issuer URL; tokens' iss must equal it.
	Issuer string `json:"issuer"`
	// JWKSURL is the JWKS location; empty: from the discovery document.
	JWKSURL string `json:"jwksUrl"`
	// JWKSFile is a local JWKS file, instead of fetching.
	JWKSFile string `json:"jwksFile"`
	// Audiences are the accepted aud values (at least one).
	Audiences []string `json:"audiences"`
	// PrincipalClaim names the principal-id claim (default oid, else sub).
	PrincipalClaim string `json:"principalClaim"`
	// GroupsClaim names the optional group claim.
	GroupsClaim string `json:"groupsClaim"`
}

// Throttle sets per-vault and per-principal request limits.
type Throttle struct {
	// VaultRPS and VaultBurst limit each vault's requests.
	VaultRPS   float64 `json:"vaultRps"`
	VaultBurst int     `json:"vaultBurst"`
	// PrincipalRPS and PrincipalBurst limit each principal's requests.
	PrincipalRPS   float64 `json:"principalRps"`
	PrincipalBurst int     `json:"principalBurst"`
}

// TLS names the server certificate and key files.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `json:"certFile"`
	// KeyFile is the PEM private key (a secret: by path only).
	KeyFile string `json:"keyFile"`
}

// Duration is a time.Duration written as a Go duration string ("1h").
type Duration time.Duration

// UnmarshalJSON parses "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"1h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Defaults returns the configuration every file starts from.
func Defaults() Config {
	return Config{
		DataDir:         "./keywarden-data",
		Listen:          "127.0.0.1:8443",
		DNSSuffix:       "localhost",
		HSMDNSSuffix:    "managedhsm.localhost",
		TokenTTL:        Duration(time.Hour),
		ShutdownTimeout: Duration(15 * time.Second),
		MaxBodyBytes:    1 << 20,
		LogFormat:       "text",
		LogLevel:        "info",
		Metrics:         Metrics{Listen: "127.0.0.1:9464"},
		Alerts:          DefaultAlerts(),
	}
}

// Load reads path (JSON; unknown fields refused) over Defaults, applies the
// environment overrides from getenv, and validates. Errors name the file
// and line.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Defaults()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config: %s:%d: %w", path, lineOf(b, dec.InputOffset(), err), err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// lineOf returns the line of the error offset (or the decoder offset).
func lineOf(b []byte, off int64, err error) int {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return bytes.Count(b[:off], []byte("\n")) + 1
}

// applyEnv applies KEYWARDEN_* overrides.
func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	str := map[string]*string{
		"KEYWARDEN_DATA_DIR":       &c.DataDir,
		"KEYWARDEN_LISTEN":         &c.Listen,
		"KEYWARDEN_DNS_SUFFIX":     &c.DNSSuffix,
		"KEYWARDEN_HSM_DNS_SUFFIX": &c.HSMDNSSuffix,
		"KEYWARDEN_TENANT_ID":      &c.TenantID,
		"KEYWARDEN_RESOURCE":       &c.Resource,
		"KEYWARDEN_DEFAULT_VAULT":  &c.DefaultVault,
		"KEYWARDEN_TLS_CERT_FILE":  &c.TLS.CertFile,
		"KEYWARDEN_TLS_KEY_FILE":   &c.TLS.KeyFile,
		"KEYWARDEN_ROOT_KEY_FILE":  &c.RootKeyFile,
		"KEYWARDEN_SEAL_MODE":      &c.SealMode,
		"KEYWARDEN_SEAL_KEY_LABEL": &c.SealKeyLabel,
		"KEYWARDEN_LOG_FORMAT":     &c.LogFormat,
		"KEYWARDEN_LOG_LEVEL":      &c.LogLevel,
		"KEYWARDEN_METRICS_LISTEN": &c.Metrics.Listen,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	c.Audit.applyEnv(getenv)
	c.HSM.applyEnv(getenv)
	if v := getenv("KEYWARDEN_PUBLIC_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: KEYWARDEN_PUBLIC_PORT: %w", err)
		}
		c.PublicPort = n
	}
	return nil
}

var (
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	vaultRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{1,22}[a-z0-9]$`)
)

// Validate checks the configuration and fills derived fields (PublicPort,
// Resource, RootKeyFile).
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("config: listen %q: %w", c.Listen, err)
	}
	_ = host
	if c.PublicPort == 0 {
		if c.PublicPort, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("config: listen %q: bad port", c.Listen)
		}
	}
	if c.DataDir == "" {
		return errors.New("config: dataDir is required")
	}
	if c.TenantID != "" && !tenantRE.MatchString(c.TenantID) {
		return fmt.Errorf("config: tenantId %q: use letters, digits, dots and dashes", c.TenantID)
	}
	c.DNSSuffix = strings.ToLower(strings.TrimSuffix(c.DNSSuffix, "."))
	if c.DNSSuffix == "" || strings.ContainsAny(c.DNSSuffix, ":/ ") {
		return fmt.Errorf("config: dnsSuffix %q is not a domain name", c.DNSSuffix)
	}
	c.HSMDNSSuffix = strings.ToLower(strings.TrimSuffix(c.HSMDNSSuffix, "."))
	if c.HSMDNSSuffix == "" || strings.ContainsAny(c.HSMDNSSuffix, ":/ ") || strings.HasPrefix(c.HSMDNSSuffix, ".") {
		return fmt.Errorf("config: hsmDnsSuffix %q is not a domain name", c.HSMDNSSuffix)
	}
	if c.HSMDNSSuffix == c.DNSSuffix {
		return fmt.Errorf("config: hsmDnsSuffix %q must differ from dnsSuffix: managedhsm vaults are served on their own domain", c.HSMDNSSuffix)
	}
	if c.Resource == "" {
		c.Resource = "https://" + net.JoinHostPort(c.DNSSuffix, strconv.Itoa(c.PublicPort))
	}
	if !strings.HasPrefix(c.Resource, "https://") || strings.HasSuffix(c.Resource, "/") {
		return fmt.Errorf("config: resource %q must be an https URL without a trailing slash", c.Resource)
	}
	if c.RootKeyFile == "" {
		c.RootKeyFile = filepath.Join(c.DataDir, "root.key")
	}
	switch c.SealMode {
	case "":
		c.SealMode = "file"
	case "file":
	case "hsm": // the engine checks that an HSM is configured
	default:
		return fmt.Errorf("config: sealMode %q: use file or hsm", c.SealMode)
	}
	if len(c.SealKeyLabel) > 64 || strings.ContainsFunc(c.SealKeyLabel, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return fmt.Errorf("config: sealKeyLabel %q: use up to 64 printable ASCII characters without spaces", c.SealKeyLabel)
	}
	seen := map[string]bool{}
	for i, v := range c.Vaults {
		if !vaultRE.MatchString(v.Name) {
			return fmt.Errorf("config: vaults[%d]: name %q: use 3-24 lowercase letters, digits and dashes", i, v.Name)
		}
		if seen[v.Name] {
			return fmt.Errorf("config: vaults[%d]: duplicate name %q", i, v.Name)
		}
		seen[v.Name] = true
		switch v.SKU {
		case "standard", "premium", "managedhsm":
		default:
			return fmt.Errorf("config: vaults[%d]: sku %q: use standard, premium or managedhsm", i, v.SKU)
		}
		if v.RetentionDays < 7 || v.RetentionDays > 90 {
			return fmt.Errorf("config: vaults[%d]: retentionDays %d: use 7 to 90", i, v.RetentionDays)
		}
	}
	if c.DefaultVault != "" && !seen[c.DefaultVault] {
		return fmt.Errorf("config: defaultVault %q is not in vaults", c.DefaultVault)
	}
	if c.TokenTTL < Duration(5*time.Minute+time.Second) || c.TokenTTL > Duration(24*time.Hour) {
		return fmt.Errorf("config: tokenTTL %s: use more than 5m and at most 24h (clients refresh tokens that live under 5 minutes)", time.Duration(c.TokenTTL))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: logFormat %q: use text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: logLevel %q: use debug, info, warn or error", c.LogLevel)
	}
	for i, e := range c.ExternalIssuers {
		if !strings.HasPrefix(e.Issuer, "https://") {
			return fmt.Errorf("config: externalIssuers[%d]: issuer %q must be an https URL", i, e.Issuer)
		}
		if len(e.Audiences) == 0 {
			return fmt.Errorf("config: externalIssuers[%d]: audiences: at least one is required", i)
		}
		if e.JWKSURL != "" && !strings.HasPrefix(e.JWKSURL, "https://") {
			return fmt.Errorf("config: externalIssuers[%d]: jwksUrl %q must be an https URL", i, e.JWKSURL)
		}
	}
	for i, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			return fmt.Errorf("config: trustedProxies[%d]: %w", i, err)
		}
	}
	if err := c.Audit.validate(c.DataDir); err != nil {
		return err
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("config: maxBodyBytes %d is too small", c.MaxBodyBytes)
	}
	if err := c.Metrics.validate(c.Listen); err != nil {
		return err
	}
	if err := c.HSM.validate(); err != nil {
		return err
	}
	return c.Alerts.validate()
}

// validate checks the listener address ("off" means empty).
func (m *Metrics) validate(apiListen string) error {
	if m.Listen == "off" {
		m.Listen = ""
	}
	if m.Listen == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(m.Listen); err != nil || port == "" {
		return fmt.Errorf("config: metrics.listen %q: use host:port, or empty to turn it off", m.Listen)
	}
	if m.Listen == apiListen {
		return fmt.Errorf("config: metrics.listen %q is the API listen address", m.Listen)
	}
	return nil
}

// validate fills zero values with the defaults and checks ranges and rule
// names.
func (a *Alerts) validate() error {
	d := DefaultAlerts()
	fill := func(p *Duration, v Duration) {
		if *p == 0 {
			*p = v
		}
	}
	fillInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	fill(&a.Cooldown, d.Cooldown)
	fillInt(&a.PrincipalFailures.Count, d.PrincipalFailures.Count)
	fill(&a.PrincipalFailures.Window, d.PrincipalFailures.Window)
	fillInt(&a.VaultFailures.Count, d.VaultFailures.Count)
	fill(&a.VaultFailures.Window, d.VaultFailures.Window)
	if a.RateFactor == 0 {
		a.RateFactor = d.RateFactor
	}
	fillInt(&a.RateFloor, d.RateFloor)
	fill(&a.RateWarmUp, d.RateWarmUp)
	fill(&a.NewKeyLearning, d.NewKeyLearning)
	fill(&a.ExpiryWindow, d.ExpiryWindow)
	fillInt(&a.MaxPrincipals, d.MaxPrincipals)
	fillInt(&a.MaxKeysPerPrincipal, d.MaxKeysPerPrincipal)
	fillInt(&a.QueueSize, d.QueueSize)
	for _, x := range []struct {
		name string
		v    Duration
	}{
		{"cooldown", a.Cooldown},
		{"principalFailures.window", a.PrincipalFailures.Window},
		{"vaultFailures.window", a.VaultFailures.Window},
		{"rateWarmUp", a.RateWarmUp},
		{"newKeyLearning", a.NewKeyLearning},
		{"expiryWindow", a.ExpiryWindow},
	} {
		if x.v < 0 {
			return fmt.Errorf("config: alerts.%s %s: must be positive", x.name, time.Duration(x.v))
		}
	}
	for _, x := range []struct {
		name     string
		v, limit int
	}{
		{"principalFailures.count", a.PrincipalFailures.Count, 1_000_000},
		{"vaultFailures.count", a.VaultFailures.Count, 1_000_000},
		{"rateFloor", a.RateFloor, 1_000_000_000},
		{"maxPrincipals", a.MaxPrincipals, 10_000_000},
		{"maxKeysPerPrincipal", a.MaxKeysPerPrincipal, 1_000_000},
		{"queueSize", a.QueueSize, 10_000_000},
	} {
		if x.v < 1 || x.v > x.limit {
			return fmt.Errorf("config: alerts.%s %d: use 1 to %d", x.name, x.v, x.limit)
		}
	}
	if a.RateFactor < 1 {
		return fmt.Errorf("config: alerts.rateFactor %g: use 1 or more", a.RateFactor)
	}
	for i, r := range a.DisabledRules {
		if !slices.Contains(AlertRules(), r) {
			return fmt.Errorf("config: alerts.disabledRules[%d]: unknown rule %q; use one of %s", i, r, strings.Join(AlertRules(), ", "))
		}
	}
	for _, ops := range []struct {
		name string
		list []string
	}{{"deletionOperations", a.DeletionOperations}, {"changeOperations", a.ChangeOperations}} {
		for i, op := range ops.list {
			if op == "" || strings.ContainsAny(op, " \t\n") {
				return fmt.Errorf("config: alerts.%s[%d]: %q is not an operation name", ops.name, i, op)
			}
		}
	}
	return nil
}

// ParsePrefix parses an address ("10.0.0.1", "::1") or a CIDR prefix
// ("10.0.0.0/8") into a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
