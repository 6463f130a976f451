package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/rbac"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// Hand-written fakes of the administration API's collaborators. They keep
// just enough state to answer like the real services; the rules themselves
// are tested in internal/vault, internal/auth and internal/rbac.

// adminFakeVaults is a VaultAdmin over a map.
type adminFakeVaults struct {
	mu     sync.Mutex
	vaults map[string]vault.Vault
	full   map[string]bool // vaults that hold keys
	calls  []string
}

func newAdminFakeVaults() *adminFakeVaults {
	return &adminFakeVaults{
		vaults: map[string]vault.Vault{"dev": {Name: "dev", SKU: vault.Premium, RetentionDays: 90, Created: time.Unix(1700000000, 0)}},
		full:   map[string]bool{},
	}
}

func (f *adminFakeVaults) record(c string) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func vaultMissing(name string) error {
	return &vault.Error{Kind: vault.ErrNotFound, Code: "VaultNotFound", Msg: "Vault " + name + " was not found."}
}

func (f *adminFakeVaults) Vaults(ctx context.Context) ([]vault.Vault, error) {
	f.record("Vaults")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vault.Vault
	for _, v := range f.vaults {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b vault.Vault) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *adminFakeVaults) Vault(ctx context.Context, name string) (vault.Vault, error) {
	f.record("Vault " + name)
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vaults[name]
	if !ok {
		return vault.Vault{}, vaultMissing(name)
	}
	return v, nil
}

