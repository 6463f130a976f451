package api

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// Vault administration: /admin/v1/vaults[/{name}].

// adminVault is the Vault object of the admin API.
type adminVault struct {
	Name            string            `json:"name"`
	SKU             string            `json:"sku"`
	RetentionDays   int               `json:"retentionDays"`
	PurgeProtection bool              `json:"purgeProtection"`
	NetworkRules    adminNetworkRules `json:"networkRules"`
	KeyPolicy       *adminKeyPolicy   `json:"keyPolicy,omitempty"`
	URI             string            `json:"uri"`
	Created         int64             `json:"created"`
}

// adminNetworkRules is a vault's network rules on the wire.
type adminNetworkRules struct {
	DefaultAction string   `json:"defaultAction"`
	IPRules       []string `json:"ipRules"`
}

// adminKeyPolicy is a vault's key policy on the wire: the rules new key
// versions of the vault must follow. Absent members set no rule.
type adminKeyPolicy struct {
	MinRSASize       int      `json:"minRsaSize,omitempty"`
	AllowedCurves    []string `json:"allowedCurves,omitempty"`
	AllowedKeyTypes  []string `json:"allowedKeyTypes,omitempty"`
	RequireExpiry    bool     `json:"requireExpiry,omitempty"`
	MaxValidity      string   `json:"maxValidity,omitempty"`
	OnePurposePerKey bool     `json:"onePurposePerKey,omitempty"`
}

// adminVaultCreate is the body of POST /admin/v1/vaults.
type adminVaultCreate struct {
	Name            string             `json:"name"`
	SKU             string             `json:"sku"`
	RetentionDays   *int               `json:"retentionDays"`
	PurgeProtection *bool              `json:"purgeProtection"`
	NetworkRules    *adminNetworkRules `json:"networkRules"`
	KeyPolicy       json.RawMessage    `json:"keyPolicy"`
}

// adminVaultUpdate is the body of PATCH /admin/v1/vaults/{name}.
type adminVaultUpdate struct {
	RetentionDays   *int               `json:"retentionDays"`
	PurgeProtection *bool              `json:"purgeProtection"`
	NetworkRules    *adminNetworkRules `json:"networkRules"`
	KeyPolicy       json.RawMessage    `json:"keyPolicy"`
}

// toAdminVault converts a vault for the wire.
func (s *Server) toAdminVault(v vault.Vault) adminVault {
	out := adminVault{
		Name:            v.Name,
		SKU:             string(v.SKU),
		RetentionDays:   v.RetentionDays,
		PurgeProtection: v.PurgeProtection,
		NetworkRules:    adminNetworkRules{DefaultAction: vault.NetworkAllow, IPRules: []string{}},
		URI:             s.vaultURI(v.Name, v.SKU),
		Created:         adminTime(v.Created),
	}
	if n := v.Network; n != nil {
		out.NetworkRules.DefaultAction = n.DefaultAction
		for _, p := range n.IPRules {
			out.NetworkRules.IPRules = append(out.NetworkRules.IPRules, p.String())
		}
	}
	if p := v.KeyPolicy; !p.IsZero() {
		out.KeyPolicy = &adminKeyPolicy{MinRSASize: p.MinRSASize, AllowedKeyTypes: p.AllowedKeyTypes,
			RequireExpiry: p.RequireExpiry, MaxValidity: p.MaxValidity, OnePurposePerKey: p.OnePurposePerKey}
		for _, c := range p.AllowedCurves {
			out.KeyPolicy.AllowedCurves = append(out.KeyPolicy.AllowedCurves, string(c))
		}
	}
	return out
}

// vaultURI is the origin of a vault: https://{name}.{DNSSuffix}[:{Port}],
// or https://{name}.{HSMDNSSuffix}[:{Port}] for a managedhsm vault.
func (s *Server) vaultURI(name string, sku vault.SKU) string {
	sfx := s.cfg.DNSSuffix
	if sku == vault.ManagedHSM {
		sfx = s.cfg.HSMDNSSuffix
	}
	u := "https://" + name + "." + sfx
	if s.cfg.Port != 0 && s.cfg.Port != 443 {
		u += ":" + strconv.Itoa(s.cfg.Port)
	}
	return u
}

