// Package metrics owns Keywarden's Prometheus collectors and the health
// and readiness checks served beside them on a separate, plain-HTTP
// observability listener (/metrics, /healthz, /readyz).
//
// Metrics keeps its own prometheus.Registry: nothing is registered with
// the client library's global default registry. Inputs are this package's
// own small structs (Request, VaultInventory); cmd adapts the API's
// per-request record to them. The package must not import api, vault or
// any backend: readiness checks and inventory arrive as functions and
// values from cmd.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ExpiringWindow is the look-ahead of keywarden_key_versions_expiring.
const ExpiringWindow = 30 * 24 * time.Hour

// OtherVault is the vault label given to requests once MaxLabelSets
// distinct request label sets exist, so that requests naming arbitrary
// vault hosts cannot grow the series without bound.
const OtherVault = "_other"

// DefaultMaxLabelSets is the default bound on distinct request label sets.
const DefaultMaxLabelSets = 4096

// Request is one served request, as ObserveRequest records it.
type Request struct {
	// Vault is the vault name; empty for requests outside any vault
	// (administration, token endpoint).
	Vault string
	// Operation is the Azure operation name, such as KeySign or KeyCreate.
	Operation string
	// Status is the HTTP status sent.
	Status int
	// Result is the audit result type, such as Success or Failure.
	Result string
	// Duration is the time the request took.
	Duration time.Duration
	// KeyType is the key type used (EC, RSA-HSM, oct-HSM, ...) and
	// Algorithm the algorithm (ES256, RSA-OAEP-256, ...); both are set for
	// cryptographic operations only. A request with both set and a status
	// below 400 counts as one crypto operation.
	KeyType   string
	Algorithm string
}

// VaultInventory counts one vault's keys of one protection level, as
// SetInventory publishes it.
type VaultInventory struct {
	// Vault is the vault name.
	Vault string
	// Protection is the protection level: "software" or "hsm".
	Protection string
	// Keys is the number of (not deleted) keys.
	Keys int
	// Versions is the number of their versions.
	Versions int
	// Expiring is the number of those versions, enabled, whose expiry
	// falls within ExpiringWindow from now (or has passed). Rows of one
	// vault are summed into keywarden_key_versions_expiring.
	Expiring int
}

// HSMSessions is the state of an HSM session pool.
type HSMSessions struct {
	// InUse is the number of sessions lent out; Idle the number pooled.
	InUse, Idle int
}

// Options configures New.
type Options struct {
	// MaxLabelSets bounds the distinct request label sets (vault,
	// operation, result, status); past it new vault names are recorded as
	// OtherVault. Zero means DefaultMaxLabelSets.
	MaxLabelSets int
	// NoRuntime leaves out the Go runtime and process collectors (tests).
	NoRuntime bool
}

// Metrics holds Keywarden's collectors in their own registry. Its methods
// are safe for concurrent use; the zero value is not usable, call New.
type Metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	crypto           *prometheus.CounterVec
	rotations        *prometheus.CounterVec
	rotationFailures *prometheus.CounterVec
	eventLag         prometheus.Histogram
	eventFailures    prometheus.Counter
	auditFailures    prometheus.Counter
	alerts           *prometheus.CounterVec
	alertDrops       prometheus.Counter

	// children caches resolved request series by label set.
	children     sync.Map // requestLabels → *requestSeries
	cryptoSeries sync.Map // cryptoLabels → prometheus.Counter
	labelSets    atomic.Int64
	maxLabelSets int64

	inventory atomic.Pointer[[]VaultInventory]
	hsm       atomic.Pointer[func() HSMSessions]
	checker   atomic.Pointer[Checker]

	keysDesc, versionsDesc, expiringDesc, hsmDesc, readyDesc, checkDesc *prometheus.Desc
}

type requestLabels struct {
	vault, operation, result string
	status                   int
}

type cryptoLabels struct{ keyType, algorithm, operation string }

