package cli

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAdmin is an in-memory administration API per docs/admin-api.md, with
// the built-in issuer's discovery and token endpoints and the 401 bearer
// challenge, served over TLS. Its challenge resource is
// https://localhost:{port}, deliberately not the origin the client calls,
// so that a client hard-coding the resource fails.
type fakeAdmin struct {
	srv      *httptest.Server
	resource string
	// certificate is the client certificate of the principal certclient.
	certificate *x509.Certificate

	mu           sync.Mutex
	vaults       []*vaultWire
	principals   []*principalWire
	roles        []roleDefinition
	assignments  []assignmentWire
	seq          int
	tokens       int
	scopes       []string
	unauthorized int
	// log holds "METHOD /path?query body" of every authorised admin
	// request.
	log []string
	// snapshot is the body of GET /admin/v1/snapshot; snapshotDigest, when
	// set, replaces its Repr-Digest header.
	snapshot       []byte
	snapshotDigest *string
}

const (
	fakeCreated  = 1767225600 // 2026-01-01T00:00:00Z
	adminTok     = "admintok"
	readerTok    = "readtok"
	adminRoleID  = "4a1c6b3e-8a0f-4e7d-9c55-6f1f0e2d7b10"
	cryptoUserID = "12338af0-0e69-4776-bea7-57ae8d297424"
	readerRoleID = "21090545-7ca7-4776-b22c-e363652d74d2"
)

// The secrets of the fake's own clients: client1 (administrator) and reader
// (may only read).
const (
	adminSecret  = "s3cret-admin-VALUE"
	readerSecret = "s3cret-reader-VALUE"
)

