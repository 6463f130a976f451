package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is
// zero. Restore bodies (backup blobs holding every version of a key) are the
// largest requests.
const DefaultMaxBodyBytes = 4 << 20

// Config is the HTTP layer's configuration. The zero value of each field
// takes the default its comment gives.
type Config struct {
	// TenantID is the tenant of the built-in authority; it is sent in the
	// 401 challenge byte for byte and served case-insensitively. Required.
	TenantID string
	// DNSSuffix is the domain under which each vault owns a host:
	// {vault}.{DNSSuffix}. Default "localhost".
	DNSSuffix string
	// HSMDNSSuffix is the domain under which each managedhsm vault owns a
	// host: {vault}.{HSMDNSSuffix}, whose 401 challenge names the resource
	// https://{HSMDNSSuffix}[:port]. It must differ from DNSSuffix. Default
	// "managedhsm." + DNSSuffix.
	HSMDNSSuffix string
	// Port is the public port clients use (e.g. 8443); it only shapes the
	// default BareResource. Zero or 443 means no port in that URL.
	Port int
	// DefaultVault is the vault served at the bare origin (an IP address,
	// "localhost", or any host that is not a vault's). Empty: none.
	DefaultVault string
	// BareResource is the resource the 401 challenge names on the bare
	// origin, and the audience tokens used there must carry. Default
	// "https://{DNSSuffix}[:{Port}]", the same resource the named origins
	// name, so one token serves both.
	BareResource string
	// Logger receives one record per request and the detail of internal
	// errors. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now; only cmd should set it.
	Now func() time.Time
	// MaxBodyBytes bounds every request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedProxies are the peers whose X-Forwarded-For header is believed
	// when checking a vault's network rules. Empty: the TCP peer is the
	// client and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// Throttle limits request rates per vault and per principal.
	Throttle Throttle
	// SnapshotDir is where GET /admin/v1/snapshot spools a snapshot before
	// sending it, in a file unlinked at once; it needs room for a copy of
	// the store. Default os.TempDir(); cmd sets the data directory.
	SnapshotDir string
}

// Vaults is the domain service the handlers call, one method per request.
// *vault.Service satisfies it. Methods return *vault.Error for refusals and
// any other error for internal failures.
type Vaults interface {
	Vault(ctx context.Context, name string) (vault.Vault, error)
	CreateKey(ctx context.Context, now time.Time, vault, name string, p vault.CreateParams) (vault.KeyVersion, error)
	ImportKey(ctx context.Context, now time.Time, vault, name string, p vault.ImportParams) (vault.KeyVersion, error)
	GetKey(ctx context.Context, now time.Time, ref vault.Ref) (vault.KeyVersion, error)
	UpdateKey(ctx context.Context, now time.Time, ref vault.Ref, p vault.UpdateParams) (vault.KeyVersion, error)
	ListKeys(ctx context.Context, vault, marker string, limit int) (vault.Page[vault.KeyVersion], error)
	ListVersions(ctx context.Context, vault, name, marker string, limit int) (vault.Page[vault.KeyVersion], error)
	DeleteKey(ctx context.Context, now time.Time, vault, name string) (vault.DeletedKey, error)
	GetDeletedKey(ctx context.Context, vault, name string) (vault.DeletedKey, error)
	ListDeletedKeys(ctx context.Context, vault, marker string, limit int) (vault.Page[vault.DeletedKey], error)
	RecoverKey(ctx context.Context, now time.Time, vault, name string) (vault.KeyVersion, error)
	PurgeKey(ctx context.Context, now time.Time, vault, name string) error
	BackupKey(ctx context.Context, vault, name string) ([]byte, error)
	RestoreKey(ctx context.Context, now time.Time, vault string, blob []byte) (vault.KeyVersion, error)
	RotateKey(ctx context.Context, now time.Time, vault, name string) (vault.KeyVersion, error)
	RotationPolicy(ctx context.Context, vault, name string) (vault.RotationPolicy, error)
	SetRotationPolicy(ctx context.Context, now time.Time, vault, name string, p vault.RotationPolicy) (vault.RotationPolicy, error)
	Encrypt(ctx context.Context, now time.Time, ref vault.Ref, op vault.Operation, in keys.CipherInput) (string, keys.CipherOutput, error)
	Decrypt(ctx context.Context, now time.Time, ref vault.Ref, op vault.Operation, in keys.CipherInput) (string, secret.Bytes, error)
	Sign(ctx context.Context, now time.Time, ref vault.Ref, alg keys.SignatureAlgorithm, digest []byte) (string, []byte, error)
	Verify(ctx context.Context, now time.Time, ref vault.Ref, alg keys.SignatureAlgorithm, digest, sig []byte) (string, bool, error)
	RandomBytes(count int) ([]byte, error)
}

