package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/store"
)

func newServerCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the production server from a config file",
		Long: `server runs Keywarden with the operator's TLS certificate and a data directory
prepared by "keywarden init". Settings come from the JSON config file, then
KEYWARDEN_* environment variables. Secrets are given by file path only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(path, os.Getenv)
			if err != nil {
				return err
			}
			if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
				return errors.New("config: tls.certFile and tls.keyFile are required by keywarden server")
			}
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return fmt.Errorf("TLS certificate: %w", err)
			}
			log, flush := newLogger(c)
			defer flush()
			e, err := openEngine(cmd.Context(), c, log, false)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", c.Listen)
			if err != nil {
				e.close()
				return err
			}
			log.Info("keywarden serving", "listen", c.Listen, "tenant", e.tenant, "version", version)
			return e.serve(cmd.Context(), ln, tlsConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }))
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the JSON config file (required)")
	cmd.MarkFlagRequired("config")
	return cmd
}

func newInitCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Prepare a production data directory: root key and first administrator",
		Long: `init creates the root key and the store of a production data directory and the
first administrator principal, whose client secret is printed once and never
stored in plaintext. It refuses a data directory that already has principals.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := config.Load(path, os.Getenv)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log, flush := newLogger(c)
			defer flush()
			e, err := openEngine(ctx, c, log, true)
			if err != nil {
				return err
			}
			defer e.close()
			var existing []store.Principal
			if err := e.store.View(ctx, func(tx store.Tx) error {
				var err error
				existing, err = tx.Principals()
				return err
			}); err != nil {
				return err
			}
			if len(existing) > 0 {
				return fmt.Errorf("data directory %s is already initialised (%d principals)", c.DataDir, len(existing))
			}
			p, clientSecret, err := e.issuer.CreatePrincipal(ctx, time.Now(), "administrator", nil)
			if err != nil {
				return err
			}
			if err := e.grantAdministrator(ctx, p.ObjectID); err != nil {
				return err
			}
			defer clientSecret.Clear()
			root := c.RootKeyFile + "  (back it up: without it nothing can be read)"
			if c.SealMode == "hsm" {
				root = e.ring.Active() + " inside the HSM token " + c.HSM.TokenLabel + "  (back up the token: without it nothing can be read)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), `Initialised %s
  root key        %s
  tenant id       %s
  client id       %s
  client secret   %s
The client secret is shown once and is not stored; keep it now.
`, c.DataDir, root, e.tenant, p.ClientID, clientSecret.Expose())
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the JSON config file (required)")
	cmd.MarkFlagRequired("config")
	return cmd
}
