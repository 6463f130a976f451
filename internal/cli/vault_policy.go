package cli

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// This file holds the key policy of the vault commands: its wire form, the
// flags of vault create and update, and its table.

// keyPolicy is a vault's key policy on the wire and in output
// (docs/admin-api.md, "Key policy"). Absent members set no rule.
type keyPolicy struct {
	MinRSASize       int      `json:"minRsaSize,omitempty"`
	AllowedCurves    []string `json:"allowedCurves,omitempty"`
	AllowedKeyTypes  []string `json:"allowedKeyTypes,omitempty"`
	RequireExpiry    bool     `json:"requireExpiry,omitempty"`
	MaxValidity      string   `json:"maxValidity,omitempty"`
	OnePurposePerKey bool     `json:"onePurposePerKey,omitempty"`
}

// Key policy vocabularies, as the server takes them.
var (
	policyRSASizes = []int{2048, 3072, 4096}
	policyCurves   = []string{"P-256", "P-384", "P-521", "P-256K"}
	policyKeyTypes = []string{"RSA", "RSA-HSM", "EC", "EC-HSM", "oct-HSM"}
	// isoDuration matches an ISO-8601 duration such as P1Y, P90D or P1Y6M.
	isoDuration = regexp.MustCompile(`^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`)
)

// keyPolicyFlags are the key policy flags of vault create and update.
type keyPolicyFlags struct {
	minRSASize       int
	curves           []string
	keyTypes         []string
	requireExpiry    bool
	maxValidity      string
	onePurposePerKey bool
}

// keyPolicyFlagNames are the flags keyPolicyFlags registers.
var keyPolicyFlagNames = []string{"min-rsa-size", "allowed-curves", "allowed-key-types", "require-expiry", "max-validity", "one-purpose-per-key"}

// register adds the flags to cmd.
func (k *keyPolicyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&k.minRSASize, "min-rsa-size", 2048, "key policy: smallest RSA key size in bits, 2048, 3072 or 4096")
	fs.StringSliceVar(&k.curves, "allowed-curves", nil, "key policy: curves EC keys may use ("+strings.Join(policyCurves, ", ")+`); "" allows all`)
	fs.StringSliceVar(&k.keyTypes, "allowed-key-types", nil, "key policy: key types allowed ("+strings.Join(policyKeyTypes, ", ")+`); "" allows all`)
	fs.BoolVar(&k.requireExpiry, "require-expiry", false, "key policy: every key version needs an expiry date")
	fs.StringVar(&k.maxValidity, "max-validity", "", `key policy: longest validity of a key version, an ISO-8601 duration such as P1Y or P90D; "" sets no limit`)
	fs.BoolVar(&k.onePurposePerKey, "one-purpose-per-key", false, "key policy: a key may encrypt or sign, not both")
}

// changed reports whether any key policy flag was given to cmd.
func (k *keyPolicyFlags) changed(cmd *cobra.Command) bool {
	return slices.ContainsFunc(keyPolicyFlagNames, cmd.Flags().Changed)
}

// apply checks the flags given to cmd and sets them on a copy of base (nil:
// no policy yet); flags not given keep base's rules.
func (k *keyPolicyFlags) apply(cmd *cobra.Command, base *keyPolicy) (*keyPolicy, error) {
	fs := cmd.Flags()
	var p keyPolicy
	if base != nil {
		p = *base
	}
	if fs.Changed("min-rsa-size") {
		if !slices.Contains(policyRSASizes, k.minRSASize) {
			return nil, fmt.Errorf("--min-rsa-size %d: want 2048, 3072 or 4096", k.minRSASize)
		}
		p.MinRSASize = k.minRSASize
	}
	if fs.Changed("allowed-curves") {
		curves, err := matchList(k.curves, "curve", policyCurves)
		if err != nil {
			return nil, fmt.Errorf("--allowed-curves: %w", err)
		}
		p.AllowedCurves = curves
	}
	if fs.Changed("allowed-key-types") {
		types, err := matchList(k.keyTypes, "key type", policyKeyTypes)
		if err != nil {
			return nil, fmt.Errorf("--allowed-key-types: %w", err)
		}
		p.AllowedKeyTypes = types
	}
	if fs.Changed("require-expiry") {
		p.RequireExpiry = k.requireExpiry
	}
	if fs.Changed("max-validity") {
		d := strings.ToUpper(strings.TrimSpace(k.maxValidity))
		if d != "" && (!isoDuration.MatchString(d) || d == "P" || strings.HasSuffix(d, "T")) {
			return nil, fmt.Errorf("--max-validity %q: want an ISO-8601 duration such as P1Y, P6M or P90D", k.maxValidity)
		}
		p.MaxValidity = d
	}
	if fs.Changed("one-purpose-per-key") {
		p.OnePurposePerKey = k.onePurposePerKey
	}
	return &p, nil
}

// matchList matches comma-separated items against values without regard to
// case; empty items are skipped, so "" yields an empty list.
func matchList(items []string, what string, values []string) ([]string, error) {
	out := []string{}
	for _, item := range items {
		for s := range strings.SplitSeq(item, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			v, err := matchFold(s, what, values)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// vaultDetailTable draws one vault: its row, then its key policy when it
// has one.
func vaultDetailTable(d vaultDoc) func(io.Writer) {
	return func(w io.Writer) {
		vaultTable(d)(w)
		p := d.KeyPolicy
		if p == nil {
			return
		}
		size := p.MinRSASize
		if size == 0 {
			size = 2048
		}
		all := func(s []string) string {
			if len(s) == 0 {
				return "any"
			}
			return strings.Join(s, ",")
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "KEY POLICY")
		row(w, "MIN-RSA-SIZE", fmt.Sprint(size))
		row(w, "ALLOWED-CURVES", all(p.AllowedCurves))
		row(w, "ALLOWED-KEY-TYPES", all(p.AllowedKeyTypes))
		row(w, "REQUIRE-EXPIRY", fmt.Sprint(p.RequireExpiry))
		row(w, "MAX-VALIDITY", cell(p.MaxValidity))
		row(w, "ONE-PURPOSE-PER-KEY", fmt.Sprint(p.OnePurposePerKey))
	}
}