// *vault.Service is the production implementation of Vaults.
var _ Vaults = (*vault.Service)(nil)

// ErrInvalidClient is wrapped by TokenAuthority.IssueToken errors caused by
// an unknown, disabled or wrongly authenticated client; the token endpoint
// answers them with OAuth's invalid_client.
var ErrInvalidClient = errors.New("api: invalid client credentials")

// TokenRequest is a client-credentials token request as the token endpoint
// received it. Exactly one of ClientSecret and ClientAssertion is set.
type TokenRequest struct {
	// ClientID and ClientSecret are the client's credentials.
	ClientID     string
	ClientSecret string
	// ClientAssertion is a JWT client assertion (RFC 7523, client assertion
	// type urn:ietf:params:oauth:client-assertion-type:jwt-bearer), signed
	// with the key of one of the client's certificates.
	ClientAssertion string
	// TokenEndpoint is the token endpoint URL as the client used it,
	// https://{host}/{tenant}/oauth2/v2.0/token: a client assertion's aud.
	TokenEndpoint string
	// Tenant is the served tenant id (as configured).
	Tenant string
	// Issuer is the issuer the token must carry:
	// https://{host the client used}/{tenant}/v2.0.
	Issuer string
	// Audience is the requested resource: the scope minus "/.default".
	Audience string
}

// String describes r without its secret or assertion.
func (r TokenRequest) String() string {
	return "TokenRequest{client_id=" + r.ClientID + " audience=" + r.Audience + " secret=[REDACTED] assertion=[REDACTED]}"
}

// GoString describes r without its secret or assertion.
func (r TokenRequest) GoString() string { return r.String() }

// LogValue describes r without its secret or assertion.
func (r TokenRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", r.ClientID), slog.String("audience", r.Audience))
}

// Caller is the authenticated identity behind a request.
type Caller struct {
	// Subject is the principal's object id (or the token's subject).
	Subject string
	// ClientID is the client application id, if the token names one.
	ClientID string
	// Groups are the group ids of the token's group claim, if any.
	Groups []string
	// Issuer is the token's issuer (iss).
	Issuer string
	// PrincipalIssuer is the issuer Subject and Groups are bound to in
	// role assignments (rbac.Subject.Issuer): rbac.BuiltinIssuer ("") for
	// the built-in issuer's tokens, whatever host their Issuer names, else
	// the trusted external issuer's configured URL.
	PrincipalIssuer string
	// TenantID is the token's tenant (tid), if it names one.
	TenantID string
}

// TokenAuthority issues and checks access tokens. Implementations are safe
// for concurrent use. cmd adapts the real issuer of internal/auth to it.
type TokenAuthority interface {
	// JWKS returns the public keys that sign access tokens.
	JWKS() jose.JSONWebKeySet
	// IssueToken authenticates the client and issues an access token,
	// returning it and its lifetime in seconds. Errors for bad credentials
	// wrap ErrInvalidClient; others are internal failures.
	IssueToken(ctx context.Context, now time.Time, req TokenRequest) (token string, expiresIn int, err error)
	// Verify checks a token's signature, lifetime, issuer and audience (via
	// the predicates) and returns its caller. Any error means the token is
	// not acceptable.
	Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (Caller, error)
}

