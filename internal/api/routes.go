package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/vault"
)

// route is one entry of the vault route table: method and path pattern, the
// body limit, timeout, the minimum api-version and the data actions (as
// Azure RBAC names them) the caller needs on a vault and on a managedhsm
// vault.
type route struct {
	method string
	// pattern is the path below the origin; segments are literals (matched
	// case-insensitively), {name} (non-empty, percent-decoded) or {version}
	// (may be empty: the current version).
	pattern string
	segs    []string
	// literals counts literal segments; more literals win.
	literals int
	// action is the data action required on a standard or premium vault,
	// e.g. "Microsoft.KeyVault/vaults/keys/read". Empty: the route is
	// served on managedhsm vaults only.
	action string
	// hsmAction is the data action required on a managedhsm vault, e.g.
	// "Microsoft.KeyVault/managedHsm/keys/read/action".
	hsmAction string
	// op is the operation's name in the audit log, as Azure names it
	// (KeyCreate, KeySign…).
	op string
	// scope builds the Keywarden resource scope the action is checked at;
	// nil means keyScope.
	scope   func(rq *request) string
	since   apiVersion
	maxBody int64
	timeout time.Duration
	handle  func(ctx context.Context, rq *request) (any, error)
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
		{method: http.MethodGet, op: "KeyList", pattern: "/keys", action: kvKeysRead, hsmAction: hsmKeysRead, scope: vaultScope, handle: s.listKeys},
		{method: http.MethodPost, op: "KeyRestore", pattern: "/keys/restore", action: kv + "keys/restore/action", hsmAction: hsm + "keys/restore/action", scope: vaultScope, maxBody: anyBody, timeout: longTimeout, handle: s.restoreKey},
		{method: http.MethodPost, op: "KeyCreate", pattern: "/keys/{name}/create", action: kv + "keys/create/action", hsmAction: hsm + "keys/create", maxBody: jsonBody, timeout: longTimeout, handle: s.createKey},
		{method: http.MethodPut, op: "KeyImport", pattern: "/keys/{name}", action: kv + "keys/import/action", hsmAction: hsm + "keys/import/action", maxBody: jsonBody, timeout: longTimeout, handle: s.importKey},
		{method: http.MethodGet, op: "KeyGet", pattern: "/keys/{name}", action: kvKeysRead, hsmAction: hsmKeysRead, handle: s.getKey},
		{method: http.MethodGet, op: "KeyGet", pattern: "/keys/{name}/{version}", action: kvKeysRead, hsmAction: hsmKeysRead, handle: s.getKey},
		{method: http.MethodPatch, op: "KeyUpdate", pattern: "/keys/{name}", action: kv + "keys/update/action", hsmAction: hsmKeysWrite, maxBody: jsonBody, handle: s.updateKey},
		{method: http.MethodPatch, op: "KeyUpdate", pattern: "/keys/{name}/{version}", action: kv + "keys/update/action", hsmAction: hsmKeysWrite, maxBody: jsonBody, handle: s.updateKey},
		{method: http.MethodDelete, op: "KeyDelete", pattern: "/keys/{name}", action: kv + "keys/delete", hsmAction: hsm + "keys/delete", handle: s.deleteKey},
		{method: http.MethodGet, op: "KeyListVersions", pattern: "/keys/{name}/versions", action: kvKeysRead, hsmAction: hsmKeysRead, handle: s.listVersions},
		{method: http.MethodPost, op: "KeyBackup", pattern: "/keys/{name}/backup", action: kv + "keys/backup/action", hsmAction: hsm + "keys/backup/action", timeout: longTimeout, handle: s.backupKey},
		{method: http.MethodPost, op: "KeyRotate", pattern: "/keys/{name}/rotate", action: kv + "keys/rotate/action", hsmAction: hsm + "keys/rotate/action", since: v7_3, timeout: longTimeout, handle: s.rotateKey},
		{method: http.MethodGet, op: "KeyRotationPolicyGet", pattern: "/keys/{name}/rotationpolicy", action: kv + "keyrotationpolicies/read", hsmAction: hsmKeysRead, since: v7_3, handle: s.getRotationPolicy},
		{method: http.MethodPut, op: "KeyRotationPolicySet", pattern: "/keys/{name}/rotationpolicy", action: kv + "keyrotationpolicies/write", hsmAction: hsmKeysWrite, since: v7_3, maxBody: jsonBody, handle: s.setRotationPolicy},
		{method: http.MethodGet, op: "KeyListDeleted", pattern: "/deletedkeys", action: kvKeysRead, hsmAction: hsm + "keys/deletedKeys/read/action", scope: vaultScope, handle: s.listDeletedKeys},
		{method: http.MethodGet, op: "KeyGetDeleted", pattern: "/deletedkeys/{name}", action: kvKeysRead, hsmAction: hsm + "keys/deletedKeys/read/action", handle: s.getDeletedKey},
		{method: http.MethodDelete, op: "KeyPurge", pattern: "/deletedkeys/{name}", action: kv + "keys/purge/action", hsmAction: hsm + "keys/deletedKeys/delete", handle: s.purgeDeletedKey},
		{method: http.MethodPost, op: "KeyRecover", pattern: "/deletedkeys/{name}/recover", action: kv + "keys/recover/action", hsmAction: hsm + "keys/deletedKeys/recover/action", handle: s.recoverDeletedKey},
		// Azure serves random bytes on Managed HSM only; on a vault the
		// action is Keywarden's own (Key Vault Administrator's vaults/*
		// covers it).
		{method: http.MethodPost, op: "GetRandomBytes", pattern: "/rng", action: kv + "rng/action", hsmAction: hsm + "rng/action", scope: vaultScope, since: v7_3, maxBody: jsonBody, handle: s.randomBytes},
	}
	// Operations on a version; the version segment may be absent or empty.
	ops := []struct {
		verb, op, action, hsmAction string
		since                       apiVersion
		method                      string
		handle                      func(context.Context, *request) (any, error)
	}{
		{"encrypt", "KeyEncrypt", kv + "keys/encrypt/action", hsm + "keys/encrypt/action", 0, http.MethodPost, s.encrypt},
		{"decrypt", "KeyDecrypt", kv + "keys/decrypt/action", hsm + "keys/decrypt/action", 0, http.MethodPost, s.decrypt},
		{"wrapkey", "KeyWrap", kv + "keys/wrap/action", hsm + "keys/wrap/action", 0, http.MethodPost, s.wrapKey},
		{"unwrapkey", "KeyUnwrap", kv + "keys/unwrap/action", hsm + "keys/unwrap/action", 0, http.MethodPost, s.unwrapKey},
		{"sign", "KeySign", kv + "keys/sign/action", hsm + "keys/sign/action", 0, http.MethodPost, s.sign},
		{"verify", "KeyVerify", kv + "keys/verify/action", hsm + "keys/verify/action", 0, http.MethodPost, s.verify},
		{"release", "KeyRelease", kv + "keys/release/action", hsm + "keys/release/action", v7_3, http.MethodPost, s.release},
		{"attestation", "KeyGetAttestation", kvKeysRead, hsmKeysRead, v7_6, http.MethodGet, s.attestation},
	}
	for _, op := range ops {
		for _, p := range []string{"/keys/{name}/{version}/", "/keys/{name}/"} {
			rs = append(rs, &route{method: op.method, op: op.op, pattern: p + op.verb, action: op.action, hsmAction: op.hsmAction, since: op.since, maxBody: jsonBody, handle: op.handle})
		}
	}
	rs = append(rs, s.hsmRBACRoutes()...)
	for _, r := range rs {
		if r.op == "" {
			r.op = hsmRBACOperation(r.method, r.pattern)
		}
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
		if r.scope == nil {
			r.scope = keyScope
		}
	}
	slices.SortStableFunc(rs, func(a, b *route) int { return b.literals - a.literals })
	return rs
}

