// Package alerts owns Keywarden's built-in alert engine: rules over the
// stream of served requests (failed operations per principal and per
// vault, a principal's rate far above its learned baseline, a principal
// using a key it has not used before, deletions, changes, refused purges)
// and over the key inventory (versions approaching expiry).
//
// Each alert goes to the configured Sinks (the log, and through a
// SinkFunc the audit trail) and is counted by a Recorder
// (keywarden_alerts_total). Inputs are this package's own Event and
// KeyExpiry; cmd adapts the API's per-request record to them. The package
// must not import api, vault, metrics or any backend, and it reads no
// clock of its own: rules use each event's Time and the now CheckExpiry is
// given.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rule names.
const (
	// RulePrincipalFailures: a principal's failed operations reach a
	// threshold within a window.
	RulePrincipalFailures = "principal-failures"
	// RuleVaultFailures: a vault's failed operations reach a threshold
	// within a window.
	RuleVaultFailures = "vault-failures"
	// RuleRateSpike: a principal's operations in the current minute are
	// far above its own learned per-minute baseline.
	RuleRateSpike = "rate-spike"
	// RuleNewKey: a principal uses a key it has not used before, after its
	// learning period.
	RuleNewKey = "new-key"
	// RuleDeletion: a deletion or purge succeeded.
	RuleDeletion = "deletion"
	// RuleChange: an attribute, policy or access change succeeded.
	RuleChange = "change"
	// RuleRefusedPurge: a purge was refused (403), as on a vault with
	// purge protection.
	RuleRefusedPurge = "refused-purge"
	// RuleKeyExpiry: a key version's expiry is within the window.
	RuleKeyExpiry = "key-expiry"
)

// Rules returns every rule name.
func Rules() []string {
	return []string{RulePrincipalFailures, RuleVaultFailures, RuleRateSpike, RuleNewKey,
		RuleDeletion, RuleChange, RuleRefusedPurge, RuleKeyExpiry}
}

// Severity is an alert's severity.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// DefaultDeletionOperations returns the operations that raise RuleDeletion
// when they succeed.
func DefaultDeletionOperations() []string {
	return []string{"KeyDelete", "KeyPurge", "VaultDelete"}
}

// DefaultChangeOperations returns the operations that raise RuleChange when
// they succeed: key attribute and policy changes, key material entering a
// vault, changes of vaults, principals and role assignments, a root key
// rotation and a download of the whole store. The names are the audit
// records' operationName (a test in package api checks that each exists).
func DefaultChangeOperations() []string {
	return []string{
		"KeyUpdate", "KeyImport", "KeyRestore", "KeyRecover", "KeyRotationPolicySet",
		"VaultPut", "VaultPatch",
		"RoleAssignmentPut", "RoleAssignmentDelete", "RoleDefinitionPut", "RoleDefinitionDelete",
		"PrincipalCreate", "PrincipalPatch", "PrincipalDelete", "PrincipalCredentialCreate", "PrincipalCredentialDelete",
		"RootKeyRotate", "StoreSnapshotGet",
	}
}

// introducesKey reports whether op puts a key in a principal's known keys
// without RuleNewKey: the principal brought the key into being.
func introducesKey(op string) bool {
	switch op {
	case "KeyCreate", "KeyImport", "KeyRestore", "KeyRecover":
		return true
	}
	return false
}

// Event is one served request, as Observe takes it.
type Event struct {
	// Time is when the request was served; zero means Options.Now().
	Time time.Time
	// Operation is the Azure operation name (KeySign, KeyDelete, ...).
	Operation string
	// Vault and Key name the vault and key; either may be empty.
	Vault, Key string
	// Principal is the caller's object id; empty for unauthenticated
	// requests (they count towards RuleVaultFailures only).
	Principal string
	// Status is the HTTP status sent.
	Status int
	// Result is the audit result type (Success, Failure, ...); it decides
	// failure only when Status is 0.
	Result string
	// ErrorCode is the error code sent, if any.
	ErrorCode string
}

// failed reports whether the request failed.
func (ev *Event) failed() bool {
	if ev.Status != 0 {
		return ev.Status >= 400
	}
	return ev.Result != "" && !strings.EqualFold(ev.Result, "Success")
}

