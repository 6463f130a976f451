package auth

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// cacheEntry is a verified token: everything Verify still checks on a hit.
type cacheEntry struct {
	id    Identity
	aud   []string
	nbf   time.Time
	until time.Time // entry is dropped at this time (≤ exp)
}

// checkTime checks the token's time window at now.
func (e *cacheEntry) checkTime(now time.Time) error {
	switch {
	case now.Add(leeway).Before(e.nbf):
		return invalidToken("not valid yet (nbf)")
	case now.Add(-leeway).After(e.id.ExpiresAt):
		return invalidToken("expired")
	}
	return nil
}

// check applies the per-call checks: time window, issuer and audience.
func (e *cacheEntry) check(now time.Time, validIssuer, validAudience func(string) bool) error {
	if err := e.checkTime(now); err != nil {
		return err
	}
	switch {
	case !validIssuer(e.id.Issuer):
		return invalidToken(fmt.Sprintf("issuer %q not accepted", e.id.Issuer))
	case !slices.ContainsFunc(e.aud, validAudience):
		return invalidToken(fmt.Sprintf("audience %q not accepted", e.aud))
	}
	return nil
}

// tokenCache maps SHA-256(token) to verified entries. A nil *tokenCache is
// a disabled cache. It is safe for concurrent use.
type tokenCache struct {
	max int
	mu  sync.RWMutex
	m   map[[32]byte]*cacheEntry
	gen uint64 // incremented by invalidate
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[32]byte]*cacheEntry)}
}

// get returns the live entry for key h.
func (c *tokenCache) get(h [32]byte, now time.Time) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e, true
}

// generation returns a value to pass to put: an entry built from a
// principal read after generation was called is stored only if no
// invalidate ran in between, so a principal disabled while its token was
// being verified does not stay cached.
func (c *tokenCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores e under h unless invalidate ran since generation returned
// gen. When the cache is full it first drops dead entries, then arbitrary
// ones, down to nine tenths of its size.
func (c *tokenCache) put(h [32]byte, e *cacheEntry, now time.Time, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		target := min(c.max-1, c.max*9/10)
		for k := range c.m {
			if len(c.m) <= target {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[h] = e
}

// invalidate drops every entry of the principal with client id clientID.
func (c *tokenCache) invalidate(clientID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, v := range c.m {
		if v.id.ClientID == clientID {
			delete(c.m, k)
		}
	}
}

// len returns the number of entries, dead or alive.
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