// Deps are the Server's collaborators. Vaults and Tokens are required.
type Deps struct {
	// Vaults is the domain service.
	Vaults Vaults
	// Tokens issues and checks access tokens.
	Tokens TokenAuthority
	// Authorizer decides every data-plane request after authentication.
	// Nil refuses every data-plane request (fail closed) and turns the
	// administration API off (501); tests that need no roles pass
	// AllowAll.
	Authorizer Authorizer
	// VaultAdmin, Principals and Roles back the administration API
	// (/admin/v1/, admin.go); Roles also backs the Managed HSM RBAC API.
	// Each one nil: its part of those APIs answers 501.
	VaultAdmin VaultAdmin
	Principals Principals
	Roles      Roles
	// Snapshots backs GET /admin/v1/snapshot; nil: it answers 501.
	Snapshots Snapshots
	// RootKeys backs /admin/v1/rootKey; nil: it answers 501.
	RootKeys RootKeys
	// Audit writes one record per request and gates every request on
	// being able to (fail closed). Nil: no audit trail (tests only; cmd
	// always sets it).
	Audit Auditor
	// Observers are called with every request's record after it is
	// written and the response sent (metrics, alerts). They run on the
	// request's goroutine and must not block.
	Observers []func(RequestInfo)
	// AuditKeys is the JWKS served at GET /audit/v1/keys: the public keys
	// of the audit log's checkpoint signatures. Nil: that path answers 501.
	AuditKeys *jose.JSONWebKeySet
}

// Server serves the keys data plane and the authority endpoints. It is an
// http.Handler, safe for concurrent use.
type Server struct {
	cfg    Config
	vaults Vaults
	tokens TokenAuthority
	log    *slog.Logger
	now    func() time.Time
	routes []*route
	authz  Authorizer
	// roles backs the Managed HSM RBAC API; nil: that API answers 501.
	roles Roles
	// addressLimits (per vault and client address, before
	// authentication), vaultLimits and principalLimits (after it)
	// throttle requests; nil when disabled.
	addressLimits, vaultLimits, principalLimits *limiters
	// admin serves the administration API.
	admin *admin
	// auditor, observers and auditKeySet are Deps.Audit, Deps.Observers
	// and Deps.AuditKeys.
	auditor     Auditor
	observers   []func(RequestInfo)
	auditKeySet *jose.JSONWebKeySet
}