// KeyExpiry is a key version with an expiry, as CheckExpiry takes it.
type KeyExpiry struct {
	// Vault, Key and Version name the version.
	Vault, Key, Version string
	// Expires is its exp attribute.
	Expires time.Time
}

// Alert is one raised alert.
type Alert struct {
	// Time is the time of the event that raised it.
	Time time.Time
	// Rule is the rule's name and Severity its severity.
	Rule     string
	Severity Severity
	// Vault, Key and Principal name the subject, where they apply.
	Vault, Key, Principal string
	// Summary is one human sentence.
	Summary string
	// Count is the number of events behind the alert: the failures in the
	// window, the operations in the minute, or 1 plus the occurrences the
	// cooldown suppressed since the previous alert of the subject.
	Count int
}

// LogValue renders the alert as a slog group.
func (a Alert) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("rule", a.Rule), slog.String("severity", string(a.Severity)),
		slog.Time("time", a.Time), slog.Int("count", a.Count), slog.String("summary", a.Summary),
	}
	for _, kv := range [][2]string{{"vault", a.Vault}, {"key", a.Key}, {"principal", a.Principal}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	return slog.GroupValue(attrs...)
}

// Sink receives alerts. Alert is called from one goroutine at a time,
// and must not block for long: it holds up the engine.
type Sink interface {
	Alert(Alert)
}

// SinkFunc is a function Sink, for example one writing alerts to the
// audit trail.
type SinkFunc func(Alert)

// Alert calls f(a).
func (f SinkFunc) Alert(a Alert) { f(a) }

// LogSink writes each alert as one structured log line: message "alert",
// level Error for critical, Warn for warning, Info for info.
type LogSink struct {
	// Logger receives the lines.
	Logger *slog.Logger
}

// Alert logs a.
func (s LogSink) Alert(a Alert) {
	level := slog.LevelInfo
	switch a.Severity {
	case SeverityCritical:
		level = slog.LevelError
	case SeverityWarning:
		level = slog.LevelWarn
	}
	s.Logger.LogAttrs(context.Background(), level, "alert", slog.Any("alert", a))
}

// Recorder counts alerts and dropped events; *metrics.Metrics is one.
type Recorder interface {
	// AlertFired counts one alert.
	AlertFired(rule, severity string)
	// AlertEventDropped counts one event dropped on a full queue.
	AlertEventDropped()
}

// Threshold is a count within a sliding window.
type Threshold struct {
	// Count is the number of events that raises the alert.
	Count int
	// Window is the sliding window they must fall in.
	Window time.Duration
}

// Options configures New. Zero values take DefaultOptions' values.
type Options struct {
	// Sinks receive every alert.
	Sinks []Sink
	// Recorder, if not nil, counts alerts and dropped events.
	Recorder Recorder
	// Now stamps events observed without a Time; nil means time.Now.
	Now func() time.Time
	// DisabledRules names rules that never fire.
	DisabledRules []string
	// Cooldown is the minimum time between two alerts of one rule about
	// one subject (principal, vault, or key and operation).
	Cooldown time.Duration
	// PrincipalFailures and VaultFailures are the failure thresholds.
	PrincipalFailures, VaultFailures Threshold
	// RateFactor, RateFloor and RateWarmUp drive RuleRateSpike: the
	// operations of a principal in the current minute alert above
	// max(RateFactor × baseline, RateFloor), where the baseline is an
	// exponentially weighted moving average of its per-minute counts
	// (about an hour's memory), once the principal has been seen for
	// RateWarmUp.
	RateFactor float64
	RateFloor  int
	RateWarmUp time.Duration
	// NewKeyLearning is how long after a principal is first seen its keys
	// are learned silently; afterwards RuleNewKey fires for a key it has
	// not used before.
	NewKeyLearning time.Duration
	// ExpiryWindow is how long before its expiry a version alerts.
	ExpiryWindow time.Duration
	// MaxPrincipals bounds the principals (and, separately, vaults and
	// cooldown subjects) tracked; past it the idle, then arbitrary ones,
	// are forgotten. MaxKeysPerPrincipal bounds the keys remembered per
	// principal; a principal past it no longer raises RuleNewKey.
	MaxPrincipals       int
	MaxKeysPerPrincipal int
	// QueueSize bounds the events waiting for the engine.
	QueueSize int
	// DeletionOperations and ChangeOperations, when not empty, replace
	// DefaultDeletionOperations and DefaultChangeOperations.
	DeletionOperations, ChangeOperations []string
}

