package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"
)

// keyCmd is the state shared by the key subcommands.
type keyCmd struct {
	env    Env
	conn   connFlags
	output string
}

// NewKeyCommand returns `keywarden key` and its subcommands: create, import,
// list, show, versions, update, delete, recover, purge, backup, restore,
// encrypt, decrypt, sign, verify, wrap, unwrap and rotate. Each maps to one
// azkeys call.
func NewKeyCommand(env Env) *cobra.Command {
	c := &keyCmd{env: env.withDefaults()}
	cmd := &cobra.Command{
		Use:          "key",
		Short:        "Manage keys and use them for cryptographic operations",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	cmd.SetOut(c.env.Stdout)
	cmd.SetErr(c.env.Stderr)
	c.conn.register(cmd)
	registerOutput(cmd, &c.output)
	cmd.AddCommand(
		c.createCommand(), c.importCommand(), c.listCommand(), c.showCommand(), c.versionsCommand(),
		c.updateCommand(), c.deleteCommand(), c.recoverCommand(), c.purgeCommand(),
		c.backupCommand(), c.restoreCommand(), c.rotateCommand(),
		c.cipherCommand("encrypt", "Encrypt a value with a key", encrypt),
		c.cipherCommand("decrypt", "Decrypt a value with a key", decrypt),
		c.cipherCommand("wrap", "Wrap (encrypt) a key with a key", wrap),
		c.cipherCommand("unwrap", "Unwrap (decrypt) a key with a key", unwrap),
		c.signCommand(), c.verifyCommand(),
	)
	return cmd
}

// start resolves the output format and the connection settings and builds
// the keys client.
func (c *keyCmd) start(cmd *cobra.Command) (printer, *azkeys.Client, error) {
	format, err := parseOutput(c.output)
	if err != nil {
		return printer{}, nil, err
	}
	if f := cmd.Flag("env-file"); f != nil {
		c.conn.envFileSet = f.Changed
	}
	s, err := resolveSettings(c.conn, c.env.Getenv, os.ReadFile)
	if err != nil {
		return printer{}, nil, err
	}
	hc, err := newHTTPClient(s.caCert, 2)
	if err != nil {
		return printer{}, nil, err
	}
	client, err := newKeysClient(s, hc)
	if err != nil {
		return printer{}, nil, err
	}
	return printer{w: c.env.Stdout, format: format}, client, nil
}

// extensionAttrs are the Keywarden extensions of KeyAttributes, which
// azkeys drops.
type extensionAttrs struct {
	LastUsed   json.Number `json:"lastUsed"`
	Provenance *struct {
		Method    string      `json:"method"`
		Generator string      `json:"generator"`
		KEK       string      `json:"kek"`
		Imported  json.Number `json:"imported"`
	} `json:"provenance"`
}

// extensions reads the Keywarden extensions of the attributes of a key
// bundle response; the zero value when it has none.
func extensions(resp *http.Response) extensionAttrs {
	var doc struct {
		Attributes extensionAttrs `json:"attributes"`
	}
	if resp == nil {
		return doc.Attributes
	}
	body, err := runtime.Payload(resp)
	if err != nil || json.Unmarshal(body, &doc) != nil {
		return extensionAttrs{}
	}
	return doc.Attributes
}

// unixNumber converts integer (or fractional) Unix seconds; nil for none.
func unixNumber(n json.Number) *time.Time {
	f, err := n.Float64()
	if n == "" || err != nil {
		return nil
	}
	t := time.Unix(int64(f), 0).UTC()
	return &t
}

// lastUsed returns the lastUsed attribute (integer Unix seconds, a
// Keywarden extension of KeyAttributes) of a key bundle response, or nil
// when the response has none, as from a server that does not record use.
func lastUsed(resp *http.Response) *time.Time {
	return unixNumber(extensions(resp).LastUsed)
}

// provenance returns the provenance attribute (a Keywarden extension of
// KeyAttributes: how an imported version was brought in) of a key bundle
// response, or nil for a generated key or a server that does not record it.
func provenance(resp *http.Response) *provenanceDoc {
	p := extensions(resp).Provenance
	if p == nil {
		return nil
	}
	return &provenanceDoc{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: unixNumber(p.Imported)}
}

// nameArg is the Args validator of commands taking one key name.
func nameArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	return checkKeyName(args[0])
}

// attrFlags are the attribute flags of create and import.
type attrFlags struct {
	ops      []string
	tags     []string
	exp, nbf string
	disabled bool
}

