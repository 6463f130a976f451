package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// NewRoleCommand returns `keywarden role` and its subcommands list, show,
// create, delete, assign, unassign and assignments, which manage role
// definitions and role assignments through the administration API
// (docs/admin-api.md). Roles are named by id or by name.
func NewRoleCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:          "role",
		Short:        "Administer role definitions and role assignments",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	c := newAdminCmd(env, cmd)
	cmd.AddCommand(c.roleListCommand(), c.roleShowCommand(), c.roleCreateCommand(), c.roleDeleteCommand(),
		c.roleAssignCommand(), c.roleUnassignCommand(), c.roleAssignmentsCommand())
	return cmd
}

// listRoles returns all role definitions, built-in and custom.
func listRoles(ctx context.Context, client *adminClient, what string) ([]roleDefinition, error) {
	var list struct {
		Value []roleDefinition `json:"value"`
	}
	if err := client.do(ctx, what, http.MethodGet, adminPath("roleDefinitions"), nil, nil, &list); err != nil {
		return nil, err
	}
	return list.Value, nil
}

// resolveRole returns the role definition whose id, or else whose name
// (without regard to case), is ref. An id is looked up directly; a name
// through the list.
func resolveRole(ctx context.Context, client *adminClient, what, ref string) (roleDefinition, error) {
	if isUUID(ref) {
		var r roleDefinition
		err := client.do(ctx, what, http.MethodGet, adminPath("roleDefinitions", ref), nil, nil, &r)
		return r, err
	}
	roles, err := listRoles(ctx, client, what)
	if err != nil {
		return roleDefinition{}, err
	}
	var found []roleDefinition
	for _, r := range roles {
		if strings.EqualFold(r.RoleName, ref) || strings.EqualFold(r.ID, ref) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return roleDefinition{}, fmt.Errorf("%s: no role with id or name %q (see keywarden role list)", what, ref)
	case 1:
		return found[0], nil
	}
	return roleDefinition{}, fmt.Errorf("%s: %d roles are named %q: give the role id", what, len(found), ref)
}

// roleNames maps lower-cased role ids to names, or is nil when the role
// definitions cannot be read (the names are a convenience of the output).
func roleNames(ctx context.Context, client *adminClient) map[string]string {
	roles, err := listRoles(ctx, client, "list roles")
	if err != nil {
		return nil
	}
	names := make(map[string]string, len(roles))
	for _, r := range roles {
		names[strings.ToLower(r.ID)] = r.RoleName
	}
	return names
}

