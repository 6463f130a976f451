package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// NewPrincipalCommand returns `keywarden principal` and its subcommands
// create, list, show, disable, enable, delete and credential add|remove,
// which manage the service principals of the server's built-in token issuer
// through the administration API (docs/admin-api.md).
//
// A principal is named by its client id or, where that is unambiguous, by
// its name.
func NewPrincipalCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:          "principal",
		Short:        "Administer service principals of the built-in token issuer",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	c := newAdminCmd(env, cmd)
	credential := &cobra.Command{
		Use:   "credential",
		Short: "Add or remove client secrets and client certificates of a principal",
		Args:  cobra.NoArgs,
	}
	credential.AddCommand(c.credentialAddCommand(), c.credentialRemoveCommand())
	cmd.AddCommand(c.principalCreateCommand(), c.principalListCommand(), c.principalShowCommand(),
		c.principalSetDisabledCommand(true), c.principalSetDisabledCommand(false),
		c.principalDeleteCommand(), credential)
	return cmd
}

// parseDays parses a lifetime in whole days: a number of days (365) or a
// duration such as 90d, 12w or 1y.
func parseDays(flag, s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil {
		d, derr := parseDuration(s)
		if derr != nil || d%(24*time.Hour) != 0 {
			return 0, fmt.Errorf("%s %q: want whole days such as 90d, 12w or 1y", flag, s)
		}
		n = int(d / (24 * time.Hour))
	}
	if n < 1 {
		return 0, fmt.Errorf("%s %q: want at least one day", flag, s)
	}
	return n, nil
}

// isUUID reports whether s is a UUID, as client, object and role ids are.
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// listPrincipals returns all principals.
func listPrincipals(ctx context.Context, client *adminClient, what string) ([]principalWire, error) {
	var list struct {
		Value []principalWire `json:"value"`
	}
	if err := client.do(ctx, what, http.MethodGet, adminPath("principals"), nil, nil, &list); err != nil {
		return nil, err
	}
	return list.Value, nil
}

// resolvePrincipal returns the principal whose client id, or else whose
// unique name, is ref. A UUID is looked up directly; a name through the list.
func resolvePrincipal(ctx context.Context, client *adminClient, what, ref string) (principalWire, error) {
	if isUUID(ref) {
		var p principalWire
		err := client.do(ctx, what, http.MethodGet, adminPath("principals", ref), nil, nil, &p)
		return p, err
	}
	all, err := listPrincipals(ctx, client, what)
	if err != nil {
		return principalWire{}, err
	}
	var found []principalWire
	for _, p := range all {
		if p.Name == ref || strings.EqualFold(p.ClientID, ref) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return principalWire{}, fmt.Errorf("%s: no principal with client id or name %q", what, ref)
	case 1:
		return found[0], nil
	}
	return principalWire{}, fmt.Errorf("%s: %d principals are named %q: give the client id", what, len(found), ref)
}

// clientIDOf returns ref if it is a client id (a UUID), else the client id
// of the principal named ref.
func clientIDOf(ctx context.Context, client *adminClient, what, ref string) (string, error) {
	if isUUID(ref) {
		return ref, nil
	}
	p, err := resolvePrincipal(ctx, client, what, ref)
	return p.ClientID, err
}

func principalArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	if strings.TrimSpace(args[0]) == "" {
		return errors.New("empty principal")
	}
	return nil
}

func (c *adminCmd) principalCreateCommand() *cobra.Command {
	var secretExpires string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a service principal with a client secret",
		Long: `Create a service principal of the built-in token issuer. It prints the
client id, the object id (the id role assignments use) and a new client
secret. The secret is shown only this once: the server keeps a slow hash of
it only. The principal can do nothing until it is assigned a role.`,
		Example: `  keywarden principal create billing --secret-expires 365d
  keywarden principal create billing -o json | jq -r .clientSecret`,
		Args: principalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			body := struct {
				Name                string `json:"name"`
				SecretExpiresInDays int    `json:"secretExpiresInDays,omitempty"`
			}{Name: args[0]}
			if cmd.Flags().Changed("secret-expires") {
				days, err := parseDays("--secret-expires", secretExpires)
				if err != nil {
					return err
				}
				body.SecretExpiresInDays = days
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			var out principalWire
			if err := client.do(cmd.Context(), "create principal "+args[0], http.MethodPost, adminPath("principals"), nil, body, &out); err != nil {
				return err
			}
			d := newPrincipalDoc(out)
			if d.ClientSecret != "" && p.format == formatJSON {
				fmt.Fprintln(c.env.Stderr, secretNote)
			}
			return p.print(d, principalTable(d))
		},
	}
	cmd.Flags().StringVar(&secretExpires, "secret-expires", "", "lifetime of the client secret, such as 365d (default: the server's)")
	return cmd
}

func (c *adminCmd) principalListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List service principals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			all, err := listPrincipals(cmd.Context(), client, "list principals")
			if err != nil {
				return err
			}
			docs := []principalDoc{}
			for _, pw := range all {
				docs = append(docs, newPrincipalDoc(pw))
			}
			return p.print(principalListDoc{Principals: docs}, principalListTable(docs))
		},
	}
}