// DefaultOptions returns the defaults (no sinks).
func DefaultOptions() Options {
	return Options{
		Cooldown:            15 * time.Minute,
		PrincipalFailures:   Threshold{Count: 20, Window: 5 * time.Minute},
		VaultFailures:       Threshold{Count: 100, Window: 5 * time.Minute},
		RateFactor:          10,
		RateFloor:           100,
		RateWarmUp:          time.Hour,
		NewKeyLearning:      24 * time.Hour,
		ExpiryWindow:        30 * 24 * time.Hour,
		MaxPrincipals:       10000,
		MaxKeysPerPrincipal: 1000,
		QueueSize:           4096,
	}
}

// withDefaults fills zero values from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setD(&o.Cooldown, d.Cooldown)
	setI(&o.PrincipalFailures.Count, d.PrincipalFailures.Count)
	setD(&o.PrincipalFailures.Window, d.PrincipalFailures.Window)
	setI(&o.VaultFailures.Count, d.VaultFailures.Count)
	setD(&o.VaultFailures.Window, d.VaultFailures.Window)
	if o.RateFactor == 0 {
		o.RateFactor = d.RateFactor
	}
	setI(&o.RateFloor, d.RateFloor)
	setD(&o.RateWarmUp, d.RateWarmUp)
	setD(&o.NewKeyLearning, d.NewKeyLearning)
	setD(&o.ExpiryWindow, d.ExpiryWindow)
	setI(&o.MaxPrincipals, d.MaxPrincipals)
	setI(&o.MaxKeysPerPrincipal, d.MaxKeysPerPrincipal)
	setI(&o.QueueSize, d.QueueSize)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Engine evaluates the rules. Observe and CheckExpiry are safe for
// concurrent use; Run owns the goroutine that evaluates the request rules.
type Engine struct {
	opts     Options
	disabled map[string]bool
	deletion map[string]bool
	change   map[string]bool

	events    chan Event
	closed    chan struct{}
	closeOnce sync.Once
	running   atomic.Bool
	runDone   chan struct{}
	dropped   atomic.Uint64

	// Owned by the Run goroutine.
	principals *table[principalState]
	vaults     *table[failureWindow]
	cooldowns  *table[cooldown]

	// expMu guards expiry: alerted version → the expiry it alerted for.
	expMu  sync.Mutex
	expiry map[string]time.Time

	// emitMu serialises sinks and the recorder.
	emitMu sync.Mutex
}

// New returns an Engine; start its Run in a goroutine. Errors: an unknown
// rule name, or a negative or out-of-range option.
func New(opts Options) (*Engine, error) {
	o := opts.withDefaults()
	for _, d := range []time.Duration{o.Cooldown, o.PrincipalFailures.Window, o.VaultFailures.Window, o.RateWarmUp, o.NewKeyLearning, o.ExpiryWindow} {
		if d < 0 {
			return nil, fmt.Errorf("alerts: negative duration %s", d)
		}
	}
	for _, n := range []int{o.PrincipalFailures.Count, o.VaultFailures.Count, o.RateFloor, o.MaxPrincipals, o.MaxKeysPerPrincipal, o.QueueSize} {
		if n < 1 {
			return nil, fmt.Errorf("alerts: count %d: must be at least 1", n)
		}
	}
	if o.RateFactor < 1 {
		return nil, fmt.Errorf("alerts: rate factor %g: must be at least 1", o.RateFactor)
	}
	e := &Engine{
		opts:       o,
		disabled:   map[string]bool{},
		deletion:   set(o.DeletionOperations, DefaultDeletionOperations()),
		change:     set(o.ChangeOperations, DefaultChangeOperations()),
		events:     make(chan Event, o.QueueSize),
		closed:     make(chan struct{}),
		runDone:    make(chan struct{}),
		principals: newTable[principalState](o.MaxPrincipals),
		vaults:     newTable[failureWindow](o.MaxPrincipals),
		cooldowns:  newTable[cooldown](o.MaxPrincipals),
		expiry:     map[string]time.Time{},
	}
	known := set(Rules(), nil)
	for _, r := range o.DisabledRules {
		if !known[r] {
			return nil, fmt.Errorf("alerts: unknown rule %q", r)
		}
		e.disabled[r] = true
	}
	return e, nil
}