func newFakeAdmin(t *testing.T) *fakeAdmin {
	f := &fakeAdmin{}
	f.roles = []roleDefinition{
		{ID: adminRoleID, RoleName: "Keywarden Administrator", Description: "Manage vaults, principals and roles.", Type: "AKVBuiltInRole",
			Permissions: []permission{{DataActions: []string{"Keywarden/*"}}}, AssignableScopes: []string{"/"}},
		{ID: cryptoUserID, RoleName: "Key Vault Crypto User", Description: "Perform cryptographic operations using keys.", Type: "AKVBuiltInRole",
			Permissions: []permission{{DataActions: []string{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/sign/action"}}}, AssignableScopes: []string{"/"}},
		{ID: readerRoleID, RoleName: "Key Vault Reader", Description: "Read metadata of key vaults.", Type: "AKVBuiltInRole",
			Permissions: []permission{{DataActions: []string{"Microsoft.KeyVault/vaults/keys/read"}}}, AssignableScopes: []string{"/"}},
	}
	f.vaults = []*vaultWire{{Name: "dev", SKU: "standard", RetentionDays: 90, URI: "https://dev.localhost:8443", Created: fakeCreated,
		NetworkRules: &networkRules{DefaultAction: "Allow", IPRules: []string{}}}}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+fakeTenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		base := f.srv.URL + "/" + fakeTenant
		writeJSON(w, 200, map[string]any{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	})
	mux.HandleFunc("POST /"+fakeTenant+"/oauth2/v2.0/token", f.token)

	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request, write bool)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			f.mu.Lock()
			defer f.mu.Unlock()
			if auth != "Bearer "+adminTok && auth != "Bearer "+readerTok {
				f.unauthorized++
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, f.srv.URL, fakeTenant, f.resource))
				azErr(w, 401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
				return
			}
			entry := r.Method + " " + r.URL.Path
			if r.URL.RawQuery != "" {
				entry += "?" + r.URL.RawQuery
			}
			if r.Body != nil && r.Method != http.MethodGet {
				body, _ := io.ReadAll(r.Body)
				if len(body) > 0 {
					entry += " " + string(body)
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			f.log = append(f.log, entry)
			if r.Method != http.MethodGet && auth != "Bearer "+adminTok {
				writeJSON(w, 403, map[string]any{"error": map[string]any{"code": "Forbidden",
					"message": "Caller is not authorized to perform action on resource.", "innererror": map[string]string{"code": "ForbiddenByRbac"}}})
				return
			}
			h(w, r, r.Method != http.MethodGet)
		})
	}
	handle("GET /admin/v1/vaults", func(w http.ResponseWriter, _ *http.Request, _ bool) {
		writeJSON(w, 200, map[string]any{"value": f.vaults})
	})
	handle("POST /admin/v1/vaults", f.createVault)
	handle("/admin/v1/vaults/{name}", f.vault)
	handle("GET /admin/v1/principals", func(w http.ResponseWriter, _ *http.Request, _ bool) {
		writeJSON(w, 200, map[string]any{"value": f.principals})
	})
	handle("POST /admin/v1/principals", f.createPrincipal)
	handle("/admin/v1/principals/{id}", f.principal)
	handle("POST /admin/v1/principals/{id}/credentials", f.addCredential)
	handle("DELETE /admin/v1/principals/{id}/credentials/{cid}", f.removeCredential)
	handle("GET /admin/v1/roleDefinitions", func(w http.ResponseWriter, _ *http.Request, _ bool) {
		writeJSON(w, 200, map[string]any{"value": f.roles})
	})
	handle("/admin/v1/roleDefinitions/{id}", f.role)
	handle("GET /admin/v1/roleAssignments", f.listAssignments)
	handle("/admin/v1/roleAssignments/{id}", f.assignment)
	handle("GET /admin/v1/snapshot", f.getSnapshot)

	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	f.resource = "https://localhost:" + f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	return f
}

func azErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// token is the client-credentials endpoint: a secret for client1 and reader,
// an RS256 or PS256 client assertion signed by f.certificate's key for
// certclient. The scope must be the challenge resource's.
func (f *fakeAdmin) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	tok := ""
	switch id := r.PostForm.Get("client_id"); {
	case id == "client1" && r.PostForm.Get("client_secret") == adminSecret:
		tok = adminTok
	case id == "reader" && r.PostForm.Get("client_secret") == readerSecret:
		tok = readerTok
	case id == "certclient" && f.checkAssertion(r.PostForm.Get("client_assertion_type"), r.PostForm.Get("client_assertion"), id):
		tok = adminTok
	default:
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
		return
	}
	scope := r.PostForm.Get("scope")
	f.mu.Lock()
	f.scopes = append(f.scopes, scope)
	f.mu.Unlock()
	if !slices.Contains(strings.Fields(scope), f.resource+"/.default") {
		writeJSON(w, 400, map[string]any{"error": "invalid_scope", "error_description": "unknown resource in scope " + scope})
		return
	}
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok})
}

