package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultCheckTimeout bounds a check registered without a timeout.
const DefaultCheckTimeout = 2 * time.Second

// Check is one named readiness check, such as "store", "seal", "hsm" or
// "audit".
type Check struct {
	// Name names the check in /readyz.
	Name string
	// Timeout bounds one run; zero means DefaultCheckTimeout.
	Timeout time.Duration
	// Func answers nil when the dependency is usable. It must honour ctx
	// and be safe for concurrent use with the server's own calls.
	Func func(ctx context.Context) error
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	// Name is the check's name.
	Name string `json:"name"`
	// OK reports whether the check passed.
	OK bool `json:"ok"`
	// Error is the failure, empty when OK.
	Error string `json:"error,omitempty"`
	// DurationMs is how long the check took, in milliseconds.
	DurationMs float64 `json:"durationMs"`
}

// Report is the outcome of every check, as /readyz sends it.
type Report struct {
	// Ready reports whether every check passed and the server is not
	// shutting down.
	Ready bool `json:"ready"`
	// Status is "ready", "not ready" or "shutting down".
	Status string `json:"status"`
	// Checks are the results in registration order.
	Checks []CheckResult `json:"checks"`
}

// Checker runs readiness checks. Each check runs concurrently with the
// others, bounded by its timeout. Concurrent calls share a check's run in
// flight, and a check that ignores its context (hangs) is not started
// again until it returns: it fails every call by timeout meanwhile, and a
// hung dependency never piles up goroutines. Add checks before serving;
// the other methods are safe for concurrent use.
type Checker struct {
	checks  []*check
	mu      sync.Mutex
	closing bool
}

// check is a Check with its run in flight.
type check struct {
	Check
	mu     sync.Mutex
	flight *flight
}

// flight is one run of a check; err is set before done closes.
type flight struct {
	done chan struct{}
	err  error
}

// NewChecker returns a Checker running checks.
func NewChecker(checks ...Check) *Checker {
	c := &Checker{}
	for _, ch := range checks {
		c.Add(ch)
	}
	return c
}

// Add registers a check. It is not safe to call while serving. It panics
// on a name already registered (a wiring mistake).
func (c *Checker) Add(ch Check) {
	for _, x := range c.checks {
		if x.Name == ch.Name {
			panic("metrics: duplicate readiness check " + ch.Name)
		}
	}
	if ch.Timeout <= 0 {
		ch.Timeout = DefaultCheckTimeout
	}
	c.checks = append(c.checks, &check{Check: ch})
}

// ShuttingDown makes every later Check report not ready, so load
// balancers stop sending requests while in-flight ones drain.
func (c *Checker) ShuttingDown() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
}

// Check runs every check and reports the outcome. It returns within the
// longest check timeout, or when ctx ends.
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	results := make([]CheckResult, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Go(func() { results[i] = ch.run(ctx) })
	}
	wg.Wait()
	r := Report{Ready: !closing, Status: "ready", Checks: results}
	for _, res := range results {
		if !res.OK {
			r.Ready = false
		}
	}
	switch {
	case closing:
		r.Status = "shutting down"
	case !r.Ready:
		r.Status = "not ready"
	}
	return r
}

// run waits for the check's run in flight, starting one if none is,
// bounded by the check's timeout and ctx.
func (ch *check) run(ctx context.Context) CheckResult {
	start := time.Now()
	ch.mu.Lock()
	f := ch.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		ch.flight = f
		// The run outlives a caller that gives up, so that other callers
		// can share it; its own timeout still bounds it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ch.Timeout)
		go func() {
			defer cancel()
			err := safeCall(rctx, ch.Func)
			ch.mu.Lock()
			ch.flight = nil
			f.err = err
			close(f.done)
			ch.mu.Unlock()
		}()
	}
	ch.mu.Unlock()

	t := time.NewTimer(ch.Timeout)
	defer t.Stop()
	var err error
	select {
	case <-f.done:
		err = f.err
	case <-t.C:
		err = fmt.Errorf("timed out after %s", ch.Timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	res := CheckResult{Name: ch.Name, DurationMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.OK = true
	return res
}

// safeCall calls f, turning a panic into an error.
func safeCall(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	if f == nil {
		return errors.New("no check function")
	}
	return f(ctx)
}

// Readyz serves GET /readyz: 200 when every check passes, 503 otherwise,
// with the Report as JSON either way.
func (c *Checker) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := c.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(rep)
	})
}

// Healthz serves GET /healthz: 200 "ok" whenever the process serves
// HTTP at all (liveness; it checks no dependency).
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
}

// Mux returns the observability listener's handler: /metrics from m,
// /healthz, and /readyz from c (nil: always ready). Other paths answer
// 404; only GET and HEAD are allowed.
func Mux(m *Metrics, c *Checker) http.Handler {
	if c == nil {
		c = NewChecker()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", Healthz())
	mux.Handle("GET /readyz", c.Readyz())
	return mux
}

// NewServer returns the observability listener's server for handler
// (Mux), with timeouts fit for scrapes. The caller owns ListenAndServe
// and Shutdown.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
