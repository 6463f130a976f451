package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// APIError is a failed call to the vault, the administration API or the
// token authority: the HTTP status and the error code and message of the
// response body. For SDK calls it wraps the SDK error (*azcore.ResponseError
// or *azidentity.AuthenticationFailedError), so errors.As still finds that;
// for administration API calls Err is nil.
type APIError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the Azure error code, such as KeyNotFound, or the OAuth error
	// of a token request, such as invalid_client.
	Code string
	// Message is the server's error message; it may be empty.
	Message string
	// Err is the SDK error, or nil.
	Err error
}

// Error returns "Code: Message (HTTP status)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Code == "" {
		b.WriteString(http.StatusText(e.StatusCode))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	return b.String()
}

// Unwrap returns the SDK error.
func (e *APIError) Unwrap() error { return e.Err }

// apiError turns the SDK's multi-line errors into an *APIError, prefixed with
// what was being done. Other errors are wrapped unchanged.
func apiError(what string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e := &APIError{StatusCode: re.StatusCode, Code: re.ErrorCode, Err: err}
		if re.RawResponse != nil {
			if body, perr := runtime.Payload(re.RawResponse); perr == nil {
				var doc struct {
					Error struct {
						Code    string `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if json.Unmarshal(body, &doc) == nil {
					if e.Code == "" {
						e.Code = doc.Error.Code
					}
					e.Message = doc.Error.Message
				}
			}
		}
		return fmt.Errorf("%s: %w", what, e)
	}
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) && ae.RawResponse != nil {
		e := &APIError{StatusCode: ae.RawResponse.StatusCode, Err: err}
		if body, perr := runtime.Payload(ae.RawResponse); perr == nil {
			var doc struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(body, &doc) == nil {
				e.Code = doc.Error
				e.Message = doc.Description
			}
		}
		return fmt.Errorf("%s: authenticate: %w", what, e)
	}
	return fmt.Errorf("%s: %w", what, err)
}
