package vault

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// Vault key policies: rules every new key version of a vault must follow.
// They are checked when a version is made or changed (create, import,
// rotate, restore, update of key_ops, nbf or exp); a policy change applies
// to new operations only and leaves existing versions as they are.

// KeyPolicy is a vault's key policy. The zero value has no rules. Build one
// field by field and check it with Normalize; the Service normalizes every
// policy it stores. Values returned by the Service are shared and must not
// be modified.
type KeyPolicy struct {
	// MinRSASize is the smallest RSA modulus allowed, in bits: 2048, 3072
	// or 4096. Zero means 2048, which every RSA key meets (no extra rule).
	MinRSASize int
	// AllowedCurves are the curves EC keys may use (P-256, P-384, P-521,
	// P-256K); empty allows every curve.
	AllowedCurves []keys.Curve
	// AllowedKeyTypes are the kty values keys may have (RSA, RSA-HSM, EC,
	// EC-HSM, oct-HSM); empty allows every type.
	AllowedKeyTypes []string
	// RequireExpiry requires every key version to have an expiry date (exp).
	RequireExpiry bool
	// MaxValidity is an ISO-8601 duration such as "P1Y": a version's exp
	// may be at most this long after its nbf, or after its creation when
	// it has no nbf. A version without exp is refused when it is set.
	// Empty sets no limit.
	MaxValidity string
	// OnePurposePerKey allows a key either encryption operations (encrypt,
	// decrypt, wrapKey, unwrapKey) or signing operations (sign, verify),
	// not both.
	OnePurposePerKey bool
}

// Key policy vocabularies, in the order messages list them.
var (
	policyRSASizes = []int{2048, 3072, 4096}
	policyCurves   = []keys.Curve{keys.P256, keys.P384, keys.P521, keys.P256K}
	policyKeyTypes = []string{"RSA", "RSA-HSM", "EC", "EC-HSM", "oct-HSM"}
	encryptionOps  = []Operation{OpEncrypt, OpDecrypt, OpWrapKey, OpUnwrapKey}
	signingOps     = []Operation{OpSign, OpVerify}
)

// IsZero reports whether p has no rules.
func (p KeyPolicy) IsZero() bool {
	return (p.MinRSASize == 0 || p.MinRSASize == 2048) && len(p.AllowedCurves) == 0 && len(p.AllowedKeyTypes) == 0 &&
		!p.RequireExpiry && p.MaxValidity == "" && !p.OnePurposePerKey
}

// Normalize checks p and returns it with canonical spellings: curves and
// key types matched without regard to case, duplicates dropped, the
// duration upper case. It does not modify p. Errors: ErrInvalid (a size
// other than 2048, 3072 or 4096, an unknown curve or key type, a duration
// that is not a positive ISO-8601 duration).
func (p KeyPolicy) Normalize() (KeyPolicy, error) {
	out := KeyPolicy{MinRSASize: p.MinRSASize, RequireExpiry: p.RequireExpiry, OnePurposePerKey: p.OnePurposePerKey}
	if p.MinRSASize != 0 && !slices.Contains(policyRSASizes, p.MinRSASize) {
		return KeyPolicy{}, invalidf("Key policy minRsaSize %d is invalid: use 2048, 3072 or 4096.", p.MinRSASize)
	}
	for _, c := range p.AllowedCurves {
		i := slices.IndexFunc(policyCurves, func(k keys.Curve) bool { return strings.EqualFold(string(k), string(c)) })
		if i < 0 {
			return KeyPolicy{}, invalidf("Key policy allowedCurves holds an unknown curve '%s': use P-256, P-384, P-521 or P-256K.", truncate(string(c), 32))
		}
		if !slices.Contains(out.AllowedCurves, policyCurves[i]) {
			out.AllowedCurves = append(out.AllowedCurves, policyCurves[i])
		}
	}
	for _, t := range p.AllowedKeyTypes {
		i := slices.IndexFunc(policyKeyTypes, func(k string) bool { return strings.EqualFold(k, t) })
		if i < 0 {
			return KeyPolicy{}, invalidf("Key policy allowedKeyTypes holds an unknown key type '%s': use RSA, RSA-HSM, EC, EC-HSM or oct-HSM.", truncate(t, 32))
		}
		if !slices.Contains(out.AllowedKeyTypes, policyKeyTypes[i]) {
			out.AllowedKeyTypes = append(out.AllowedKeyTypes, policyKeyTypes[i])
		}
	}
	if p.MaxValidity != "" {
		d, err := parseDuration(p.MaxValidity)
		if err != nil {
			return KeyPolicy{}, invalidf("Key policy maxValidity '%s' is not an ISO-8601 duration such as P1Y or P90D.", truncate(p.MaxValidity, 32))
		}
		if !(duration{}).less(d) {
			return KeyPolicy{}, invalidf("Key policy maxValidity '%s' must be longer than zero.", truncate(p.MaxValidity, 32))
		}
		out.MaxValidity = strings.ToUpper(p.MaxValidity)
	}
	return out, nil
}

