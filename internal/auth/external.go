package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults for VerifierOptions.
const (
	DefaultJWKSRefreshInterval = 30 * time.Second
	DefaultJWKSMaxAge          = time.Hour
	DefaultJWKSFetchTimeout    = 10 * time.Second
)

const (
	// maxExternalTokenLen bounds an external token (group claims make
	// them large).
	maxExternalTokenLen = 32 << 10
	// maxDocumentLen bounds a fetched discovery document or JWKS.
	maxDocumentLen = 1 << 20
	// maxGroups bounds the groups taken from a token.
	maxGroups = 1000
)

// externalAlgs are the algorithms accepted from external issuers: only
// asymmetric ones, never none or HMAC.
var externalAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
}

// ExternalIssuer configures trust in the bearer tokens of an external
// OpenID Connect issuer: Microsoft Entra ID, Keycloak, Dex, Kubernetes
// service-account tokens and the like.
type ExternalIssuer struct {
	// Issuer is the issuer URL; a token's iss must equal it exactly.
	// Required.
	Issuer string
	// JWKSURL is the https URL of the issuer's JWKS. Empty: the jwks_uri of
	// the discovery document at Issuer + "/.well-known/openid-configuration"
	// (whose issuer must equal Issuer).
	JWKSURL string
	// JWKSFile is a file holding the issuer's JWKS, read again on every
	// refresh; it takes precedence over JWKSURL and discovery.
	JWKSFile string
	// Audiences are the accepted aud values: a token must carry one of
	// them. Required.
	Audiences []string
	// PrincipalClaim names the claim that is the caller's principal id
	// (Identity.ObjectID). Empty or "oid": oid, falling back to sub when the
	// token has no oid.
	PrincipalClaim string
	// GroupsClaim names an optional claim listing the caller's groups
	// (Identity.Groups): an array of strings, or one string.
	GroupsClaim string
	// HTTPClient fetches the discovery document and JWKS. Nil: a client
	// with a DefaultJWKSFetchTimeout timeout.
	HTTPClient *http.Client
}

// VerifierOptions configure NewVerifier. The zero value of each field takes
// the default its comment gives.
type VerifierOptions struct {
	// JWKSRefreshInterval is the least time between two JWKS fetches of one
	// issuer, however many tokens name an unknown kid. Default
	// DefaultJWKSRefreshInterval.
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long fetched keys are used before they are fetched
	// again (the old keys stay in use if that fails). Default
	// DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// CacheSize bounds the number of verified external tokens cached; zero
	// means DefaultCacheSize, negative disables the cache.
	CacheSize int
	// CacheTTL bounds how long a verified external token is trusted
	// without checking its signature again (never past its exp). Default
	// DefaultCacheTTL.
	CacheTTL time.Duration
}

// Verifier verifies bearer tokens of the built-in issuer and of configured
// external issuers, choosing by the token's iss claim. It is safe for
// concurrent use.
type Verifier struct {
	builtin   *Issuer
	externals map[string]*externalIssuer
	cache     *tokenCache // verified external tokens; nil when disabled
	cacheTTL  time.Duration
}

