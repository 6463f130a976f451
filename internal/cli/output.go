package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"
)

// outputFormat is the value of --output.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

func registerOutput(cmd *cobra.Command, f *string) {
	cmd.PersistentFlags().StringVarP(f, "output", "o", string(formatTable), "output format: table or json")
}

func parseOutput(s string) (outputFormat, error) {
	switch outputFormat(s) {
	case formatTable, formatJSON:
		return outputFormat(s), nil
	}
	return "", fmt.Errorf("--output %q: want table or json", s)
}

// printer writes one document: JSON, or a table drawn by a function.
type printer struct {
	w      io.Writer
	format outputFormat
}

// print writes doc as indented JSON, or calls table with a tabwriter.
func (p printer) print(doc any, table func(w io.Writer)) error {
	if p.format == formatJSON {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// keyDoc is the JSON document of one key, key version, list item or deleted
// key. Fields that do not apply are omitted.
type keyDoc struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Version            string            `json:"version,omitempty"`
	Kty                string            `json:"kty,omitempty"`
	KeySize            int               `json:"keySize,omitempty"`
	Curve              string            `json:"crv,omitempty"`
	KeyOps             []string          `json:"keyOps,omitempty"`
	Enabled            bool              `json:"enabled"`
	NotBefore          *time.Time        `json:"notBefore,omitempty"`
	Expires            *time.Time        `json:"expires,omitempty"`
	Created            *time.Time        `json:"created,omitempty"`
	Updated            *time.Time        `json:"updated,omitempty"`
	RecoveryLevel      string            `json:"recoveryLevel,omitempty"`
	RecoverableDays    int32             `json:"recoverableDays,omitempty"`
	LastUsed           *time.Time        `json:"lastUsed,omitempty"`
	Provenance         *provenanceDoc    `json:"provenance,omitempty"`
	Managed            bool              `json:"managed,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	PublicKey          *publicKeyDoc     `json:"publicKey,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *time.Time        `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *time.Time        `json:"scheduledPurgeDate,omitempty"`
}

// provenanceDoc is how an imported key version was brought in: method
// "import" (a plaintext key) or "byok" (a transfer blob unwrapped in the
// HSM), with the blob's generator and key-exchange key.
type provenanceDoc struct {
	Method    string     `json:"method"`
	Generator string     `json:"generator,omitempty"`
	KEK       string     `json:"kek,omitempty"`
	Imported  *time.Time `json:"imported,omitempty"`
}

// publicKeyDoc is the public part of a key as a JWK, base64url fields.
type publicKeyDoc struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// keyListDoc is the JSON document of key list and key versions.
type keyListDoc struct {
	Keys []keyDoc `json:"keys"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func plainTags(tags map[string]*string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = deref(v)
	}
	return out
}

func (d *keyDoc) setID(kid *azkeys.ID) {
	if kid == nil {
		return
	}
	d.ID = string(*kid)
	d.Name = kid.Name()
	d.Version = kid.Version()
}

func (d *keyDoc) setAttributes(a *azkeys.KeyAttributes) {
	if a == nil {
		return
	}
	d.Enabled = deref(a.Enabled)
	d.NotBefore = utcPtr(a.NotBefore)
	d.Expires = utcPtr(a.Expires)
	d.Created = utcPtr(a.Created)
	d.Updated = utcPtr(a.Updated)
	d.RecoveryLevel = deref(a.RecoveryLevel)
	d.RecoverableDays = deref(a.RecoverableDays)
}

func (d *keyDoc) setKey(k *azkeys.JSONWebKey) {
	if k == nil {
		return
	}
	d.setID(k.KID)
	d.Kty = string(deref(k.Kty))
	d.Curve = string(deref(k.Crv))
	if len(k.N) > 0 {
		d.KeySize = bitLen(k.N)
	}
	for _, op := range k.KeyOps {
		d.KeyOps = append(d.KeyOps, string(deref(op)))
	}
	d.PublicKey = &publicKeyDoc{
		Kty: d.Kty,
		Crv: d.Curve,
		N:   encodeBase64URL(k.N),
		E:   encodeBase64URL(k.E),
		X:   encodeBase64URL(k.X),
		Y:   encodeBase64URL(k.Y),
	}
}

// bitLen is the bit length of the big-endian unsigned integer b.
func bitLen(b []byte) int {
	for i, c := range b {
		if c != 0 {
			n := (len(b) - i) * 8
			for m := byte(0x80); c&m == 0; m >>= 1 {
				n--
			}
			return n
		}
	}
	return 0
}

func newKeyDoc(b azkeys.KeyBundle) keyDoc {
	var d keyDoc
	d.setKey(b.Key)
	d.setAttributes(b.Attributes)
	d.Managed = deref(b.Managed)
	d.Tags = plainTags(b.Tags)
	return d
}

func newDeletedKeyDoc(k azkeys.DeletedKey) keyDoc {
	d := newKeyDoc(azkeys.KeyBundle{Attributes: k.Attributes, Key: k.Key, Tags: k.Tags, Managed: k.Managed})
	d.RecoveryID = deref(k.RecoveryID)
	d.DeletedDate = utcPtr(k.DeletedDate)
	d.ScheduledPurgeDate = utcPtr(k.ScheduledPurgeDate)
	return d
}

func newKeyItemDoc(p *azkeys.KeyProperties) keyDoc {
	var d keyDoc
	d.setID(p.KID)
	d.setAttributes(p.Attributes)
	d.Managed = deref(p.Managed)
	d.Tags = plainTags(p.Tags)
	return d
}

func newDeletedKeyItemDoc(p *azkeys.DeletedKeyProperties) keyDoc {
	var d keyDoc
	d.setID(p.KID)
	d.setAttributes(p.Attributes)
	d.Managed = deref(p.Managed)
	d.Tags = plainTags(p.Tags)
	d.RecoveryID = deref(p.RecoveryID)
	d.DeletedDate = utcPtr(p.DeletedDate)
	d.ScheduledPurgeDate = utcPtr(p.ScheduledPurgeDate)
	return d
}

// Table cells.

func cellTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cellTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

func cellSize(d keyDoc) string {
	switch {
	case d.Curve != "":
		return d.Curve
	case d.KeySize > 0:
		return fmt.Sprint(d.KeySize)
	}
	return "-"
}

func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

// keyTable draws keys with their material: create, import, show, update,
// recover, restore, rotate.
func keyTable(keys ...keyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "VERSION", "KTY", "SIZE", "ENABLED", "NOT-BEFORE", "EXPIRES", "CREATED", "OPS", "TAGS")
		for _, d := range keys {
			row(w, d.Name, cell(d.Version), cell(d.Kty), cellSize(d), fmt.Sprint(d.Enabled),
				cellTime(d.NotBefore), cellTime(d.Expires), cellTime(d.Created), cell(strings.Join(d.KeyOps, ",")), cellTags(d.Tags))
		}
	}
}

// showTable draws one key version as keyTable does, with the minute it was
// last used (key show).
func showTable(d keyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "VERSION", "KTY", "SIZE", "ENABLED", "NOT-BEFORE", "EXPIRES", "CREATED", "LAST-USED", "OPS", "TAGS")
		row(w, d.Name, cell(d.Version), cell(d.Kty), cellSize(d), fmt.Sprint(d.Enabled),
			cellTime(d.NotBefore), cellTime(d.Expires), cellTime(d.Created), cellTime(d.LastUsed), cell(strings.Join(d.KeyOps, ",")), cellTags(d.Tags))
		if p := d.Provenance; p != nil {
			// A separate block: the blank line ends the columns above.
			fmt.Fprintln(w)
			row(w, "IMPORTED-BY", "IMPORTED", "GENERATOR", "KEK")
			row(w, cell(p.Method), cellTime(p.Imported), cell(p.Generator), cell(p.KEK))
		}
	}
}

// listTable draws key list items (no version, no material).
func listTable(keys []keyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "ENABLED", "CREATED", "UPDATED", "EXPIRES", "TAGS")
		for _, d := range keys {
			row(w, d.Name, fmt.Sprint(d.Enabled), cellTime(d.Created), cellTime(d.Updated), cellTime(d.Expires), cellTags(d.Tags))
		}
	}
}

// versionsTable draws the versions of one key.
func versionsTable(keys []keyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "VERSION", "ENABLED", "NOT-BEFORE", "EXPIRES", "CREATED", "UPDATED")
		for _, d := range keys {
			row(w, d.Name, cell(d.Version), fmt.Sprint(d.Enabled), cellTime(d.NotBefore), cellTime(d.Expires), cellTime(d.Created), cellTime(d.Updated))
		}
	}
}

// deletedTable draws deleted keys: delete and list --deleted.
func deletedTable(keys ...keyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "DELETED", "SCHEDULED-PURGE", "RECOVERY-ID")
		for _, d := range keys {
			row(w, d.Name, cellTime(d.DeletedDate), cellTime(d.ScheduledPurgeDate), cell(d.RecoveryID))
		}
	}
}

// opDoc is the JSON document of encrypt, decrypt, wrap, unwrap and sign.
// Value is the result in base64url, unless it was written to File.
type opDoc struct {
	KID       string `json:"kid,omitempty"`
	Algorithm string `json:"alg"`
	Value     string `json:"value,omitempty"`
	File      string `json:"file,omitempty"`
	Bytes     int    `json:"bytes"`
}

func opTable(d opDoc) func(io.Writer) {
	return func(w io.Writer) {
		result := d.Value
		if d.File != "" {
			result = fmt.Sprintf("%d bytes written to %s", d.Bytes, d.File)
		}
		row(w, "KID", "ALG", "RESULT")
		row(w, cell(d.KID), d.Algorithm, result)
	}
}

// verifyDoc is the JSON document of verify.
type verifyDoc struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Algorithm string `json:"alg"`
	Valid     bool   `json:"valid"`
}

func verifyTable(d verifyDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "VERSION", "ALG", "VALID")
		row(w, d.Name, cell(d.Version), d.Algorithm, fmt.Sprint(d.Valid))
	}
}

// fileDoc is the JSON document of backup: the blob went to File.
type fileDoc struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Bytes int    `json:"bytes"`
}

func fileTable(d fileDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "FILE", "BYTES")
		row(w, d.Name, d.File, fmt.Sprint(d.Bytes))
	}
}

// purgeDoc is the JSON document of purge.
type purgeDoc struct {
	Name   string `json:"name"`
	Purged bool   `json:"purged"`
}

func purgeTable(d purgeDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "PURGED")
		row(w, d.Name, fmt.Sprint(d.Purged))
	}
}
