// Package cli implements the client commands of the keywarden binary:
// `keywarden key ...` and `keywarden bench`, which talk HTTPS to a Keywarden
// server through the Azure SDK for Go (azkeys and azidentity), exactly as any
// Azure Key Vault client would; and the administration commands `keywarden
// principal ...`, `keywarden role ...` and `keywarden vault ...`, which call
// the server's administration API (docs/admin-api.md) with plain JSON over
// HTTPS and an azidentity token. They never touch the store, the seal or the
// vault package.
//
// # Wiring
//
// cmd/keywarden adds the commands to its root command:
//
//	root := &cobra.Command{Use: "keywarden", SilenceUsage: true}
//	cli.AddCommands(root, cli.Env{
//		Stdout: os.Stdout,
//		Stderr: os.Stderr,
//		Getenv: os.Getenv,
//		Now:    time.Now,
//		Rand:   rand.Reader,
//	})
//	if err := root.ExecuteContext(ctx); err != nil {
//		os.Exit(1) // cobra has already printed "Error: ..." to stderr
//	}
//
// or builds them one by one with NewKeyCommand, NewPrincipalCommand,
// NewRoleCommand, NewVaultCommand and NewBenchCommand. Execute runs a command line against a fresh root, for
// end-to-end tests.
//
// # Connection settings
//
// Each setting is taken from the first of: its flag, its environment
// variable, the env file (--env-file, default ./keywarden-data/dev.env, the
// KEY=value file that `keywarden dev` writes):
//
//	--vault-url           KEYWARDEN_VAULT_URL
//	--ca-cert             KEYWARDEN_CA_CERT
//	--tenant-id           AZURE_TENANT_ID
//	--client-id           AZURE_CLIENT_ID
//	(no flag)             AZURE_CLIENT_SECRET
//	--authority-host      AZURE_AUTHORITY_HOST
//	--client-certificate  AZURE_CLIENT_CERTIFICATE_PATH
//	(no flag)             AZURE_CLIENT_CERTIFICATE_PASSWORD
//	--admin-url           KEYWARDEN_ADMIN_URL (administration commands only)
//
// The client secret has no flag, so that it never shows in a process list or
// a shell history. A client certificate (PEM with certificate and key, or
// PKCS#12), when set, is used instead of the secret: the token request then
// carries an RFC 7523 client assertion (azidentity's
// ClientCertificateCredential).
//
// # Administration API
//
// The administration API lives at the server's bare origin: the vault URL's
// origin when it is one (an IP address or a single-label host such as
// localhost), else the origin of the authority host (for a named vault URL
// such as https://dev.localhost:8443), unless --admin-url says otherwise.
// As the Azure SDKs do, the first request goes without a token; the
// `resource` of the 401 WWW-Authenticate challenge plus "/.default" is the
// scope of the token, which is then sent as a bearer token.
//
// # Output and errors
//
// Every command prints a table for people, or with --output json one stable
// JSON document (byte strings in base64url without padding, times in RFC 3339
// UTC). A failed call returns an error carrying the Azure error code and
// message (see APIError), printed as "Code: Message (HTTP status)"; client
// secrets never appear in errors. The commands set SilenceUsage so that cobra
// prints only that.
package cli

import (
	"context"
	"crypto/rand"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// Env is what the commands read and write instead of process globals. The
// zero value is usable: nil writers discard, a nil Getenv sees an empty
// environment, a nil Now is time.Now and a nil Rand is crypto/rand.Reader.
type Env struct {
	// Stdout receives command output (tables and JSON documents).
	Stdout io.Writer
	// Stderr receives progress notes, warnings and cobra's error line.
	Stderr io.Writer
	// Getenv looks up an environment variable, as os.Getenv.
	Getenv func(key string) string
	// Now returns the current time; relative times such as --exp 90d are
	// counted from it.
	Now func() time.Time
	// Rand is the source of randomness for bench key names and the local
	// keys of the raw crypto runs. It must be safe for concurrent use.
	Rand io.Reader
}

func (e Env) withDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Rand == nil {
		e.Rand = rand.Reader
	}
	return e
}

// AddCommands adds the key, principal, role, vault, bench, backup, rootkey
// and byok commands to root.
func AddCommands(root *cobra.Command, env Env) {
	root.AddCommand(NewKeyCommand(env), NewPrincipalCommand(env), NewRoleCommand(env), NewVaultCommand(env),
		NewBenchCommand(env), NewBackupCommand(env), NewRootKeyCommand(env), NewBYOKCommand(env))
}

// Execute runs one command line (args without the program name, such as
// []string{"key", "list", "--output", "json"}) against a fresh root command
// holding the commands of AddCommands. Output and cobra's error line go to
// env's writers. It returns the command's error, if any.
func Execute(ctx context.Context, args []string, env Env) error {
	env = env.withDefaults()
	root := &cobra.Command{
		Use:           "keywarden",
		Short:         "Keywarden client commands",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetArgs(args)
	AddCommands(root, env)
	return root.ExecuteContext(ctx)
}
