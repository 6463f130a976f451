package alerts

import (
	"fmt"
	"math"
	"time"
)

// rateAlpha is the EWMA weight of the latest minute: about an hour's
// memory (2/(60+1)).
const rateAlpha = 2.0 / 61

// principalState is what the engine remembers of one principal.
type principalState struct {
	// first is when the principal was first seen (warm-up, learning).
	first time.Time
	// failures are its recent failures.
	failures failureWindow
	// minute is the Unix minute counted in current; baseline is the EWMA
	// of completed minutes' counts, valid once hasBaseline.
	minute      int64
	current     int
	baseline    float64
	hasBaseline bool
	// keys are the keys it has used; saturated once full.
	keys      map[keyName]struct{}
	saturated bool
}

// keyName names a key in a vault.
type keyName struct{ vault, key string }

// failureWindow holds the times of the last Threshold.Count failures in a
// ring.
type failureWindow struct {
	times []time.Time
	next  int
}

// add records a failure at t and returns how many of the remembered
// failures fall within w before t, and whether they reach w.Count.
func (f *failureWindow) add(t time.Time, w Threshold) (int, bool) {
	if len(f.times) < w.Count {
		f.times = append(f.times, t)
	} else {
		f.times[f.next] = t
		f.next = (f.next + 1) % w.Count
	}
	n := 0
	for _, x := range f.times {
		if t.Sub(x) < w.Window {
			n++
		}
	}
	return n, n >= w.Count
}

// cooldown is one (rule, subject)'s last alert (the table slot's time)
// and the occurrences suppressed since.
type cooldown struct{ suppressed int }

// idleAfter is how long a principal or vault may stay unseen before a
// full table forgets it first.
const idleAfter = time.Hour

// handle evaluates every request rule for ev. It runs on the Run
// goroutine.
func (e *Engine) handle(ev Event) {
	failed := ev.failed()
	if failed && ev.Vault != "" && !e.disabled[RuleVaultFailures] {
		s, _ := e.vaults.get(ev.Vault, ev.Time, max(idleAfter, e.opts.VaultFailures.Window))
		s.last = ev.Time
		if n, hit := s.v.add(ev.Time, e.opts.VaultFailures); hit {
			e.fire(Alert{Time: ev.Time, Rule: RuleVaultFailures, Severity: SeverityWarning, Vault: ev.Vault,
				Summary: fmt.Sprintf("%d failed operations on vault %s within %s", n, ev.Vault, e.opts.VaultFailures.Window), Count: n}, ev.Vault)
		}
	}
	switch {
	case ev.Operation == "KeyPurge" && ev.Status == 403:
		e.fire(Alert{Time: ev.Time, Rule: RuleRefusedPurge, Severity: SeverityCritical, Vault: ev.Vault, Key: ev.Key, Principal: ev.Principal,
			Summary: fmt.Sprintf("purge of key %s/%s by principal %s refused (%s)", ev.Vault, ev.Key, ev.Principal, ev.ErrorCode), Count: 1},
			ev.Vault+"/"+ev.Key+"/"+ev.Principal)
	case !failed && e.deletion[ev.Operation]:
		e.fire(Alert{Time: ev.Time, Rule: RuleDeletion, Severity: SeverityWarning, Vault: ev.Vault, Key: ev.Key, Principal: ev.Principal,
			Summary: fmt.Sprintf("%s of %s by principal %s", ev.Operation, subjectName(ev), ev.Principal), Count: 1},
			ev.Operation+"/"+ev.Vault+"/"+ev.Key)
	case !failed && e.change[ev.Operation]:
		e.fire(Alert{Time: ev.Time, Rule: RuleChange, Severity: SeverityInfo, Vault: ev.Vault, Key: ev.Key, Principal: ev.Principal,
			Summary: fmt.Sprintf("%s of %s by principal %s", ev.Operation, subjectName(ev), ev.Principal), Count: 1},
			ev.Operation+"/"+ev.Vault+"/"+ev.Key)
	}
	if ev.Principal == "" {
		return
	}
	p, created := e.principals.get(ev.Principal, ev.Time, max(idleAfter, e.opts.PrincipalFailures.Window))
	p.last = ev.Time
	st := &p.v
	if created {
		st.first = ev.Time
	}
	if failed && !e.disabled[RulePrincipalFailures] {
		if n, hit := st.failures.add(ev.Time, e.opts.PrincipalFailures); hit {
			e.fire(Alert{Time: ev.Time, Rule: RulePrincipalFailures, Severity: SeverityWarning, Vault: ev.Vault, Principal: ev.Principal,
				Summary: fmt.Sprintf("%d failed operations by principal %s within %s", n, ev.Principal, e.opts.PrincipalFailures.Window), Count: n}, ev.Principal)
		}
	}
	if !e.disabled[RuleRateSpike] {
		e.rate(st, ev)
	}
	if !failed && ev.Key != "" && !e.disabled[RuleNewKey] {
		e.newKey(st, ev)
	}
}