func (a *attrFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringSliceVar(&a.ops, "ops", nil, "permitted operations: encrypt,decrypt,sign,verify,wrapKey,unwrapKey")
	fs.StringArrayVar(&a.tags, "tags", nil, "tags as key=value, comma-separated or repeated")
	fs.StringVar(&a.exp, "exp", "", "expiry: RFC 3339 time, date, or duration from now such as 90d")
	fs.StringVar(&a.nbf, "nbf", "", "not before: RFC 3339 time, date, or duration from now such as 1h")
	fs.BoolVar(&a.disabled, "disabled", false, "create the key disabled")
}

// parse returns the attributes, operations and tags the flags ask for.
func (a *attrFlags) parse(now time.Time) (*azkeys.KeyAttributes, []*azkeys.KeyOperation, map[string]*string, error) {
	attrs := &azkeys.KeyAttributes{Enabled: new(!a.disabled)}
	var err error
	if attrs.Expires, err = optionalTime(a.exp, now); err != nil {
		return nil, nil, nil, fmt.Errorf("--exp: %w", err)
	}
	if attrs.NotBefore, err = optionalTime(a.nbf, now); err != nil {
		return nil, nil, nil, fmt.Errorf("--nbf: %w", err)
	}
	ops, err := parseOps(a.ops)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--ops: %w", err)
	}
	var tags map[string]*string
	if len(a.tags) > 0 {
		t, err := parseTags(a.tags)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--tags: %w", err)
		}
		tags = azTags(t)
	}
	return attrs, ops, tags, nil
}

