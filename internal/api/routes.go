package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// route is one entry of the vault route table: method and path pattern, the
// body limit, timeout, the minimum api-version and the data action (as Azure
// RBAC names it, relative to Microsoft.KeyVault/vaults/) it will require
// once role-based access exists.
type route struct {
	method string
	// pattern is the path below the origin; segments are literals (matched
	// case-insensitively), {name} (non-empty, percent-decoded) or {version}
	// (may be empty: the current version).
	pattern string
	segs    []string
	// literals counts literal segments; more literals win.
	literals int
	action   string
	since    apiVersion
	maxBody  int64
	timeout  time.Duration
	handle   func(ctx context.Context, rq *request) (any, error)
}

// Route body limits.
const (
	noBody   = 64 << 10  // routes that take no body (it is ignored)
	jsonBody = 256 << 10 // routes that take a JSON document
	// anyBody leaves a route bounded by Config.MaxBodyBytes alone.
	anyBody = -1
)

const (
	defaultTimeout = 30 * time.Second
	longTimeout    = 2 * time.Minute // key generation, backup, restore
)

// routeTable returns the vault routes of s, most literal segments first.
func (s *Server) routeTable() []*route {
	rs := []*route{
		{method: http.MethodGet, pattern: "/keys", action: "keys/read", handle: s.listKeys},
		{method: http.MethodPost, pattern: "/keys/restore", action: "keys/restore/action", maxBody: anyBody, timeout: longTimeout, handle: s.restoreKey},
		{method: http.MethodPost, pattern: "/keys/{name}/create", action: "keys/create/action", maxBody: jsonBody, timeout: longTimeout, handle: s.createKey},
		{method: http.MethodPut, pattern: "/keys/{name}", action: "keys/import/action", maxBody: jsonBody, timeout: longTimeout, handle: s.importKey},
		{method: http.MethodGet, pattern: "/keys/{name}", action: "keys/read", handle: s.getKey},
		{method: http.MethodGet, pattern: "/keys/{name}/{version}", action: "keys/read", handle: s.getKey},
		{method: http.MethodPatch, pattern: "/keys/{name}", action: "keys/update/action", maxBody: jsonBody, handle: s.updateKey},
		{method: http.MethodPatch, pattern: "/keys/{name}/{version}", action: "keys/update/action", maxBody: jsonBody, handle: s.updateKey},
		{method: http.MethodDelete, pattern: "/keys/{name}", action: "keys/delete", handle: s.deleteKey},
		{method: http.MethodGet, pattern: "/keys/{name}/versions", action: "keys/read", handle: s.listVersions},
		{method: http.MethodPost, pattern: "/keys/{name}/backup", action: "keys/backup/action", timeout: longTimeout, handle: s.backupKey},
		{method: http.MethodPost, pattern: "/keys/{name}/rotate", action: "keys/rotate/action", since: v7_3, timeout: longTimeout, handle: s.rotateKey},
		{method: http.MethodGet, pattern: "/keys/{name}/rotationpolicy", action: "keyrotationpolicies/read", since: v7_3, handle: s.getRotationPolicy},
		{method: http.MethodPut, pattern: "/keys/{name}/rotationpolicy", action: "keyrotationpolicies/write", since: v7_3, maxBody: jsonBody, handle: s.setRotationPolicy},
		{method: http.MethodGet, pattern: "/deletedkeys", action: "keys/read", handle: s.listDeletedKeys},
		{method: http.MethodGet, pattern: "/deletedkeys/{name}", action: "keys/read", handle: s.getDeletedKey},
		{method: http.MethodDelete, pattern: "/deletedkeys/{name}", action: "keys/purge/action", handle: s.purgeDeletedKey},
		{method: http.MethodPost, pattern: "/deletedkeys/{name}/recover", action: "keys/recover/action", handle: s.recoverDeletedKey},
		{method: http.MethodPost, pattern: "/rng", action: "rng/action", since: v7_3, maxBody: jsonBody, handle: s.randomBytes},
	}
	// Operations on a version; the version segment may be absent or empty.
	ops := []struct {
		verb, action string
		since        apiVersion
		method       string
		handle       func(context.Context, *request) (any, error)
	}{
		{"encrypt", "keys/encrypt/action", 0, http.MethodPost, s.encrypt},
		{"decrypt", "keys/decrypt/action", 0, http.MethodPost, s.decrypt},
		{"wrapkey", "keys/wrap/action", 0, http.MethodPost, s.wrapKey},
		{"unwrapkey", "keys/unwrap/action", 0, http.MethodPost, s.unwrapKey},
		{"sign", "keys/sign/action", 0, http.MethodPost, s.sign},
		{"verify", "keys/verify/action", 0, http.MethodPost, s.verify},
		{"release", "keys/release/action", v7_3, http.MethodPost, s.release},
		{"attestation", "keys/read", v7_6, http.MethodGet, s.attestation},
	}
	for _, op := range ops {
		for _, p := range []string{"/keys/{name}/{version}/", "/keys/{name}/"} {
			rs = append(rs, &route{method: op.method, pattern: p + op.verb, action: op.action, since: op.since, maxBody: jsonBody, handle: op.handle})
		}
	}
	for _, r := range rs {
		r.segs = strings.Split(strings.TrimPrefix(r.pattern, "/"), "/")
		for _, seg := range r.segs {
			if !strings.HasPrefix(seg, "{") {
				r.literals++
			}
		}
		if r.maxBody == 0 {
			r.maxBody = noBody
		}
		if r.timeout == 0 {
			r.timeout = defaultTimeout
		}
	}
	slices.SortStableFunc(rs, func(a, b *route) int { return b.literals - a.literals })
	return rs
}

// routeParams are the decoded path parameters of a matched route.
type routeParams struct {
	name, version string
}

// match finds the route for method and the escaped path segments. A path
// ending in "/" that matches nothing is tried again without it. status is
// 404 or 405 (a route has the path but not the method) when rt is nil.
func (s *Server) match(method string, segs []string) (rt *route, p routeParams, status int) {
	pathFound := false
	for try := 0; try < 2; try++ {
		for _, r := range s.routes {
			p, ok := r.matchPath(segs)
			if !ok {
				continue
			}
			if r.method == method {
				return r, p, http.StatusOK
			}
			pathFound = true
		}
		if len(segs) < 2 || segs[len(segs)-1] != "" {
			break
		}
		segs = segs[:len(segs)-1]
	}
	if pathFound {
		return nil, routeParams{}, http.StatusMethodNotAllowed
	}
	return nil, routeParams{}, http.StatusNotFound
}

// matchPath matches escaped path segments against the route's pattern.
func (r *route) matchPath(segs []string) (routeParams, bool) {
	var p routeParams
	if len(segs) != len(r.segs) {
		return p, false
	}
	for i, want := range r.segs {
		got := segs[i]
		switch want {
		case "{name}":
			name, err := url.PathUnescape(got)
			if err != nil || name == "" {
				return p, false
			}
			p.name = name
		case "{version}":
			v, err := url.PathUnescape(got)
			if err != nil {
				return p, false
			}
			p.version = v
		default:
			if strings.IndexByte(got, '%') >= 0 {
				got, _ = url.PathUnescape(got)
			}
			if !strings.EqualFold(got, want) {
				return p, false
			}
		}
	}
	return p, true
}
