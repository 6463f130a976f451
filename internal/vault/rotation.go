package vault

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// specOf returns the spec of a stored version; an HSM key's Owner is its
// vault (see validateSpec).
func (s *Service) specOf(rec store.Version) keys.Spec {
	spec := keys.Spec{Type: keys.Type(rec.Type), Size: rec.Size, Curve: keys.Curve(rec.Curve), Protection: keys.Protection(rec.Protection)}
	if spec.Protection == keys.HSM {
		spec.Owner = rec.Vault
	}
	return spec
}

// RotateKey makes a new current version of a key with the same type, size
// or curve, key_ops, tags; when the rotation policy has an expiryTime the
// new version expires that long from now. The new version must follow the
// vault's key policy. Errors: ErrNotFound, ErrInvalid (KeyPolicyViolation).
func (s *Service) RotateKey(ctx context.Context, now time.Time, vault, name string) (KeyVersion, error) {
	v, k, cv, err := s.lookup(ctx, Ref{Vault: vault, Name: name})
	if err != nil {
		return KeyVersion{}, err
	}
	cur := cv.rec
	spec := s.specOf(cur)
	ops := make([]Operation, len(cur.Ops))
	for i, op := range cur.Ops {
		ops[i] = Operation(op)
	}
	policy, err := s.keyPolicy(ctx, v.Name)
	if err != nil {
		return KeyVersion{}, err
	}
	if err := policy.checkRotation(v.Name, now, spec, ops, k.key.RotationPolicy); err != nil {
		return KeyVersion{}, err
	}
	p := s.provider(spec)
	if p == nil {
		return KeyVersion{}, newErr(ErrUnavailable, "", "The key provider for %s keys is not configured.", wireType(spec))
	}
	m, err := p.Generate(ctx, kekSpec(spec, ops))
	if err != nil {
		return KeyVersion{}, mapProviderErr(err)
	}
	defer m.Private.Clear()
	a := Attributes{Enabled: ptr(true)}
	if p := k.key.RotationPolicy; p != nil && p.ExpiryTime != "" {
		d, err := parseDuration(p.ExpiryTime)
		if err != nil {
			return KeyVersion{}, err
		}
		exp := d.addTo(now)
		a.Expires = &exp
	}
	return s.addVersion(ctx, now, v, cur.Name, m, ops, a, cur.Tags, nil)
}

func ptr[T any](v T) *T { return &v }

// defaultPolicy is what a key without an explicit policy reports: notify 30
// days before expiry.
var defaultPolicy = RotationPolicy{Actions: []LifetimeAction{{Type: "Notify", TimeBeforeExpiry: "P30D"}}}

// RotationPolicy returns a key's rotation policy, or the default policy if
// none was set. Errors: ErrNotFound.
func (s *Service) RotationPolicy(ctx context.Context, vault, name string) (RotationPolicy, error) {
	_, k, _, err := s.lookup(ctx, Ref{Vault: vault, Name: name})
	if err != nil {
		return RotationPolicy{}, err
	}
	if k.key.RotationPolicy == nil {
		return defaultPolicy, nil
	}
	p := k.key.RotationPolicy
	return RotationPolicy{Actions: fromStoreActions(p.Actions), ExpiryTime: p.ExpiryTime, Created: p.Created, Updated: p.Updated}, nil
}

// SetRotationPolicy validates and stores a key's rotation policy. Action
// types are matched case-insensitively and stored as Rotate/Notify; an
// expiryTime without a Notify action gets the default Notify 30 days before
// expiry. A policy whose rotations the vault's key policy would refuse
// (an expiryTime above maxValidity, or a Rotate action without the
// expiryTime requireExpiry needs) is refused. Errors: ErrNotFound,
// ErrInvalid (KeyPolicyViolation for the key policy).
func (s *Service) SetRotationPolicy(ctx context.Context, now time.Time, vault, name string, p RotationPolicy) (RotationPolicy, error) {
	if _, _, _, err := s.lookup(ctx, Ref{Vault: vault, Name: name}); err != nil {
		return RotationPolicy{}, err
	}
	p, err := normalisePolicy(p)
	if err != nil {
		return RotationPolicy{}, err
	}
	kp, err := s.keyPolicy(ctx, vault)
	if err != nil {
		return RotationPolicy{}, err
	}
	if err := kp.checkRotationPolicy(vault, now, p); err != nil {
		return RotationPolicy{}, err
	}
	now = now.UTC().Truncate(time.Second)
	err = s.store.Update(ctx, func(tx store.Tx) error {
		k, err := tx.Key(vault, name)
		if err != nil {
			return err
		}
		if k.Deleted != nil {
			return keyNotFound(name, "")
		}
		created := now
		if k.RotationPolicy != nil {
			created = k.RotationPolicy.Created
		}
		k.RotationPolicy = &store.RotationPolicy{Actions: toStoreActions(p.Actions), ExpiryTime: p.ExpiryTime, Created: created, Updated: now}
		p.Created, p.Updated = created, now
		return tx.PutKey(k)
	})
	s.invalidate(vault, name)
	if errors.Is(err, store.ErrNotFound) {
		return RotationPolicy{}, keyNotFound(name, "")
	}
	return p, err
}

