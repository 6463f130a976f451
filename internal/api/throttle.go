package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default request limits: generous, so that only runaway clients meet them
// — above what one 2-core node serves (about 20,000 EC signatures a
// second), so that `keywarden bench` measures the server, not the limit.
const (
	DefaultVaultRPS       = 50000
	DefaultVaultBurst     = 100000
	DefaultPrincipalRPS   = 25000
	DefaultPrincipalBurst = 50000
)

// maxLimiters bounds each set of token buckets; beyond it, idle buckets are
// dropped first and then arbitrary ones.
const maxLimiters = 100_000

// Throttle is the request rate limiting configuration: a token bucket per
// vault and client address, checked before authentication (so that a
// flood of unauthenticated requests from one address is cut off without
// spending the budget of the vault's real callers), then one per vault and
// one per principal, checked after it. The vault's rate applies to both
// vault buckets. Zero fields take the defaults (DefaultVaultRPS and so
// on); a negative rate disables that limit.
type Throttle struct {
	// VaultRPS and VaultBurst are each vault's sustained requests per
	// second and burst size.
	VaultRPS   float64
	VaultBurst int
	// PrincipalRPS and PrincipalBurst are each principal's sustained
	// requests per second and burst size.
	PrincipalRPS   float64
	PrincipalBurst int
}

// limiters returns the bucket sets of t, nil for a disabled limit.
func (t Throttle) limiters() (addresses, vaults, principals *limiters) {
	return newLimiters(t.VaultRPS, t.VaultBurst, DefaultVaultRPS, DefaultVaultBurst),
		newLimiters(t.VaultRPS, t.VaultBurst, DefaultVaultRPS, DefaultVaultBurst),
		newLimiters(t.PrincipalRPS, t.PrincipalBurst, DefaultPrincipalRPS, DefaultPrincipalBurst)
}

// limiters is a set of token buckets of one rate and burst, keyed by vault
// or principal, with bounded memory: a bucket idle long enough to be full
// again is indistinguishable from a new one and is dropped. Safe for
// concurrent use.
type limiters struct {
	rps   rate.Limit
	burst int
	// idle is how long a drained bucket takes to fill up.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is one key's token bucket and when it was last used.
type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newLimiters returns a set for rps and burst, or nil when rps is
// negative. A zero rps takes defRPS; a zero burst takes defBurst with the
// default rate and twice the rate otherwise.
func newLimiters(rps float64, burst int, defRPS float64, defBurst int) *limiters {
	if rps < 0 {
		return nil
	}
	if rps == 0 {
		rps = defRPS
	}
	if burst <= 0 {
		burst = defBurst
		if rps != defRPS {
			burst = max(1, int(math.Ceil(2*rps)))
		}
	}
	idle := time.Duration(float64(burst) / rps * float64(time.Second))
	return &limiters{rps: rate.Limit(rps), burst: burst, idle: max(idle, time.Second), buckets: map[string]*bucket{}}
}

// take spends one token of key's bucket at now. When the bucket is empty it
// spends nothing and returns how long until a token is there.
func (l *limiters) take(key string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		l.sweep(now)
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle long enough to be full, at most once per idle
// period unless the set is at its bound, and then arbitrary buckets until
// it is below the bound. l.mu is held.
func (l *limiters) sweep(now time.Time) {
	full := len(l.buckets) >= maxLimiters
	if !full && now.Sub(l.lastSweep) < l.idle {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.idle {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxLimiters {
			break
		}
		delete(l.buckets, k)
	}
}

// len returns the number of buckets held.
func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// throttle spends a token of key in set (vault or principal, named by
// kind) and answers 429 Throttled with Retry-After when there is none. It
// reports whether the request may go on.
func (s *Server) throttle(rq *request, set *limiters, kind, key string) bool {
	if set == nil {
		return true
	}
	ok, wait := set.take(key, s.now())
	if ok {
		return true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	rq.denial = "throttled: " + kind + " request limit"
	rq.w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(rq, &httpError{status: http.StatusTooManyRequests, code: "Throttled",
		msg: "Request was not processed because too many requests were received (" + kind + " limit). Retry after " + strconv.Itoa(secs) + " seconds."})
	return false
}