func (f *adminFakeVaults) CreateVault(ctx context.Context, now time.Time, v vault.Vault) (vault.Vault, error) {
	f.record("CreateVault " + v.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(v.Name) < 3 || strings.ToLower(v.Name) != v.Name {
		return vault.Vault{}, &vault.Error{Kind: vault.ErrInvalid, Msg: "Vault name is invalid."}
	}
	if _, ok := f.vaults[v.Name]; ok {
		return vault.Vault{}, &vault.Error{Kind: vault.ErrConflict, Code: "VaultAlreadyExists", Msg: "Vault " + v.Name + " already exists."}
	}
	if v.RetentionDays == 0 {
		v.RetentionDays = 90
	}
	v.Created = now
	f.vaults[v.Name] = v
	return v, nil
}

func (f *adminFakeVaults) UpdateVault(ctx context.Context, now time.Time, name string, p vault.VaultUpdate) (vault.Vault, error) {
	f.record("UpdateVault " + name)
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vaults[name]
	if !ok {
		return vault.Vault{}, vaultMissing(name)
	}
	if p.RetentionDays != nil && *p.RetentionDays != v.RetentionDays {
		return vault.Vault{}, &vault.Error{Kind: vault.ErrInvalid, Msg: "The soft delete retention cannot be changed after the vault is created."}
	}
	if p.PurgeProtection != nil {
		if v.PurgeProtection && !*p.PurgeProtection {
			return vault.Vault{}, &vault.Error{Kind: vault.ErrInvalid, Msg: "Purge protection cannot be turned off."}
		}
		v.PurgeProtection = *p.PurgeProtection
	}
	if p.Network != nil {
		v.Network = p.Network
	}
	if p.KeyPolicy != nil {
		v.KeyPolicy = *p.KeyPolicy
	}
	f.vaults[name] = v
	return v, nil
}

func (f *adminFakeVaults) DeleteVault(ctx context.Context, name string) error {
	f.record("DeleteVault " + name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vaults[name]; !ok {
		return vaultMissing(name)
	}
	if f.full[name] {
		return &vault.Error{Kind: vault.ErrConflict, Code: "VaultNotEmpty", Msg: "Vault " + name + " still holds keys."}
	}
	delete(f.vaults, name)
	return nil
}

// adminFakePrincipals is a Principals over a map. Secrets are
// "secret-<n>", handed out once.
type adminFakePrincipals struct {
	mu         sync.Mutex
	principals map[string]Principal
	n          int
	secrets    []secret.Bytes // every secret handed out
}

func newAdminFakePrincipals() *adminFakePrincipals {
	return &adminFakePrincipals{principals: map[string]Principal{}}
}

func (f *adminFakePrincipals) newSecret() secret.Bytes {
	f.n++
	s := secret.New([]byte(fmt.Sprintf("secret-%d_Zq9", f.n)))
	f.secrets = append(f.secrets, secret.New(s.Expose()))
	return s
}

func (f *adminFakePrincipals) get(clientID string) (Principal, error) {
	p, ok := f.principals[clientID]
	if !ok {
		return Principal{}, fmt.Errorf("%w: %s", auth.ErrPrincipalNotFound, clientID)
	}
	return p, nil
}

func (f *adminFakePrincipals) Principals(ctx context.Context) ([]Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Principal
	for _, p := range f.principals {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Principal) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

func (f *adminFakePrincipals) Principal(ctx context.Context, clientID string) (Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.get(clientID)
}

func (f *adminFakePrincipals) CreatePrincipal(ctx context.Context, now time.Time, name string, secretExpires *time.Time) (Principal, secret.Bytes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(name) > 256 {
		return Principal{}, secret.Bytes{}, fmt.Errorf("%w: name longer than 256 bytes", auth.ErrInvalidArgument)
	}
	id := fmt.Sprintf("client-%d", len(f.principals)+1)
	p := Principal{ClientID: id, ObjectID: "object-" + id, Name: name, Created: now,
		Credentials: []Credential{{ID: "cred-1", Type: CredentialSecret, Created: now, Expires: secretExpires}}}
	f.principals[id] = p
	return p, f.newSecret(), nil
}

func (f *adminFakePrincipals) SetDisabled(ctx context.Context, now time.Time, clientID string, disabled bool) (Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(clientID)
	if err != nil {
		return Principal{}, err
	}
	p.Disabled = disabled
	f.principals[clientID] = p
	return p, nil
}

func (f *adminFakePrincipals) DeletePrincipal(ctx context.Context, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(clientID); err != nil {
		return err
	}
	delete(f.principals, clientID)
	return nil
}

func (f *adminFakePrincipals) AddSecret(ctx context.Context, now time.Time, clientID string, expires *time.Time) (Credential, secret.Bytes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(clientID)
	if err != nil {
		return Credential{}, secret.Bytes{}, err
	}
	c := Credential{ID: fmt.Sprintf("cred-%d", len(p.Credentials)+1), Type: CredentialSecret, Created: now, Expires: expires}
	p.Credentials = append(p.Credentials, c)
	f.principals[clientID] = p
	return c, f.newSecret(), nil
}

func (f *adminFakePrincipals) AddCertificate(ctx context.Context, now time.Time, clientID string, certDER []byte) (Credential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(clientID)
	if err != nil {
		return Credential{}, err
	}
	if !bytes.HasPrefix(certDER, []byte{0x30}) {
		return Credential{}, fmt.Errorf("%w: not an X.509 certificate in DER", auth.ErrInvalidArgument)
	}
	exp := now.Add(365 * 24 * time.Hour)
	c := Credential{ID: fmt.Sprintf("cred-%d", len(p.Credentials)+1), Type: CredentialCertificate, Created: now, Expires: &exp,
		Thumbprint: fmt.Sprintf("%X", len(certDER))}
	p.Credentials = append(p.Credentials, c)
	f.principals[clientID] = p
	return c, nil
}

func (f *adminFakePrincipals) RemoveCredential(ctx context.Context, clientID, credentialID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(clientID)
	if err != nil {
		return err
	}
	n := slices.IndexFunc(p.Credentials, func(c Credential) bool { return c.ID == credentialID })
	if n < 0 {
		return fmt.Errorf("%w: %s", auth.ErrCredentialNotFound, credentialID)
	}
	p.Credentials = slices.Delete(p.Credentials, n, n+1)
	f.principals[clientID] = p
	return nil
}

// adminFakeRoles is a Roles with the Keywarden Administrator built-in role
// and a map of custom roles and assignments.
type adminFakeRoles struct {
	mu          sync.Mutex
	custom      map[string]rbac.Role
	assignments map[string]rbac.Assignment
	filters     [][2]string // Assignments arguments
}

func newAdminFakeRoles() *adminFakeRoles {
	return &adminFakeRoles{custom: map[string]rbac.Role{}, assignments: map[string]rbac.Assignment{}}
}

var adminBuiltIn = rbac.Role{ID: rbac.KeywardenAdministrator, Name: "Keywarden Administrator", Description: "Manages vaults, principals and roles.",
	Type: rbac.BuiltInRole, DataActions: []string{"Keywarden/*"}, AssignableScopes: []string{"/"}}

func (f *adminFakeRoles) role(id string) (rbac.Role, error) {
	if id == adminBuiltIn.ID {
		return adminBuiltIn, nil
	}
	r, ok := f.custom[id]
	if !ok {
		return rbac.Role{}, fmt.Errorf("%w: role definition %s", rbac.ErrNotFound, id)
	}
	return r, nil
}

func (f *adminFakeRoles) Roles(ctx context.Context) ([]rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []rbac.Role{adminBuiltIn}
	for _, r := range f.custom {
		out = append(out, r)
	}
	return out, nil
}

func (f *adminFakeRoles) Role(ctx context.Context, id string) (rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.role(id)
}

func (f *adminFakeRoles) PutCustomRole(ctx context.Context, now time.Time, r rbac.Role) (rbac.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.ID == adminBuiltIn.ID {
		return rbac.Role{}, fmt.Errorf("%w: built-in role %s cannot be changed", rbac.ErrInvalid, r.ID)
	}
	for _, a := range r.DataActions {
		if !strings.Contains(a, "/") {
			return rbac.Role{}, fmt.Errorf("%w: bad data action %q", rbac.ErrInvalid, a)
		}
	}
	if len(r.AssignableScopes) == 0 {
		r.AssignableScopes = []string{"/"} // as rbac.Service does
	}
	r.Created, r.Updated = now, now
	f.custom[r.ID] = r
	return r, nil
}

func (f *adminFakeRoles) DeleteCustomRole(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == adminBuiltIn.ID {
		return fmt.Errorf("%w: built-in role %s cannot be deleted", rbac.ErrInvalid, id)
	}
	if _, err := f.role(id); err != nil {
		return err
	}
	for _, a := range f.assignments {
		if a.RoleID == id {
			return fmt.Errorf("%w: role %s is assigned", rbac.ErrConflict, id)
		}
	}
	delete(f.custom, id)
	return nil
}

func (f *adminFakeRoles) Assign(ctx context.Context, now time.Time, a rbac.Assignment) (rbac.Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.role(a.RoleID); err != nil {
		return rbac.Assignment{}, fmt.Errorf("%w: unknown role %s", rbac.ErrInvalid, a.RoleID)
	}
	if _, ok := f.assignments[a.ID]; ok {
		return rbac.Assignment{}, fmt.Errorf("%w: assignment %s exists", rbac.ErrConflict, a.ID)
	}
	a.Created = now
	f.assignments[a.ID] = a
	return a, nil
}

func (f *adminFakeRoles) Unassign(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.assignments[id]; !ok {
		return fmt.Errorf("%w: role assignment %s", rbac.ErrNotFound, id)
	}
	delete(f.assignments, id)
	return nil
}

func (f *adminFakeRoles) Assignments(ctx context.Context, principalID, scope string) ([]rbac.Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, [2]string{principalID, scope})
	var out []rbac.Assignment
	for _, a := range f.assignments {
		if (principalID == "" || a.PrincipalID == principalID) && (scope == "" || a.Scope == scope) {
			out = append(out, a)
		}
	}
	return out, nil
}

// adminFakeAuthz allows each subject the actions listed for it and records
// every question.
type adminFakeAuthz struct {
	mu     sync.Mutex
	grants map[string][]string // subject → actions
	asked  []string            // "subject action scope"
}

func (a *adminFakeAuthz) Authorize(ctx context.Context, sub rbac.Subject, action, scope string) (rbac.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, sub.ObjectID+" "+action+" "+scope)
	if scope == "/" && slices.Contains(a.grants[sub.ObjectID], action) {
		return rbac.Decision{Allowed: true, AssignmentID: "a1"}, nil
	}
	return rbac.Decision{Reason: "no assignment"}, nil
}

// adminFakeTokens is a TokenAuthority whose tokens are "audience|subject".
type adminFakeTokens struct{ fakeTokens }

func (adminFakeTokens) Verify(ctx context.Context, now time.Time, token string, validIssuer, validAudience func(string) bool) (Caller, error) {
	aud, sub, ok := strings.Cut(token, "|")
	if !ok || !validAudience(aud) || sub == "" {
		return Caller{}, fmt.Errorf("fake: token refused")
	}
	return Caller{Subject: sub, ClientID: "app-" + sub}, nil
}

// Test subjects: the administrator holds every Keywarden action, the
// reader only the read actions, the stranger nothing.
const (
	adminSubject    = "oid-admin"
	readerSubject   = "oid-reader"
	strangerSubject = "oid-stranger"
	adminAudience   = "https://localhost:8443"
)

func adminToken(sub string) string { return adminAudience + "|" + sub }

// adminEnv is a Server with admin fakes.
type adminEnv struct {
	s          *Server
	vaults     *adminFakeVaults
	principals *adminFakePrincipals
	roles      *adminFakeRoles
	authz      *adminFakeAuthz
	logs       *bytes.Buffer
}

func newAdminEnv(t testing.TB) *adminEnv {
	t.Helper()
	return newAdminEnvWith(t, nil)
}

// newAdminEnvWith is newAdminEnv with opt changing the Config and Deps.
func newAdminEnvWith(t testing.TB, opt func(*Config, *Deps)) *adminEnv {
	t.Helper()
	e := &adminEnv{
		vaults:     newAdminFakeVaults(),
		principals: newAdminFakePrincipals(),
		roles:      newAdminFakeRoles(),
		authz: &adminFakeAuthz{grants: map[string][]string{
			adminSubject: {rbac.ActionVaultsRead, rbac.ActionVaultsWrite, rbac.ActionPrincipalsRead, rbac.ActionPrincipalsWrite,
				rbac.ActionRoleDefinitionsRead, rbac.ActionRoleDefinitionsWrite, rbac.ActionRoleAssignmentsRead, rbac.ActionRoleAssignmentsWrite,
				rbac.ActionSnapshot, rbac.ActionRootKeyRead, rbac.ActionRootKeyRotate},
			readerSubject: {rbac.ActionVaultsRead, rbac.ActionPrincipalsRead, rbac.ActionRoleDefinitionsRead, rbac.ActionRoleAssignmentsRead},
		}},
		logs: &bytes.Buffer{},
	}
	cfg := Config{
		TenantID:     testTenant,
		Port:         8443,
		DefaultVault: "dev",
		Logger:       slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          func() time.Time { return time.Unix(1767225600, 0) },
	}
	deps := Deps{
		Vaults:     newFakeVaults(),
		Tokens:     adminFakeTokens{},
		Authorizer: e.authz,
		VaultAdmin: e.vaults,
		Principals: e.principals,
		Roles:      e.roles,
	}
	if opt != nil {
		opt(&cfg, &deps)
	}
	e.s = New(cfg, deps)
	return e
}

// lockedWriter serialises writes to a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends one request to the bare origin as sub ("" = no token).
func (e *adminEnv) do(method, target, sub, body string) *httptest.ResponseRecorder {
	token := ""
	if sub != "" {
		token = adminToken(sub)
	}
	return do(e.s, method, bareHost, target, token, body)
}

// wantStatus fails unless w has status and, for errors, the Azure code.
func wantStatus(t *testing.T, what string, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s = %d %s, want %d", what, w.Code, w.Body, status)
	}
	if code != "" {
		if got := errorCode(t, w); got != code {
			t.Fatalf("%s error code = %s, want %s (%s)", what, got, code, w.Body)
		}
	}
	if status >= 400 && status != http.StatusMethodNotAllowed {
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s Content-Type = %q, want JSON", what, ct)
		}
	}
}