// normalisePolicy applies the rotation policy rules.
func normalisePolicy(p RotationPolicy) (RotationPolicy, error) {
	if len(p.Actions) > 2 {
		return p, invalidf("A rotation policy has at most two lifetime actions, one Rotate and one Notify.")
	}
	minimum := duration{days: 7}
	var expiry *duration
	if p.ExpiryTime != "" {
		d, err := parseDuration(p.ExpiryTime)
		if err != nil {
			return p, err
		}
		if d.less(duration{days: 28}) {
			return p, invalidf("The rotation policy's expiryTime %s is too short: it must be at least 28 days (P28D).", p.ExpiryTime)
		}
		expiry = &d
	}
	seen := map[string]bool{}
	out := RotationPolicy{ExpiryTime: p.ExpiryTime}
	for _, a := range p.Actions {
		switch strings.ToLower(a.Type) {
		case "rotate":
			a.Type = "Rotate"
		case "notify":
			a.Type = "Notify"
		default:
			return p, invalidf("Invalid lifetime action type '%s': use Rotate or Notify.", truncate(a.Type, 32))
		}
		if seen[a.Type] {
			return p, invalidf("A rotation policy may have only one %s action.", a.Type)
		}
		seen[a.Type] = true
		if (a.TimeAfterCreate == "") == (a.TimeBeforeExpiry == "") {
			return p, invalidf("Each lifetime action trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.")
		}
		if a.TimeAfterCreate != "" {
			if a.Type != "Rotate" {
				return p, invalidf("The timeAfterCreate trigger is only valid for the Rotate action.")
			}
			d, err := parseDuration(a.TimeAfterCreate)
			if err != nil {
				return p, err
			}
			if d.less(minimum) {
				return p, invalidf("The timeAfterCreate trigger %s is too short: it must be at least 7 days (P7D).", a.TimeAfterCreate)
			}
			if expiry != nil && !d.less(*expiry) {
				return p, invalidf("The timeAfterCreate trigger %s must be shorter than the expiryTime %s.", a.TimeAfterCreate, p.ExpiryTime)
			}
		} else {
			d, err := parseDuration(a.TimeBeforeExpiry)
			if err != nil {
				return p, err
			}
			if expiry == nil {
				return p, invalidf("The timeBeforeExpiry trigger needs an expiryTime in the rotation policy.")
			}
			if d.less(minimum) {
				return p, invalidf("The timeBeforeExpiry trigger %s is too short: it must be at least 7 days (P7D).", a.TimeBeforeExpiry)
			}
			if !d.less(*expiry) {
				return p, invalidf("The timeBeforeExpiry trigger %s must be shorter than the expiryTime %s.", a.TimeBeforeExpiry, p.ExpiryTime)
			}
		}
		out.Actions = append(out.Actions, a)
	}
	if expiry != nil && !seen["Notify"] {
		out.Actions = append(out.Actions, LifetimeAction{Type: "Notify", TimeBeforeExpiry: "P30D"})
	}
	return out, nil
}

func fromStoreActions(as []store.LifetimeAction) []LifetimeAction {
	out := make([]LifetimeAction, len(as))
	for i, a := range as {
		out[i] = LifetimeAction{Type: a.Type, TimeAfterCreate: a.TimeAfterCreate, TimeBeforeExpiry: a.TimeBeforeExpiry}
	}
	return out
}

func toStoreActions(as []LifetimeAction) []store.LifetimeAction {
	out := make([]store.LifetimeAction, len(as))
	for i, a := range as {
		out[i] = store.LifetimeAction{Type: a.Type, TimeAfterCreate: a.TimeAfterCreate, TimeBeforeExpiry: a.TimeBeforeExpiry}
	}
	return out
}

// duration is an ISO-8601 duration kept in calendar parts.
type duration struct {
	years, months, days int
	clock               time.Duration
}

var durationRE = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseDuration parses PnYnMnWnDTnHnMnS (P3M is three months, PT3M three
// minutes).
func parseDuration(s string) (duration, error) {
	m := durationRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return duration{}, invalidf("Invalid ISO-8601 duration '%s'.", truncate(s, 32))
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		if m[i] == "" {
			continue
		}
		v, err := strconv.Atoi(m[i])
		if err != nil || v > 1000000 {
			return duration{}, invalidf("Invalid ISO-8601 duration '%s'.", truncate(s, 32))
		}
		n[i] = v
	}
	return duration{
		years: n[1], months: n[2], days: n[3]*7 + n[4],
		clock: time.Duration(n[5])*time.Hour + time.Duration(n[6])*time.Minute + time.Duration(n[7])*time.Second,
	}, nil
}

// addTo returns t plus d with calendar arithmetic.
func (d duration) addTo(t time.Time) time.Time {
	return t.AddDate(d.years, d.months, d.days).Add(d.clock)
}

// less compares two durations from a fixed reference date.
func (d duration) less(o duration) bool {
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	return d.addTo(ref).Before(o.addTo(ref))
}
