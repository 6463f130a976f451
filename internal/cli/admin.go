package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"
)

// adminPrefix is the path of the administration API under the bare origin.
const adminPrefix = "/admin/v1/"

// maxAdminResponse bounds the bytes read from one admin API response.
const maxAdminResponse = 16 << 20

// adminClient calls the Keywarden administration API (docs/admin-api.md):
// plain JSON over HTTPS at the server's bare origin, authorised with a bearer
// token of the configured credential. Like the Azure SDKs, it learns the
// token's resource from the server: its first request goes without a token,
// and the `resource` of the 401 WWW-Authenticate challenge, plus
// "/.default", is the scope the token is requested for.
type adminClient struct {
	hc     *http.Client
	origin string
	cred   azcore.TokenCredential
	// probed reports whether the challenge has been read; token is the
	// bearer token, empty when the server asked for none.
	probed bool
	token  string
}

// adminCmd is the state shared by the principal, role and vault commands.
type adminCmd struct {
	env    Env
	conn   connFlags
	output string
}

// newAdminCmd registers the connection and output flags on cmd.
func newAdminCmd(env Env, cmd *cobra.Command) *adminCmd {
	c := &adminCmd{env: env.withDefaults()}
	cmd.SetOut(c.env.Stdout)
	cmd.SetErr(c.env.Stderr)
	c.conn.registerAdmin(cmd)
	registerOutput(cmd, &c.output)
	return c
}

// start resolves the output format and the connection settings and builds
// the admin client. No request is sent yet.
func (c *adminCmd) start(cmd *cobra.Command) (printer, *adminClient, error) {
	format, err := parseOutput(c.output)
	if err != nil {
		return printer{}, nil, err
	}
	if f := cmd.Flag("env-file"); f != nil {
		c.conn.envFileSet = f.Changed
	}
	s, err := resolveSettings(c.conn, c.env.Getenv, os.ReadFile)
	if err != nil {
		return printer{}, nil, err
	}
	origin, err := s.adminOrigin()
	if err != nil {
		return printer{}, nil, err
	}
	hc, err := newHTTPClient(s.caCert, 2)
	if err != nil {
		return printer{}, nil, err
	}
	cred, err := newCredential(s, hc)
	if err != nil {
		return printer{}, nil, err
	}
	return printer{w: c.env.Stdout, format: format}, &adminClient{hc: hc, origin: origin, cred: cred}, nil
}

// adminPath joins escaped path segments under adminPrefix.
func adminPath(segments ...string) string {
	esc := make([]string, len(segments))
	for i, s := range segments {
		esc[i] = url.PathEscape(s)
	}
	return adminPrefix + strings.Join(esc, "/")
}

// do sends one request: method to path (from adminPath) with the query, in
// as the JSON body if not nil, and decodes a 2xx JSON answer into out if not
// nil. A non-2xx answer is an *APIError; what prefixes every error.
func (c *adminClient) do(ctx context.Context, what, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	resp, err := c.open(ctx, what, method, path, query, body)
	if err != nil {
		return err
	}
	defer drain(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", what, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %w", what, newAdminAPIError(resp.StatusCode, data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// The decoder's error names a type or a character, never the body,
		// which may hold a new client secret.
		return fmt.Errorf("%s: decode response (HTTP %d): %w", what, resp.StatusCode, err)
	}
	return nil
}

// open sends one request, first probing for the token's resource if no
// request has yet, and returns the response of any status; the caller
// closes its body. what prefixes every error.
func (c *adminClient) open(ctx context.Context, what, method, path string, query url.Values, body []byte) (*http.Response, error) {
	target := c.origin + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var resp *http.Response
	if !c.probed {
		// The probe is the request itself when it is a GET, else a GET of
		// the vault list, which every server answers the same way.
		probe := target
		if method != http.MethodGet {
			probe = c.origin + adminPrefix + "vaults"
		}
		r, err := c.send(ctx, http.MethodGet, probe, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if r.StatusCode == http.StatusUnauthorized {
			resource, err := challengeResource(r.Header.Values("WWW-Authenticate"))
			drain(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			scope := resource
			if !strings.HasSuffix(scope, "/.default") {
				scope += "/.default"
			}
			tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil {
				return nil, apiError(what, err)
			}
			c.token = tok.Token
		} else if method == http.MethodGet {
			resp = r // the server wants no token: this is the answer
		} else {
			drain(r)
		}
		c.probed = true
	}
	if resp == nil {
		r, err := c.send(ctx, method, target, body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		resp = r
	}
	return resp, nil
}

// send issues one request with the bearer token, if any.
func (c *adminClient) send(ctx context.Context, method, target string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "keywarden-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.hc.Do(req)
}

func drain(r *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	r.Body.Close()
}

// newAdminAPIError builds the *APIError of a failed admin call from the
// Azure error body {"error":{"code","message"}}. A body that is not one
// contributes at most its first line, if short and printable.
func newAdminAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Code != "" {
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
		return e
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	line = strings.TrimSpace(line)
	if len(line) <= 200 && strings.IndexFunc(line, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		e.Message = line
	}
	return e
}

// challengeResource returns the resource of a Bearer WWW-Authenticate
// challenge, such as
//
//	Bearer authorization="https://127.0.0.1:8443/tenant", resource="https://localhost:8443"
//
// or its scope parameter if it has no resource.
func challengeResource(headers []string) (string, error) {
	for _, h := range headers {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		params := parseAuthParams(rest)
		for _, name := range []string{"resource", "scope"} {
			if v := params[name]; v != "" {
				return v, nil
			}
		}
	}
	if len(headers) == 0 {
		return "", errors.New("401 without a WWW-Authenticate challenge")
	}
	return "", errors.New("401 challenge names no resource")
}

// parseAuthParams parses the auth-params of a challenge: name=value or
// name="quoted value", separated by commas or spaces. Names are lower-cased.
func parseAuthParams(s string) map[string]string {
	params := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			value, s = b.String(), s[min(i+1, len(s)):]
		} else {
			end := strings.IndexAny(s, " \t,")
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
		}
		params[name] = value
	}
	return params
}
