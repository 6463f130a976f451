package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		status      int
		code, inner string
		internal    bool
	}{
		{"not found", &vault.Error{Kind: vault.ErrNotFound, Msg: "A key with (name/id) k was not found"}, 404, "KeyNotFound", "", false},
		{"vault not found", &vault.Error{Kind: vault.ErrNotFound, Code: "VaultNotFound", Msg: "Vault x was not found."}, 404, "VaultNotFound", "", false},
		{"conflict", &vault.Error{Kind: vault.ErrConflict, Code: "ObjectIsDeletedButRecoverable", Msg: "deleted"}, 409, "Conflict", "ObjectIsDeletedButRecoverable", false},
		{"forbidden", &vault.Error{Kind: vault.ErrForbidden, Code: "KeyDisabled", Msg: "disabled"}, 403, "Forbidden", "KeyDisabled", false},
		{"invalid", &vault.Error{Kind: vault.ErrInvalid, Code: "KeyTypeNotSupported", Msg: "bad kty"}, 400, "BadParameter", "KeyTypeNotSupported", false},
		{"unavailable", &vault.Error{Kind: vault.ErrUnavailable, Msg: "hsm down"}, 503, "ServiceUnavailable", "", false},
		{"wrapped domain error", fmt.Errorf("ctx: %w", &vault.Error{Kind: vault.ErrForbidden, Msg: "x"}), 403, "Forbidden", "", false},
		{"input error", &keys.InputError{Msg: "digest length"}, 400, "BadParameter", "", false},
		{"provider unavailable", fmt.Errorf("x: %w", keys.ErrUnavailable), 503, "ServiceUnavailable", "", false},
		{"oversize", &http.MaxBytesError{Limit: 10}, 413, "BadParameter", "", false},
		{"layer refusal", badParameter("nope"), 400, "BadParameter", "", false},
		{"timeout", context.DeadlineExceeded, 503, "ServiceUnavailable", "", true},
		{"internal", errors.New("disk on fire: /var/secret"), 500, "InternalServerError", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, inner, msg, internal := errorStatus(tt.err)
			if status != tt.status || code != tt.code || inner != tt.inner || internal != tt.internal {
				t.Errorf("errorStatus(%v) = %d %q %q internal=%v, want %d %q %q internal=%v", tt.err, status, code, inner, internal, tt.status, tt.code, tt.inner, tt.internal)
			}
			if tt.internal && strings.Contains(msg, "disk") {
				t.Errorf("errorStatus(%v) message %q leaks the internal detail", tt.err, msg)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter bool
	}{
		{"inner code", &vault.Error{Kind: vault.ErrForbidden, Code: "KeyOperationForbidden", Msg: "Operation sign is not permitted on this key."}, 403,
			`{"error":{"code":"Forbidden","message":"Operation sign is not permitted on this key.","innererror":{"code":"KeyOperationForbidden"}}}`, false},
		{"no inner code", &vault.Error{Kind: vault.ErrNotFound, Msg: "gone"}, 404,
			`{"error":{"code":"KeyNotFound","message":"gone"}}`, false},
		{"unavailable", &vault.Error{Kind: vault.ErrUnavailable, Msg: "busy"}, 503,
			`{"error":{"code":"ServiceUnavailable","message":"busy"}}`, true},
		{"internal", errors.New("boom"), 500,
			`{"error":{"code":"InternalServerError","message":"The server encountered an internal error. Quote the x-ms-request-id header when reporting it."}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t)
			f.err = tt.err
			w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
			if w.Code != tt.status {
				t.Errorf("GET with %v = %d, want %d", tt.err, w.Code, tt.status)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("GET with %v body = %s, want %s", tt.err, got, tt.body)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tt.retryAfter {
				t.Errorf("GET with %v Retry-After present = %v, want %v", tt.err, got, tt.retryAfter)
			}
		})
	}
}

func TestBadJSON(t *testing.T) {
	secretish := "c2VjcmV0LXBsYWludGV4dC1kYXRh"
	tests := []struct {
		name, target, body string
	}{
		{"syntax", "/keys/k1//encrypt?api-version=7.5", `{"alg":"RSA-OAEP","value":"` + secretish + `"`},
		{"type", "/keys/k1//encrypt?api-version=7.5", `{"alg":1,"value":"` + secretish + `"}`},
		{"base64", "/keys/k1//encrypt?api-version=7.5", `{"alg":"RSA-OAEP","value":"` + secretish + `!!"}`},
		{"missing body", "/keys/k1/create?api-version=7.5", ``},
		{"missing alg", "/keys/k1//sign?api-version=7.5", `{"value":"AAAA"}`},
		{"missing value", "/keys/k1//sign?api-version=7.5", `{"alg":"RS256"}`},
		{"bad kty", "/keys/k1/create?api-version=7.5", `{"kty":"DSA"}`},
		{"rng count", "/rng?api-version=7.5", `{"count":129}`},
		{"trailing garbage", "/keys/k1//sign?api-version=7.5", `{"alg":"RS256","value":"AAAA"} x`},
		{"restore without value", "/keys/restore?api-version=7.5", `{}`},
		{"import without key", "/keys/k1?api-version=7.5", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t)
			method := "POST"
			if tt.name == "import without key" {
				method = "PUT"
			}
			w := do(s, method, namedHost, tt.target, namedToken, tt.body)
			if w.Code != http.StatusBadRequest || errorCode(t, w) != "BadParameter" {
				t.Fatalf("%s %s = %d %s, want 400 BadParameter", method, tt.target, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), secretish) {
				t.Errorf("error body %s echoes the request's value", w.Body)
			}
			if got := f.last(); got != (call{}) {
				t.Errorf("domain called with bad input: %+v", got)
			}
		})
	}
}

func TestBadJSONNamesProperty(t *testing.T) {
	err := decodeJSON([]byte(`{"kty":"RSA","key_size":"big"}`), new(KeyCreateParameters))
	var he *httpError
	if !errors.As(err, &he) || !strings.Contains(he.msg, "key_size") {
		t.Errorf("decodeJSON(key_size string) = %v, want a BadParameter naming key_size", err)
	}
	// An error raised inside a field's UnmarshalJSON must survive as ours.
	err = decodeJSON([]byte(`{"value":"!!"}`), new(KeyRestoreParameters))
	if diff := cmp.Diff(errBase64.msg, err.Error()); diff != "" || !errors.As(err, &he) {
		t.Errorf("decodeJSON(bad base64) = %v, want errBase64", err)
	}
	// json.Unmarshal keeps our error type through nested values.
	var v struct{ A []KeyOperationsParameters }
	if err := json.Unmarshal([]byte(`{"A":[{"value":"!"}]}`), &v); !errors.As(err, &he) {
		t.Errorf("json.Unmarshal(nested bad base64) = %v, want *httpError", err)
	}
}