// splitList splits comma-separated or repeated flag values, dropping blanks.
func splitList(items []string) []string {
	out := []string{}
	for _, item := range items {
		for s := range strings.SplitSeq(item, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// scopeFlags are --scope, --vault and --key, which name a role assignment
// scope: "/" (the server), "/vaults/{v}" or "/vaults/{v}/keys/{k}".
type scopeFlags struct {
	scope, vault, key string
}

func (f *scopeFlags) register(cmd *cobra.Command, scopeDefault, scopeUsage string) {
	fs := cmd.Flags()
	fs.StringVar(&f.scope, "scope", scopeDefault, scopeUsage)
	fs.StringVar(&f.vault, "vault", "", "vault of the scope: /vaults/VAULT")
	fs.StringVar(&f.key, "key", "", "key of the scope, with --vault: /vaults/VAULT/keys/KEY")
}

// resolve returns the scope the flags name; scopeSet reports whether
// --scope was given.
func (f *scopeFlags) resolve(scopeSet bool) (string, error) {
	switch {
	case f.vault != "" && scopeSet:
		return "", errors.New("give --scope or --vault [--key], not both")
	case f.key != "" && f.vault == "":
		return "", errors.New("--key needs --vault")
	case f.vault != "":
		if err := checkVaultName(f.vault); err != nil {
			return "", err
		}
		if f.key == "" {
			return "/vaults/" + f.vault, nil
		}
		if err := checkKeyName(f.key); err != nil {
			return "", err
		}
		return "/vaults/" + f.vault + "/keys/" + f.key, nil
	}
	if f.scope == "" {
		return "", nil
	}
	return f.scope, checkScope(f.scope)
}

// checkScope validates a role assignment scope.
func checkScope(scope string) error {
	if scope == "/" {
		return nil
	}
	parts := strings.Split(scope, "/")
	bad := fmt.Errorf("scope %q: want /, /vaults/VAULT or /vaults/VAULT/keys/KEY", scope)
	if parts[0] != "" || (len(parts) != 3 && len(parts) != 5) || parts[1] != "vaults" {
		return bad
	}
	if checkVaultName(parts[2]) != nil {
		return bad
	}
	if len(parts) == 5 && (parts[3] != "keys" || checkKeyName(parts[4]) != nil) {
		return bad
	}
	return nil
}

// principalFlags are --principal (a client id or name) and --object-id.
type principalFlags struct {
	principal, objectID string
}

func (f *principalFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.principal, "principal", "", "client id or name of a service principal (resolved to its object id)")
	fs.StringVar(&f.objectID, "object-id", "", "object id of the principal or group, such as an external token's oid or a group id")
}

func (f *principalFlags) check(required bool) error {
	switch {
	case f.principal != "" && f.objectID != "":
		return errors.New("give --principal or --object-id, not both")
	case required && f.principal == "" && f.objectID == "":
		return errors.New("give --principal CLIENT_ID or --object-id OBJECT_ID")
	}
	return nil
}

// resolve returns the object id the flags name, or "" if neither is given.
func (f *principalFlags) resolve(ctx context.Context, client *adminClient, what string) (string, error) {
	if f.objectID != "" || f.principal == "" {
		return f.objectID, nil
	}
	p, err := resolvePrincipal(ctx, client, what, f.principal)
	if err != nil {
		return "", err
	}
	if p.ObjectID == "" {
		return "", fmt.Errorf("%s: principal %s has no object id", what, f.principal)
	}
	return p.ObjectID, nil
}

func (c *adminCmd) roleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List role definitions, built-in and custom",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			roles, err := listRoles(cmd.Context(), client, "list roles")
			if err != nil {
				return err
			}
			docs := []roleDefinition{}
			for _, r := range roles {
				docs = append(docs, r.normalized())
			}
			return p.print(roleListDoc{Roles: docs}, roleListTable(docs))
		},
	}
}

func roleArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	if strings.TrimSpace(args[0]) == "" {
		return errors.New("empty role")
	}
	return nil
}

func (c *adminCmd) roleShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID|NAME",
		Short:   "Show a role definition and its data actions",
		Example: `  keywarden role show "Key Vault Crypto User"`,
		Args:    roleArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			r, err := resolveRole(cmd.Context(), client, "show role "+args[0], args[0])
			if err != nil {
				return err
			}
			r = r.normalized()
			return p.print(r, roleTable(r))
		},
	}
}