// checkAssertion verifies an RFC 7523 client assertion against f.certificate.
func (f *fakeAdmin) checkAssertion(typ, assertion, clientID string) bool {
	if typ != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.certificate == nil {
		return false
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct {
		Alg     string `json:"alg"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return false
	}
	if claims.Iss != clientID || claims.Sub != clientID {
		return false
	}
	thumb := sha256.Sum256(f.certificate.Raw)
	// MSAL encodes the thumbprint in standard base64.
	if header.X5tS256 != base64.StdEncoding.EncodeToString(thumb[:]) && header.X5tS256 != base64.RawURLEncoding.EncodeToString(thumb[:]) {
		return false
	}
	pub, ok := f.certificate.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header.Alg {
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// next returns a fresh deterministic UUID.
func (f *fakeAdmin) next() string {
	f.seq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
}

func (f *fakeAdmin) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		azErr(w, 400, "BadParameter", "invalid body: "+err.Error())
		return false
	}
	return true
}

func (f *fakeAdmin) findVault(name string) *vaultWire {
	for _, v := range f.vaults {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (f *fakeAdmin) createVault(w http.ResponseWriter, r *http.Request, _ bool) {
	var v vaultWire
	if !f.decode(w, r, &v) {
		return
	}
	if checkVaultName(v.Name) != nil {
		azErr(w, 400, "BadParameter", "invalid vault name")
		return
	}
	if f.findVault(v.Name) != nil {
		azErr(w, 409, "Conflict", "vault "+v.Name+" exists")
		return
	}
	if v.RetentionDays == 0 {
		v.RetentionDays = 90
	}
	if v.NetworkRules == nil {
		v.NetworkRules = &networkRules{DefaultAction: "Allow", IPRules: []string{}}
	}
	v.URI = "https://" + v.Name + ".localhost:8443"
	v.Created = fakeCreated
	f.vaults = append(f.vaults, &v)
	writeJSON(w, 201, v)
}

func (f *fakeAdmin) vault(w http.ResponseWriter, r *http.Request, _ bool) {
	name := r.PathValue("name")
	v := f.findVault(name)
	if v == nil {
		azErr(w, 404, "NotFound", "Vault "+name+" not found.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, 200, v)
	case http.MethodPatch:
		var patch struct {
			PurgeProtection *bool         `json:"purgeProtection"`
			RetentionDays   *int          `json:"retentionDays"`
			NetworkRules    *networkRules `json:"networkRules"`
			KeyPolicy       *keyPolicy    `json:"keyPolicy"`
		}
		if !f.decode(w, r, &patch) {
			return
		}
		if patch.RetentionDays != nil {
			azErr(w, 400, "BadParameter", "retentionDays is fixed after creation")
			return
		}
		if patch.PurgeProtection != nil {
			if v.PurgeProtection && !*patch.PurgeProtection {
				azErr(w, 400, "BadParameter", "Purge protection cannot be turned off once on.")
				return
			}
			v.PurgeProtection = *patch.PurgeProtection
		}
		if patch.NetworkRules != nil {
			v.NetworkRules = patch.NetworkRules
		}
		if patch.KeyPolicy != nil {
			// As the server: a policy without rules is none.
			v.KeyPolicy = patch.KeyPolicy
			if patch.KeyPolicy.MinRSASize <= 2048 && len(patch.KeyPolicy.AllowedCurves) == 0 && len(patch.KeyPolicy.AllowedKeyTypes) == 0 &&
				!patch.KeyPolicy.RequireExpiry && patch.KeyPolicy.MaxValidity == "" && !patch.KeyPolicy.OnePurposePerKey {
				v.KeyPolicy = nil
			}
		}
		writeJSON(w, 200, v)
	case http.MethodDelete:
		if name == "busy" {
			azErr(w, 409, "Conflict", "Vault busy still holds 2 keys (active or soft-deleted).")
			return
		}
		f.vaults = slices.DeleteFunc(f.vaults, func(x *vaultWire) bool { return x == v })
		w.WriteHeader(204)
	default:
		azErr(w, 405, "MethodNotAllowed", r.Method)
	}
}

func (f *fakeAdmin) findPrincipal(id string) *principalWire {
	for _, p := range f.principals {
		if p.ClientID == id {
			return p
		}
	}
	return nil
}

func (f *fakeAdmin) newSecret() (credentialWire, string) {
	id := f.next()
	secret := fmt.Sprintf("GENERATED-SECRET-%d~xyz", f.seq)
	return credentialWire{ID: id, Type: "secret", Created: fakeCreated}, secret
}

func (f *fakeAdmin) createPrincipal(w http.ResponseWriter, r *http.Request, _ bool) {
	var body struct {
		Name                string `json:"name"`
		SecretExpiresInDays int    `json:"secretExpiresInDays"`
	}
	if !f.decode(w, r, &body) {
		return
	}
	if body.Name == "garbled" {
		// A broken answer holding a secret: the client must not echo it.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprint(w, `{"clientId":"x","clientSecret":"GARBLED-SECRET-VALUE","created":"GARBLED-SECRET-VALUE"}`)
		return
	}
	p := &principalWire{ClientID: f.next(), ObjectID: f.next(), Name: body.Name, Created: fakeCreated}
	cred, secret := f.newSecret()
	if body.SecretExpiresInDays > 0 {
		cred.Expires = new(int64(fakeCreated + 86400*body.SecretExpiresInDays))
	}
	p.Credentials = []credentialWire{cred}
	f.principals = append(f.principals, p)
	out := *p
	out.ClientSecret = secret
	writeJSON(w, 201, out)
}

func (f *fakeAdmin) principal(w http.ResponseWriter, r *http.Request, _ bool) {
	id := r.PathValue("id")
	p := f.findPrincipal(id)
	if p == nil {
		azErr(w, 404, "NotFound", "Principal "+id+" not found.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, 200, p)
	case http.MethodPatch:
		var body struct {
			Disabled *bool `json:"disabled"`
		}
		if !f.decode(w, r, &body) {
			return
		}
		if body.Disabled == nil {
			azErr(w, 400, "BadParameter", "disabled missing")
			return
		}
		p.Disabled = *body.Disabled
		writeJSON(w, 200, p)
	case http.MethodDelete:
		f.principals = slices.DeleteFunc(f.principals, func(x *principalWire) bool { return x == p })
		w.WriteHeader(204)
	default:
		azErr(w, 405, "MethodNotAllowed", r.Method)
	}
}

func (f *fakeAdmin) addCredential(w http.ResponseWriter, r *http.Request, _ bool) {
	p := f.findPrincipal(r.PathValue("id"))
	if p == nil {
		azErr(w, 404, "NotFound", "Principal "+r.PathValue("id")+" not found.")
		return
	}
	var body struct {
		Type          string `json:"type"`
		ExpiresInDays int    `json:"expiresInDays"`
		Certificate   string `json:"certificate"`
	}
	if !f.decode(w, r, &body) {
		return
	}
	switch body.Type {
	case "secret":
		cred, secret := f.newSecret()
		if body.ExpiresInDays > 0 {
			cred.Expires = new(int64(fakeCreated + 86400*body.ExpiresInDays))
		}
		p.Credentials = append(p.Credentials, cred)
		cred.ClientSecret = secret
		writeJSON(w, 201, cred)
	case "certificate":
		block, rest := pem.Decode([]byte(body.Certificate))
		if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
			azErr(w, 400, "BadParameter", "want one PEM certificate")
			return
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			azErr(w, 400, "BadParameter", "bad certificate")
			return
		}
		sum := sha1Hex(cert.Raw)
		cred := credentialWire{ID: f.next(), Type: "certificate", Created: fakeCreated, Thumbprint: sum}
		p.Credentials = append(p.Credentials, cred)
		writeJSON(w, 201, cred)
	default:
		azErr(w, 400, "BadParameter", "unknown credential type")
	}
}

func (f *fakeAdmin) removeCredential(w http.ResponseWriter, r *http.Request, _ bool) {
	p := f.findPrincipal(r.PathValue("id"))
	cid := r.PathValue("cid")
	if p == nil || !slices.ContainsFunc(p.Credentials, func(c credentialWire) bool { return c.ID == cid }) {
		azErr(w, 404, "NotFound", "Credential "+cid+" not found.")
		return
	}
	p.Credentials = slices.DeleteFunc(p.Credentials, func(c credentialWire) bool { return c.ID == cid })
	w.WriteHeader(204)
}

func (f *fakeAdmin) role(w http.ResponseWriter, r *http.Request, _ bool) {
	id := r.PathValue("id")
	i := slices.IndexFunc(f.roles, func(x roleDefinition) bool { return strings.EqualFold(x.ID, id) })
	switch r.Method {
	case http.MethodGet:
		if i < 0 {
			azErr(w, 404, "NotFound", "Role definition "+id+" not found.")
			return
		}
		writeJSON(w, 200, f.roles[i])
	case http.MethodPut:
		var rd roleDefinition
		if !f.decode(w, r, &rd) {
			return
		}
		if i >= 0 && f.roles[i].Type != "CustomRole" {
			azErr(w, 400, "BadParameter", "Built-in roles cannot be changed.")
			return
		}
		if rd.Type != "CustomRole" || rd.RoleName == "" || (rd.ID != "" && rd.ID != id) {
			azErr(w, 400, "BadParameter", "invalid role definition")
			return
		}
		rd.ID = id
		if i >= 0 {
			f.roles[i] = rd
		} else {
			f.roles = append(f.roles, rd)
		}
		writeJSON(w, 200, rd)
	case http.MethodDelete:
		if i < 0 {
			azErr(w, 404, "NotFound", "Role definition "+id+" not found.")
			return
		}
		if f.roles[i].Type != "CustomRole" {
			azErr(w, 400, "BadParameter", "Built-in roles cannot be deleted.")
			return
		}
		if slices.ContainsFunc(f.assignments, func(a assignmentWire) bool { return a.RoleDefinitionID == id }) {
			azErr(w, 409, "Conflict", "Role definition "+id+" is assigned.")
			return
		}
		f.roles = slices.Delete(f.roles, i, i+1)
		w.WriteHeader(204)
	default:
		azErr(w, 405, "MethodNotAllowed", r.Method)
	}
}

func (f *fakeAdmin) listAssignments(w http.ResponseWriter, r *http.Request, _ bool) {
	pid, scope := r.URL.Query().Get("principalId"), r.URL.Query().Get("scope")
	out := []assignmentWire{}
	for _, a := range f.assignments {
		if (pid == "" || a.PrincipalID == pid) && (scope == "" || a.Scope == scope) {
			out = append(out, a)
		}
	}
	writeJSON(w, 200, map[string]any{"value": out})
}

func (f *fakeAdmin) assignment(w http.ResponseWriter, r *http.Request, _ bool) {
	id := r.PathValue("id")
	i := slices.IndexFunc(f.assignments, func(a assignmentWire) bool { return a.ID == id })
	switch r.Method {
	case http.MethodPut:
		var a assignmentWire
		if !f.decode(w, r, &a) {
			return
		}
		if !slices.ContainsFunc(f.roles, func(x roleDefinition) bool { return x.ID == a.RoleDefinitionID }) {
			azErr(w, 400, "BadParameter", "Unknown role definition "+a.RoleDefinitionID+".")
			return
		}
		if checkScope(a.Scope) != nil || a.PrincipalID == "" || i >= 0 {
			azErr(w, 400, "BadParameter", "invalid role assignment")
			return
		}
		a.ID, a.Created = id, fakeCreated
		f.assignments = append(f.assignments, a)
		writeJSON(w, 201, a)
	case http.MethodDelete:
		if i < 0 {
			azErr(w, 404, "NotFound", "Role assignment "+id+" not found.")
			return
		}
		f.assignments = slices.Delete(f.assignments, i, i+1)
		w.WriteHeader(204)
	default:
		azErr(w, 405, "MethodNotAllowed", r.Method)
	}
}

// reset clears the request log and the token counters.
// getSnapshot serves the snapshot to the administrator only.
func (f *fakeAdmin) getSnapshot(w http.ResponseWriter, r *http.Request, _ bool) {
	if r.Header.Get("Authorization") != "Bearer "+adminTok {
		azErr(w, 403, "Forbidden", "Caller is not authorized to perform action on resource.")
		return
	}
	sum := sha256.Sum256(f.snapshot)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	if f.snapshotDigest != nil {
		digest = *f.snapshotDigest
	}
	if digest != "" {
		w.Header().Set("Repr-Digest", digest)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(f.snapshot)
}

func (f *fakeAdmin) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log, f.scopes, f.tokens, f.unauthorized = nil, nil, 0, 0
}

// requests returns the authorised admin requests since the last reset.
func (f *fakeAdmin) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// envFile writes a dev.env for the client clientID with secret (empty for
// none) and vaultURL (empty for the fake's bare origin), and returns its
// path; the CA file sits next to it.
func (f *fakeAdmin) envFile(t *testing.T, clientID, secret, vaultURL string) string {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if vaultURL == "" {
		vaultURL = f.srv.URL
	}
	env := fmt.Sprintf("KEYWARDEN_VAULT_URL=%s\nKEYWARDEN_CA_CERT=ca.pem\nAZURE_TENANT_ID=%s\nAZURE_CLIENT_ID=%s\nAZURE_AUTHORITY_HOST=%s/\n",
		vaultURL, fakeTenant, clientID, f.srv.URL)
	if secret != "" {
		env += "AZURE_CLIENT_SECRET=" + secret + "\n"
	}
	path := filepath.Join(dir, "dev.env")
	if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}