// NewVerifier returns a Verifier for the built-in issuer and the given
// external issuers. It fetches nothing: keys are fetched when a token
// first needs them. Errors: a missing builtin, or an external issuer
// without Issuer or Audiences, with a non-https URL, or configured twice.
func NewVerifier(builtin *Issuer, externals []ExternalIssuer, opts VerifierOptions) (*Verifier, error) {
	if builtin == nil {
		return nil, errors.New("auth: NewVerifier needs the built-in issuer")
	}
	if opts.JWKSRefreshInterval <= 0 {
		opts.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if opts.JWKSMaxAge <= 0 {
		opts.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	v := &Verifier{builtin: builtin, externals: make(map[string]*externalIssuer), cacheTTL: opts.CacheTTL}
	switch {
	case opts.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		v.cache = newTokenCache(opts.CacheSize)
	}
	for _, e := range externals {
		if err := checkExternal(e); err != nil {
			return nil, err
		}
		if _, dup := v.externals[e.Issuer]; dup {
			return nil, fmt.Errorf("auth: external issuer %s configured twice", e.Issuer)
		}
		x := &externalIssuer{
			cfg:        e,
			client:     e.HTTPClient,
			minRefresh: opts.JWKSRefreshInterval,
			maxAge:     opts.JWKSMaxAge,
		}
		x.cfg.Audiences = slices.Clone(e.Audiences)
		if x.client == nil {
			x.client = &http.Client{Timeout: DefaultJWKSFetchTimeout}
		}
		v.externals[e.Issuer] = x
	}
	return v, nil
}

func checkExternal(e ExternalIssuer) error {
	switch {
	case e.Issuer == "":
		return errors.New("auth: external issuer without Issuer")
	case len(e.Audiences) == 0 || slices.Contains(e.Audiences, ""):
		return fmt.Errorf("auth: external issuer %s: Audiences are required and must not be empty", e.Issuer)
	}
	if e.JWKSFile != "" {
		return nil
	}
	u := e.JWKSURL
	if u == "" {
		u = e.Issuer
	}
	if err := checkHTTPS(u); err != nil {
		return fmt.Errorf("auth: external issuer %s: %w", e.Issuer, err)
	}
	return nil
}

func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", raw)
	}
	return nil
}

// Verify checks a bearer token and returns the caller's identity. A token
// whose (unverified) iss is a configured external issuer's is verified
// against that issuer: signature by a key of its JWKS (the key named by kid,
// of the type the alg needs; RS256/384/512, PS256/384/512 or
// ES256/384/512 only), iss equal to the configured issuer, an aud among its
// Audiences, exp and nbf valid at now with 60 s leeway, and a principal
// claim; validIssuer and validAudience, which describe the built-in
// issuer's per-host shape, are not consulted. An unknown kid makes the
// issuer's JWKS be fetched again, at most once per JWKSRefreshInterval.
// Every other token goes to the built-in Issuer.Verify with validIssuer and
// validAudience. Errors: ErrInvalidToken wrapping the reason (never the
// token); a store error from the built-in issuer.
func (v *Verifier) Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (Identity, error) {
	if len(v.externals) == 0 {
		return v.builtin.Verify(ctx, now, token, validIssuer, validAudience)
	}
	if len(token) > maxExternalTokenLen {
		return Identity{}, invalidToken("token too long")
	}
	if now.IsZero() {
		return Identity{}, errors.New("auth: Verify: zero time")
	}
	h := sha256.Sum256([]byte(token))
	// The hot paths: a token either issuer verified recently.
	if _, ok := v.builtin.cache.get(h, now); ok {
		return v.builtin.Verify(ctx, now, token, validIssuer, validAudience)
	}
	if e, ok := v.cache.get(h, now); ok {
		if err := e.checkTime(now); err != nil {
			return Identity{}, err
		}
		return cloneIdentity(e.id), nil
	}

	tok, err := jwt.ParseSigned(token, externalAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return Identity{}, invalidToken("malformed token or algorithm not allowed")
	}
	var peek struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&peek); err != nil {
		return Identity{}, invalidToken("malformed claims")
	}
	x, ok := v.externals[peek.Issuer]
	if !ok {
		return v.builtin.Verify(ctx, now, token, validIssuer, validAudience)
	}
	gen := v.cache.generation()
	e, err := x.verify(ctx, now, tok)
	if err != nil {
		return Identity{}, err
	}
	e.until = now.Add(v.cacheTTL)
	if e.id.ExpiresAt.Before(e.until) {
		e.until = e.id.ExpiresAt
	}
	if e.until.After(now) {
		v.cache.put(h, e, now, gen)
	}
	return cloneIdentity(e.id), nil
}