// Data action prefixes and the actions several routes share.
const (
	kv           = "Microsoft.KeyVault/vaults/"
	hsm          = "Microsoft.KeyVault/managedHsm/"
	kvKeysRead   = kv + "keys/read"
	hsmKeysRead  = hsm + "keys/read/action"
	hsmKeysWrite = hsm + "keys/write/action"
)

// actionFor returns the data action rt requires on a vault of sku; "" when
// the route is not served there.
func (rt *route) actionFor(sku vault.SKU) string {
	if sku == vault.ManagedHSM {
		return rt.hsmAction
	}
	return rt.action
}

// vaultScope is the resource scope of a vault-wide route: /vaults/{vault}.
func vaultScope(rq *request) string { return "/vaults/" + strings.ToLower(rq.vault) }

// keyScope is the resource scope of a key route: /vaults/{vault}/keys/{name},
// the name as the client gave it.
func keyScope(rq *request) string { return vaultScope(rq) + "/keys/" + rq.name }

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

// matchRequest finds the route of rq's method and escaped path segments.
// A Managed HSM role API path, {scope}/providers/Microsoft.Authorization/
// {roleAssignments|roleDefinitions}[/{name}], is split first on a
// managedhsm vault: its scope goes to rq.hsmScope and rq.scopeKey and the
// rest is matched. A route not served on the vault's SKU does not match.
// err is a refusal of a malformed role scope.
func (s *Server) matchRequest(rq *request, segs []string) (rt *route, p routeParams, status int, err error) {
	if i := rbacProviderIndex(segs); i >= 0 && rq.sku == vault.ManagedHSM {
		scope, key, err := parseHSMScope(segs[:i])
		if err != nil {
			return nil, p, 0, err
		}
		rq.hsmScope, rq.scopeKey = scope, key
		segs = segs[i:]
	}
	rt, p, status = s.match(rq.r.Method, segs)
	if rt != nil && rt.actionFor(rq.sku) == "" {
		return nil, routeParams{}, http.StatusNotFound, nil
	}
	return rt, p, status, nil
}

// hsmRBACOperation names a Managed HSM RBAC API route for the audit log:
// RoleAssignmentList, RoleAssignmentGet, RoleDefinitionPut…
func hsmRBACOperation(method, pattern string) string {
	noun := "RoleDefinition"
	if strings.Contains(pattern, "/roleAssignments") {
		noun = "RoleAssignment"
	}
	switch {
	case method == http.MethodGet && !strings.HasSuffix(pattern, "{name}"):
		return noun + "List"
	case method == http.MethodGet:
		return noun + "Get"
	case method == http.MethodPut:
		return noun + "Put"
	case method == http.MethodDelete:
		return noun + "Delete"
	}
	return noun + method
}
