package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// TestAdminVaultKeyPolicy round-trips a typed key policy through POST,
// GET and PATCH, and checks that bad policies are refused before they reach
// the domain.
func TestAdminVaultKeyPolicy(t *testing.T) {
	e := newAdminEnv(t)
	const admin = adminSubject

	w := e.do("POST", "/admin/v1/vaults", admin, `{"name":"payments","sku":"premium","keyPolicy":{"minRsaSize":3072,
		"allowedCurves":["p-256","P-256"],"allowedKeyTypes":["ec-hsm","RSA-HSM"],"requireExpiry":true,"maxValidity":"p1y","onePurposePerKey":true}}`)
	wantStatus(t, "POST vaults with a key policy", w, 201, "")
	policy := `{"minRsaSize":3072,"allowedCurves":["P-256"],"allowedKeyTypes":["EC-HSM","RSA-HSM"],"requireExpiry":true,"maxValidity":"P1Y","onePurposePerKey":true}`
	want := `{"name":"payments","sku":"premium","retentionDays":90,"purgeProtection":false,
		"networkRules":{"defaultAction":"Allow","ipRules":[]},"keyPolicy":` + policy + `,
		"uri":"https://payments.localhost:8443","created":1767225600}`
	wantJSON(t, "POST vaults with a key policy", w, want)
	wantJSON(t, "GET vault with a key policy", e.do("GET", "/admin/v1/vaults/payments", admin, ""), want)
	wantPolicy := vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{keys.P256}, AllowedKeyTypes: []string{"EC-HSM", "RSA-HSM"},
		RequireExpiry: true, MaxValidity: "P1Y", OnePurposePerKey: true}
	if d := cmp.Diff(wantPolicy, e.vaults.vaults["payments"].KeyPolicy); d != "" {
		t.Errorf("domain key policy after POST (-want +got):\n%s", d)
	}

	steps := []struct {
		name, method, target, body string
		status                     int
		code                       string
		has                        string // a substring the body must hold
	}{
		{"unknown member", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":{"minimumRsaSize":3072}}`, 400, "BadParameter", "keyPolicy.minimumRsaSize"},
		{"not an object", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":"strict"}`, 400, "BadParameter", "keyPolicy"},
		{"wrong member type", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":{"requireExpiry":"yes"}}`, 400, "BadParameter", "requireExpiry"},
		{"bad RSA size", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":{"minRsaSize":1024}}`, 400, "BadParameter", "minRsaSize 1024"},
		{"unknown curve", "POST", "/admin/v1/vaults", `{"name":"abc","sku":"premium","keyPolicy":{"allowedCurves":["P-224"]}}`, 400, "BadParameter", "P-224"},
		{"unknown key type", "PATCH", "/admin/v1/vaults/payments", `{"keyPolicy":{"allowedKeyTypes":["DSA"]}}`, 400, "BadParameter", "DSA"},
		{"bad duration", "PATCH", "/admin/v1/vaults/payments", `{"keyPolicy":{"maxValidity":"1y"}}`, 400, "BadParameter", "maxValidity"},
		{"other fields kept", "PATCH", "/admin/v1/vaults/payments", `{"purgeProtection":true}`, 200, "", `"keyPolicy":{"minRsaSize":3072,`},
		{"replaced", "PATCH", "/admin/v1/vaults/payments", `{"keyPolicy":{"allowedKeyTypes":["EC"]}}`, 200, "", `"keyPolicy":{"allowedKeyTypes":["EC"]}`},
		{"removed", "PATCH", "/admin/v1/vaults/payments", `{"keyPolicy":null}`, 200, "", `"uri"`},
	}
	for _, st := range steps {
		w := e.do(st.method, st.target, admin, st.body)
		wantStatus(t, st.name, w, st.status, st.code)
		if !strings.Contains(w.Body.String(), st.has) {
			t.Errorf("%s body %s does not hold %s", st.name, w.Body, st.has)
		}
	}
	if _, ok := e.vaults.vaults["abc"]; ok {
		t.Errorf("a vault with a refused key policy was created")
	}
	if w := e.do("GET", "/admin/v1/vaults/payments", admin, ""); strings.Contains(w.Body.String(), "keyPolicy") {
		t.Errorf("GET vault after keyPolicy null = %s, want no keyPolicy", w.Body)
	}
	if p := e.vaults.vaults["payments"].KeyPolicy; !p.IsZero() {
		t.Errorf("domain key policy after keyPolicy null = %+v, want none", p)
	}
}

// TestKeyPolicyViolationStatus checks the mapping of a key policy refusal:
// 400 BadParameter with inner code KeyPolicyViolation and the domain's
// message.
func TestKeyPolicyViolationStatus(t *testing.T) {
	err := &vault.Error{Kind: vault.ErrInvalid, Code: "KeyPolicyViolation", Msg: "Key policy of vault payments: RSA keys must be at least 3072 bits (minRsaSize)."}
	status, code, inner, msg, internal := errorStatus(err)
	if status != http.StatusBadRequest || code != "BadParameter" || inner != "KeyPolicyViolation" || msg != err.Msg || internal {
		t.Errorf("errorStatus(policy violation) = %d %s %s %q %v, want 400 BadParameter KeyPolicyViolation", status, code, inner, msg, internal)
	}
}