// New returns a Server for cfg and d, filling in Config defaults. It panics
// if d lacks a dependency or cfg.TenantID is empty: both are wiring bugs.
func New(cfg Config, d Deps) *Server {
	if d.Vaults == nil || d.Tokens == nil {
		panic("api: New needs Deps.Vaults and Deps.Tokens")
	}
	if cfg.TenantID == "" || !validTenant(cfg.TenantID) {
		panic("api: New needs a valid Config.TenantID")
	}
	if cfg.DNSSuffix == "" {
		cfg.DNSSuffix = "localhost"
	}
	cfg.DNSSuffix = strings.ToLower(strings.Trim(cfg.DNSSuffix, "."))
	if cfg.HSMDNSSuffix == "" {
		cfg.HSMDNSSuffix = "managedhsm." + cfg.DNSSuffix
	}
	cfg.HSMDNSSuffix = strings.ToLower(strings.Trim(cfg.HSMDNSSuffix, "."))
	if cfg.HSMDNSSuffix == cfg.DNSSuffix {
		panic("api: Config.HSMDNSSuffix must differ from Config.DNSSuffix")
	}
	cfg.DefaultVault = strings.ToLower(cfg.DefaultVault)
	if cfg.BareResource == "" {
		cfg.BareResource = "https://" + cfg.DNSSuffix
		if cfg.Port != 0 && cfg.Port != 443 {
			cfg.BareResource += ":" + strconv.Itoa(cfg.Port)
		}
	}
	cfg.BareResource = strings.TrimSuffix(cfg.BareResource, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{
		cfg:    cfg,
		vaults: d.Vaults,
		tokens: d.Tokens,
		log:    cfg.Logger,
		now:    cfg.Now,
		authz:  d.Authorizer,
		roles:  d.Roles,

		auditor:     d.Audit,
		observers:   d.Observers,
		auditKeySet: d.AuditKeys,
	}
	s.addressLimits, s.vaultLimits, s.principalLimits = cfg.Throttle.limiters()
	s.routes = s.routeTable()
	s.admin = s.newAdmin(d)
	return s
}

// ServeHTTP handles one request: request id, body limit, then either the
// authority endpoints and /healthz, or a vault route (vault resolution,
// network rules, client address throttle, authentication, vault and
// principal throttles,
// route, authorization, api-version, one domain call). The response is
// held until the request's audit record is written (audit.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &recorder{ResponseWriter: w, hold: s.auditor != nil}
	id := newRequestID()
	h := rw.Header()
	h.Set("x-ms-request-id", id)
	if c := r.Header.Get("x-ms-client-request-id"); c != "" && len(c) <= 256 {
		h.Set("x-ms-client-request-id", c)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)

	rq := &request{r: r, w: rw, id: id, origin: "https://" + r.Host}
	s.dispatch(rq)
	s.finish(rq, start)

	// Every request is in the audit trail; the operational log repeats it
	// at debug level, and at warn level for server errors.
	level := slog.LevelDebug
	if rw.status >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.Int("status", rw.status),
		slog.Duration("duration", time.Since(start)),
	}
	if rq.vault != "" {
		attrs = append(attrs, slog.String("vault", rq.vault))
	}
	if rq.caller.Subject != "" {
		attrs = append(attrs, slog.String("caller", rq.caller.Subject))
	}
	if rq.denial != "" {
		attrs = append(attrs, slog.String("denial", rq.denial))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// dispatch chooses between the authority endpoints and the vault routes.
func (s *Server) dispatch(rq *request) {
	path := rq.r.URL.EscapedPath()
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch first := strings.ToLower(segs[0]); {
	case first == "healthz" && len(segs) == 1:
		rq.kind = kindHealth
		s.healthz(rq)
		return
	case first == "keys" || first == "deletedkeys" || first == "rng":
	case isAuditKeysPath(segs):
		rq.kind = kindAuditKeys
		s.auditKeys(rq)
		return
	case len(segs) >= 2 && isAuthoritySegment(segs[1]):
		rq.kind = kindAuthority
		s.authority(rq, segs)
		return
	case first == "admin" && isAdminPath(segs):
		if _, _, named := s.vaultOfHost(rq.r.Host); !named {
			rq.kind = kindAdmin
			s.serveAdmin(rq, segs)
			return
		}
	}
	s.serveVault(rq, segs)
}

// serveVault runs the vault pipeline for a request whose path is split into
// segs.
func (s *Server) serveVault(rq *request, segs []string) {
	ctx := rq.r.Context()
	name, hsmHost, named := s.vaultOfHost(rq.r.Host)
	if !named {
		name = s.cfg.DefaultVault
		if name == "" {
			s.writeError(rq, &httpError{status: http.StatusNotFound, code: "VaultNotFound",
				msg: "No vault is served at this origin; address a vault by its host name, {vault}." + s.cfg.DNSSuffix + "."})
			return
		}
	}
	v, err := s.vaults.Vault(ctx, name)
	if err != nil {
		s.writeError(rq, err)
		return
	}
	switch {
	case named && hsmHost != (v.SKU == vault.ManagedHSM):
		// A managedhsm vault is served only at {name}.{HSMDNSSuffix}, any
		// other only at {name}.{DNSSuffix}: the other suffix names no vault.
		s.writeError(rq, &vault.Error{Kind: vault.ErrNotFound, Code: "VaultNotFound", Msg: "Vault " + name + " was not found."})
		return
	case !named && v.SKU == vault.ManagedHSM:
		// Managed HSM has no bare origin: its tokens carry its own resource.
		s.writeError(rq, &httpError{status: http.StatusNotFound, code: "VaultNotFound",
			msg: "No vault is served at this origin; address a managed HSM by its host name, {name}." + s.cfg.HSMDNSSuffix + "."})
		return
	}
	rq.vault, rq.sku = name, v.SKU
	if !s.checkNetwork(rq, v.Network) {
		return
	}
	addr, _ := s.callerAddr(rq)
	if !s.throttle(rq, s.addressLimits, "client address", name+"|"+addr.String()) {
		return
	}

	resource := s.cfg.BareResource
	if named {
		// As the client spelled it: azkeys compares host suffixes
		// case-sensitively. Audiences are compared case-insensitively.
		resource = "https://" + parentHost(rq.r.Host)
	}
	if !s.authenticate(rq, resource) {
		return
	}
	if !s.throttle(rq, s.vaultLimits, "vault", name) {
		return
	}
	if !s.throttle(rq, s.principalLimits, "principal", rq.caller.Issuer+"|"+rq.caller.Subject) {
		return
	}

	q := parseQuery(rq.r.URL.RawQuery)
	rq.query = q
	rt, params, status, err := s.matchRequest(rq, segs)
	if err != nil {
		s.writeError(rq, err)
		return
	}
	rq.name, rq.version = params.name, params.version
	if rt != nil {
		rq.op = rt.op
	}
	if rt != nil && !s.authorize(rq, rt) {
		return
	}
	raw := q.get("api-version")
	ver, ok := parseAPIVersion(raw)
	if !ok {
		s.writeError(rq, badAPIVersion(raw))
		return
	}
	rq.apiVersion, rq.apiRaw = ver, raw

	if rt == nil {
		if status == http.StatusMethodNotAllowed {
			s.writeError(rq, &httpError{status: status, code: "MethodNotAllowed", msg: "The HTTP method " + rq.r.Method + " is not allowed on this resource."})
		} else {
			s.writeError(rq, &httpError{status: http.StatusNotFound, code: "NotFound", msg: "The requested resource does not exist."})
		}
		return
	}
	if ver < rt.since {
		s.writeError(rq, badParameter("The operation %s is not supported with api-version %s; it needs api-version %s or later.", rt.actionFor(rq.sku), raw, rt.since))
		return
	}
	if rt.maxBody > 0 && rt.maxBody < s.cfg.MaxBodyBytes {
		rq.r.Body = http.MaxBytesReader(rq.w.ResponseWriter, rq.r.Body, rt.maxBody)
	}
	if !s.auditReady(rq) {
		return
	}
	rq.now = s.now()
	ctx, cancel := context.WithTimeout(ctx, rt.timeout)
	defer cancel()
	out, err := rt.handle(ctx, rq)
	if err != nil {
		s.writeError(rq, err)
		return
	}
	rq.answeredKID = resultKID(out)
	if out == nil {
		rq.w.WriteHeader(http.StatusNoContent)
		return
	}
	if c, ok := out.(created); ok {
		s.writeJSON(rq, http.StatusCreated, c.v)
		return
	}
	s.writeJSON(rq, http.StatusOK, out)
}

// authenticate checks the bearer token for resource and answers the 401
// challenge when it is missing or not acceptable. It reports whether the
// request may go on.
func (s *Server) authenticate(rq *request, resource string) bool {
	token, ok := bearerToken(rq.r.Header.Get("Authorization"))
	if !ok {
		rq.denial = "missing bearer token"
		s.challenge(rq, resource)
		return false
	}
	host := rq.r.Host
	validAudience := func(aud string) bool {
		return strings.EqualFold(strings.TrimSuffix(aud, "/"), resource)
	}
	validIssuer := func(iss string) bool { return s.validIssuer(iss, host) }
	caller, err := s.tokens.Verify(rq.r.Context(), s.now(), token, validIssuer, validAudience)
	if err != nil {
		rq.denial = "invalid token: " + err.Error()
		s.challenge(rq, resource)
		return false
	}
	rq.caller = caller
	return true
}

// challenge answers 401 with the WWW-Authenticate header the SDKs parse.
func (s *Server) challenge(rq *request, resource string) {
	rq.w.Header().Set("WWW-Authenticate", challengeHeader(rq.r.Host, s.cfg.TenantID, resource))
	s.writeError(rq, errUnauthorized)
}

// challengeHeader formats the bearer challenge: parameters separated by
// ", ", values without spaces or "=", the tenant as the single path segment.
func challengeHeader(host, tenant, resource string) string {
	return `Bearer authorization="https://` + host + "/" + tenant + `", resource="` + resource + `"`
}

// bearerToken extracts the token of an "Authorization: Bearer" header.
func bearerToken(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(h[len(prefix):])
	return t, t != ""
}

// validIssuer reports whether iss is this server's issuer as seen through
// one of its hosts: https://{host}/{tenant}/v2.0 where host is the request's
// host, a vault or managed HSM host or either suffix itself, localhost, an IP address, or the
// bare resource's host.
func (s *Server) validIssuer(iss, reqHost string) bool {
	rest, ok := strings.CutPrefix(iss, "https://")
	if !ok {
		return false
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || !strings.EqualFold(path, s.cfg.TenantID+"/v2.0") || host == "" {
		return false
	}
	if strings.EqualFold(host, reqHost) {
		return true
	}
	name := strings.ToLower(hostname(host))
	switch {
	case name == "localhost", s.underSuffix(name):
		return true
	case isIP(name):
		return true
	}
	bare := strings.TrimPrefix(s.cfg.BareResource, "https://")
	return strings.EqualFold(hostname(bare), name)
}

// request is the state of one request as it passes the pipeline.
type request struct {
	r          *http.Request
	w          *recorder
	id         string
	origin     string // "https://" + Host as sent
	vault      string
	sku        vault.SKU
	caller     Caller
	denial     string
	query      query
	apiVersion apiVersion
	apiRaw     string
	now        time.Time
	name       string // route parameter {name}, unescaped
	version    string // route parameter {version}, may be empty
	// hsmScope is the Managed HSM role scope of an RBAC API path: "/",
	// "/keys" or "/keys/{name}"; scopeKey is that {name}.
	hsmScope, scopeKey string
	// kind is kindVault, kindAdmin…; op the audit operation name of the
	// matched route; alg the algorithm of a crypto operation's body;
	// assignment the role assignment that granted the request; errCode
	// and innerCode the error codes answered; answeredKID the key id
	// answered.
	kind                int
	op, alg, assignment string
	errCode, innerCode  string
	answeredKID         string
	// addr is the client address (addrOK: it could be read), looked up
	// once by callerAddr for network rules, throttling and the audit.
	addr              netip.Addr
	addrOK, addrKnown bool
}

// callerAddr returns rq's client address (see clientAddr), computed once
// per request.
func (s *Server) callerAddr(rq *request) (netip.Addr, bool) {
	if !rq.addrKnown {
		rq.addr, rq.addrOK = s.clientAddr(rq.r)
		rq.addrKnown = true
	}
	return rq.addr, rq.addrOK
}

// ref names the route's key version.
func (rq *request) ref() vault.Ref {
	return vault.Ref{Vault: rq.vault, Name: rq.name, Version: rq.version}
}

// recorder remembers the status written, for the request log and the
// audit record. With hold set it keeps the response (status and body) until
// flush, so that a response is only sent once its audit record is written,
// and discard can replace it.
type recorder struct {
	http.ResponseWriter
	status int
	hold   bool
	body   []byte
	// stream, when set, is sent after the body by sendStream; discard
	// closes it unsent.
	stream *heldStream
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if !w.hold {
			w.ResponseWriter.WriteHeader(code)
		}
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.hold {
		w.body = append(w.body, b...)
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// discard drops a held response and its headers, keeping the request ids.
func (w *recorder) discard() {
	clear(w.body)
	w.body, w.status = w.body[:0], 0
	if w.stream != nil {
		w.stream.r.Close()
		w.stream = nil
	}
	h := w.Header()
	for k := range h {
		if k != "X-Ms-Request-Id" && k != "X-Ms-Client-Request-Id" {
			delete(h, k)
		}
	}
}

// flush sends a held response and clears its copy (it may hold a
// plaintext).
func (w *recorder) flush() {
	if !w.hold {
		return
	}
	w.hold = false
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(w.status)
	if len(w.body) > 0 {
		w.ResponseWriter.Write(w.body)
	}
	clear(w.body)
	w.body = nil
}

// sendStream sends the stream, if any, after flush.
func (w *recorder) sendStream() error {
	st := w.stream
	if st == nil {
		return nil
	}
	w.stream = nil
	return st.send(w.ResponseWriter)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newRequestID returns a random version-4 GUID.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
