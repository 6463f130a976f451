package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store"
)

// SigningKeyBlob is the name of the store blob holding the sealed
// token-signing key; its seal additional data is the same string.
const SigningKeyBlob = "token-signing-key"

// Defaults for IssuerOptions.
const (
	DefaultTokenTTL  = time.Hour
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 5 * time.Minute
)

const (
	// leeway is the clock skew tolerated on exp, nbf and iat.
	leeway = 60 * time.Second
	// maxTokenLen bounds the size of a token Verify will parse.
	maxTokenLen = 8 << 10
)

// IssuerOptions configure NewIssuer.
type IssuerOptions struct {
	// Store holds principals and the sealed signing key (blob
	// SigningKeyBlob). Required.
	Store store.Store
	// Sealer seals the signing key; use the root key's "token-signing"
	// derivation. Required.
	Sealer seal.Sealer
	// Rand is the source of client ids, secrets and salts; nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// TokenTTL is the lifetime of issued tokens; zero means
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// CacheSize bounds the number of verified tokens cached; zero means
	// DefaultCacheSize, negative disables the cache.
	CacheSize int
	// CacheTTL bounds how long a verified token is trusted without reading
	// its principal again (never past the token's exp), so that a principal
	// disabled through another node stops working here too; zero means
	// DefaultCacheTTL.
	CacheTTL time.Duration
}

// Issuer issues and verifies access tokens for service principals. It is
// safe for concurrent use.
type Issuer struct {
	store    principalStore
	rand     io.Reader
	ttl      time.Duration
	key      *ecdsa.PrivateKey
	kid      string
	signer   jose.Signer
	cache    *tokenCache // nil when disabled
	cacheTTL time.Duration
	argon    argon2Params
	hashSem  chan struct{} // bounds concurrent argon2 runs (memory)
	jtis     *jtiCache     // client assertion ids seen, against replay
}

// NewIssuer returns an Issuer whose signing key is the one stored in
// opts.Store; on first start it generates an ECDSA P-256 key, seals it with
// opts.Sealer and stores it. Errors: a store error, or a signing key that
// cannot be opened (wrong root key) or parsed.
func NewIssuer(ctx context.Context, opts IssuerOptions) (*Issuer, error) {
	if opts.Store == nil || opts.Sealer == nil {
		return nil, errors.New("auth: NewIssuer needs a Store and a Sealer")
	}
	i := &Issuer{
		store:    storeAdapter{opts.Store},
		rand:     opts.Rand,
		ttl:      opts.TokenTTL,
		cacheTTL: opts.CacheTTL,
		argon:    defaultArgon2(),
		hashSem:  make(chan struct{}, runtime.GOMAXPROCS(0)),
		jtis:     newJTICache(defaultMaxJTIs),
	}
	if i.rand == nil {
		i.rand = rand.Reader
	}
	if i.ttl <= 0 {
		i.ttl = DefaultTokenTTL
	}
	if i.cacheTTL <= 0 {
		i.cacheTTL = DefaultCacheTTL
	}
	switch {
	case opts.CacheSize == 0:
		i.cache = newTokenCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		i.cache = newTokenCache(opts.CacheSize)
	}

	key, err := loadOrCreateSigningKey(ctx, i.store, opts.Sealer, i.rand)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key thumbprint: %w", err)
	}
	i.key = key
	i.kid = base64.RawURLEncoding.EncodeToString(tp)
	i.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: i.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("auth: token signer: %w", err)
	}
	return i, nil
}

func loadOrCreateSigningKey(ctx context.Context, st principalStore, sealer seal.Sealer, rand io.Reader) (*ecdsa.PrivateKey, error) {
	aad := []byte(SigningKeyBlob)
	// A fresh key is sealed on every start and discarded unless the store
	// has none: cheaper than a second transaction, and race-free across
	// nodes starting together.
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("auth: generating signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(fresh)
	if err != nil {
		return nil, fmt.Errorf("auth: encoding signing key: %w", err)
	}
	sealed, err := sealer.Seal(der, aad)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("auth: sealing signing key: %w", err)
	}
	stored, err := st.LoadOrStoreBlob(ctx, SigningKeyBlob, sealed)
	if err != nil {
		return nil, fmt.Errorf("auth: storing signing key: %w", err)
	}
	pt, err := sealer.Open(stored, aad)
	if err != nil {
		return nil, fmt.Errorf("auth: opening stored signing key (is this the right root key?): %w", err)
	}
	defer pt.Clear()
	k, err := x509.ParsePKCS8PrivateKey(pt.Expose())
	if err != nil {
		return nil, errors.New("auth: stored signing key does not parse")
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("auth: stored signing key is not ECDSA P-256")
	}
	return key, nil
}

// KeyID returns the signing key's id: its RFC 7638 SHA-256 thumbprint,
// base64url-encoded, as in the kid header of issued tokens.
func (i *Issuer) KeyID() string { return i.kid }

// JWKS returns the public signing keys for the JWKS endpoint. It never
// contains private material.
func (i *Issuer) JWKS() jose.JSONWebKeySet {
	pub := i.key.PublicKey
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       &pub,
		KeyID:     i.kid,
		Algorithm: string(jose.ES256),
		Use:       "sig",
	}}}
}

// tokenClaims are the claims Keywarden adds to the registered ones.
type tokenClaims struct {
	OID   string `json:"oid"`
	AppID string `json:"appid"`
	AZP   string `json:"azp"`
	TID   string `json:"tid"`
	Ver   string `json:"ver"`
}

