package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/vault"
)

// This file is the one place where errors become HTTP answers: domain
// refusals (*vault.Error), refusals of this layer (*httpError), oversize
// bodies, and everything else as a logged 500 with a generic message.

// httpError is a refusal decided by this layer: a status, Azure's error code,
// an optional inner code and a client-safe message.
type httpError struct {
	status int
	code   string
	inner  string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// badParameter returns a 400 BadParameter refusal. The message must never
// hold secret input.
func badParameter(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: "BadParameter", msg: fmt.Sprintf(format, args...)}
}

// notSupported returns the refusal of a capability this server does not
// have yet: 501 with code BadParameter (so no SDK retries it).
func notSupported(format string, args ...any) error {
	return &httpError{status: http.StatusNotImplemented, code: "BadParameter", msg: fmt.Sprintf(format, args...)}
}

// badAPIVersion refuses a missing or unknown api-version.
func badAPIVersion(raw string) error {
	if raw == "" {
		return badParameter("The api-version query parameter is required.")
	}
	return badParameter("The specified version (%s) is not recognized. Consider using one of the supported versions: 7.0 to 7.6, 2016-10-01, 2025-06-01, 2025-07-01.", truncate(raw, 32))
}

// errUnauthorized is the body of every 401 of a vault route.
var errUnauthorized = &httpError{status: http.StatusUnauthorized, code: "Unauthorized", msg: "AKV10000: Request is missing a Bearer or PoP token."}

// errorBody is Azure's KeyVaultError.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is Azure's Error object.
type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innererror,omitempty"`
}

// innerError is Azure's nested error code.
type innerError struct {
	Code string `json:"code"`
}

// errorStatus maps err to a status, Azure code, inner code and message, and
// whether it is an internal failure whose detail must only be logged.
func errorStatus(err error) (status int, code, inner, msg string, internal bool) {
	var ve *vault.Error
	var he *httpError
	var ie *keys.InputError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.inner, he.msg, false
	case errors.As(err, &ve):
		switch {
		case errors.Is(ve.Kind, vault.ErrNotFound):
			if ve.Code == "VaultNotFound" {
				return http.StatusNotFound, "VaultNotFound", "", ve.Msg, false
			}
			return http.StatusNotFound, "KeyNotFound", ve.Code, ve.Msg, false
		case errors.Is(ve.Kind, vault.ErrConflict):
			return http.StatusConflict, "Conflict", ve.Code, ve.Msg, false
		case errors.Is(ve.Kind, vault.ErrForbidden):
			return http.StatusForbidden, "Forbidden", ve.Code, ve.Msg, false
		case errors.Is(ve.Kind, vault.ErrInvalid):
			return http.StatusBadRequest, "BadParameter", ve.Code, ve.Msg, false
		case errors.Is(ve.Kind, vault.ErrUnavailable):
			return http.StatusServiceUnavailable, "ServiceUnavailable", ve.Code, ve.Msg, false
		}
	case errors.Is(err, rbac.ErrNotFound):
		return http.StatusNotFound, "NotFound", "", rbacMessage(err), false
	case errors.Is(err, rbac.ErrInvalid):
		return http.StatusBadRequest, "BadParameter", "", rbacMessage(err), false
	case errors.Is(err, rbac.ErrConflict):
		return http.StatusConflict, "Conflict", "", rbacMessage(err), false
	case errors.Is(err, rootkey.ErrRotating):
		return http.StatusConflict, "Conflict", "", "A root key rotation is already running; wait until GET /admin/v1/rootKey shows state idle.", false
	case errors.Is(err, auth.ErrPrincipalNotFound):
		return http.StatusNotFound, "NotFound", "", "The principal was not found.", false
	case errors.Is(err, auth.ErrCredentialNotFound):
		return http.StatusNotFound, "NotFound", "", "The principal holds no credential with that id.", false
	case errors.Is(err, auth.ErrInvalidArgument):
		// Its text names the refused argument, never a secret.
		return http.StatusBadRequest, "BadParameter", "", truncate(strings.TrimPrefix(err.Error(), "auth: "), 512), false
	case errors.As(err, &ie):
		// The domain should wrap these; answer them as bad input anyway.
		return http.StatusBadRequest, "BadParameter", "", ie.Msg, false
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "BadParameter", "", "The request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes.", false
	case errors.Is(err, keys.ErrUnavailable):
		return http.StatusServiceUnavailable, "ServiceUnavailable", "", "The key provider is unavailable; retry later.", false
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "ServiceUnavailable", "", "The operation timed out; retry later.", true
	}
	return http.StatusInternalServerError, "InternalServerError", "", "The server encountered an internal error. Quote the x-ms-request-id header when reporting it.", true
}

// rbacMessage is the client message of a refusal of the role store: its
// text, which names only roles, assignments and scopes, without the
// package prefix.
func rbacMessage(err error) string {
	return truncate(strings.TrimPrefix(err.Error(), "rbac: "), 512)
}

// writeError answers err as an Azure error body, logging internal failures
// with the request id.
func (s *Server) writeError(rq *request, err error) {
	status, code, inner, msg, internal := errorStatus(err)
	rq.errCode, rq.innerCode = code, inner
	if internal {
		s.log.LogAttrs(rq.r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", rq.id), slog.String("method", rq.r.Method),
			slog.String("path", rq.r.URL.Path), slog.String("error", err.Error()))
	}
	if status == http.StatusServiceUnavailable {
		rq.w.Header().Set("Retry-After", "5")
	}
	body := errorBody{Error: errorDetail{Code: code, Message: msg}}
	if inner != "" {
		body.Error.InnerError = &innerError{Code: inner}
	}
	s.writeJSON(rq, status, body)
}

// oauthError is an OAuth 2.0 error response (RFC 6749 §5.2).
type oauthError struct {
	status int
	code   string // invalid_request, invalid_client, unsupported_grant_type, invalid_scope, server_error
	desc   string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

// writeOAuthError answers err in the token endpoint's error format; errors
// other than *oauthError become a logged server_error.
func (s *Server) writeOAuthError(rq *request, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		s.log.LogAttrs(rq.r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", rq.id), slog.String("path", rq.r.URL.Path), slog.String("error", err.Error()))
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "The server encountered an internal error."}
	}
	rq.errCode = oe.code
	rq.w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(rq, oe.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{oe.code, oe.desc})
}

// writeJSON encodes v with status. Encoding failures of our own wire types
// are bugs; they are logged and answered 500 when nothing was sent yet.
func (s *Server) writeJSON(rq *request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.LogAttrs(rq.r.Context(), slog.LevelError, "encode response",
			slog.String("request_id", rq.id), slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalServerError","message":"The server could not encode its response."}}`)
	}
	h := rq.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	rq.w.WriteHeader(status)
	rq.w.Write(b)
}

// truncate shortens client input quoted in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
