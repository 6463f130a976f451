package api

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzClientAddr feeds peer addresses and X-Forwarded-For values to the
// client address logic behind a trusted proxy range: no panics, and the
// address found is the peer or one of the forwarded hops, never a trusted
// proxy unless every hop is one.
func FuzzClientAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{"10.0.0.1:1", "203.0.113.9"},
		{"10.0.0.1:1", "127.0.0.1, 198.51.100.7"},
		{"10.0.0.1:1", "[2001:db8::5]:4711, 10.1.1.1"},
		{"192.0.2.1:1", "127.0.0.1"},
		{"[::ffff:10.0.0.9]:1", "garbage,,"},
		{"bad", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	s, _ := newServerWith(f, func(c *Config, _ *Deps) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	})
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		addr, ok := s.clientAddr(r)
		if !ok {
			return
		}
		var candidates []netip.Addr
		if p, ok := parseAddr(peer); ok {
			candidates = append(candidates, p)
		}
		allTrusted := true
		for _, h := range forwardedFor([]string{xff}) {
			if a, ok := parseAddr(h); ok {
				candidates = append(candidates, a)
				allTrusted = allTrusted && s.trustedProxy(a)
			}
		}
		if !slices.Contains(candidates, addr) {
			t.Fatalf("clientAddr(%q, %q) = %v, neither the peer nor a hop", peer, xff, addr)
		}
		if s.trustedProxy(addr) && !allTrusted {
			t.Fatalf("clientAddr(%q, %q) = trusted proxy %v while an untrusted hop exists", peer, xff, addr)
		}
	})
}

// FuzzHSMScope feeds role API scope paths to parseHSMScope: no panics, and
// an accepted scope parses again to itself.
func FuzzHSMScope(f *testing.F) {
	for _, s := range []string{"", "/", "//keys", "keys", "/keys/k1", "%2Fkeys%2Fk1", "/secrets", "/keys/a/b", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		scope, key, err := parseHSMScope(strings.Split(path, "/"))
		if err != nil {
			return
		}
		if scope != "/" && scope != "/keys" && scope != "/keys/"+key {
			t.Fatalf("parseHSMScope(%q) = %q, %q: not /, /keys or /keys/{key}", path, scope, key)
		}
		again, key2, err := parseHSMScope(strings.Split(scope, "/"))
		if err != nil || again != scope || key2 != key {
			t.Fatalf("parseHSMScope(%q) = %q, but %q parses to %q, %q, %v", path, scope, scope, again, key2, err)
		}
	})
}
