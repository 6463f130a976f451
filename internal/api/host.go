package api

import (
	"net/netip"
	"strings"
)

// vaultOfHost returns the vault a Host header names: the first label of
// {vault}.{DNSSuffix}[:port]. named is false for any other host (an IP
// address, localhost, the suffix itself, a deeper subdomain): the bare
// origin, which serves the default vault.
func (s *Server) vaultOfHost(host string) (name string, named bool) {
	h := strings.TrimSuffix(strings.ToLower(hostname(host)), ".")
	label, ok := strings.CutSuffix(h, "."+s.cfg.DNSSuffix)
	if !ok || label == "" || strings.Contains(label, ".") || isIP(h) {
		return "", false
	}
	return label, true
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
