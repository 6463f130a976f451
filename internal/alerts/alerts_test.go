package alerts

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/config"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeRecorder counts alerts by rule/severity and dropped events.
type fakeRecorder struct {
	mu      sync.Mutex
	fired   map[string]int
	dropped int
}

func (r *fakeRecorder) AlertFired(rule, severity string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fired == nil {
		r.fired = map[string]int{}
	}
	r.fired[rule+"/"+severity]++
}

func (r *fakeRecorder) AlertEventDropped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped++
}

// runScript feeds events through Observe to a running engine, in a
// synctest bubble, and returns the alerts raised and the engine.
func runScript(t *testing.T, opts Options, events []Event) ([]Alert, *Engine) {
	t.Helper()
	var got []Alert
	opts.Sinks = append(opts.Sinks, SinkFunc(func(a Alert) { got = append(got, a) }))
	var e *Engine
	synctest.Test(t, func(t *testing.T) {
		// The engine's channels must belong to the bubble for
		// synctest.Wait to see its goroutine blocked on them.
		var err error
		if e, err = New(opts); err != nil {
			t.Fatalf("New() = %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.Run(ctx)
			close(done)
		}()
		for i, ev := range events {
			e.Observe(ev)
			if (i+1)%256 == 0 {
				synctest.Wait() // the engine has taken every queued event
			}
		}
		synctest.Wait()
		cancel()
		<-done
	})
	if n := e.Dropped(); n != 0 {
		t.Fatalf("engine dropped %d events", n)
	}
	return got, e
}

// rules lists the rule of each alert.
func rules(alerts []Alert) []string {
	var r []string
	for _, a := range alerts {
		r = append(r, a.Rule)
	}
	return r
}

// ev builds an event at t0+at.
func ev(at time.Duration, principal, op, vault, key string, status int) Event {
	return Event{Time: t0.Add(at), Operation: op, Vault: vault, Key: key, Principal: principal, Status: status, Result: resultOf(status)}
}

func resultOf(status int) string {
	if status >= 400 {
		return "Failure"
	}
	return "Success"
}

// normalUse scripts two days of ordinary traffic: three applications
// signing, decrypting and reading with their own keys at a rate that
// follows the working day, a few failures an hour (missing keys,
// throttling), and an operator who creates a key the next day that an
// application then uses.
func normalUse() []Event {
	rng := rand.New(rand.NewPCG(1, 2))
	apps := []struct {
		principal string
		ops       []string
		keys      []string
	}{
		{"app-payments", []string{"KeySign", "KeyVerify"}, []string{"pay-1", "pay-2"}},
		{"app-storage", []string{"KeyWrap", "KeyUnwrap", "KeyGet"}, []string{"dek-root"}},
		{"app-tokens", []string{"KeySign", "KeyGet"}, []string{"jwt-signing"}},
	}
	var evs []Event
	for m := range 2 * 24 * 60 {
		at := time.Duration(m) * time.Minute
		hour := (9 + m/60) % 24
		perMinute := 2
		if hour >= 8 && hour < 18 {
			perMinute = 12
		}
		for _, a := range apps {
			n := perMinute + rng.IntN(perMinute+1)
			for i := range n {
				ts := at + time.Duration(i)*time.Minute/time.Duration(n)
				status := 200
				if rng.IntN(300) == 0 {
					status = []int{404, 429}[rng.IntN(2)]
				}
				evs = append(evs, ev(ts, a.principal, a.ops[rng.IntN(len(a.ops))], "prod", a.keys[rng.IntN(len(a.keys))], status))
			}
		}
		if m == 26*60 {
			evs = append(evs, ev(at, "operator", "KeyCreate", "prod", "pay-3", 200))
			evs = append(evs, ev(at+time.Second, "operator", "KeyGet", "prod", "pay-3", 200))
		}
		if m > 26*60 && m%5 == 0 {
			evs = append(evs, ev(at+30*time.Second, "operator", "KeyList", "prod", "", 200))
		}
	}
	return evs
}

func TestNormalUseIsQuiet(t *testing.T) {
	rec := &fakeRecorder{}
	got, _ := runScript(t, Options{Recorder: rec}, normalUse())
	if len(got) != 0 {
		t.Errorf("normal use raised %d alerts, want none; first: %+v", len(got), got[0])
	}
	if len(rec.fired) != 0 {
		t.Errorf("recorder counted %v, want nothing", rec.fired)
	}
}

func TestRules(t *testing.T) {
	failures := func(principal, vault string, n int, spacing time.Duration, status int) []Event {
		var evs []Event
		for i := range n {
			evs = append(evs, ev(time.Duration(i)*spacing, principal, "KeySign", vault, "k1", status))
		}
		return evs
	}
	// steady makes principal do perMinute operations a minute for minutes.
	steady := func(principal string, from time.Duration, minutes, perMinute int) []Event {
		var evs []Event
		for m := range minutes {
			for i := range perMinute {
				evs = append(evs, ev(from+time.Duration(m)*time.Minute+time.Duration(i)*time.Minute/time.Duration(perMinute), principal, "KeySign", "prod", "k1", 200))
			}
		}
		return evs
	}
	cat := func(parts ...[]Event) []Event {
		var all []Event
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name    string
		opts    Options
		events  []Event
		want    []string
		checkFn func(t *testing.T, got []Alert)
	}{
		{
			name:   "principal failures over the threshold",
			events: failures("mallory", "prod", 25, 5*time.Second, 403),
			want:   []string{RulePrincipalFailures},
			checkFn: func(t *testing.T, got []Alert) {
				want := Alert{Time: t0.Add(19 * 5 * time.Second), Rule: RulePrincipalFailures, Severity: SeverityWarning, Vault: "prod", Principal: "mallory",
					Summary: "20 failed operations by principal mallory within 5m0s", Count: 20}
				if diff := cmp.Diff(want, got[0]); diff != "" {
					t.Errorf("alert (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:   "principal failures spread beyond the window",
			events: failures("alice", "prod", 40, 16*time.Second, 404), // 19 per 5 minutes
			want:   nil,
		},
		{
			name:   "principal failures storm: one alert per cooldown",
			opts:   Options{Cooldown: 10 * time.Minute},
			events: failures("mallory", "prod", 300, 5*time.Second, 403), // 25 minutes
			want:   []string{RulePrincipalFailures, RulePrincipalFailures, RulePrincipalFailures},
			checkFn: func(t *testing.T, got []Alert) {
				for i, a := range got[1:] {
					if d := a.Time.Sub(got[i].Time); d != 10*time.Minute {
						t.Errorf("alert %d came %v after the previous, want the 10m cooldown", i+1, d)
					}
				}
			},
		},
		{
			name:   "vault failures from unauthenticated callers",
			events: failures("", "prod", 120, time.Second, 401),
			want:   []string{RuleVaultFailures},
			checkFn: func(t *testing.T, got []Alert) {
				if a := got[0]; a.Vault != "prod" || a.Count != 100 || a.Severity != SeverityWarning || a.Time != t0.Add(99*time.Second) {
					t.Errorf("alert = %+v, want vault prod, count 100 at the 100th failure", a)
				}
			},
		},
		{
			name: "vault failures from many principals, each under its threshold",
			events: func() []Event {
				var evs []Event
				for i := range 100 {
					evs = append(evs, ev(time.Duration(i)*time.Second, fmt.Sprintf("p%d", i%10), "KeyGet", "prod", "nope", 404))
				}
				return evs
			}(),
			want: []string{RuleVaultFailures},
		},
		{
			name:   "rate spike after warm-up",
			events: cat(steady("batch", 0, 90, 10), steady("batch", 90*time.Minute, 1, 500)),
			want:   []string{RuleRateSpike},
			checkFn: func(t *testing.T, got []Alert) {
				if a := got[0]; a.Principal != "batch" || a.Count != 101 || a.Time.Before(t0.Add(90*time.Minute)) {
					t.Errorf("alert = %+v, want principal batch at its 101st operation in minute 90", a)
				}
			},
		},
		{
			name:   "rate spike before warm-up is quiet",
			events: cat(steady("batch", 0, 10, 10), steady("batch", 10*time.Minute, 1, 500)),
			want:   nil,
		},
		{
			name:   "rate below the floor is quiet",
			events: cat(steady("batch", 0, 90, 2), steady("batch", 90*time.Minute, 1, 90)),
			want:   nil,
		},
		{
			name:   "gradual growth is quiet",
			events: cat(steady("batch", 0, 60, 20), steady("batch", time.Hour, 60, 60), steady("batch", 2*time.Hour, 60, 150)),
			want:   nil,
		},
		{
			name: "rate spike over a high floor with a low factor",
			opts: Options{RateFactor: 2, RateFloor: 30, RateWarmUp: 30 * time.Minute},
			events: cat(steady("batch", 0, 40, 10), steady("batch", 40*time.Minute, 1, 35),
				steady("batch", 41*time.Minute, 1, 10)),
			want: []string{RuleRateSpike},
		},
		{
			name: "new key after learning",
			events: []Event{
				ev(0, "app", "KeySign", "prod", "k1", 200),
				ev(time.Hour, "app", "KeySign", "prod", "k2", 200),    // learning
				ev(25*time.Hour, "app", "KeySign", "prod", "k1", 200), // known
				ev(25*time.Hour, "app", "KeySign", "prod", "k2", 200), // known
				ev(26*time.Hour, "app", "KeySign", "prod", "k3", 403), // refused: not a use
				ev(26*time.Hour, "app", "KeyDecrypt", "prod", "k3", 200),
				ev(26*time.Hour, "app", "KeySign", "prod", "k3", 200), // now known
				ev(27*time.Hour, "app", "KeyCreate", "prod", "k4", 200),
				ev(27*time.Hour, "app", "KeySign", "prod", "k4", 200), // it created it
				ev(27*time.Hour, "app", "KeySign", "other", "k1", 200),
			},
			want: []string{RuleNewKey, RuleNewKey},
			checkFn: func(t *testing.T, got []Alert) {
				if a := got[0]; a.Key != "k3" || a.Vault != "prod" || a.Principal != "app" || a.Summary != "principal app used key prod/k3 for the first time (KeyDecrypt)" {
					t.Errorf("alert = %+v, want app's first use of prod/k3", a)
				}
				if a := got[1]; a.Key != "k1" || a.Vault != "other" {
					t.Errorf("alert = %+v, want other/k1 (keys are per vault)", a)
				}
			},
		},
		{
			name: "deletions and purges",
			events: []Event{
				ev(0, "admin", "KeyDelete", "prod", "k1", 200),
				ev(time.Minute, "admin", "KeyPurge", "prod", "k1", 204),
				ev(2*time.Minute, "admin", "KeyDelete", "prod", "k2", 403), // refused: no deletion
				ev(3*time.Minute, "admin", "VaultDelete", "old", "", 204),
			},
			want: []string{RuleDeletion, RuleDeletion, RuleDeletion},
			checkFn: func(t *testing.T, got []Alert) {
				want := Alert{Time: t0, Rule: RuleDeletion, Severity: SeverityWarning, Vault: "prod", Key: "k1", Principal: "admin", Summary: "KeyDelete of key prod/k1 by principal admin", Count: 1}
				if diff := cmp.Diff(want, got[0]); diff != "" {
					t.Errorf("alert (-want +got):\n%s", diff)
				}
				if got[2].Summary != "VaultDelete of vault old by principal admin" {
					t.Errorf("summary = %q", got[2].Summary)
				}
			},
		},
		{
			name: "attribute, policy and access changes",
			events: []Event{
				ev(0, "admin", "KeyUpdate", "prod", "k1", 200),
				ev(time.Minute, "admin", "KeyRotationPolicySet", "prod", "k1", 200),
				ev(2*time.Minute, "admin", "RoleAssignmentPut", "", "", 201),
				ev(3*time.Minute, "admin", "KeyGet", "prod", "k1", 200),
				ev(4*time.Minute, "admin", "KeyUpdate", "prod", "k1", 400),
			},
			want: []string{RuleChange, RuleChange, RuleChange},
		},
		{
			name:   "configured change operations replace the defaults",
			opts:   Options{ChangeOperations: []string{"KeyRotate"}},
			events: []Event{ev(0, "admin", "KeyUpdate", "prod", "k1", 200), ev(time.Minute, "admin", "KeyRotate", "prod", "k1", 200)},
			want:   []string{RuleChange},
		},
		{
			name: "refused purge on a protected vault",
			events: []Event{
				{Time: t0, Operation: "KeyPurge", Vault: "prod", Key: "k1", Principal: "admin", Status: 403, Result: "Failure", ErrorCode: "PurgeProtected"},
			},
			want: []string{RuleRefusedPurge},
			checkFn: func(t *testing.T, got []Alert) {
				if a := got[0]; a.Severity != SeverityCritical || a.Summary != "purge of key prod/k1 by principal admin refused (PurgeProtected)" {
					t.Errorf("alert = %+v", a)
				}
			},
		},
		{
			name: "disabled rules stay quiet",
			opts: Options{DisabledRules: []string{RuleDeletion, RulePrincipalFailures}},
			events: cat([]Event{ev(0, "admin", "KeyDelete", "prod", "k1", 200)},
				failures("mallory", "prod", 30, time.Second, 403)),
			want: nil,
		},
		{
			name: "deletion storm of one key: one alert per cooldown, counting the rest",
			events: func() []Event {
				var evs []Event
				for i := range 20 {
					evs = append(evs, ev(time.Duration(i)*time.Minute, "admin", "KeyDelete", "prod", "k1", 200))
				}
				return evs
			}(),
			want: []string{RuleDeletion, RuleDeletion},
			checkFn: func(t *testing.T, got []Alert) {
				if got[0].Count != 1 || got[1].Count != 15 || got[1].Time != t0.Add(15*time.Minute) {
					t.Errorf("alerts = %+v, %+v; want counts 1 then 15 (14 suppressed), 15m apart", got[0], got[1])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runScript(t, tt.opts, tt.events)
			if diff := cmp.Diff(tt.want, rules(got)); diff != "" {
				t.Fatalf("rules fired (-want +got):\n%s\nalerts: %+v", diff, got)
			}
			if tt.checkFn != nil {
				tt.checkFn(t, got)
			}
		})
	}
}

func TestCheckExpiry(t *testing.T) {
	rec := &fakeRecorder{}
	var got []Alert
	e, err := New(Options{Recorder: rec, Sinks: []Sink{SinkFunc(func(a Alert) { got = append(got, a) })}})
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	versions := []KeyExpiry{
		{Vault: "prod", Key: "k1", Version: "v1", Expires: t0.Add(10 * day)},
		{Vault: "prod", Key: "k1", Version: "v2", Expires: t0.Add(60 * day)},
		{Vault: "prod", Key: "k2", Version: "v1"},
		{Vault: "prod", Key: "k3", Version: "v1", Expires: t0.Add(-day)},
	}
	e.CheckExpiry(t0, versions)
	want := []Alert{
		{Time: t0, Rule: RuleKeyExpiry, Severity: SeverityWarning, Vault: "prod", Key: "k1", Summary: "key prod/k1 version v1 expires at 2026-03-12T09:00:00Z, in 240h0m0s", Count: 1},
		{Time: t0, Rule: RuleKeyExpiry, Severity: SeverityWarning, Vault: "prod", Key: "k3", Summary: "key prod/k3 version v1 expired at 2026-03-01T09:00:00Z", Count: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("CheckExpiry alerts (-want +got):\n%s", diff)
	}
	got = nil
	e.CheckExpiry(t0.Add(time.Hour), versions)
	if len(got) != 0 {
		t.Errorf("second CheckExpiry raised %+v, want nothing (once per version)", got)
	}
	e.CheckExpiry(t0.Add(31*day), versions) // v2 enters the window
	if diff := cmp.Diff([]string{RuleKeyExpiry}, rules(got)); diff != "" || got[0].Key != "k1" || !strings.Contains(got[0].Summary, "version v2") {
		t.Errorf("CheckExpiry a month later = %+v, want k1 v2 only", got)
	}
	got = nil
	versions[0].Expires = t0.Add(20 * day) // extended, still within the window
	e.CheckExpiry(t0.Add(31*day), versions)
	if len(got) != 1 || !strings.Contains(got[0].Summary, "k1 version v1") {
		t.Errorf("CheckExpiry after a new expiry = %+v, want k1 v1 again", got)
	}
	if rec.fired[RuleKeyExpiry+"/warning"] != 4 {
		t.Errorf("recorder counted %v, want 4 key-expiry/warning", rec.fired)
	}
	if len(e.expiry) != 3 {
		t.Errorf("expiry state holds %d versions, want 3 (those in the window)", len(e.expiry))
	}

	d, _ := New(Options{DisabledRules: []string{RuleKeyExpiry}, Sinks: []Sink{SinkFunc(func(a Alert) { t.Errorf("disabled rule raised %+v", a) })}})
	d.CheckExpiry(t0, versions)
}

func TestBoundedMemory(t *testing.T) {
	opts := Options{MaxPrincipals: 100, MaxKeysPerPrincipal: 10, PrincipalFailures: Threshold{Count: 2, Window: time.Minute}}
	var evs []Event
	for i := range 5000 {
		at := time.Duration(i) * time.Second
		p := fmt.Sprintf("principal-%d", i)
		evs = append(evs,
			ev(at, p, "KeySign", fmt.Sprintf("vault-%d", i), "k", 404),
			ev(at, p, "KeySign", fmt.Sprintf("vault-%d", i), "k", 404), // fires principal-failures
			ev(at, p, "KeySign", "prod", "k", 200),
		)
	}
	// One principal uses a thousand keys after its learning period.
	evs = append(evs, ev(6000*time.Second, "busy", "KeySign", "prod", "k0", 200))
	for i := range 1000 {
		evs = append(evs, ev(6000*time.Second+25*time.Hour+time.Duration(i)*time.Second, "busy", "KeySign", "prod", fmt.Sprintf("key-%d", i), 200))
	}
	got, e := runScript(t, opts, evs)
	for name, n := range map[string]int{"principals": e.principals.len(), "vaults": e.vaults.len(), "cooldowns": e.cooldowns.len()} {
		if n > 100 {
			t.Errorf("%s table holds %d entries, want at most 100", name, n)
		}
	}
	p, ok := e.principals.m["busy"]
	if !ok {
		t.Fatal("busy principal forgotten")
	}
	if n := len(p.v.keys); n != 10 || !p.v.saturated {
		t.Errorf("busy principal remembers %d keys (saturated %v), want 10 and saturated", n, p.v.saturated)
	}
	newKeys := 0
	for _, a := range got {
		if a.Rule == RuleNewKey {
			newKeys++
		}
	}
	if newKeys != 9 {
		t.Errorf("new-key alerts = %d, want 9 (until the key memory is full)", newKeys)
	}
}

func TestQueueFullDrops(t *testing.T) {
	rec := &fakeRecorder{}
	e, err := New(Options{QueueSize: 2, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.Observe(ev(0, "p", "KeySign", "prod", "k", 200))
	}
	if e.Dropped() != 3 || rec.dropped != 3 {
		t.Errorf("Dropped() = %d, recorder %d, want 3", e.Dropped(), rec.dropped)
	}
	e.Close()
	e.Observe(ev(0, "p", "KeySign", "prod", "k", 200))
	if e.Dropped() != 3 {
		t.Errorf("Observe after Close counted a drop")
	}
}

func TestRunAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []Alert
		e, _ := New(Options{Sinks: []Sink{SinkFunc(func(a Alert) { mu.Lock(); got = append(got, a); mu.Unlock() })}})
		done := make(chan error, 1)
		go func() { done <- e.Run(context.Background()) }()
		synctest.Wait()
		if err := e.Run(context.Background()); err == nil {
			t.Errorf("second Run = nil, want an error")
		}
		e.Observe(ev(0, "admin", "KeyDelete", "prod", "k1", 200))
		e.Close() // evaluates what is queued before returning
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			t.Errorf("alerts after Close = %d, want 1", len(got))
		}
	})
}

func TestObserveStampsTime(t *testing.T) {
	at := t0.Add(time.Hour)
	var got []Alert
	opts := Options{Now: func() time.Time { return at }, Sinks: []Sink{SinkFunc(func(a Alert) { got = append(got, a) })}}
	e, _ := New(opts)
	e.Observe(Event{Operation: "KeyDelete", Vault: "prod", Key: "k", Principal: "admin", Status: 200})
	e.Close()
	e.drain()
	if len(got) != 1 || !got[0].Time.Equal(at) {
		t.Errorf("alerts = %+v, want one at %v", got, at)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"unknown rule":     {DisabledRules: []string{"nope"}},
		"negative window":  {PrincipalFailures: Threshold{Window: -time.Minute}},
		"negative count":   {VaultFailures: Threshold{Count: -1}},
		"factor below one": {RateFactor: 0.5},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%s) = nil error", name)
		}
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	s := LogSink{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	s.Alert(Alert{Time: t0, Rule: RuleRefusedPurge, Severity: SeverityCritical, Vault: "prod", Key: "k1", Principal: "admin", Summary: "purge refused", Count: 1})
	line := buf.String()
	for _, want := range []string{"level=ERROR", "msg=alert", "alert.rule=refused-purge", "alert.severity=critical", "alert.vault=prod", "alert.key=k1", "alert.principal=admin", `alert.summary="purge refused"`, "alert.count=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

// TestMatchesConfig keeps the rule names and defaults config validates
// and documents in step with the engine's (config cannot import alerts).
func TestMatchesConfig(t *testing.T) {
	if diff := cmp.Diff(config.AlertRules(), Rules()); diff != "" {
		t.Errorf("Rules() (-config +alerts):\n%s", diff)
	}
	c, d := config.DefaultAlerts(), DefaultOptions()
	got := Options{
		Cooldown:            time.Duration(c.Cooldown),
		PrincipalFailures:   Threshold{Count: c.PrincipalFailures.Count, Window: time.Duration(c.PrincipalFailures.Window)},
		VaultFailures:       Threshold{Count: c.VaultFailures.Count, Window: time.Duration(c.VaultFailures.Window)},
		RateFactor:          c.RateFactor,
		RateFloor:           c.RateFloor,
		RateWarmUp:          time.Duration(c.RateWarmUp),
		NewKeyLearning:      time.Duration(c.NewKeyLearning),
		ExpiryWindow:        time.Duration(c.ExpiryWindow),
		MaxPrincipals:       c.MaxPrincipals,
		MaxKeysPerPrincipal: c.MaxKeysPerPrincipal,
		QueueSize:           c.QueueSize,
	}
	if diff := cmp.Diff(d, got, cmpopts.IgnoreFields(Options{}, "Now")); diff != "" {
		t.Errorf("config.DefaultAlerts() differs from DefaultOptions() (-alerts +config):\n%s", diff)
	}
}

// BenchmarkObserve measures the caller's cost: a non-blocking send to a
// running engine.
func BenchmarkObserve(b *testing.B) {
	e, _ := New(Options{QueueSize: 1 << 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	evt := ev(0, "app", "KeySign", "prod", "k1", 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Observe(evt)
		}
	})
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(e.Dropped()), "dropped")
}

// BenchmarkHandle measures the engine's evaluation of one event.
func BenchmarkHandle(b *testing.B) {
	e, _ := New(Options{})
	evs := normalUse()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := evs[i%len(evs)]
		x.Time = x.Time.Add(time.Duration(i/len(evs)) * 48 * time.Hour)
		e.handle(x)
		i++
	}
}
