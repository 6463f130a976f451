package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// sample returns the value of the series of name with exactly labels
// (counter or gauge value, or histogram sample count), and whether it
// exists.
func sample(t *testing.T, m *Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if !labelsEqual(mt.GetLabel(), labels) {
				continue
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue(), true
			case mt.Gauge != nil:
				return mt.Gauge.GetValue(), true
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, lp := range got {
		if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

func TestObserveRequest(t *testing.T) {
	m := New(Options{NoRuntime: true})
	reqs := []Request{
		{Vault: "dev", Operation: "KeySign", Status: 200, Result: "Success", Duration: 2 * time.Millisecond, KeyType: "EC", Algorithm: "ES256"},
		{Vault: "dev", Operation: "KeySign", Status: 200, Result: "Success", Duration: 3 * time.Millisecond, KeyType: "EC", Algorithm: "ES256"},
		{Vault: "dev", Operation: "KeySign", Status: 403, Result: "Failure", Duration: time.Millisecond, KeyType: "EC", Algorithm: "ES256"},
		{Vault: "dev", Operation: "KeyCreate", Status: 200, Result: "Success", Duration: 40 * time.Millisecond},
		{Vault: "prod", Operation: "KeyDecrypt", Status: 200, Result: "Success", Duration: time.Millisecond, KeyType: "RSA-HSM", Algorithm: "RSA-OAEP-256"},
		{Vault: "prod", Operation: "KeyDecrypt", Status: 429, Result: "Failure", Duration: time.Microsecond},
	}
	for _, r := range reqs {
		m.ObserveRequest(r)
	}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"signs ok", "keywarden_requests_total", map[string]string{"vault": "dev", "operation": "KeySign", "result": "Success", "status": "200"}, 2},
		{"signs refused", "keywarden_requests_total", map[string]string{"vault": "dev", "operation": "KeySign", "result": "Failure", "status": "403"}, 1},
		{"create", "keywarden_requests_total", map[string]string{"vault": "dev", "operation": "KeyCreate", "result": "Success", "status": "200"}, 1},
		{"throttled", "keywarden_requests_total", map[string]string{"vault": "prod", "operation": "KeyDecrypt", "result": "Failure", "status": "429"}, 1},
		{"sign latency count", "keywarden_request_duration_seconds", map[string]string{"vault": "dev", "operation": "KeySign"}, 3},
		{"decrypt latency count", "keywarden_request_duration_seconds", map[string]string{"vault": "prod", "operation": "KeyDecrypt"}, 2},
		{"crypto sign (refusal not counted)", "keywarden_crypto_operations_total", map[string]string{"key_type": "EC", "algorithm": "ES256", "operation": "KeySign"}, 2},
		{"crypto decrypt", "keywarden_crypto_operations_total", map[string]string{"key_type": "RSA-HSM", "algorithm": "RSA-OAEP-256", "operation": "KeyDecrypt"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(t, m, tt.metric, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
	if n := testutil.CollectAndCount(m.crypto); n != 2 {
		t.Errorf("crypto series = %d, want 2 (no series for a request without an algorithm)", n)
	}
	// The latency histogram puts 40 ms in the 0.05 bucket.
	one := New(Options{NoRuntime: true})
	one.ObserveRequest(reqs[3])
	const want = `
# HELP keywarden_request_duration_seconds Request latency, by vault and operation.
# TYPE keywarden_request_duration_seconds histogram
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.0005"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.001"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.0025"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.005"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.01"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.025"} 0
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.05"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.1"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.25"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="0.5"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="1"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="2.5"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="5"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="10"} 1
keywarden_request_duration_seconds_bucket{operation="KeyCreate",vault="dev",le="+Inf"} 1
keywarden_request_duration_seconds_sum{operation="KeyCreate",vault="dev"} 0.04
keywarden_request_duration_seconds_count{operation="KeyCreate",vault="dev"} 1
`
	if err := testutil.CollectAndCompare(one.duration, strings.NewReader(want), "keywarden_request_duration_seconds"); err != nil {
		t.Errorf("CollectAndCompare = %v", err)
	}
}

func TestLabelSetBound(t *testing.T) {
	m := New(Options{NoRuntime: true, MaxLabelSets: 2})
	for _, v := range []string{"a", "b", "attacker1", "attacker2", "a"} {
		m.ObserveRequest(Request{Vault: v, Operation: "KeyGet", Status: 404, Result: "Failure"})
	}
	for _, tt := range []struct {
		vault string
		want  float64
	}{{"a", 2}, {"b", 1}, {OtherVault, 2}} {
		got, _ := sample(t, m, "keywarden_requests_total", map[string]string{"vault": tt.vault, "operation": "KeyGet", "result": "Failure", "status": "404"})
		if got != tt.want {
			t.Errorf("requests{vault=%q} = %v, want %v", tt.vault, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 3 {
		t.Errorf("request series = %d, want 3", n)
	}
}

func TestObserveRequestAllocs(t *testing.T) {
	m := New(Options{NoRuntime: true})
	r := Request{Vault: "dev", Operation: "KeySign", Status: 200, Result: "Success", Duration: time.Millisecond, KeyType: "EC", Algorithm: "ES256"}
	m.ObserveRequest(r)
	if n := testing.AllocsPerRun(100, func() { m.ObserveRequest(r) }); n != 0 {
		t.Errorf("ObserveRequest allocations = %v, want 0 for a known label set", n)
	}
}

func TestCounters(t *testing.T) {
	m := New(Options{NoRuntime: true})
	m.ObserveRotation("dev", nil)
	m.ObserveRotation("dev", nil)
	m.ObserveRotation("dev", errors.New("hsm down"))
	m.ObserveEventDelivery(2 * time.Second)
	m.EventDeliveryFailed()
	m.AuditWriteFailed()
	m.AuditWriteFailed()
	m.AlertFired("deletion", "warning")
	m.AlertEventDropped()
	tests := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"keywarden_rotations_total", map[string]string{"vault": "dev"}, 2},
		{"keywarden_rotation_failures_total", map[string]string{"vault": "dev"}, 1},
		{"keywarden_event_delivery_lag_seconds", map[string]string{}, 1},
		{"keywarden_event_delivery_failures_total", map[string]string{}, 1},
		{"keywarden_audit_write_failures_total", map[string]string{}, 2},
		{"keywarden_alerts_total", map[string]string{"rule": "deletion", "severity": "warning"}, 1},
		{"keywarden_alert_events_dropped_total", map[string]string{}, 1},
	}
	for _, tt := range tests {
		if got, ok := sample(t, m, tt.metric, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
		}
	}
}

func TestInventory(t *testing.T) {
	m := New(Options{NoRuntime: true})
	if _, ok := sample(t, m, "keywarden_keys", map[string]string{"vault": "dev", "protection": "software"}); ok {
		t.Errorf("keywarden_keys present before SetInventory")
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := CountVersions(now, []Version{
		{Vault: "dev", Key: "k1", Protection: "software", Enabled: true},
		{Vault: "dev", Key: "k1", Protection: "software", Enabled: true, Expires: now.Add(10 * 24 * time.Hour)},
		{Vault: "dev", Key: "k2", Protection: "software", Enabled: false, Expires: now.Add(24 * time.Hour)},
		{Vault: "dev", Key: "h1", Protection: "hsm", Enabled: true, Expires: now.Add(-time.Hour)},
		{Vault: "dev", Key: "h1", Protection: "hsm", Enabled: true, Expires: now.Add(31 * 24 * time.Hour)},
		{Vault: "prod", Key: "k1", Protection: "hsm", Enabled: true},
	})
	wantInv := []VaultInventory{
		{Vault: "dev", Protection: "software", Keys: 2, Versions: 3, Expiring: 1},
		{Vault: "dev", Protection: "hsm", Keys: 1, Versions: 2, Expiring: 1},
		{Vault: "prod", Protection: "hsm", Keys: 1, Versions: 1},
	}
	if diff := cmp.Diff(wantInv, inv); diff != "" {
		t.Errorf("CountVersions mismatch (-want +got):\n%s", diff)
	}
	m.SetInventory(inv)
	tests := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"keywarden_keys", map[string]string{"vault": "dev", "protection": "software"}, 2},
		{"keywarden_keys", map[string]string{"vault": "dev", "protection": "hsm"}, 1},
		{"keywarden_key_versions", map[string]string{"vault": "dev", "protection": "software"}, 3},
		{"keywarden_key_versions", map[string]string{"vault": "prod", "protection": "hsm"}, 1},
		{"keywarden_key_versions_expiring", map[string]string{"vault": "dev", "window": "30d"}, 2},
		{"keywarden_key_versions_expiring", map[string]string{"vault": "prod", "window": "30d"}, 0},
	}
	for _, tt := range tests {
		if got, ok := sample(t, m, tt.metric, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
		}
	}
	m.SetInventory([]VaultInventory{{Vault: "dev", Protection: "software", Keys: 1, Versions: 1}})
	if _, ok := sample(t, m, "keywarden_keys", map[string]string{"vault": "prod", "protection": "hsm"}); ok {
		t.Errorf("keywarden_keys{vault=prod} still present after an inventory without it")
	}
}

func TestHSMSessions(t *testing.T) {
	m := New(Options{NoRuntime: true})
	if _, ok := sample(t, m, "keywarden_hsm_sessions", map[string]string{"state": "idle"}); ok {
		t.Errorf("keywarden_hsm_sessions present without an HSM")
	}
	inUse := 3
	m.SetHSMSessions(func() HSMSessions { return HSMSessions{InUse: inUse, Idle: 5} })
	inUse = 4 // read on scrape, not at SetHSMSessions
	for state, want := range map[string]float64{"in_use": 4, "idle": 5} {
		if got, ok := sample(t, m, "keywarden_hsm_sessions", map[string]string{"state": state}); !ok || got != want {
			t.Errorf("keywarden_hsm_sessions{state=%q} = %v (present %v), want %v", state, got, ok, want)
		}
	}
}

func TestHandlerAndNoGlobalRegistry(t *testing.T) {
	m := New(Options{})
	m.ObserveRequest(Request{Vault: "dev", Operation: "KeySign", Status: 200, Result: "Success", KeyType: "EC", Algorithm: "ES256"})
	srv := httptest.NewServer(Mux(m, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{`keywarden_requests_total{operation="KeySign",result="Success",status="200",vault="dev"} 1`, "go_goroutines", "keywarden_audit_write_failures_total 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "keywarden_") {
			t.Errorf("default registry holds %s", mf.GetName())
		}
	}
}

// BenchmarkObserveRequest measures the hot path for a known label set and
// across a few label sets in parallel.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(Options{NoRuntime: true})
	reqs := []Request{
		{Vault: "dev", Operation: "KeySign", Status: 200, Result: "Success", Duration: time.Millisecond, KeyType: "EC", Algorithm: "ES256"},
		{Vault: "dev", Operation: "KeyGet", Status: 200, Result: "Success", Duration: time.Millisecond},
		{Vault: "prod", Operation: "KeyDecrypt", Status: 200, Result: "Success", Duration: time.Millisecond, KeyType: "RSA-HSM", Algorithm: "RSA-OAEP-256"},
		{Vault: "prod", Operation: "KeyDecrypt", Status: 403, Result: "Failure", Duration: time.Millisecond},
	}
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ObserveRequest(reqs[0])
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.ObserveRequest(reqs[i%len(reqs)])
				i++
			}
		})
	})
}
