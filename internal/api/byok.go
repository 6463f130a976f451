package api

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// KeyProvenance is a Keywarden extension of KeyAttributes (read-only,
// ignored in requests): how an imported version's material reached the
// vault. Azure SDKs ignore it as an unknown member.
type KeyProvenance struct {
	// Method is "import" (a plaintext JWK) or "byok" (a transfer blob
	// unwrapped inside the HSM).
	Method string `json:"method"`
	// Generator is the tool that made the BYOK transfer blob.
	Generator string `json:"generator,omitempty"`
	// KEK is the key id of the key-exchange key the blob was wrapped for.
	KEK string `json:"kek,omitempty"`
	// Imported is when the material was imported.
	Imported *UnixTime `json:"imported,omitempty"`
}

// provenanceOut converts a version's provenance; nil for generated keys.
func provenanceOut(p *vault.Provenance) *KeyProvenance {
	if p == nil {
		return nil
	}
	return &KeyProvenance{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: unixTimeOf(p.Imported)}
}

// transferIn converts an import JWK that carries a BYOK transfer blob
// (key_hsm, the .byok file's bytes, as az keyvault key import --byok-file
// sends it with kty RSA-HSM, EC-HSM or oct-HSM) into the key's spec (HSM
// protection whatever the kty's suffix; the curve of crv, if given) and the
// parsed transfer, whose kid is resolved to a key reference as this
// server's origins name vaults (keyRef), for an import into rq's vault;
// the transfer's Origin is rq's, which the provenance names the KEK on.
func (s *Server) transferIn(rq *request, k *JSONWebKey) (keys.Spec, *vault.Transfer, error) {
	typ, _, err := parseKeyType(k.KTY)
	if err != nil {
		return keys.Spec{}, nil, err
	}
	spec := keys.Spec{Type: typ, Protection: keys.HSM}
	if k.Crv != "" {
		if typ != keys.EC || curveSize(keys.Curve(k.Crv)) == 0 {
			return spec, nil, badParameter("Invalid crv value: %s", truncate(k.Crv, 16))
		}
		spec.Curve = keys.Curve(k.Crv)
	}
	for _, b := range [][]byte{k.D, k.DP, k.DQ, k.QI, k.P, k.Q, k.K} {
		if len(b) > 0 {
			return spec, nil, badParameter("A key imported from a BYOK transfer blob (key_hsm) must carry no private JWK members.")
		}
	}
	b, err := byok.Parse(k.T)
	if err != nil {
		var fe *byok.FormatError
		if errors.As(err, &fe) {
			return spec, nil, badParameter("%s", fe.Msg)
		}
		return spec, nil, err
	}
	ref, base, ok := s.keyRef(rq, b.KID)
	if !ok {
		return spec, nil, badParameter("The BYOK transfer blob's kid %s is not a key identifier of this server (https://{vault host}/keys/{name}/{version}).", truncate(b.KID, 200))
	}
	origin := "https://" + strings.ToLower(rq.r.Host)
	return spec, &vault.Transfer{KEK: ref, KEKID: base, Origin: origin, Generator: b.Generator, Ciphertext: b.Ciphertext}, nil
}

// keyRef resolves a key identifier, https://{host}/keys/{name}[/{version}],
// to the key it names on this server, for a request rq: the vault its host
// names, on the suffix of that vault's SKU when it is rq's vault, or the
// default vault for a bare origin of this server (bareHost) when rq's vault
// is not a managed HSM, which has none. Any other host is not this
// server's. base is the key's version-less id, its host in lower case.
func (s *Server) keyRef(rq *request, kid string) (ref vault.Ref, base string, ok bool) {
	u, err := url.Parse(kid)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return vault.Ref{}, "", false
	}
	// Split the escaped path, as the router splits a request's: an
	// escaped slash (%2F) is part of a segment, not a separator.
	segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || segs[0] != "keys" || segs[1] == "" {
		return vault.Ref{}, "", false
	}
	for i, seg := range segs {
		if segs[i], err = url.PathUnescape(seg); err != nil || strings.Contains(segs[i], "/") {
			return vault.Ref{}, "", false
		}
	}
	name, hsm, named := s.vaultOfHost(u.Host)
	switch {
	case named && name == rq.vault && hsm != (rq.sku == vault.ManagedHSM):
		return vault.Ref{}, "", false
	case !named:
		if s.cfg.DefaultVault == "" || rq.sku == vault.ManagedHSM || !s.bareHost(rq, u.Host) {
			return vault.Ref{}, "", false
		}
		name = s.cfg.DefaultVault
	}
	ref = vault.Ref{Vault: name, Name: segs[1]}
	if len(segs) == 3 {
		ref.Version = segs[2]
	}
	return ref, "https://" + strings.ToLower(u.Host) + "/keys/" + escapeName(segs[1]), true
}

// bareHost reports whether host, of a key id, is a bare origin of this
// server: DNSSuffix, the host of BareResource, the host rq came to when
// that names no vault, or the IP address rq came to (its connection's
// local address). Any other IP address may be another server's.
func (s *Server) bareHost(rq *request, host string) bool {
	h := strings.TrimSuffix(strings.ToLower(hostname(host)), ".")
	if h == s.cfg.DNSSuffix {
		return true
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if la, ok := rq.r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap().WithZone("") == a.Unmap().WithZone("") {
				return true
			}
		}
	}
	if u, err := url.Parse(s.cfg.BareResource); err == nil && u.Host != "" && strings.EqualFold(strings.TrimSuffix(hostname(u.Host), "."), h) {
		return true
	}
	_, _, named := s.vaultOfHost(rq.r.Host)
	return !named && strings.EqualFold(strings.TrimSuffix(hostname(rq.r.Host), "."), h)
}
