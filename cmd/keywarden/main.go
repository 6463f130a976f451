// Command keywarden is the Keywarden key vault: the server (`dev`, `server`,
// `init`), local tools (`audit`, `hsm`) and the client commands (`key`,
// `vault`, `bench`).
//
// main only wires: flags → config → dependencies → run. Every rule lives in
// the internal packages.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "keywarden",
		Short:         "Keywarden: a self-hosted key vault with the Azure Key Vault keys API",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newDevCommand(), newServerCommand(), newInitCommand(), newAuditCommand(), newHSMCommand(), newRestoreCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "keywarden %s\n", version)
		},
	})
	cli.AddCommands(root, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now, Rand: rand.Reader})
	if err := root.ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