func cloneIdentity(id Identity) Identity {
	id.Groups = slices.Clone(id.Groups)
	return id
}

// externalIssuer is one trusted external issuer and its cached keys.
type externalIssuer struct {
	cfg        ExternalIssuer
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration

	keys atomic.Pointer[keySet]

	refreshMu   sync.Mutex // serialises fetches
	lastAttempt time.Time  // of a fetch; guarded by refreshMu
}

// keySet is a fetched JWKS, filtered to usable verification keys.
type keySet struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// match returns the keys that may verify a token with the given kid ("" =
// any) and alg.
func (s *keySet) match(kid, alg string) []jose.JSONWebKey {
	if s == nil {
		return nil
	}
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if keyFitsAlg(k.Key, alg) {
			out = append(out, k)
		}
	}
	return out
}

// verify checks a parsed token of this issuer; it returns a cache entry
// with until unset.
func (x *externalIssuer) verify(ctx context.Context, now time.Time, tok *jwt.JSONWebToken) (*cacheEntry, error) {
	hdr := tok.Headers[0]
	keys, err := x.keysFor(ctx, now, hdr.KeyID, hdr.Algorithm)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var all map[string]any
	verified := false
	for _, k := range keys {
		std, all = jwt.Claims{}, nil
		if err := tok.Claims(k.Key, &std, &all); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalidToken("bad signature or claims (issuer " + x.cfg.Issuer + ")")
	}
	switch {
	case std.Issuer != x.cfg.Issuer:
		return nil, invalidToken(fmt.Sprintf("issuer %q is not %q", std.Issuer, x.cfg.Issuer))
	case !slices.ContainsFunc(std.Audience, func(a string) bool { return slices.Contains(x.cfg.Audiences, a) }):
		return nil, invalidToken(fmt.Sprintf("audience %q not accepted for issuer %s", []string(std.Audience), x.cfg.Issuer))
	case std.Expiry == nil:
		return nil, invalidToken("missing exp")
	}
	switch err := std.ValidateWithLeeway(jwt.Expected{Time: now}, leeway); {
	case errors.Is(err, jwt.ErrExpired):
		return nil, invalidToken("expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, invalidToken("not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, invalidToken("issued in the future (iat)")
	case err != nil:
		return nil, invalidToken("claims: " + err.Error())
	}
	principal, err := x.principal(all)
	if err != nil {
		return nil, err
	}
	groups, err := x.groups(all)
	if err != nil {
		return nil, err
	}
	clientID := stringClaim(all, "azp")
	if clientID == "" {
		clientID = stringClaim(all, "appid")
	}
	e := &cacheEntry{
		id: Identity{
			ObjectID:  principal,
			ClientID:  clientID,
			TenantID:  stringClaim(all, "tid"),
			Groups:    groups,
			Issuer:    std.Issuer,
			External:  true,
			ExpiresAt: std.Expiry.Time(),
		},
		aud: slices.Clone(std.Audience),
	}
	if std.NotBefore != nil {
		e.nbf = std.NotBefore.Time()
	}
	return e, nil
}

// principal reads the configured principal claim.
func (x *externalIssuer) principal(all map[string]any) (string, error) {
	name := x.cfg.PrincipalClaim
	if name == "" || name == "oid" {
		if p := stringClaim(all, "oid"); p != "" {
			return p, nil
		}
		name = "sub"
	}
	p := stringClaim(all, name)
	if p == "" {
		return "", invalidToken("no principal claim " + name)
	}
	return p, nil
}

// groups reads the configured groups claim, if any.
func (x *externalIssuer) groups(all map[string]any) ([]string, error) {
	if x.cfg.GroupsClaim == "" {
		return nil, nil
	}
	switch v := all[x.cfg.GroupsClaim].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		if len(v) > maxGroups {
			return nil, invalidToken(fmt.Sprintf("more than %d groups", maxGroups))
		}
		out := make([]string, 0, len(v))
		for _, g := range v {
			s, ok := g.(string)
			if !ok {
				return nil, invalidToken("groups claim holds a non-string")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalidToken("groups claim is neither a string nor an array")
}

func stringClaim(all map[string]any, name string) string {
	s, _ := all[name].(string)
	return s
}

// keysFor returns the keys that may verify a token with kid and alg,
// fetching the JWKS first when it was never fetched, is older than maxAge,
// or lacks such a key — at most once per minRefresh.
func (x *externalIssuer) keysFor(ctx context.Context, now time.Time, kid, alg string) ([]jose.JSONWebKey, error) {
	ks := x.keys.Load()
	if ks != nil && now.Sub(ks.fetched) < x.maxAge {
		if m := ks.match(kid, alg); len(m) > 0 {
			return m, nil
		}
	}
	ks, err := x.refresh(ctx, now, ks)
	if m := ks.match(kid, alg); len(m) > 0 {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: no key for kid %q and alg %s of issuer %s (fetching keys: %v)", ErrInvalidToken, kid, alg, x.cfg.Issuer, err)
	}
	return nil, invalidToken(fmt.Sprintf("no key for kid %q and alg %s of issuer %s", kid, alg, x.cfg.Issuer))
}

// refresh fetches the JWKS unless another caller replaced seen meanwhile
// or the last attempt was less than minRefresh ago, and returns the
// current key set (possibly nil) with the fetch error, if any.
func (x *externalIssuer) refresh(ctx context.Context, now time.Time, seen *keySet) (*keySet, error) {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	if cur := x.keys.Load(); cur != seen {
		return cur, nil // fetched while this caller waited
	}
	// A clock set back far enough also allows a fetch.
	if d := now.Sub(x.lastAttempt); !x.lastAttempt.IsZero() && d < x.minRefresh && d > -x.minRefresh {
		return seen, nil
	}
	x.lastAttempt = now
	keys, err := x.fetch(ctx)
	if err != nil {
		return seen, err
	}
	ks := &keySet{keys: keys, fetched: now}
	x.keys.Store(ks)
	return ks, nil
}

// fetch reads the JWKS from its file, URL or discovery document.
func (x *externalIssuer) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	if x.cfg.JWKSFile != "" {
		f, err := os.Open(x.cfg.JWKSFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxDocumentLen+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxDocumentLen {
			return nil, errors.New("JWKS file too large")
		}
		return parseJWKS(b)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultJWKSFetchTimeout)
	defer cancel()
	jwksURL := x.cfg.JWKSURL
	if jwksURL == "" {
		b, err := x.get(ctx, strings.TrimSuffix(x.cfg.Issuer, "/")+"/.well-known/openid-configuration")
		if err != nil {
			return nil, err
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("discovery document: %w", err)
		}
		if doc.Issuer != x.cfg.Issuer {
			return nil, fmt.Errorf("discovery document names issuer %q", doc.Issuer)
		}
		if err := checkHTTPS(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery document jwks_uri: %w", err)
		}
		jwksURL = doc.JWKSURI
	}
	b, err := x.get(ctx, jwksURL)
	if err != nil {
		return nil, err
	}
	return parseJWKS(b)
}

// get fetches an https URL, expecting 200 and at most maxDocumentLen bytes.
func (x *externalIssuer) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := x.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentLen+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocumentLen {
		return nil, fmt.Errorf("GET %s: document too large", u)
	}
	return b, nil
}

// parseJWKS parses a JWKS document and keeps the public RSA (2048 bits or
// more) and ECDSA keys meant for signatures; keys it cannot parse are
// skipped. Errors: a malformed document, or one without a usable key.
func parseJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var out []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue // an unsupported key type must not hide the others
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey:
		default:
			continue // symmetric, private or other keys
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS holds no usable signature key")
	}
	return out, nil
}
