package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
)

// NewVaultCommand returns `keywarden vault` and its subcommands create,
// list, show, update and delete, which call the server's administration API
// (docs/admin-api.md). The caller needs a Keywarden administration role at
// scope "/".
func NewVaultCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:          "vault",
		Short:        "Administer vaults: SKU, retention, purge protection, network rules, key policy",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	c := newAdminCmd(env, cmd)
	cmd.AddCommand(c.vaultCreateCommand(), c.vaultListCommand(), c.vaultShowCommand(),
		c.vaultUpdateCommand(), c.vaultDeleteCommand())
	return cmd
}

// vaultSKUs are the SKUs of the admin API.
var vaultSKUs = []string{"standard", "premium", "managedhsm"}

// checkVaultName validates a vault name as the server does: 3 to 24
// lowercase letters, digits and dashes (it is the first label of the vault's
// host name).
func checkVaultName(name string) error {
	ok := len(name) >= 3 && len(name) <= 24
	for _, c := range name {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("vault name %q: want 3 to 24 lowercase letters, digits and dashes", name)
	}
	return nil
}

func vaultNameArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	return checkVaultName(args[0])
}

// parseDefaultAction matches Allow or Deny without regard to case.
func parseDefaultAction(s string) (string, error) {
	a, err := matchFold(s, "default action", []string{"Allow", "Deny"})
	if err != nil {
		return "", fmt.Errorf("--default-action: %w", err)
	}
	return a, nil
}

// parseIPRules parses --ip values (comma-separated or repeated): IPv4 or
// IPv6 addresses or CIDR prefixes. An empty value yields an empty list,
// which clears the rules on update.
func parseIPRules(items []string) ([]string, error) {
	rules := []string{}
	for _, item := range items {
		for s := range strings.SplitSeq(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if strings.Contains(s, "/") {
				if _, err := netip.ParsePrefix(s); err != nil {
					return nil, fmt.Errorf("--ip %q: want an IP address or a CIDR prefix such as 10.0.0.0/8", s)
				}
			} else if _, err := netip.ParseAddr(s); err != nil {
				return nil, fmt.Errorf("--ip %q: want an IP address or a CIDR prefix such as 10.0.0.0/8", s)
			}
			rules = append(rules, s)
		}
	}
	return rules, nil
}

func (c *adminCmd) vaultCreateCommand() *cobra.Command {
	var (
		sku             string
		retentionDays   int
		purgeProtection bool
		defaultAction   string
		ips             []string
		policy          keyPolicyFlags
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a vault",
		Long: `Create a vault. Its host name is NAME followed by the server's DNS suffix,
such as payments.localhost; the soft-delete retention (7 to 90 days) is fixed
after creation and purge protection, once on, cannot be turned off. With
--default-action Deny only the --ip addresses and prefixes may call it.

The key policy flags set rules every new key version of the vault must
follow (create, import, update, rotation, restore): --min-rsa-size,
--allowed-curves, --allowed-key-types, --require-expiry, --max-validity and
--one-purpose-per-key (a key encrypts or signs, not both).`,
		Example: `  keywarden vault create payments --sku premium --retention-days 90 --purge-protection
  keywarden vault create internal --default-action Deny --ip 10.0.0.0/8,2001:db8::/32
  keywarden vault create signing --sku premium --allowed-key-types EC-HSM --allowed-curves P-256,P-384 --max-validity P1Y`,
		Args: vaultNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := matchFold(sku, "SKU", vaultSKUs)
			if err != nil {
				return fmt.Errorf("--sku: %w", err)
			}
			if retentionDays < 7 || retentionDays > 90 {
				return fmt.Errorf("--retention-days %d: want 7 to 90", retentionDays)
			}
			v := vaultWire{Name: args[0], SKU: s, RetentionDays: retentionDays, PurgeProtection: purgeProtection}
			fs := cmd.Flags()
			if fs.Changed("default-action") || fs.Changed("ip") {
				rules := &networkRules{DefaultAction: "Allow"}
				if fs.Changed("default-action") {
					if rules.DefaultAction, err = parseDefaultAction(defaultAction); err != nil {
						return err
					}
				}
				if rules.IPRules, err = parseIPRules(ips); err != nil {
					return err
				}
				v.NetworkRules = rules
			}
			if policy.changed(cmd) {
				if v.KeyPolicy, err = policy.apply(cmd, nil); err != nil {
					return err
				}
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			var out vaultWire
			if err := client.do(cmd.Context(), "create vault "+args[0], http.MethodPost, adminPath("vaults"), nil, v, &out); err != nil {
				return err
			}
			d := newVaultDoc(out)
			return p.print(d, vaultDetailTable(d))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&sku, "sku", "standard", "SKU: "+strings.Join(vaultSKUs, ", "))
	fs.IntVar(&retentionDays, "retention-days", 90, "soft-delete retention in days, 7 to 90; fixed after creation")
	fs.BoolVar(&purgeProtection, "purge-protection", false, "turn purge protection on (it can never be turned off)")
	fs.StringVar(&defaultAction, "default-action", "Allow", "network rule default action: Allow or Deny")
	fs.StringSliceVar(&ips, "ip", nil, "IP addresses or CIDR prefixes allowed when the default action is Deny")
	policy.register(cmd)
	return cmd
}

func (c *adminCmd) vaultListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the vaults of the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			var list struct {
				Value []vaultWire `json:"value"`
			}
			if err := client.do(cmd.Context(), "list vaults", http.MethodGet, adminPath("vaults"), nil, nil, &list); err != nil {
				return err
			}
			vaults := []vaultDoc{}
			for _, v := range list.Value {
				vaults = append(vaults, newVaultDoc(v))
			}
			return p.print(vaultListDoc{Vaults: vaults}, vaultTable(vaults...))
		},
	}
}

