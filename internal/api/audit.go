package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RequestInfo is one request as the audit trail records it: exactly one
// per request, allowed or refused. It never holds key material,
// plaintext, ciphertext, digests, signatures, tokens or client secrets.
type RequestInfo struct {
	// Time is when the request arrived.
	Time time.Time
	// RequestID is the x-ms-request-id answered; CorrelationID the client's
	// x-ms-client-request-id.
	RequestID, CorrelationID string
	// OperationName is Azure's audit name of the operation (KeyCreate,
	// KeySign, Authentication, VaultPut…), "Unknown" for a path no route
	// serves.
	OperationName string
	// OperationVersion is the api-version the client sent.
	OperationVersion string
	// Method is the HTTP method.
	Method string
	// RequestURI is https://{host}{path} with only the api-version and
	// maxresults query parameters.
	RequestURI string
	// Vault, Key and Version are what the request named (Version is filled
	// from the kid answered when the request named none); Algorithm is the
	// alg of a cryptographic operation's body.
	Vault, Key, Version, Algorithm string
	// Status is the HTTP status answered.
	Status int
	// ResultType is "Success" for 2xx and "Failure" otherwise;
	// ResultSignature is the status text without spaces ("OK",
	// "Unauthorized", "TooManyRequests").
	ResultType, ResultSignature string
	// ErrorCode and InnerCode are the Azure (or OAuth) error codes of a
	// refusal.
	ErrorCode, InnerCode string
	// Duration is the time spent serving the request.
	Duration time.Duration
	// CallerIP is the client address (through trusted proxies).
	CallerIP string
	// ObjectID, AppID, TenantID and Issuer identify the authenticated
	// caller; for a token request, AppID is the client id it named.
	ObjectID, AppID, TenantID, Issuer string
	// AssignmentID is the role assignment that granted the request.
	AssignmentID string
	// UserAgent is the client's User-Agent.
	UserAgent string
	// ID is the key id (kid) answered, if any.
	ID string
}

// Auditor writes the audit trail. Implementations are safe for concurrent
// use.
type Auditor interface {
	// Ready reports whether records can be written now. The Server calls
	// it before any domain work (and before issuing a token) and answers
	// 503 when it fails, so nothing is performed unaudited.
	Ready() error
	// Record durably writes info. The Server calls it before sending the
	// response; when it fails the response is replaced by a 503, so no
	// result (a decrypted plaintext, a signature) leaves unaudited.
	Record(ctx context.Context, info RequestInfo) error
}

// errAuditUnavailable answers requests while the audit trail cannot be
// written.
var errAuditUnavailable = &httpError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", inner: "AuditUnavailable",
	msg: "The audit log cannot be written; the request was not performed. Retry later."}

// auditReady refuses the request with 503 when the audit trail cannot be
// written. It reports whether the request may go on.
func (s *Server) auditReady(rq *request) bool {
	if s.auditor == nil {
		return true
	}
	err := s.auditor.Ready()
	if err == nil {
		return true
	}
	rq.denial = "audit unavailable: " + err.Error()
	if rq.kind == kindAuthority {
		rq.w.Header().Set("Retry-After", "5")
		s.writeOAuthError(rq, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "The audit log cannot be written; retry later."})
		return false
	}
	s.writeError(rq, errAuditUnavailable)
	return false
}

// Request kinds, for the operation name and the error format.
const (
	kindVault = iota
	kindAdmin
	kindAuthority
	kindAuditKeys
	kindHealth
)