func optionalTime(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseTime(s, now)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *keyCmd) createCommand() *cobra.Command {
	var (
		attrs attrFlags
		kty   string
		size  int
		curve string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a key, or a new version of an existing key",
		Example: `  keywarden key create app-signing --kty EC --curve P-256 --ops sign,verify --exp 90d
  keywarden key create data-kek --kty RSA --size 3072 --ops wrapKey,unwrapKey --tags team=payments`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			kt, err := matchFold(kty, "key type", azkeys.PossibleKeyTypeValues())
			if err != nil {
				return fmt.Errorf("--kty: %w", err)
			}
			a, ops, tags, err := attrs.parse(c.env.Now())
			if err != nil {
				return err
			}
			params := azkeys.CreateKeyParameters{Kty: &kt, KeyAttributes: a, KeyOps: ops, Tags: tags}
			isEC := kt == azkeys.KeyTypeEC || kt == azkeys.KeyTypeECHSM
			if size != 0 {
				if isEC {
					return errors.New("--size applies to RSA and oct keys; use --curve for EC")
				}
				params.KeySize = new(int32(size))
			}
			if curve != "" {
				if !isEC {
					return errors.New("--curve applies to EC keys only")
				}
				crv, err := matchFold(curve, "curve", azkeys.PossibleCurveNameValues())
				if err != nil {
					return fmt.Errorf("--curve: %w", err)
				}
				params.Curve = &crv
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.CreateKey(cmd.Context(), args[0], params, nil)
			if err != nil {
				return apiError("create key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&kty, "kty", "RSA", "key type: RSA, EC, oct (or RSA-HSM, EC-HSM, oct-HSM)")
	fs.IntVar(&size, "size", 0, "RSA key size in bits (2048, 3072, 4096) or oct size; 0 for the server default")
	fs.StringVar(&curve, "curve", "", "EC curve: P-256, P-384, P-521, P-256K; empty for the server default")
	attrs.register(cmd)
	return cmd
}

func (c *keyCmd) importCommand() *cobra.Command {
	var (
		attrs    attrFlags
		jwkFile  string
		pemFile  string
		byokFile string
		kty      string
		curve    string
		hsm      bool
	)
	cmd := &cobra.Command{
		Use:   "import NAME",
		Short: "Import a private key from a JWK file, a PEM file or a BYOK transfer blob",
		Long: `Import a private key as a new key or key version.

--jwk-file takes a private JSON Web Key; --pem-file takes an unencrypted
PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM private key, converted to a JWK.
--byok-file takes a .byok transfer blob (see keywarden byok package) wrapped
for a key-exchange key of the vault; the key is unwrapped inside the HSM and
imported as --kty RSA, EC or oct (HSM-protected).`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			given := 0
			for _, f := range []string{jwkFile, pemFile, byokFile} {
				if f != "" {
					given++
				}
			}
			if given != 1 {
				return errors.New("give exactly one of --jwk-file, --pem-file and --byok-file")
			}
			a, ops, tags, err := attrs.parse(c.env.Now())
			if err != nil {
				return err
			}
			var key *azkeys.JSONWebKey
			if byokFile != "" {
				if key, err = byokJWK(byokFile, kty, curve); err != nil {
					return err
				}
			} else if jwkFile != "" {
				data, err := os.ReadFile(jwkFile)
				if err != nil {
					return err
				}
				key, err = jwkFromJSON(data)
				clear(data)
				if err != nil {
					return fmt.Errorf("%s: %w", jwkFile, err)
				}
			} else {
				data, err := os.ReadFile(pemFile)
				if err != nil {
					return err
				}
				key, err = jwkFromPEM(data)
				clear(data)
				if err != nil {
					return fmt.Errorf("%s: %w", pemFile, err)
				}
			}
			defer clearJWK(key)
			if len(ops) > 0 {
				key.KeyOps = ops
			}
			params := azkeys.ImportKeyParameters{Key: key, KeyAttributes: a, Tags: tags}
			if cmd.Flags().Changed("hsm") {
				params.HSM = &hsm
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.ImportKey(cmd.Context(), args[0], params, nil)
			if err != nil {
				return apiError("import key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&jwkFile, "jwk-file", "", "file holding a private JWK (JSON)")
	fs.StringVar(&pemFile, "pem-file", "", "file holding a PEM private key (PKCS#8, PKCS#1 or SEC1)")
	fs.BoolVar(&hsm, "hsm", false, "import as an HSM-protected key")
	fs.StringVar(&byokFile, "byok-file", "", "file holding a BYOK transfer blob (.byok)")
	fs.StringVar(&kty, "kty", "RSA", "with --byok-file: the wrapped key's type, RSA, EC or oct")
	fs.StringVar(&curve, "curve", "", "with --byok-file and --kty EC: the wrapped key's curve (default: the blob's)")
	attrs.register(cmd)
	return cmd
}

func (c *keyCmd) listCommand() *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys (latest versions), or deleted keys with --deleted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			keys := []keyDoc{}
			if deleted {
				pager := client.NewListDeletedKeyPropertiesPager(nil)
				for pager.More() {
					page, err := pager.NextPage(cmd.Context())
					if err != nil {
						return apiError("list deleted keys", err)
					}
					for _, item := range page.Value {
						keys = append(keys, newDeletedKeyItemDoc(item))
					}
				}
				return p.print(keyListDoc{Keys: keys}, deletedTable(keys...))
			}
			pager := client.NewListKeyPropertiesPager(nil)
			for pager.More() {
				page, err := pager.NextPage(cmd.Context())
				if err != nil {
					return apiError("list keys", err)
				}
				for _, item := range page.Value {
					keys = append(keys, newKeyItemDoc(item))
				}
			}
			return p.print(keyListDoc{Keys: keys}, listTable(keys))
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "list soft-deleted keys instead")
	return cmd
}

func (c *keyCmd) showCommand() *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's latest version, or the version given with --version",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			// azkeys drops the lastUsed and provenance attributes
			// (Keywarden extensions): read them from the raw body of the
			// same response.
			var raw *http.Response
			resp, err := client.GetKey(policy.WithCaptureResponse(cmd.Context(), &raw), args[0], version, nil)
			if err != nil {
				return apiError("show key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			d.LastUsed, d.Provenance = lastUsed(raw), provenance(raw)
			return p.print(d, showTable(d))
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "key version (default: latest)")
	return cmd
}

func (c *keyCmd) versionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a key",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			keys := []keyDoc{}
			pager := client.NewListKeyPropertiesVersionsPager(args[0], nil)
			for pager.More() {
				page, err := pager.NextPage(cmd.Context())
				if err != nil {
					return apiError("list versions of key "+args[0], err)
				}
				for _, item := range page.Value {
					keys = append(keys, newKeyItemDoc(item))
				}
			}
			return p.print(keyListDoc{Keys: keys}, versionsTable(keys))
		},
	}
}

func (c *keyCmd) updateCommand() *cobra.Command {
	var (
		version  string
		enabled  bool
		exp, nbf string
		ops      []string
		tags     []string
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Update a key version's attributes, operations or tags",
		Long: `Update the latest version of a key, or the one given with --version.
Only the flags given change; --tags replaces all tags (--tags "" clears them).`,
		Example: `  keywarden key update app-signing --enabled=false
  keywarden key update app-signing --exp 2030-01-01 --tags owner=alice`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var params azkeys.UpdateKeyParameters
			attrs := &azkeys.KeyAttributes{}
			changed := false
			if fs.Changed("enabled") {
				attrs.Enabled, changed = &enabled, true
			}
			now := c.env.Now()
			if fs.Changed("exp") {
				t, err := parseTime(exp, now)
				if err != nil {
					return fmt.Errorf("--exp: %w", err)
				}
				attrs.Expires, changed = &t, true
			}
			if fs.Changed("nbf") {
				t, err := parseTime(nbf, now)
				if err != nil {
					return fmt.Errorf("--nbf: %w", err)
				}
				attrs.NotBefore, changed = &t, true
			}
			if changed {
				params.KeyAttributes = attrs
			}
			if fs.Changed("ops") {
				o, err := parseOps(ops)
				if err != nil {
					return fmt.Errorf("--ops: %w", err)
				}
				params.KeyOps, changed = o, true
			}
			if fs.Changed("tags") {
				t, err := parseTags(tags)
				if err != nil {
					return fmt.Errorf("--tags: %w", err)
				}
				params.Tags, changed = azTags(t), true
			}
			if !changed {
				return errors.New("nothing to update: give --enabled, --exp, --nbf, --ops or --tags")
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.UpdateKey(cmd.Context(), args[0], version, params, nil)
			if err != nil {
				return apiError("update key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&version, "version", "", "key version (default: latest)")
	fs.BoolVar(&enabled, "enabled", true, "enable (--enabled) or disable (--enabled=false) the version")
	fs.StringVar(&exp, "exp", "", "expiry: RFC 3339 time, date, or duration from now such as 90d")
	fs.StringVar(&nbf, "nbf", "", "not before: RFC 3339 time, date, or duration from now")
	fs.StringSliceVar(&ops, "ops", nil, "permitted operations, replacing the current ones")
	fs.StringArrayVar(&tags, "tags", nil, "tags as key=value, replacing the current ones")
	return cmd
}

func (c *keyCmd) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key (all versions); it stays recoverable until purged",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.DeleteKey(cmd.Context(), args[0], nil)
			if err != nil {
				return apiError("delete key "+args[0], err)
			}
			d := newDeletedKeyDoc(resp.DeletedKey)
			return p.print(d, deletedTable(d))
		},
	}
}

func (c *keyCmd) recoverCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "recover NAME",
		Short: "Recover a deleted key",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.RecoverDeletedKey(cmd.Context(), args[0], nil)
			if err != nil {
				return apiError("recover key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
}

func (c *keyCmd) purgeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Permanently remove a deleted key",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			if _, err := client.PurgeDeletedKey(cmd.Context(), args[0], nil); err != nil {
				return apiError("purge key "+args[0], err)
			}
			d := purgeDoc{Name: args[0], Purged: true}
			return p.print(d, purgeTable(d))
		},
	}
}

func (c *keyCmd) backupCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "backup NAME --file FILE",
		Short: "Write a protected backup blob of a key (all versions) to a file",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.BackupKey(cmd.Context(), args[0], nil)
			if err != nil {
				return apiError("back up key "+args[0], err)
			}
			if err := os.WriteFile(file, resp.Value, 0o600); err != nil {
				return err
			}
			d := fileDoc{Name: args[0], File: file, Bytes: len(resp.Value)}
			return p.print(d, fileTable(d))
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "file to write the backup blob to (mode 0600)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (c *keyCmd) restoreCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "restore --file FILE",
		Short: "Restore a key from a backup blob file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			blob, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.RestoreKey(cmd.Context(), azkeys.RestoreKeyParameters{KeyBackup: blob}, nil)
			if err != nil {
				return apiError("restore key from "+file, err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "backup blob file written by key backup")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (c *keyCmd) rotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate NAME",
		Short: "Create a new version of a key with the same type and settings",
		Args:  nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			resp, err := client.RotateKey(cmd.Context(), args[0], nil)
			if err != nil {
				return apiError("rotate key "+args[0], err)
			}
			d := newKeyDoc(resp.KeyBundle)
			return p.print(d, keyTable(d))
		},
	}
}

// algNames lists values for help text.
func algNames[T ~string](values []T) string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}