func (c *adminCmd) principalShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show CLIENT_ID|NAME",
		Short: "Show a service principal and its credentials",
		Args:  principalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			pw, err := resolvePrincipal(cmd.Context(), client, "show principal "+args[0], args[0])
			if err != nil {
				return err
			}
			d := newPrincipalDoc(pw)
			return p.print(d, principalTable(d))
		},
	}
}

// principalSetDisabledCommand returns disable (disabled true) or enable.
func (c *adminCmd) principalSetDisabledCommand(disabled bool) *cobra.Command {
	verb, short := "enable", "Enable a disabled service principal"
	if disabled {
		verb, short = "disable", "Disable a service principal; its tokens stop working at once"
	}
	return &cobra.Command{
		Use:   verb + " CLIENT_ID|NAME",
		Short: short,
		Args:  principalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := verb + " principal " + args[0]
			id, err := clientIDOf(cmd.Context(), client, what, args[0])
			if err != nil {
				return err
			}
			var out principalWire
			body := map[string]bool{"disabled": disabled}
			if err := client.do(cmd.Context(), what, http.MethodPatch, adminPath("principals", id), nil, body, &out); err != nil {
				return err
			}
			d := newPrincipalDoc(out)
			return p.print(d, principalTable(d))
		},
	}
}

func (c *adminCmd) principalDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID|NAME",
		Short: "Delete a service principal; its tokens stop working at once",
		Args:  principalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "delete principal " + args[0]
			id, err := clientIDOf(cmd.Context(), client, what, args[0])
			if err != nil {
				return err
			}
			if err := client.do(cmd.Context(), what, http.MethodDelete, adminPath("principals", id), nil, nil, nil); err != nil {
				return err
			}
			d := deleteDoc{Type: "principal", ID: id, Deleted: true}
			return p.print(d, deleteTable(d))
		},
	}
}

// readCertificatePEM returns the first certificate of a PEM file, re-encoded
// on its own: a private key in the same file is never sent.
func readCertificatePEM(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	defer clear(data)
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return "", fmt.Errorf("%s: no PEM CERTIFICATE block", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})), nil
	}
}

func (c *adminCmd) credentialAddCommand() *cobra.Command {
	var (
		secret   bool
		expires  string
		certFile string
	)
	cmd := &cobra.Command{
		Use:   "add CLIENT_ID|NAME (--secret [--expires 90d] | --certificate FILE)",
		Short: "Add a client secret or a client certificate to a principal",
		Long: `Add a credential to a principal: a new client secret, generated by the
server and shown only this once, or a client certificate (its PEM file; a
private key in the same file is not sent) for RFC 7523 client assertions as
azidentity.ClientCertificateCredential sends them.`,
		Example: `  keywarden principal credential add billing --secret --expires 90d
  keywarden principal credential add 0b5e…-uuid --certificate billing-cert.pem`,
		Args: principalArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if secret == (certFile != "") {
				return errors.New("give exactly one of --secret and --certificate")
			}
			body := struct {
				Type          string `json:"type"`
				ExpiresInDays int    `json:"expiresInDays,omitempty"`
				Certificate   string `json:"certificate,omitempty"`
			}{Type: "secret"}
			if cmd.Flags().Changed("expires") {
				if !secret {
					return errors.New("--expires applies to --secret only")
				}
				days, err := parseDays("--expires", expires)
				if err != nil {
					return err
				}
				body.ExpiresInDays = days
			}
			if certFile != "" {
				pemText, err := readCertificatePEM(certFile)
				if err != nil {
					return err
				}
				body.Type, body.Certificate = "certificate", pemText
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "add credential to principal " + args[0]
			id, err := clientIDOf(cmd.Context(), client, what, args[0])
			if err != nil {
				return err
			}
			var out credentialWire
			if err := client.do(cmd.Context(), what, http.MethodPost, adminPath("principals", id, "credentials"), nil, body, &out); err != nil {
				return err
			}
			d := newCredentialDoc(out)
			d.ClientID = id
			if d.ClientSecret != "" && p.format == formatJSON {
				fmt.Fprintln(c.env.Stderr, secretNote)
			}
			return p.print(d, credentialTable(d))
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&secret, "secret", false, "add a new client secret, generated by the server")
	fs.StringVar(&expires, "expires", "", "lifetime of the new secret, such as 90d (default: the server's)")
	fs.StringVar(&certFile, "certificate", "", "PEM file of the client certificate to add")
	return cmd
}

func (c *adminCmd) credentialRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove CLIENT_ID|NAME CREDENTIAL_ID",
		Short: "Remove a credential of a principal",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "remove credential " + args[1] + " of principal " + args[0]
			id, err := clientIDOf(cmd.Context(), client, what, args[0])
			if err != nil {
				return err
			}
			if err := client.do(cmd.Context(), what, http.MethodDelete, adminPath("principals", id, "credentials", args[1]), nil, nil, nil); err != nil {
				return err
			}
			d := deleteDoc{Type: "credential", ID: args[1], Deleted: true}
			return p.print(d, deleteTable(d))
		},
	}
}