// requestSeries are the resolved series of one request label set.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics with every collector registered in a new registry.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), maxLabelSets: int64(opts.MaxLabelSets)}
	if m.maxLabelSets <= 0 {
		m.maxLabelSets = DefaultMaxLabelSets
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keywarden_requests_total",
		Help: "Requests served, by vault, operation, result and HTTP status.",
	}, []string{"vault", "operation", "result", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keywarden_request_duration_seconds",
		Help: "Request latency, by vault and operation.",
		// From a local software signature (sub-millisecond) to a slow
		// HSM RSA key generation (seconds).
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"vault", "operation"})
	m.crypto = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keywarden_crypto_operations_total",
		Help: "Cryptographic operations performed, by key type, algorithm and operation.",
	}, []string{"key_type", "algorithm", "operation"})
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keywarden_rotations_total",
		Help: "Key rotations completed (on demand and scheduled), by vault.",
	}, []string{"vault"})
	m.rotationFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keywarden_rotation_failures_total",
		Help: "Key rotations that failed, by vault.",
	}, []string{"vault"})
	m.eventLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "keywarden_event_delivery_lag_seconds",
		Help: "Time from an event's creation to its delivery.",
		// From immediate delivery to an hour behind.
		Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600},
	})
	m.eventFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keywarden_event_delivery_failures_total",
		Help: "Event delivery attempts that failed.",
	})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keywarden_audit_write_failures_total",
		Help: "Audit records that could not be written (the request was refused).",
	})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keywarden_alerts_total",
		Help: "Alerts raised by the built-in alert engine, by rule and severity.",
	}, []string{"rule", "severity"})
	m.alertDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keywarden_alert_events_dropped_total",
		Help: "Request events the alert engine dropped because its queue was full.",
	})
	m.keysDesc = prometheus.NewDesc("keywarden_keys", "Keys (not deleted), by vault and protection level.", []string{"vault", "protection"}, nil)
	m.versionsDesc = prometheus.NewDesc("keywarden_key_versions", "Key versions of keys not deleted, by vault and protection level.", []string{"vault", "protection"}, nil)
	m.expiringDesc = prometheus.NewDesc("keywarden_key_versions_expiring", "Enabled key versions expiring within the window (or expired), by vault.", []string{"vault", "window"}, nil)
	m.hsmDesc = prometheus.NewDesc("keywarden_hsm_sessions", "HSM sessions in the pool, by state (in_use, idle).", []string{"state"}, nil)
	m.readyDesc = prometheus.NewDesc("keywarden_ready", "1 when every readiness check passes (as /readyz answers 200), else 0.", nil, nil)
	m.checkDesc = prometheus.NewDesc("keywarden_readiness_check", "1 when the named readiness check passes, else 0.", []string{"check"}, nil)
	m.reg.MustRegister(m.requests, m.duration, m.crypto, m.rotations, m.rotationFailures,
		m.eventLag, m.eventFailures, m.auditFailures, m.alerts, m.alertDrops,
		inventoryCollector{m}, hsmCollector{m}, readinessCollector{m})
	if !opts.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry holding every collector, for tests and
// for registering further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second})
}

// ObserveRequest records one served request: its count, its latency and,
// for a performed cryptographic operation, the crypto operation count. It
// is on every request's path: after the first request of a label set it
// takes no lock and allocates nothing.
func (m *Metrics) ObserveRequest(r Request) {
	s := m.series(requestLabels{vault: r.Vault, operation: r.Operation, result: r.Result, status: r.Status})
	s.count.Inc()
	s.duration.Observe(r.Duration.Seconds())
	if r.KeyType != "" && r.Algorithm != "" && r.Status > 0 && r.Status < 400 {
		k := cryptoLabels{keyType: r.KeyType, algorithm: r.Algorithm, operation: r.Operation}
		c, ok := m.cryptoSeries.Load(k)
		if !ok {
			c, _ = m.cryptoSeries.LoadOrStore(k, m.crypto.WithLabelValues(k.keyType, k.algorithm, k.operation))
		}
		c.(prometheus.Counter).Inc()
	}
}

// series returns the cached series of l, resolving them on first use.
func (m *Metrics) series(l requestLabels) *requestSeries {
	if s, ok := m.children.Load(l); ok {
		return s.(*requestSeries)
	}
	if m.labelSets.Load() >= m.maxLabelSets {
		l.vault = OtherVault
		if s, ok := m.children.Load(l); ok {
			return s.(*requestSeries)
		}
	}
	s := &requestSeries{
		count:    m.requests.WithLabelValues(l.vault, l.operation, l.result, strconv.Itoa(l.status)),
		duration: m.duration.WithLabelValues(l.vault, l.operation),
	}
	got, loaded := m.children.LoadOrStore(l, s)
	if !loaded {
		m.labelSets.Add(1)
	}
	return got.(*requestSeries)
}

// ObserveRotation records one key rotation of vault; err != nil counts a
// failure.
func (m *Metrics) ObserveRotation(vault string, err error) {
	if err != nil {
		m.rotationFailures.WithLabelValues(vault).Inc()
		return
	}
	m.rotations.WithLabelValues(vault).Inc()
}

// ObserveEventDelivery records one delivered event and how long after its
// creation it was delivered.
func (m *Metrics) ObserveEventDelivery(lag time.Duration) { m.eventLag.Observe(lag.Seconds()) }

// EventDeliveryFailed counts one failed event delivery attempt.
func (m *Metrics) EventDeliveryFailed() { m.eventFailures.Inc() }

// AuditWriteFailed counts one audit record that could not be written.
func (m *Metrics) AuditWriteFailed() { m.auditFailures.Inc() }

