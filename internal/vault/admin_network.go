package vault

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/internal/store"
)

// MaxIPRules bounds the IP rules of one vault.
const MaxIPRules = 1000

// ParseNetworkRules parses a default action ("Allow" or "Deny", any case)
// and IP rules: IPv4 or IPv6 addresses (a single address is a /32 or /128
// prefix) and CIDR prefixes, which are masked ("10.1.2.3/8" is
// 10.0.0.0/8). IPv4-mapped IPv6 rules become IPv4 rules. Errors: ErrInvalid
// naming the first bad entry.
func ParseNetworkRules(defaultAction string, ipRules []string) (*NetworkRules, error) {
	n := &NetworkRules{DefaultAction: defaultAction}
	for _, raw := range ipRules {
		p, err := parseIPRule(raw)
		if err != nil {
			return nil, err
		}
		n.IPRules = append(n.IPRules, p)
	}
	return normalizeNetwork(n)
}

// parseIPRule parses one address or CIDR prefix.
func parseIPRule(raw string) (netip.Prefix, error) {
	s := strings.TrimSpace(raw)
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				return netip.Prefix{}, badIPRule(raw)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return netip.Prefix{}, badIPRule(raw)
	}
	return p, nil
}

func badIPRule(raw string) error {
	return invalidf("IP rule %q is invalid: use an IPv4 or IPv6 address or a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32.", truncate(raw, 64))
}

// normalizeNetwork checks n and returns a copy with the default action
// spelled canonically and every prefix masked and unmapped. nil stays nil.
// Errors: ErrInvalid.
func normalizeNetwork(n *NetworkRules) (*NetworkRules, error) {
	if n == nil {
		return nil, nil
	}
	out := &NetworkRules{}
	switch {
	case strings.EqualFold(n.DefaultAction, NetworkAllow):
		out.DefaultAction = NetworkAllow
	case strings.EqualFold(n.DefaultAction, NetworkDeny):
		out.DefaultAction = NetworkDeny
	default:
		return nil, invalidf("Network rule default action %q is invalid: use Allow or Deny.", truncate(n.DefaultAction, 32))
	}
	if len(n.IPRules) > MaxIPRules {
		return nil, invalidf("A vault takes at most %d IP rules; %d were given.", MaxIPRules, len(n.IPRules))
	}
	for _, p := range n.IPRules {
		if !p.IsValid() {
			return nil, invalidf("IP rule %q is invalid.", p.String())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if !slices.Contains(out.IPRules, p) {
			out.IPRules = append(out.IPRules, p)
		}
	}
	return out, nil
}

// Allows reports whether a client at addr may reach the vault. Nil rules
// and the Allow default action allow every address; the Deny default action
// allows only addresses an IP rule contains. An IPv4-mapped IPv6 address is
// matched as the IPv4 address it maps, and a zone is ignored.
func (n *NetworkRules) Allows(addr netip.Addr) bool {
	if n == nil || n.DefaultAction == NetworkAllow {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range n.IPRules {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// toStoreNetwork converts checked network rules to their record.
func toStoreNetwork(n *NetworkRules) *store.NetworkRules {
	if n == nil {
		return nil
	}
	out := &store.NetworkRules{DefaultAction: n.DefaultAction}
	for _, p := range n.IPRules {
		out.IPRules = append(out.IPRules, p.String())
	}
	return out
}

// fromStoreNetwork converts a network rules record. Records are checked
// when written; an entry that no longer parses is dropped, which can only
// narrow a Deny allow-list, and an unknown default action reads as Deny.
func fromStoreNetwork(n *store.NetworkRules) *NetworkRules {
	if n == nil {
		return nil
	}
	out := &NetworkRules{DefaultAction: NetworkDeny}
	if strings.EqualFold(n.DefaultAction, NetworkAllow) {
		out.DefaultAction = NetworkAllow
	}
	for _, raw := range n.IPRules {
		if p, err := netip.ParsePrefix(raw); err == nil {
			out.IPRules = append(out.IPRules, p.Masked())
		}
	}
	return out
}