func (c *adminCmd) roleCreateCommand() *cobra.Command {
	var (
		name, description, id string
		dataActions           []string
		notDataActions        []string
		scopes                []string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --data-actions A,B [--not-data-actions C]",
		Short: "Create a custom role",
		Long: `Create a custom role definition: the data actions it allows, less the
not-data-actions, with wildcards as in Azure (Microsoft.KeyVault/vaults/keys/*).
Its id is a new random UUID unless --id is given.`,
		Example: `  keywarden role create --name "Key Signer" --description "sign and verify only" \
    --data-actions Microsoft.KeyVault/vaults/keys/read,Microsoft.KeyVault/vaults/keys/sign/action,Microsoft.KeyVault/vaults/keys/verify/action`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name = strings.TrimSpace(name)
			if name == "" {
				return errors.New("--name: want a role name")
			}
			r := roleDefinition{
				ID: id, RoleName: name, Description: description, Type: "CustomRole",
				Permissions: []permission{{
					Actions: []string{}, NotActions: []string{},
					DataActions: splitList(dataActions), NotDataActions: splitList(notDataActions),
				}},
				AssignableScopes: splitList(scopes),
			}
			if len(r.Permissions[0].DataActions) == 0 {
				return errors.New("--data-actions: want at least one data action")
			}
			if len(r.AssignableScopes) == 0 {
				r.AssignableScopes = []string{"/"}
			}
			for _, s := range r.AssignableScopes {
				if err := checkScope(s); err != nil {
					return fmt.Errorf("--assignable-scopes: %w", err)
				}
			}
			if r.ID == "" {
				u, err := uuid.NewRandomFromReader(c.env.Rand)
				if err != nil {
					return err
				}
				r.ID = u.String()
			} else if !isUUID(r.ID) {
				return fmt.Errorf("--id %q: want a UUID", r.ID)
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "create role " + name
			roles, err := listRoles(cmd.Context(), client, what)
			if err != nil {
				return err
			}
			for _, other := range roles {
				if strings.EqualFold(other.RoleName, name) {
					return fmt.Errorf("%s: a role with this name exists: %s", what, other.ID)
				}
			}
			var out roleDefinition
			if err := client.do(cmd.Context(), what, http.MethodPut, adminPath("roleDefinitions", r.ID), nil, r, &out); err != nil {
				return err
			}
			out = out.normalized()
			return p.print(out, roleTable(out))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "role name (required)")
	fs.StringVar(&description, "description", "", "description")
	fs.StringSliceVar(&dataActions, "data-actions", nil, "data actions the role allows, comma-separated or repeated")
	fs.StringSliceVar(&notDataActions, "not-data-actions", nil, "data actions taken out of --data-actions")
	fs.StringSliceVar(&scopes, "assignable-scopes", nil, "scopes the role may be assigned at (default /)")
	fs.StringVar(&id, "id", "", "role id (default: a new random UUID)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (c *adminCmd) roleDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "Delete a custom role; refused while it is assigned",
		Args:  roleArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "delete role " + args[0]
			id := args[0]
			if !isUUID(id) {
				r, err := resolveRole(cmd.Context(), client, what, id)
				if err != nil {
					return err
				}
				id = r.ID
			}
			if err := client.do(cmd.Context(), what, http.MethodDelete, adminPath("roleDefinitions", id), nil, nil, nil); err != nil {
				return err
			}
			d := deleteDoc{Type: "roleDefinition", ID: id, Deleted: true}
			return p.print(d, deleteTable(d))
		},
	}
}