// finish records rq and sends its held response, or a 503 instead when the
// record cannot be written; then it tells the observers.
func (s *Server) finish(rq *request, start time.Time) RequestInfo {
	rw := rq.w
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	info := s.requestInfo(rq, start)
	if s.auditor != nil && rq.kind != kindHealth {
		if err := s.auditor.Record(rq.r.Context(), info); err != nil {
			s.log.LogAttrs(rq.r.Context(), slog.LevelError, "audit record not written; answering 503",
				slog.String("request_id", rq.id), slog.String("operation", info.OperationName), slog.String("error", err.Error()))
			rw.discard()
			rq.errCode, rq.innerCode = "", ""
			if rq.kind == kindAuthority {
				rw.Header().Set("Retry-After", "5")
				s.writeOAuthError(rq, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "The audit log cannot be written; retry later."})
			} else {
				s.writeError(rq, errAuditUnavailable)
			}
			info.Status, info.ResultType, info.ResultSignature = rw.status, "Failure", resultSignature(rw.status)
			info.ErrorCode, info.InnerCode, info.ID = rq.errCode, rq.innerCode, ""
		}
	}
	rw.flush()
	if err := rw.sendStream(); err != nil {
		s.log.LogAttrs(rq.r.Context(), slog.LevelWarn, "response body not sent in full",
			slog.String("request_id", rq.id), slog.String("operation", info.OperationName), slog.String("error", err.Error()))
	}
	for _, o := range s.observers {
		o(info)
	}
	return info
}

// requestInfo builds the audit record of rq.
func (s *Server) requestInfo(rq *request, start time.Time) RequestInfo {
	r := rq.r
	info := RequestInfo{
		Time:             start.UTC(),
		RequestID:        rq.id,
		CorrelationID:    rq.w.Header().Get("x-ms-client-request-id"),
		OperationName:    s.operationName(rq),
		OperationVersion: rq.apiRaw,
		Method:           r.Method,
		RequestURI:       auditURI(rq),
		Vault:            rq.vault,
		Key:              rq.name,
		Version:          rq.version,
		Algorithm:        rq.alg,
		Status:           rq.w.status,
		ResultType:       "Failure",
		ResultSignature:  resultSignature(rq.w.status),
		ErrorCode:        rq.errCode,
		InnerCode:        rq.innerCode,
		Duration:         time.Since(start),
		ObjectID:         rq.caller.Subject,
		AppID:            rq.caller.ClientID,
		TenantID:         rq.caller.TenantID,
		Issuer:           rq.caller.Issuer,
		AssignmentID:     rq.assignment,
		UserAgent:        truncate(r.UserAgent(), 256),
		ID:               rq.answeredKID,
	}
	if info.OperationVersion == "" {
		info.OperationVersion = truncate(r.URL.Query().Get("api-version"), 32)
	}
	if rq.w.status >= 200 && rq.w.status < 300 {
		info.ResultType = "Success"
	}
	if addr, ok := s.callerAddr(rq); ok {
		info.CallerIP = addr.String()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		info.CallerIP = host
	}
	if rq.answeredKID != "" {
		// The kid names the version used and, on restore, the key.
		if u, err := url.Parse(rq.answeredKID); err == nil {
			if segs := strings.Split(strings.Trim(u.Path, "/"), "/"); len(segs) == 3 && segs[0] == "keys" {
				if info.Key == "" {
					info.Key, _ = url.PathUnescape(segs[1])
				}
				if info.Version == "" {
					info.Version = segs[2]
				}
			}
		}
	}
	if rq.kind == kindAuthority && info.AppID == "" && r.PostForm != nil {
		// The client id the token request named: never its secret or
		// assertion.
		info.AppID = truncate(r.PostForm.Get("client_id"), 128)
		if info.AppID == "" {
			if id, _, ok := r.BasicAuth(); ok {
				info.AppID = truncate(id, 128)
			}
		}
		info.TenantID = s.cfg.TenantID
	}
	return info
}

// resultSignature is Azure's resultSignature: the status text without
// spaces.
func resultSignature(status int) string {
	t := http.StatusText(status)
	if t == "" {
		return "Status" + strconv.Itoa(status)
	}
	return statusTextSquasher.Replace(t)
}

// statusTextSquasher removes spaces and dashes; a strings.Replacer is
// immutable and safe for concurrent use, and building one per request cost
// a quarter of the server's allocations.
var statusTextSquasher = strings.NewReplacer(" ", "", "-", "")

// auditURI is the request URL with only the api-version and maxresults
// query parameters: $skiptoken and anything else is left out.
func auditURI(rq *request) string {
	u := "https://" + rq.r.Host + rq.r.URL.EscapedPath()
	q := rq.r.URL.Query()
	var params []string
	for _, k := range []string{"api-version", "maxresults"} {
		if v := q.Get(k); v != "" {
			params = append(params, k+"="+url.QueryEscape(truncate(v, 32)))
		}
	}
	if len(params) > 0 {
		u += "?" + strings.Join(params, "&")
	}
	return truncate(u, 2048)
}