func (c *adminCmd) vaultShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a vault with its network rules and key policy",
		Args:  vaultNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			var v vaultWire
			if err := client.do(cmd.Context(), "show vault "+args[0], http.MethodGet, adminPath("vaults", args[0]), nil, nil, &v); err != nil {
				return err
			}
			d := newVaultDoc(v)
			return p.print(d, vaultDetailTable(d))
		},
	}
}

func (c *adminCmd) vaultUpdateCommand() *cobra.Command {
	var (
		purgeProtection bool
		defaultAction   string
		ips             []string
		policy          keyPolicyFlags
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Turn on purge protection or change the network rules or key policy of a vault",
		Long: `Update a vault. Only the flags given change. --ip replaces the whole
allow-list (--ip "" clears it); --default-action and --ip keep the other
half of the network rules as it is. The retention days cannot be changed, and
purge protection cannot be turned off.

The key policy flags change one rule each and keep the others:
--allowed-curves "", --allowed-key-types "" and --max-validity "" remove
their rule, --min-rsa-size 2048 and --require-expiry=false and
--one-purpose-per-key=false turn theirs off. A new policy applies to later
key operations only; existing key versions are left as they are.`,
		Example: `  keywarden vault update payments --purge-protection
  keywarden vault update payments --default-action Deny --ip 10.0.0.0/8,192.0.2.7
  keywarden vault update payments --min-rsa-size 3072 --require-expiry --max-validity P2Y`,
		Args: vaultNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var patch vaultPatch
			if fs.Changed("purge-protection") {
				patch.PurgeProtection = &purgeProtection
			}
			var (
				action   string
				ipRules  []string
				err      error
				networks = fs.Changed("default-action") || fs.Changed("ip")
			)
			if fs.Changed("default-action") {
				if action, err = parseDefaultAction(defaultAction); err != nil {
					return err
				}
			}
			if fs.Changed("ip") {
				if ipRules, err = parseIPRules(ips); err != nil {
					return err
				}
			}
			policies := policy.changed(cmd)
			if policies {
				// Check the flags before any request.
				if _, err := policy.apply(cmd, nil); err != nil {
					return err
				}
			}
			if patch.PurgeProtection == nil && !networks && !policies {
				return errors.New("nothing to update: give --purge-protection, --default-action, --ip or a key policy flag")
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "update vault " + args[0]
			if networks || policies {
				// The API replaces the rule set and the key policy as a
				// whole: start from the current ones.
				var cur vaultWire
				if err := client.do(cmd.Context(), what, http.MethodGet, adminPath("vaults", args[0]), nil, nil, &cur); err != nil {
					return err
				}
				if networks {
					rules := newVaultDoc(cur).NetworkRules
					if action != "" {
						rules.DefaultAction = action
					}
					if ipRules != nil {
						rules.IPRules = ipRules
					}
					patch.NetworkRules = &rules
				}
				if policies {
					if patch.KeyPolicy, err = policy.apply(cmd, cur.KeyPolicy); err != nil {
						return err
					}
				}
			}
			var out vaultWire
			if err := client.do(cmd.Context(), what, http.MethodPatch, adminPath("vaults", args[0]), nil, patch, &out); err != nil {
				return err
			}
			d := newVaultDoc(out)
			return p.print(d, vaultDetailTable(d))
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&purgeProtection, "purge-protection", true, "turn purge protection on (it can never be turned off)")
	fs.StringVar(&defaultAction, "default-action", "", "network rule default action: Allow or Deny")
	fs.StringSliceVar(&ips, "ip", nil, "IP addresses or CIDR prefixes allowed, replacing the current ones")
	policy.register(cmd)
	return cmd
}

func (c *adminCmd) vaultDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a vault; refused while it holds keys, active or soft-deleted",
		Args:  vaultNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			if err := client.do(cmd.Context(), "delete vault "+args[0], http.MethodDelete, adminPath("vaults", args[0]), nil, nil, nil); err != nil {
				return err
			}
			d := deleteDoc{Type: "vault", ID: args[0], Deleted: true}
			return p.print(d, deleteTable(d))
		},
	}
}