// AlertFired counts one alert of rule at severity. It makes *Metrics an
// alert recorder for the alerts package.
func (m *Metrics) AlertFired(rule, severity string) { m.alerts.WithLabelValues(rule, severity).Inc() }

// AlertEventDropped counts one event the alert engine dropped.
func (m *Metrics) AlertEventDropped() { m.alertDrops.Inc() }

// SetInventory publishes the key inventory, replacing the previous one;
// keywarden_keys, keywarden_key_versions and
// keywarden_key_versions_expiring report it on each scrape, so a vault
// left out disappears. The caller refreshes it periodically (for example
// every minute) and must not modify inv afterwards.
func (m *Metrics) SetInventory(inv []VaultInventory) { m.inventory.Store(&inv) }

// SetHSMSessions sets the function keywarden_hsm_sessions calls on each
// scrape; it must be cheap and safe for concurrent use. Without one (no
// HSM configured) the metric has no series.
func (m *Metrics) SetHSMSessions(f func() HSMSessions) {
	if f == nil {
		m.hsm.Store(nil)
		return
	}
	m.hsm.Store(&f)
}

// SetChecker makes each scrape run c's checks and report keywarden_ready
// and keywarden_readiness_check, so that alerting rules see readiness.
// Without one those metrics have no series.
func (m *Metrics) SetChecker(c *Checker) { m.checker.Store(c) }

// readinessCollector runs the SetChecker checks on each scrape.
type readinessCollector struct{ m *Metrics }

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.readyDesc
	ch <- c.m.checkDesc
}

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	chk := c.m.checker.Load()
	if chk == nil {
		return
	}
	rep := chk.Check(context.Background())
	ch <- prometheus.MustNewConstMetric(c.m.readyDesc, prometheus.GaugeValue, boolValue(rep.Ready))
	for _, r := range rep.Checks {
		ch <- prometheus.MustNewConstMetric(c.m.checkDesc, prometheus.GaugeValue, boolValue(r.OK), r.Name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// inventoryCollector reports the last SetInventory on each scrape.
type inventoryCollector struct{ m *Metrics }

func (c inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.keysDesc
	ch <- c.m.versionsDesc
	ch <- c.m.expiringDesc
}

func (c inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.inventory.Load()
	if p == nil {
		return
	}
	type key struct{ vault, protection string }
	keys, versions := map[key]int{}, map[key]int{}
	expiring := map[string]int{}
	var order []key
	for _, v := range *p {
		k := key{v.Vault, v.Protection}
		if _, ok := keys[k]; !ok {
			order = append(order, k)
		}
		keys[k] += v.Keys
		versions[k] += v.Versions
		expiring[v.Vault] += v.Expiring
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(c.m.keysDesc, prometheus.GaugeValue, float64(keys[k]), k.vault, k.protection)
		ch <- prometheus.MustNewConstMetric(c.m.versionsDesc, prometheus.GaugeValue, float64(versions[k]), k.vault, k.protection)
	}
	for vault, n := range expiring {
		ch <- prometheus.MustNewConstMetric(c.m.expiringDesc, prometheus.GaugeValue, float64(n), vault, "30d")
	}
}

// hsmCollector calls the SetHSMSessions function on each scrape.
type hsmCollector struct{ m *Metrics }

func (c hsmCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.hsmDesc }

func (c hsmCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.hsm.Load()
	if p == nil {
		return
	}
	s := (*p)()
	ch <- prometheus.MustNewConstMetric(c.m.hsmDesc, prometheus.GaugeValue, float64(s.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(c.m.hsmDesc, prometheus.GaugeValue, float64(s.Idle), "idle")
}

// Version is one key version, as CountVersions counts it.
type Version struct {
	// Vault, Key and Protection ("software" or "hsm") place the version.
	Vault, Key, Protection string
	// Enabled reports whether the version is enabled; Expires is its exp
	// attribute (zero: none).
	Enabled bool
	Expires time.Time
}

// CountVersions builds the inventory of the versions of keys not deleted:
// keys and versions per vault and protection level, and the enabled
// versions whose expiry is at most ExpiringWindow after now.
func CountVersions(now time.Time, versions []Version) []VaultInventory {
	type key struct{ vault, protection string }
	idx := map[key]int{}
	seen := map[[2]string]bool{}
	var inv []VaultInventory
	for _, v := range versions {
		k := key{v.Vault, v.Protection}
		i, ok := idx[k]
		if !ok {
			i = len(inv)
			idx[k] = i
			inv = append(inv, VaultInventory{Vault: v.Vault, Protection: v.Protection})
		}
		if kk := [2]string{v.Vault, v.Key}; !seen[kk] {
			seen[kk] = true
			inv[i].Keys++
		}
		inv[i].Versions++
		if v.Enabled && !v.Expires.IsZero() && !v.Expires.After(now.Add(ExpiringWindow)) {
			inv[i].Expiring++
		}
	}
	return inv
}