// operationName names rq's operation as Azure's audit log does.
func (s *Server) operationName(rq *request) string {
	if rq.op != "" {
		return rq.op
	}
	segs := strings.Split(strings.TrimPrefix(rq.r.URL.EscapedPath(), "/"), "/")
	switch rq.kind {
	case kindAuthority:
		return "Authentication"
	case kindAuditKeys:
		return "AuditKeysGet"
	case kindAdmin:
		if rt, _, _ := s.admin.match(rq.r.Method, segs); rt != nil {
			return adminOperation(rt.method, rt.pattern)
		}
	case kindVault:
		// Refused before routing (401, 403 by firewall, 429): name the
		// route the path would have taken.
		if i := rbacProviderIndex(segs); i >= 0 {
			segs = segs[i:]
		}
		if rt, p, _ := s.match(rq.r.Method, segs); rt != nil {
			if rq.name == "" {
				rq.name = p.name
			}
			if rq.version == "" {
				rq.version = p.version
			}
			return rt.op
		}
	}
	return "Unknown"
}

// adminOperation names an administration route: VaultList, VaultPut,
// PrincipalCreate, RoleAssignmentPut…
func adminOperation(method, pattern string) string {
	rest := strings.TrimPrefix(pattern, adminPrefix+"/")
	segs := strings.Split(rest, "/")
	item := len(segs)%2 == 0 // ends in a {param}
	var noun string
	switch segs[0] {
	case "vaults":
		noun = "Vault"
	case "principals":
		noun = "Principal"
		if len(segs) >= 3 {
			noun, item = "PrincipalCredential", len(segs) == 4
		}
	case "roleDefinitions":
		noun = "RoleDefinition"
	case "roleAssignments":
		noun = "RoleAssignment"
	case "openapi.json":
		return "AdminOpenAPIGet"
	case "snapshot":
		return "StoreSnapshotGet"
	case "rootKey":
		if len(segs) == 2 {
			return "RootKeyRotate"
		}
		return "RootKeyGet"
	default:
		noun = "Admin" + strings.ToUpper(segs[0][:1]) + segs[0][1:]
	}
	switch method {
	case http.MethodGet:
		if item {
			return noun + "Get"
		}
		return noun + "List"
	case http.MethodPost:
		if noun == "Principal" || noun == "PrincipalCredential" {
			return noun + "Create"
		}
		return noun + "Put"
	case http.MethodPut:
		return noun + "Put"
	case http.MethodPatch:
		return noun + "Patch"
	case http.MethodDelete:
		return noun + "Delete"
	}
	return noun + method
}

// auditKeys serves GET /audit/v1/keys: the public keys that sign the audit
// log's checkpoints, as a JWKS. No authentication: they are public.
func (s *Server) auditKeys(rq *request) {
	if m := rq.r.Method; m != http.MethodGet && m != http.MethodHead {
		s.writeError(rq, &httpError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", msg: "The HTTP method " + m + " is not allowed on this resource."})
		return
	}
	if s.auditKeySet == nil {
		s.writeError(rq, notSupported("This server has no audit signing key."))
		return
	}
	rq.w.Header().Set("Cache-Control", "public, max-age=300")
	s.writeJSON(rq, http.StatusOK, s.auditKeySet)
}

// isAuditKeysPath reports whether escaped path segments are /audit/v1/keys.
func isAuditKeysPath(segs []string) bool {
	return len(segs) == 3 && strings.EqualFold(segs[0], "audit") && strings.EqualFold(segs[1], "v1") && strings.EqualFold(segs[2], "keys")
}

// resultKID returns the key id a handler result answers, if any.
func resultKID(out any) string {
	switch v := out.(type) {
	case KeyBundle:
		if v.Key != nil {
			return v.Key.KID
		}
	case DeletedKeyBundle:
		if v.Key != nil {
			return v.Key.KID
		}
	case KeyOperationResult:
		return v.KID
	case plaintextResult:
		return v.KID
	}
	return ""
}