// IssueToken returns an ES256 access token for p, valid from now for the
// issuer's TokenTTL, and that lifetime in seconds (the OAuth2 expires_in).
// Claims: aud, iss, sub and oid (object id), appid and azp (client id), tid,
// iat, nbf, exp and ver "2.0". Callers authenticate p first. Errors:
// ErrInvalidClient for a disabled principal.
func (i *Issuer) IssueToken(ctx context.Context, now time.Time, p store.Principal, tenant, issuer, audience string) (token string, expiresIn int, err error) {
	switch {
	case p.Disabled:
		return "", 0, invalidClient("disabled principal")
	case p.ClientID == "" || p.ObjectID == "":
		return "", 0, errors.New("auth: IssueToken: principal without ids")
	case tenant == "" || issuer == "" || audience == "":
		return "", 0, errors.New("auth: IssueToken: tenant, issuer and audience are required")
	}
	std := jwt.Claims{
		Issuer:    issuer,
		Subject:   p.ObjectID,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(i.ttl)),
	}
	ext := tokenClaims{OID: p.ObjectID, AppID: p.ClientID, AZP: p.ClientID, TID: tenant, Ver: "2.0"}
	token, err = jwt.Signed(i.signer).Claims(std).Claims(ext).Serialize()
	if err != nil {
		return "", 0, fmt.Errorf("auth: signing token: %w", err)
	}
	return token, int(i.ttl / time.Second), nil
}

// Verify checks a bearer token and returns the caller's identity. It
// accepts only ES256 tokens signed by this issuer's key, valid at now
// (exp, nbf and iat with 60 s leeway), whose iss satisfies validIssuer and
// whose aud has a value satisfying validAudience, for a principal that still
// exists and is enabled; a nil check rejects every token. A verified token
// is cached until its exp (at most CacheTTL), so that verifying it again
// checks only times, iss and aud, without signature verification or a store
// read. Errors: ErrInvalidToken wrapping the reason; a store error other
// than store.ErrNotFound is returned as such.
func (i *Issuer) Verify(ctx context.Context, now time.Time, token string, validIssuer func(iss string) bool, validAudience func(aud string) bool) (Identity, error) {
	if validIssuer == nil || validAudience == nil {
		return Identity{}, invalidToken("no issuer or audience check configured")
	}
	if len(token) > maxTokenLen {
		return Identity{}, invalidToken("token too long")
	}
	if now.IsZero() {
		return Identity{}, errors.New("auth: Verify: zero time")
	}
	h := sha256.Sum256([]byte(token))
	if e, ok := i.cache.get(h, now); ok {
		if err := e.check(now, validIssuer, validAudience); err != nil {
			return Identity{}, err
		}
		return e.id, nil
	}

	gen := i.cache.generation()
	e, err := i.verify(ctx, now, token)
	if err != nil {
		return Identity{}, err
	}
	if err := e.check(now, validIssuer, validAudience); err != nil {
		return Identity{}, err
	}
	e.until = now.Add(i.cacheTTL)
	if e.id.ExpiresAt.Before(e.until) {
		e.until = e.id.ExpiresAt
	}
	if e.until.After(now) {
		i.cache.put(h, e, now, gen)
	}
	return e.id, nil
}

// verify does the full check of a token apart from iss and aud.
func (i *Issuer) verify(ctx context.Context, now time.Time, token string) (*cacheEntry, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, invalidToken("malformed token or algorithm other than ES256")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != i.kid {
		return nil, invalidToken("unknown signing key")
	}
	var std jwt.Claims
	var ext tokenClaims
	if err := tok.Claims(&i.key.PublicKey, &std, &ext); err != nil {
		return nil, invalidToken("bad signature or claims")
	}
	if std.Expiry == nil || std.NotBefore == nil || std.IssuedAt == nil {
		return nil, invalidToken("missing exp, nbf or iat")
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
	switch {
	case ext.Ver != "2.0":
		return nil, invalidToken("unsupported token version")
	case ext.OID == "" || ext.OID != std.Subject:
		return nil, invalidToken("oid missing or different from sub")
	case ext.AZP == "" || ext.AZP != ext.AppID:
		return nil, invalidToken("azp missing or different from appid")
	case ext.TID == "":
		return nil, invalidToken("tid missing")
	case len(std.Audience) == 0:
		return nil, invalidToken("aud missing")
	}
	p, err := i.store.Principal(ctx, ext.AZP)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidToken("unknown principal " + ext.AZP)
	case err != nil:
		return nil, fmt.Errorf("auth: verifying token: %w", err)
	case p.ObjectID != ext.OID:
		return nil, invalidToken("principal " + ext.AZP + " has another object id")
	case p.Disabled:
		return nil, invalidToken("disabled principal " + ext.AZP)
	}
	return &cacheEntry{
		id: Identity{
			ObjectID:  ext.OID,
			ClientID:  ext.AZP,
			TenantID:  ext.TID,
			Issuer:    std.Issuer,
			ExpiresAt: std.Expiry.Time(),
		},
		aud: slices.Clone(std.Audience),
		nbf: std.NotBefore.Time(),
	}, nil
}

// InvalidatePrincipal drops every cached token of the principal with client
// id clientID, so that its next request reads the principal again.
// SetDisabled and DeletePrincipal call it; call it also when a principal is
// changed through another path (another node's change is seen here after
// at most CacheTTL).
func (i *Issuer) InvalidatePrincipal(clientID string) { i.cache.invalidate(clientID) }