// set returns the set of list, or of def when list is empty.
func set(list, def []string) map[string]bool {
	if len(list) == 0 {
		list = def
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// Observe queues one served request for evaluation. It never blocks: when
// the queue is full (or the engine closed) the event is dropped, and
// counted unless closed.
func (e *Engine) Observe(ev Event) {
	select {
	case <-e.closed:
		return
	default:
	}
	if ev.Time.IsZero() {
		ev.Time = e.opts.Now()
	}
	select {
	case e.events <- ev:
	default:
		e.dropped.Add(1)
		if e.opts.Recorder != nil {
			e.opts.Recorder.AlertEventDropped()
		}
	}
}

// Dropped returns the number of events dropped on a full queue.
func (e *Engine) Dropped() uint64 { return e.dropped.Load() }

// errRunning reports a second Run.
var errRunning = errors.New("alerts: Run called twice")

// Run evaluates queued events until ctx ends or Close is called, then
// evaluates the events still queued and returns. Call it once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer close(e.runDone)
	for {
		select {
		case ev := <-e.events:
			e.handle(ev)
		case <-ctx.Done():
			e.drain()
			return nil
		case <-e.closed:
			e.drain()
			return nil
		}
	}
}

// drain evaluates the events already queued.
func (e *Engine) drain() {
	for {
		select {
		case ev := <-e.events:
			e.handle(ev)
		default:
			return
		}
	}
}

// Close stops accepting events and, if Run is running, waits for it to
// evaluate the queued events and return.
func (e *Engine) Close() {
	e.closeOnce.Do(func() { close(e.closed) })
	if e.running.Load() {
		<-e.runDone
	}
}

// emit sends a to every sink and counts it.
func (e *Engine) emit(a Alert) {
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	for _, s := range e.opts.Sinks {
		s.Alert(a)
	}
	if e.opts.Recorder != nil {
		e.opts.Recorder.AlertFired(a.Rule, string(a.Severity))
	}
}

// CheckExpiry raises RuleKeyExpiry once for each version whose expiry is
// within the window after now (or past). versions are the current
// versions with an expiry; a version left out is forgotten, so a later
// call raises it again. A version whose expiry changes alerts again.
// Call it periodically, for example hourly.
func (e *Engine) CheckExpiry(now time.Time, versions []KeyExpiry) {
	if e.disabled[RuleKeyExpiry] {
		return
	}
	e.expMu.Lock()
	defer e.expMu.Unlock()
	seen := make(map[string]time.Time, len(e.expiry))
	for _, v := range versions {
		if v.Expires.IsZero() || v.Expires.After(now.Add(e.opts.ExpiryWindow)) {
			continue
		}
		id := v.Vault + "/" + v.Key + "/" + v.Version
		seen[id] = v.Expires
		if exp, ok := e.expiry[id]; ok && exp.Equal(v.Expires) {
			continue
		}
		var summary string
		if v.Expires.After(now) {
			summary = fmt.Sprintf("key %s/%s version %s expires at %s, in %s", v.Vault, v.Key, v.Version, v.Expires.UTC().Format(time.RFC3339), v.Expires.Sub(now).Round(time.Minute))
		} else {
			summary = fmt.Sprintf("key %s/%s version %s expired at %s", v.Vault, v.Key, v.Version, v.Expires.UTC().Format(time.RFC3339))
		}
		e.emit(Alert{Time: now, Rule: RuleKeyExpiry, Severity: SeverityWarning, Vault: v.Vault, Key: v.Key, Summary: summary, Count: 1})
	}
	e.expiry = seen
}
