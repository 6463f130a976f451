package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/tlsca"
	"github.com/keywarden/keywarden/internal/vault"
)

// devVault is the name of the vault `keywarden dev` creates.
const devVault = "dev"

func newDevCommand() *cobra.Command {
	c := config.Defaults()
	var retention int
	var purgeProtection bool
	var module string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a development server with a local CA, a premium vault named dev and an administrator",
		Long: `dev starts a complete Keywarden server for development in one command.

On first start it creates the data directory with a root key, a local CA and
server certificate, a premium vault named "dev" served at the bare origin and
at dev.<dns-suffix>, and a service principal with the administrator role. It
writes <data-dir>/dev.env with the connection settings at every start.
Restarting on the same data directory keeps every key and credential.

Where SoftHSM2 is installed (` + installSoftHSM + `), dev also creates its own
token "keywarden-dev" in <data-dir>/softhsm, with random PINs kept there in
files (a development convenience), and serves HSM-protected keys (RSA-HSM,
EC-HSM, and oct-HSM in managedhsm vaults) from it; they survive restarts.
Without it, dev serves software keys only and refuses -HSM key types.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Vaults = []config.Vault{{Name: devVault, SKU: "premium", RetentionDays: retention, PurgeProtection: purgeProtection}}
			c.DefaultVault = devVault
			if err := overrideFromEnv(&c); err != nil {
				return err
			}
			return runDev(cmd.Context(), c, module, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory")
	f.StringVar(&c.Listen, "listen", c.Listen, "TLS listen address")
	f.StringVar(&c.DNSSuffix, "dns-suffix", c.DNSSuffix, "parent domain of vault hosts ({vault}.{suffix})")
	f.StringVar(&c.HSMDNSSuffix, "hsm-dns-suffix", c.HSMDNSSuffix, "parent domain of managed HSM hosts ({hsm}.{suffix})")
	f.IntVar(&retention, "retention-days", 90, "soft-delete retention of the dev vault (7-90, fixed after creation)")
	f.BoolVar(&purgeProtection, "purge-protection", false, "turn on purge protection for the dev vault (cannot be turned off)")
	f.StringVar(&c.SealMode, "seal", "file", `where the root key lives: "file" (<data-dir>/root.key) or "hsm" (an AES key inside the dev SoftHSM2 token; a root.key found is moved into it)`)
	f.StringVar(&module, "pkcs11-module", "", `PKCS#11 module of HSM keys, with a SoftHSM2 token dev creates in <data-dir>/softhsm (default: the installed SoftHSM2 module; "off": software keys only)`)
	return cmd
}

// overrideFromEnv applies KEYWARDEN_LOG_LEVEL, KEYWARDEN_LOG_FORMAT and
// KEYWARDEN_METRICS_LISTEN (an address, or "off") and validates.
func overrideFromEnv(c *config.Config) error {
	if v := os.Getenv("KEYWARDEN_LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	if v := os.Getenv("KEYWARDEN_LOG_FORMAT"); v != "" {
		c.LogFormat = v
	}
	if v := os.Getenv("KEYWARDEN_METRICS_LISTEN"); v != "" {
		c.Metrics.Listen = v
	}
	return c.Validate()
}

// devCredentials are the dev principal's credentials, kept sealed in the
// store so dev.env can be rewritten at each start.
type devCredentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