func (c *adminCmd) roleAssignCommand() *cobra.Command {
	var (
		who    principalFlags
		role   string
		issuer string
		scope  scopeFlags
	)
	cmd := &cobra.Command{
		Use:   "assign (--principal CLIENT_ID | --object-id ID [--issuer URL]) --role ROLE [--scope SCOPE | --vault V [--key K]]",
		Short: "Grant a role to a principal or group at a scope",
		Long: `Assign a role to a principal at a scope: "/" (the whole server, the
default), /vaults/VAULT or /vaults/VAULT/keys/KEY. --principal takes a client
id (or the name) of a service principal and assigns to its object id;
--object-id takes the object id as is, for groups and external principals.
--role takes a role name or id.

An assignment applies only to tokens of one issuer. Without --issuer it is
for a principal of Keywarden's built-in token issuer. For a principal or
group of a trusted external issuer give --issuer with that issuer's URL,
exactly as configured in externalIssuers (its tokens' iss), and the oid/sub
(or configured principal claim) or group id as --object-id: an external
token whose oid equals a built-in principal's object id gets none of its
roles.`,
		Example: `  keywarden role assign --principal billing --role "Key Vault Crypto User" --vault payments --key invoice-signing
  keywarden role assign --object-id 5b1e0c9a-2f7d-4c1e-9a3b-6d8f0e1c2b3a --role "Key Vault Reader" --scope /
  keywarden role assign --object-id signers --issuer https://idp.example.com/realms/apps --role "Key Vault Crypto User" --vault payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := who.check(true); err != nil {
				return err
			}
			if err := checkIssuer(issuer, who.principal != ""); err != nil {
				return err
			}
			if strings.TrimSpace(role) == "" {
				return errors.New("--role: want a role name or id")
			}
			sc, err := scope.resolve(cmd.Flags().Changed("scope"))
			if err != nil {
				return err
			}
			u, err := uuid.NewRandomFromReader(c.env.Rand)
			if err != nil {
				return err
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "assign role " + role
			r, err := resolveRole(cmd.Context(), client, what, role)
			if err != nil {
				return err
			}
			oid, err := who.resolve(cmd.Context(), client, what)
			if err != nil {
				return err
			}
			body := assignmentWire{PrincipalID: oid, PrincipalIssuer: issuer, RoleDefinitionID: r.ID, Scope: sc}
			var out assignmentWire
			if err := client.do(cmd.Context(), what, http.MethodPut, adminPath("roleAssignments", u.String()), nil, body, &out); err != nil {
				return err
			}
			d := newAssignmentDoc(out, map[string]string{strings.ToLower(r.ID): r.RoleName})
			return p.print(d, assignmentTable(d))
		},
	}
	who.register(cmd)
	cmd.Flags().StringVar(&role, "role", "", "role name or id (required)")
	_ = cmd.MarkFlagRequired("role")
	cmd.Flags().StringVar(&issuer, "issuer", "", "URL of the external issuer of the --object-id principal or group, as configured (default: the built-in issuer)")
	scope.register(cmd, "/", "scope: /, /vaults/VAULT or /vaults/VAULT/keys/KEY")
	return cmd
}

// checkIssuer validates --issuer: empty (the built-in issuer), or an https
// URL with a host, not with --principal (a built-in service principal).
func checkIssuer(issuer string, builtinPrincipal bool) error {
	if issuer == "" {
		return nil
	}
	if builtinPrincipal {
		return errors.New("--issuer goes with --object-id: --principal names a principal of the built-in issuer")
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--issuer %q: want the external issuer's https URL", issuer)
	}
	return nil
}

func (c *adminCmd) roleUnassignCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unassign ASSIGNMENT_ID",
		Short: "Remove a role assignment",
		Args:  roleArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			if err := client.do(cmd.Context(), "remove role assignment "+args[0], http.MethodDelete, adminPath("roleAssignments", args[0]), nil, nil, nil); err != nil {
				return err
			}
			d := deleteDoc{Type: "roleAssignment", ID: args[0], Deleted: true}
			return p.print(d, deleteTable(d))
		},
	}
}

func (c *adminCmd) roleAssignmentsCommand() *cobra.Command {
	var (
		who   principalFlags
		scope scopeFlags
	)
	cmd := &cobra.Command{
		Use:   "assignments [--principal CLIENT_ID | --object-id ID] [--scope SCOPE | --vault V [--key K]]",
		Short: "List role assignments, optionally of one principal or at one scope",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := who.check(false); err != nil {
				return err
			}
			sc, err := scope.resolve(cmd.Flags().Changed("scope"))
			if err != nil {
				return err
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			what := "list role assignments"
			oid, err := who.resolve(cmd.Context(), client, what)
			if err != nil {
				return err
			}
			q := url.Values{}
			if oid != "" {
				q.Set("principalId", oid)
			}
			if sc != "" {
				q.Set("scope", sc)
			}
			var list struct {
				Value []assignmentWire `json:"value"`
			}
			if err := client.do(cmd.Context(), what, http.MethodGet, adminPath("roleAssignments"), q, nil, &list); err != nil {
				return err
			}
			docs := []assignmentDoc{}
			if len(list.Value) > 0 {
				names := roleNames(cmd.Context(), client)
				for _, a := range list.Value {
					docs = append(docs, newAssignmentDoc(a, names))
				}
			}
			return p.print(assignmentListDoc{Assignments: docs}, assignmentTable(docs...))
		},
	}
	who.register(cmd)
	scope.register(cmd, "", "only assignments at this scope: /, /vaults/VAULT or /vaults/VAULT/keys/KEY")
	return cmd
}