// keyPolicyRecord is the stored JSON form of a KeyPolicy (store.Vault's
// KeyPolicy bytes). V is the format version, 1; a document without it is a
// placeholder stored before policies had rules and means no rules.
type keyPolicyRecord struct {
	V                int      `json:"v"`
	MinRSASize       int      `json:"minRsaSize,omitempty"`
	AllowedCurves    []string `json:"allowedCurves,omitempty"`
	AllowedKeyTypes  []string `json:"allowedKeyTypes,omitempty"`
	RequireExpiry    bool     `json:"requireExpiry,omitempty"`
	MaxValidity      string   `json:"maxValidity,omitempty"`
	OnePurposePerKey bool     `json:"onePurposePerKey,omitempty"`
}

// encodeKeyPolicy normalizes p and returns its stored form, nil when it
// has no rules. Errors: ErrInvalid, as Normalize.
func encodeKeyPolicy(p KeyPolicy) ([]byte, error) {
	p, err := p.Normalize()
	if err != nil || p.IsZero() {
		return nil, err
	}
	r := keyPolicyRecord{V: 1, MinRSASize: p.MinRSASize, AllowedKeyTypes: p.AllowedKeyTypes,
		RequireExpiry: p.RequireExpiry, MaxValidity: p.MaxValidity, OnePurposePerKey: p.OnePurposePerKey}
	for _, c := range p.AllowedCurves {
		r.AllowedCurves = append(r.AllowedCurves, string(c))
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("vault: encode key policy: %w", err)
	}
	return b, nil
}