func runDev(ctx context.Context, c config.Config, module string, out io.Writer) error {
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	c.RootKeyFile = filepath.Join(abs, "root.key")
	// The audit file sink is always on; by default in <data-dir>/audit.
	if c.Audit.Dir == "" {
		c.Audit.Dir = filepath.Join(abs, "audit")
	}
	if c.Audit.Dir, err = filepath.Abs(c.Audit.Dir); err != nil {
		return err
	}
	log, flush := newLogger(c)
	defer flush()
	hsm, err := prepareDevHSM(abs, module, realHostTools())
	if err != nil {
		return err
	}
	c.HSM = hsm.cfg
	e, err := openEngine(ctx, c, log, true)
	if err != nil {
		return err
	}
	if err := hsm.markSetUp(); err != nil {
		e.close()
		return fmt.Errorf("dev HSM: %w", err)
	}
	creds, err := e.devPrincipal(ctx)
	if err != nil {
		e.close()
		return err
	}
	p, err := e.issuer.Principal(ctx, creds.ClientID)
	if err == nil {
		err = e.grantAdministrator(ctx, p.ObjectID)
	}
	if err != nil {
		e.close()
		return fmt.Errorf("dev administrator: %w", err)
	}
	now := time.Now()
	ca, err := tlsca.LoadOrCreateCA(filepath.Join(abs, "tls"), now)
	if err != nil {
		e.close()
		return fmt.Errorf("dev CA: %w", err)
	}
	hosts := []string{"127.0.0.1", "::1", "localhost", c.DNSSuffix, c.HSMDNSSuffix}
	vs, err := e.vaults.Vaults(ctx)
	if err != nil {
		e.close()
		return err
	}
	// vaultHost is a vault's host name: managed HSMs are served under their
	// own suffix, as managedhsm.azure.net is separate from vault.azure.net.
	vaultHost := func(name string, sku vault.SKU) string {
		if sku == vault.ManagedHSM {
			return name + "." + c.HSMDNSSuffix
		}
		return name + "." + c.DNSSuffix
	}
	for _, v := range vs {
		hosts = append(hosts, vaultHost(v.Name, v.SKU))
	}
	certs, err := tlsca.NewServerCertificates(ca, hosts, now)
	if err != nil {
		e.close()
		return fmt.Errorf("server certificate: %w", err)
	}
	e.onVaultCreated = func(name string) {
		v, err := e.vaults.Vault(context.Background(), name)
		if err != nil {
			log.Error("looking up a new vault for its certificate host", "vault", name, "err", err)
			return
		}
		if err := certs.AddHosts(time.Now(), vaultHost(name, v.SKU)); err != nil {
			log.Error("adding a new vault's host to the certificate", "vault", name, "err", err)
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		e.close()
		return fmt.Errorf("listen: %w", err)
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	port := strconv.Itoa(c.PublicPort)
	bare := "https://" + net.JoinHostPort(host, port)
	env := []string{
		"KEYWARDEN_VAULT_URL=" + bare,
		"KEYWARDEN_VAULT_DNS_URL=https://" + net.JoinHostPort(devVault+"."+c.DNSSuffix, port),
		"KEYWARDEN_CA_CERT=" + ca.CertPath(),
		"AZURE_TENANT_ID=" + e.tenant,
		"AZURE_CLIENT_ID=" + creds.ClientID,
		"AZURE_CLIENT_SECRET=" + creds.ClientSecret,
		"AZURE_AUTHORITY_HOST=" + bare + "/",
	}
	envPath := filepath.Join(abs, "dev.env")
	if err := writeFile0600(envPath, strings.Join(env, "\n")+"\n"); err != nil {
		ln.Close()
		e.close()
		return fmt.Errorf("dev.env: %w", err)
	}
	printBanner(out, bare, devVault+"."+c.DNSSuffix+":"+port, e.tenant, creds, ca.CertPath(), envPath, hsm.bannerLine())
	return e.serve(ctx, ln, tlsConfig(certs.GetCertificate))
}

// devPrincipal returns the dev administrator, creating it on first start.
func (e *engine) devPrincipal(ctx context.Context) (devCredentials, error) {
	sealer := e.ring.Derive(purposeDevCredentials)
	aad := []byte(devCredentialsBlob)
	var sealed []byte
	err := e.store.View(ctx, func(tx store.Tx) error {
		var err error
		sealed, err = tx.Blob(devCredentialsBlob)
		return err
	})
	if err == nil {
		plain, err := sealer.Open(sealed, aad)
		if err != nil {
			return devCredentials{}, fmt.Errorf("dev credentials: %w", err)
		}
		defer plain.Clear()
		var creds devCredentials
		if err := json.Unmarshal(plain.Expose(), &creds); err != nil {
			return devCredentials{}, fmt.Errorf("dev credentials: %w", err)
		}
		return creds, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return devCredentials{}, err
	}
	p, clientSecret, err := e.issuer.CreatePrincipal(ctx, time.Now(), "keywarden-dev", nil)
	if err != nil {
		return devCredentials{}, fmt.Errorf("dev principal: %w", err)
	}
	creds := devCredentials{ClientID: p.ClientID, ClientSecret: string(clientSecret.Expose())}
	plain, err := json.Marshal(creds)
	if err != nil {
		return devCredentials{}, err
	}
	sealed, err = sealer.Seal(plain, aad)
	clear(plain)
	if err != nil {
		return devCredentials{}, err
	}
	err = e.store.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(devCredentialsBlob, sealed) })
	return creds, err
}

// writeFile0600 replaces path with content, mode 0600, atomically.
func writeFile0600(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printBanner(out io.Writer, bare, named, tenant string, creds devCredentials, caPath, envPath, hsm string) {
	fmt.Fprintf(out, `Keywarden dev server (keys API of Azure Key Vault; not secrets or certificates)

  vault "dev"       %[1]s  (also https://%[2]s — add "127.0.0.1 %[3]s" to /etc/hosts)
  authority         %[1]s/%[4]s
  tenant id         %[4]s
  client id         %[5]s
  client secret     %[6]s
  CA certificate    %[7]s
  settings          %[8]s  (source it, or point SSL_CERT_FILE at the CA)

%[9]s

Go:
  cred, _ := azidentity.NewClientSecretCredential(os.Getenv("AZURE_TENANT_ID"), os.Getenv("AZURE_CLIENT_ID"),
      os.Getenv("AZURE_CLIENT_SECRET"), &azidentity.ClientSecretCredentialOptions{DisableInstanceDiscovery: true,
      ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("AZURE_AUTHORITY_HOST")}}})
  client, _ := azkeys.NewClient(os.Getenv("KEYWARDEN_VAULT_URL"), cred,
      &azkeys.ClientOptions{DisableChallengeResourceVerification: true})

`, bare, named, strings.Split(named, ":")[0], tenant, creds.ClientID, creds.ClientSecret, caPath, envPath, hsm)
}
