package api

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/keywarden/keywarden/internal/vault"
)

// checkNetwork applies a vault's network rules to the client address of rq
// and answers 403 ForbiddenByFirewall when they refuse it. It reports
// whether the request may go on. An address that cannot be determined is
// refused by any rule set that restricts addresses.
func (s *Server) checkNetwork(rq *request, rules *vault.NetworkRules) bool {
	if rules == nil {
		return true
	}
	addr, ok := s.callerAddr(rq)
	if ok && rules.Allows(addr) {
		return true
	}
	shown := "unknown"
	if ok {
		shown = addr.String()
	}
	rq.denial = "network rules refuse client address " + shown
	s.writeError(rq, &httpError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByFirewall",
		msg: "Client address (" + shown + ") is not authorized and caller is not a trusted service"})
	return false
}

// clientAddr returns the client address of r: the TCP peer, or, when the
// peer is a trusted proxy, the right-most address of X-Forwarded-For that
// is not a trusted proxy (the left-most when all are). ok is false when an
// address that must be used cannot be parsed.
func (s *Server) clientAddr(r *http.Request) (addr netip.Addr, ok bool) {
	addr, ok = parseAddr(r.RemoteAddr)
	if !ok || !s.trustedProxy(addr) {
		return addr, ok
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseAddr(hops[i])
		if !ok {
			// A trusted proxy handed on a value it should have
			// replaced: the client is unknown.
			return netip.Addr{}, false
		}
		addr = hop
		if !s.trustedProxy(hop) {
			break
		}
	}
	return addr, true
}

// trustedProxy reports whether addr is in Config.TrustedProxies.
func (s *Server) trustedProxy(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// forwardedFor splits X-Forwarded-For header values into their hops, left
// to right.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for hop := range strings.SplitSeq(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

// parseAddr parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" into an
// address without zone, IPv4-mapped IPv6 unmapped.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