// decodeKeyPolicy reads a stored policy. Empty bytes, JSON null and a
// placeholder without a format version have no rules. Anything else that is
// not a valid version 1 policy is an error: the caller refuses key
// operations rather than run without the rules (fail closed).
func decodeKeyPolicy(b []byte) (KeyPolicy, error) {
	if len(b) == 0 {
		return KeyPolicy{}, nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return KeyPolicy{}, fmt.Errorf("vault: stored key policy is not a JSON object: %w", err)
	}
	if probe.V == nil {
		return KeyPolicy{}, nil
	}
	if *probe.V != 1 {
		return KeyPolicy{}, fmt.Errorf("vault: stored key policy has unknown format version %d", *probe.V)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r keyPolicyRecord
	if err := dec.Decode(&r); err != nil {
		return KeyPolicy{}, fmt.Errorf("vault: decode stored key policy: %w", err)
	}
	p := KeyPolicy{MinRSASize: r.MinRSASize, AllowedKeyTypes: r.AllowedKeyTypes, RequireExpiry: r.RequireExpiry,
		MaxValidity: r.MaxValidity, OnePurposePerKey: r.OnePurposePerKey}
	for _, c := range r.AllowedCurves {
		p.AllowedCurves = append(p.AllowedCurves, keys.Curve(c))
	}
	p, err := p.Normalize()
	if err != nil {
		return KeyPolicy{}, fmt.Errorf("vault: stored key policy: %w", err)
	}
	return p, nil
}

// keyPolicy returns the key policy of a vault for a new operation. A stored
// policy that cannot be read refuses the operation with an internal error
// (fail closed) until an administrator sets the policy again. Errors:
// ErrNotFound (vault).
func (s *Service) keyPolicy(ctx context.Context, vault string) (KeyPolicy, error) {
	e, err := s.cachedVault(ctx, vault)
	if err != nil {
		return KeyPolicy{}, err
	}
	if e.policyErr != nil {
		return KeyPolicy{}, fmt.Errorf("vault %s: %w", vault, e.policyErr)
	}
	return e.v.KeyPolicy, nil
}

// policyViolation is the refusal of a key policy rule: 400 BadParameter
// with inner code KeyPolicyViolation and a message naming the rule.
func policyViolation(vault, rule, msg string) error {
	return &Error{Kind: ErrInvalid, Code: "KeyPolicyViolation", Msg: "Key policy of vault " + vault + ": " + msg + " (" + rule + ")."}
}

// checkMaterial applies the key type, RSA size and curve rules to a key of
// shape spec (type and protection normalized; a zero Size is not checked).
func (p KeyPolicy) checkMaterial(vault string, spec keys.Spec) error {
	if kty := wireType(spec); len(p.AllowedKeyTypes) > 0 && !slices.Contains(p.AllowedKeyTypes, kty) {
		return policyViolation(vault, "allowedKeyTypes", fmt.Sprintf("key type %s is not allowed; use %s", kty, strings.Join(p.AllowedKeyTypes, ", ")))
	}
	if spec.Type == keys.RSA && spec.Size > 0 && spec.Size < p.MinRSASize {
		return policyViolation(vault, "minRsaSize", fmt.Sprintf("RSA keys must be at least %d bits; this key has %d", p.MinRSASize, spec.Size))
	}
	if spec.Type == keys.EC && len(p.AllowedCurves) > 0 && !slices.Contains(p.AllowedCurves, spec.Curve) {
		names := make([]string, len(p.AllowedCurves))
		for i, c := range p.AllowedCurves {
			names[i] = string(c)
		}
		return policyViolation(vault, "allowedCurves", fmt.Sprintf("curve %s is not allowed; use %s", truncate(string(spec.Curve), 16), strings.Join(names, ", ")))
	}
	return nil
}

// checkOps applies the one-purpose rule to key_ops; nil ops stand for the
// defaults of type t, which hold both purposes for RSA.
func (p KeyPolicy) checkOps(vault string, t keys.Type, ops []Operation) error {
	if !p.OnePurposePerKey {
		return nil
	}
	const rule = "a key may hold encryption operations (encrypt, decrypt, wrapKey, unwrapKey) or signing operations (sign, verify), not both"
	if ops == nil {
		if mixedPurpose(defaultOps(t)) {
			return policyViolation(vault, "onePurposePerKey", rule+`, and `+string(t)+` keys get both by default: choose key_ops, such as ["sign","verify"] or ["encrypt","decrypt","wrapKey","unwrapKey"]`)
		}
		return nil
	}
	if mixedPurpose(ops) {
		return policyViolation(vault, "onePurposePerKey", rule)
	}
	return nil
}

// mixedPurpose reports whether ops hold both an encryption and a signing
// operation.
func mixedPurpose(ops []Operation) bool {
	enc := slices.ContainsFunc(ops, func(op Operation) bool { return slices.Contains(encryptionOps, op) })
	sig := slices.ContainsFunc(ops, func(op Operation) bool { return slices.Contains(signingOps, op) })
	return enc && sig
}

// checkValidity applies the expiry rules to a validity window: exp must be
// set under requireExpiry or maxValidity, and at most maxValidity after nbf,
// or after from when nbf is nil.
func (p KeyPolicy) checkValidity(vault string, nbf, exp *time.Time, from time.Time) error {
	if exp == nil {
		switch {
		case p.RequireExpiry:
			return policyViolation(vault, "requireExpiry", "keys must have an expiry date: set exp")
		case p.MaxValidity != "":
			return policyViolation(vault, "maxValidity", "keys must expire at most "+p.MaxValidity+" after they become valid: set exp")
		}
		return nil
	}
	if p.MaxValidity == "" {
		return nil
	}
	d, err := parseDuration(p.MaxValidity)
	if err != nil {
		return err // Normalize guarantees a valid duration
	}
	if nbf != nil {
		from = *nbf
	}
	if exp.After(d.addTo(from)) {
		return policyViolation(vault, "maxValidity", fmt.Sprintf("keys may be valid for at most %s, but exp %s is later than %s", p.MaxValidity,
			exp.UTC().Format(time.RFC3339), d.addTo(from).UTC().Truncate(time.Second).Format(time.RFC3339)))
	}
	return nil
}

// checkNew applies every rule to a new version made by create or import as
// of now. spec is the key's normalized shape; ops nil are the defaults.
func (p KeyPolicy) checkNew(vault string, now time.Time, spec keys.Spec, ops []Operation, a Attributes) error {
	if err := p.checkMaterial(vault, spec); err != nil {
		return err
	}
	if err := p.checkOps(vault, spec.Type, ops); err != nil {
		return err
	}
	return p.checkValidity(vault, a.NotBefore, a.Expires, now)
}

// importedShape completes spec with the size or curve of the private key an
// import brings, so that the rules see them before the provider does.
func importedShape(spec keys.Spec, private any) keys.Spec {
	switch k := private.(type) {
	case *rsa.PrivateKey:
		if k != nil && k.N != nil {
			spec.Size = k.N.BitLen()
		}
	case *keys.ECPrivateKey:
		if k != nil && k.Public.Curve != "" {
			spec.Curve = k.Public.Curve
		}
	case keys.ECPrivateKey:
		if k.Public.Curve != "" {
			spec.Curve = k.Public.Curve
		}
	}
	return spec
}

// checkRotation applies every rule to the version a rotation makes: the
// current version's shape and key_ops, and the expiry the rotation policy
// rp (nil: none) gives it as of now.
func (p KeyPolicy) checkRotation(vault string, now time.Time, spec keys.Spec, ops []Operation, rp *store.RotationPolicy) error {
	if err := p.checkMaterial(vault, spec); err != nil {
		return err
	}
	if err := p.checkOps(vault, spec.Type, ops); err != nil {
		return err
	}
	expiry := ""
	if rp != nil {
		expiry = rp.ExpiryTime
	}
	return p.checkRotationExpiry(vault, now, expiry)
}

// checkRotationExpiry checks the expiryTime of a rotation policy, which
// sets the exp of rotated versions: required under requireExpiry and
// maxValidity, and at most maxValidity.
func (p KeyPolicy) checkRotationExpiry(vault string, now time.Time, expiryTime string) error {
	if expiryTime == "" {
		switch {
		case p.RequireExpiry:
			return policyViolation(vault, "requireExpiry", "keys must have an expiry date, so rotation needs an expiryTime in the key's rotation policy")
		case p.MaxValidity != "":
			return policyViolation(vault, "maxValidity", "keys must expire at most "+p.MaxValidity+" after they become valid, so rotation needs an expiryTime in the key's rotation policy")
		}
		return nil
	}
	if p.MaxValidity == "" {
		return nil
	}
	exp, err := parseDuration(expiryTime)
	if err != nil {
		return err
	}
	limit, err := parseDuration(p.MaxValidity)
	if err != nil {
		return err
	}
	if exp.addTo(now).After(limit.addTo(now)) {
		return policyViolation(vault, "maxValidity", "the rotation policy's expiryTime "+truncate(expiryTime, 32)+" is longer than the maximum validity "+p.MaxValidity)
	}
	return nil
}

// checkRotationPolicy refuses, as of now, a rotation policy whose rotated
// versions would break the key policy: an expiryTime above maxValidity, or
// an automatic Rotate action without the expiryTime the expiry rules need.
func (p KeyPolicy) checkRotationPolicy(vault string, now time.Time, rp RotationPolicy) error {
	rotates := slices.ContainsFunc(rp.Actions, func(a LifetimeAction) bool { return a.Type == "Rotate" })
	if rp.ExpiryTime == "" && !rotates {
		return nil
	}
	return p.checkRotationExpiry(vault, now, rp.ExpiryTime)
}

// checkUpdate applies the rules an update touches: the one-purpose rule when
// key_ops change, the expiry rules when nbf or exp change. old and cur are
// the version before and after the update.
func (p KeyPolicy) checkUpdate(vault string, old, cur store.Version) error {
	if !sameOps(old.Ops, cur.Ops) {
		ops := make([]Operation, len(cur.Ops))
		for i, op := range cur.Ops {
			ops[i] = Operation(op)
		}
		if err := p.checkOps(vault, keys.Type(cur.Type), ops); err != nil {
			return err
		}
	}
	if !sameTime(old.NotBefore, cur.NotBefore) || !sameTime(old.Expires, cur.Expires) {
		return p.checkValidity(vault, cur.NotBefore, cur.Expires, cur.Created)
	}
	return nil
}

// checkRestore applies every rule to every version of a restored key: a
// backup restored into a vault with a stricter policy is refused.
func (p KeyPolicy) checkRestore(vault string, recs []store.Version) error {
	for _, rec := range recs {
		spec := keys.Spec{Type: keys.Type(rec.Type), Size: rec.Size, Curve: keys.Curve(rec.Curve), Protection: keys.Protection(rec.Protection)}
		ops := make([]Operation, len(rec.Ops))
		for i, op := range rec.Ops {
			ops[i] = Operation(op)
		}
		err := p.checkMaterial(vault, spec)
		if err == nil {
			err = p.checkOps(vault, spec.Type, ops)
		}
		if err == nil {
			err = p.checkValidity(vault, rec.NotBefore, rec.Expires, rec.Created)
		}
		if e, ok := err.(*Error); ok {
			e.Msg += " Version " + rec.ID + " of the backup breaks it."
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func sameOps(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// checkKeyPolicy applies the key policy of vault to a new version made by
// create or import as of now. Errors: ErrInvalid (KeyPolicyViolation).
func (s *Service) checkKeyPolicy(ctx context.Context, now time.Time, vault string, spec keys.Spec, ops []Operation, a Attributes) error {
	p, err := s.keyPolicy(ctx, vault)
	if err != nil {
		return err
	}
	return p.checkNew(vault, now, spec, ops, a)
}
