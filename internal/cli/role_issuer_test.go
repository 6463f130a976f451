package cli

import (
	"strings"
	"testing"
)

// TestRoleAssignIssuer checks --issuer of role assign: it is sent as
// principalIssuer, shown in the output, and refused when it is not an https
// URL or goes with --principal.
func TestRoleAssignIssuer(t *testing.T) {
	const idp = "https://idp.example.test/realms/apps"
	s := newAdminSession(t)
	stdout, stderr, err := s.exec("role", "assign", "--object-id", "signers", "--issuer", idp, "--role", cryptoUserID, "--vault", "payments")
	if err != nil {
		t.Fatalf("role assign --issuer = %v (%s)", err, stderr)
	}
	if len(s.f.assignments) != 1 || s.f.assignments[0].PrincipalIssuer != idp || s.f.assignments[0].PrincipalID != "signers" {
		t.Fatalf("stored assignments = %+v, want signers of %s", s.f.assignments, idp)
	}
	if !strings.Contains(stdout, "signers ["+idp+"]") {
		t.Errorf("role assign --issuer printed %q, want the principal with its issuer", stdout)
	}
	stdout, stderr, err = s.exec("role", "assignments", "-o", "json")
	if err != nil || !strings.Contains(stdout, `"principalIssuer": "`+idp+`"`) {
		t.Errorf("role assignments -o json = %v %q (%s), want principalIssuer %s", err, stdout, stderr, idp)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--object-id", "x", "--issuer", "http://idp.example.test"}, "want the external issuer's https URL"},
		{[]string{"--object-id", "x", "--issuer", "idp.example.test"}, "want the external issuer's https URL"},
		{[]string{"--principal", "billing", "--issuer", idp}, "--issuer goes with --object-id"},
	} {
		args := append([]string{"role", "assign", "--role", cryptoUserID}, tt.args...)
		if _, stderr, err := s.exec(args...); err == nil || !strings.Contains(stderr+err.Error(), tt.want) {
			t.Errorf("%v = %v (%s), want an error with %q", args, err, stderr, tt.want)
		}
	}
	if len(s.f.assignments) != 1 {
		t.Errorf("refused commands stored assignments: %+v", s.f.assignments)
	}
}
