package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func okCheck(name string) Check {
	return Check{Name: name, Func: func(context.Context) error { return nil }}
}

// getReadyz serves one GET /readyz from h.
func getReadyz(t *testing.T, h http.Handler) (int, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("GET /readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, rep
}

var ignoreDuration = cmpopts.IgnoreFields(CheckResult{}, "DurationMs")

func TestReadyz(t *testing.T) {
	sealed := errors.New("root key sealed")
	tests := []struct {
		name       string
		checks     []Check
		wantStatus int
		want       Report
	}{
		{
			name:       "all pass",
			checks:     []Check{okCheck("store"), okCheck("seal"), okCheck("hsm"), okCheck("audit")},
			wantStatus: 200,
			want: Report{Ready: true, Status: "ready", Checks: []CheckResult{
				{Name: "store", OK: true}, {Name: "seal", OK: true}, {Name: "hsm", OK: true}, {Name: "audit", OK: true},
			}},
		},
		{
			name:       "seal fails",
			checks:     []Check{okCheck("store"), {Name: "seal", Func: func(context.Context) error { return sealed }}, okCheck("hsm")},
			wantStatus: 503,
			want: Report{Ready: false, Status: "not ready", Checks: []CheckResult{
				{Name: "store", OK: true}, {Name: "seal", Error: "root key sealed"}, {Name: "hsm", OK: true},
			}},
		},
		{
			name:       "panicking check",
			checks:     []Check{{Name: "hsm", Func: func(context.Context) error { panic("boom") }}},
			wantStatus: 503,
			want:       Report{Ready: false, Status: "not ready", Checks: []CheckResult{{Name: "hsm", Error: "check panicked: boom"}}},
		},
		{
			name:       "no checks",
			wantStatus: 200,
			want:       Report{Ready: true, Status: "ready", Checks: []CheckResult{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, rep := getReadyz(t, NewChecker(tt.checks...).Readyz())
			if code != tt.wantStatus {
				t.Errorf("GET /readyz = %d, want %d", code, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.want, rep, ignoreDuration); diff != "" {
				t.Errorf("GET /readyz report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadyzRecovers(t *testing.T) {
	var mu sync.Mutex
	var storeErr error = errors.New("store closed")
	c := NewChecker(Check{Name: "store", Func: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return storeErr
	}})
	if code, _ := getReadyz(t, c.Readyz()); code != 503 {
		t.Errorf("GET /readyz with a failing store = %d, want 503", code)
	}
	mu.Lock()
	storeErr = nil
	mu.Unlock()
	if code, _ := getReadyz(t, c.Readyz()); code != 200 {
		t.Errorf("GET /readyz once the store answers = %d, want 200", code)
	}
	c.ShuttingDown()
	if code, rep := getReadyz(t, c.Readyz()); code != 503 || rep.Status != "shutting down" {
		t.Errorf("GET /readyz while shutting down = %d %q, want 503 \"shutting down\"", code, rep.Status)
	}
}

// TestCheckTimeoutAndHang runs a check that ignores its context: it times
// out, later calls share the one run in flight instead of starting more,
// and once it returns the next call runs it again.
func TestCheckTimeoutAndHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		calls := 0
		c := NewChecker(Check{Name: "hsm", Timeout: time.Second, Func: func(context.Context) error {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				<-release // hangs, ignoring ctx
			}
			return nil
		}})
		for range 3 {
			start := time.Now()
			rep := c.Check(context.Background())
			if rep.Ready || rep.Checks[0].Error != "timed out after 1s" {
				t.Errorf("Check with a hung check = %+v, want timed out", rep)
			}
			if d := time.Since(start); d != time.Second {
				t.Errorf("Check took %v, want the 1s timeout", d)
			}
		}
		mu.Lock()
		if calls != 1 {
			t.Errorf("hung check started %d times, want 1", calls)
		}
		mu.Unlock()
		close(release)
		synctest.Wait()
		if rep := c.Check(context.Background()); !rep.Ready {
			t.Errorf("Check after the hang ends = %+v, want ready", rep)
		}
	})
}

func TestCheckHonoursContextTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewChecker(Check{Name: "store", Func: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}})
		start := time.Now()
		rep := c.Check(context.Background())
		if rep.Ready || time.Since(start) != DefaultCheckTimeout {
			t.Errorf("Check = %+v after %v, want not ready after %v", rep, time.Since(start), DefaultCheckTimeout)
		}
		synctest.Wait()
	})
}

func TestMux(t *testing.T) {
	m := New(Options{NoRuntime: true})
	h := Mux(m, NewChecker(Check{Name: "seal", Func: func(context.Context) error { return errors.New("sealed") }}))
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 503},
		{"GET", "/metrics", 200},
		{"HEAD", "/healthz", 200},
		{"POST", "/metrics", 405},
		{"GET", "/debug/pprof/", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
}

func TestReadinessMetrics(t *testing.T) {
	m := New(Options{NoRuntime: true})
	if _, ok := sample(t, m, "keywarden_ready", map[string]string{}); ok {
		t.Errorf("keywarden_ready present without a checker")
	}
	m.SetChecker(NewChecker(okCheck("store"), Check{Name: "hsm", Func: func(context.Context) error { return errors.New("no slot") }}))
	for _, tt := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"keywarden_ready", map[string]string{}, 0},
		{"keywarden_readiness_check", map[string]string{"check": "store"}, 1},
		{"keywarden_readiness_check", map[string]string{"check": "hsm"}, 0},
	} {
		if got, ok := sample(t, m, tt.metric, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
		}
	}
}