// subjectName names the object of a change.
func subjectName(ev Event) string {
	switch {
	case ev.Key != "":
		return "key " + ev.Vault + "/" + ev.Key
	case ev.Vault != "":
		return "vault " + ev.Vault
	}
	return "the server"
}

// rate counts ev in its principal's current minute and raises
// RuleRateSpike when the count is far above the baseline.
func (e *Engine) rate(st *principalState, ev Event) {
	m := ev.Time.Unix() / 60
	if m > st.minute {
		if st.current > 0 || st.hasBaseline {
			if st.hasBaseline {
				st.baseline = rateAlpha*float64(st.current) + (1-rateAlpha)*st.baseline
			} else {
				st.baseline, st.hasBaseline = float64(st.current), true
			}
			if gap := m - st.minute - 1; gap > 0 {
				// Idle minutes count as zero.
				st.baseline *= math.Pow(1-rateAlpha, float64(min(gap, 100000)))
			}
		}
		st.minute, st.current = m, 0
	}
	st.current++
	if ev.Time.Sub(st.first) < e.opts.RateWarmUp || !st.hasBaseline {
		return
	}
	limit := max(e.opts.RateFactor*st.baseline, float64(e.opts.RateFloor))
	if float64(st.current) > limit {
		e.fire(Alert{Time: ev.Time, Rule: RuleRateSpike, Severity: SeverityWarning, Principal: ev.Principal,
			Summary: fmt.Sprintf("principal %s made %d operations this minute, over %.0f (baseline %.1f per minute)", ev.Principal, st.current, limit, st.baseline),
			Count:   st.current}, ev.Principal)
	}
}

// newKey remembers the key ev used and raises RuleNewKey for one the
// principal has not used before, once past its learning period.
func (e *Engine) newKey(st *principalState, ev Event) {
	k := keyName{ev.Vault, ev.Key}
	if _, ok := st.keys[k]; ok || st.saturated {
		return
	}
	if len(st.keys) >= e.opts.MaxKeysPerPrincipal {
		st.saturated = true
		return
	}
	if st.keys == nil {
		st.keys = map[keyName]struct{}{}
	}
	st.keys[k] = struct{}{}
	if introducesKey(ev.Operation) || ev.Time.Sub(st.first) < e.opts.NewKeyLearning {
		return
	}
	e.fire(Alert{Time: ev.Time, Rule: RuleNewKey, Severity: SeverityWarning, Vault: ev.Vault, Key: ev.Key, Principal: ev.Principal,
		Summary: fmt.Sprintf("principal %s used key %s/%s for the first time (%s)", ev.Principal, ev.Vault, ev.Key, ev.Operation), Count: 1},
		ev.Principal+"/"+ev.Vault+"/"+ev.Key)
}

// fire emits a unless its rule is disabled or (rule, subject) is cooling
// down; then it counts the suppression instead.
func (e *Engine) fire(a Alert, subject string) {
	if e.disabled[a.Rule] {
		return
	}
	s, created := e.cooldowns.get(a.Rule+"\x00"+subject, a.Time, e.opts.Cooldown)
	if !created && a.Time.Sub(s.last) < e.opts.Cooldown {
		s.v.suppressed++
		return
	}
	if a.Rule != RulePrincipalFailures && a.Rule != RuleVaultFailures && a.Rule != RuleRateSpike {
		a.Count += s.v.suppressed
	}
	s.v.suppressed = 0
	s.last = a.Time
	e.emit(a)
}

// table is a map bounded to max entries: a full table forgets the entries
// idle the longest first (swept at most once a minute), then arbitrary
// ones.
type table[V any] struct {
	max       int
	m         map[string]*slot[V]
	lastSweep time.Time
}

// slot is a table entry; last is the time its owner last touched it.
type slot[V any] struct {
	last time.Time
	v    V
}

// newTable returns an empty table of at most n entries.
func newTable[V any](n int) *table[V] {
	return &table[V]{max: n, m: map[string]*slot[V]{}}
}

// get returns the slot of key, creating it (with last = now) when absent;
// idle is how long unseen entries may be swept to make room.
func (t *table[V]) get(key string, now time.Time, idle time.Duration) (*slot[V], bool) {
	if s, ok := t.m[key]; ok {
		return s, false
	}
	if len(t.m) >= t.max {
		if now.Sub(t.lastSweep) >= time.Minute || now.Before(t.lastSweep) {
			t.lastSweep = now
			for k, s := range t.m {
				if now.Sub(s.last) > idle {
					delete(t.m, k)
				}
			}
		}
		for k := range t.m {
			if len(t.m) < t.max {
				break
			}
			delete(t.m, k)
		}
	}
	s := &slot[V]{last: now}
	t.m[key] = s
	return s, true
}

// len returns the number of entries.
func (t *table[V]) len() int { return len(t.m) }
