package cli

import (
	"os"

	"github.com/spf13/cobra"
)

// NewVaultCommand returns `keywarden vault` with its list subcommand. Until
// the server has a vault admin API, list prints the configured vault only.
func NewVaultCommand(env Env) *cobra.Command {
	env = env.withDefaults()
	var (
		conn   connFlags
		output string
	)
	cmd := &cobra.Command{
		Use:          "vault",
		Short:        "Show the vaults this client is configured for",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	conn.register(cmd)
	registerOutput(cmd, &output)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the configured vaults",
		Long: `List the configured vaults: the vault of --vault-url, KEYWARDEN_VAULT_URL or
the env file. It does not contact the server. A vault is named by the first
label of its host (dev.localhost → dev), or "dev" for the server's bare origin
(an IP address or a single-label host such as localhost).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			if f := cmd.Flag("env-file"); f != nil {
				conn.envFileSet = f.Changed
			}
			s, err := resolveSettings(conn, env.Getenv, os.ReadFile)
			if err != nil {
				return err
			}
			u, err := s.checkVaultURL()
			if err != nil {
				return err
			}
			vaults := []vaultDoc{{Name: vaultName(u), URL: s.vaultURL}}
			p := printer{w: env.Stdout, format: format}
			return p.print(vaultListDoc{Vaults: vaults}, vaultTable(vaults))
		},
	}
	cmd.AddCommand(list)
	return cmd
}
