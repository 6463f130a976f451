package api

import (
	"net/netip"
	"strings"
)

// vaultOfHost returns the vault a Host header names: the first label of
// {vault}.{DNSSuffix}[:port] or {vault}.{HSMDNSSuffix}[:port]; hsm reports
// which suffix named it (a managedhsm vault is served only under
// HSMDNSSuffix, every other vault only under DNSSuffix). Where one suffix
// is a subdomain of the other (managedhsm.localhost under localhost) the
// longer is matched first. named is false for any other host (an IP
// address, localhost, either suffix itself, a deeper subdomain): the bare
// origin, which serves the default vault.
func (s *Server) vaultOfHost(host string) (name string, hsm, named bool) {
	h := strings.TrimSuffix(strings.ToLower(hostname(host)), ".")
	if isIP(h) || h == s.cfg.DNSSuffix || h == s.cfg.HSMDNSSuffix {
		return "", false, false
	}
	for _, sfx := range s.suffixesLongestFirst() {
		label, ok := strings.CutSuffix(h, "."+sfx)
		if !ok {
			continue
		}
		if label == "" || strings.Contains(label, ".") {
			return "", false, false
		}
		return label, sfx == s.cfg.HSMDNSSuffix, true
	}
	return "", false, false
}

// suffixesLongestFirst returns DNSSuffix and HSMDNSSuffix, the longer first.
func (s *Server) suffixesLongestFirst() [2]string {
	if len(s.cfg.HSMDNSSuffix) > len(s.cfg.DNSSuffix) {
		return [2]string{s.cfg.HSMDNSSuffix, s.cfg.DNSSuffix}
	}
	return [2]string{s.cfg.DNSSuffix, s.cfg.HSMDNSSuffix}
}

// underSuffix reports whether name (lower case, no port) is one of the
// suffixes or a name under one of them.
func (s *Server) underSuffix(name string) bool {
	for _, sfx := range []string{s.cfg.DNSSuffix, s.cfg.HSMDNSSuffix} {
		if name == sfx || strings.HasSuffix(name, "."+sfx) {
			return true
		}
	}
	return false
}

// parentHost returns host minus its first label, port kept:
// "dev.localhost:8443" → "localhost:8443".
func parentHost(host string) string {
	_, rest, ok := strings.Cut(host, ".")
	if !ok {
		return host
	}
	return rest
}

// hostname strips the port and IPv6 brackets from a host[:port].
func hostname(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if strings.Count(host, ":") == 1 {
		h, _, _ := strings.Cut(host, ":")
		return h
	}
	return host // no port, or a bare IPv6 address
}

// isIP reports whether h is an IP address literal.
func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// validTenant reports whether t is a tenant id of the form [A-Za-z0-9.-]+.
func validTenant(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