// parseNetworkRules converts wire network rules; nil stays nil.
func parseNetworkRules(n *adminNetworkRules) (*vault.NetworkRules, error) {
	if n == nil {
		return nil, nil
	}
	return vault.ParseNetworkRules(n.DefaultAction, n.IPRules)
}

// keyPolicy converts a keyPolicy property: absent (nil), null (a policy
// without rules: removes it) or a KeyPolicy object, whose unknown members
// are refused and whose rules are checked.
func keyPolicy(raw json.RawMessage) (*vault.KeyPolicy, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case raw == nil:
		return nil, nil
	case string(raw) == "null":
		return &vault.KeyPolicy{}, nil
	case raw[0] != '{':
		return nil, badParameter("Property keyPolicy must be a JSON object.")
	}
	var in adminKeyPolicy
	if err := decodeJSON(raw, &in); err != nil {
		return nil, err
	}
	if err := checkFields(raw, reflect.TypeOf(in), "keyPolicy."); err != nil {
		return nil, err
	}
	p := vault.KeyPolicy{MinRSASize: in.MinRSASize, AllowedKeyTypes: in.AllowedKeyTypes,
		RequireExpiry: in.RequireExpiry, MaxValidity: in.MaxValidity, OnePurposePerKey: in.OnePurposePerKey}
	for _, c := range in.AllowedCurves {
		p.AllowedCurves = append(p.AllowedCurves, keys.Curve(c))
	}
	p, err := p.Normalize()
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *Server) adminListVaults(ctx context.Context, rq *request, _ adminParams) (any, error) {
	vs, err := s.admin.vaults.Vaults(ctx)
	if err != nil {
		return nil, err
	}
	out := adminList[adminVault]{Value: make([]adminVault, 0, len(vs))}
	for _, v := range vs {
		out.Value = append(out.Value, s.toAdminVault(v))
	}
	return out, nil
}

func (s *Server) adminGetVault(ctx context.Context, rq *request, p adminParams) (any, error) {
	v, err := s.admin.vaults.Vault(ctx, strings.ToLower(p["name"]))
	if err != nil {
		return nil, err
	}
	return s.toAdminVault(v), nil
}

func (s *Server) adminCreateVault(ctx context.Context, rq *request, _ adminParams) (any, error) {
	var in adminVaultCreate
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, badParameter("Property name is required.")
	}
	if in.SKU == "" {
		return nil, badParameter("Property sku is required: standard, premium or managedhsm.")
	}
	v := vault.Vault{Name: in.Name, SKU: vault.SKU(strings.ToLower(in.SKU))}
	if in.RetentionDays != nil {
		if *in.RetentionDays == 0 {
			return nil, badParameter("Property retentionDays must be between 7 and 90.")
		}
		v.RetentionDays = *in.RetentionDays
	}
	if in.PurgeProtection != nil {
		v.PurgeProtection = *in.PurgeProtection
	}
	var err error
	if v.Network, err = parseNetworkRules(in.NetworkRules); err != nil {
		return nil, err
	}
	kp, err := keyPolicy(in.KeyPolicy)
	if err != nil {
		return nil, err
	}
	if kp != nil {
		v.KeyPolicy = *kp
	}
	out, err := s.admin.vaults.CreateVault(ctx, rq.now, v)
	if err != nil {
		return nil, err
	}
	return adminCreated{s.toAdminVault(out)}, nil
}

func (s *Server) adminUpdateVault(ctx context.Context, rq *request, p adminParams) (any, error) {
	var in adminVaultUpdate
	if err := rq.decodeStrict(&in); err != nil {
		return nil, err
	}
	u := vault.VaultUpdate{RetentionDays: in.RetentionDays, PurgeProtection: in.PurgeProtection}
	var err error
	if u.Network, err = parseNetworkRules(in.NetworkRules); err != nil {
		return nil, err
	}
	if u.KeyPolicy, err = keyPolicy(in.KeyPolicy); err != nil {
		return nil, err
	}
	out, err := s.admin.vaults.UpdateVault(ctx, rq.now, strings.ToLower(p["name"]), u)
	if err != nil {
		return nil, err
	}
	return s.toAdminVault(out), nil
}

func (s *Server) adminDeleteVault(ctx context.Context, rq *request, p adminParams) (any, error) {
	return nil, s.admin.vaults.DeleteVault(ctx, strings.ToLower(p["name"]))
}
