package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestVaultAdministration creates a vault through the administration API,
// uses it at once on its own origin (its host joins the served certificate
// without a restart), applies network rules, and deletes it.
func TestVaultAdministration(t *testing.T) {
	s := startDev(t, "", 0)
	a := newAdmin(t, s)
	ctx := context.Background()
	var v struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	a.do("POST", "/vaults", map[string]any{"name": "payments", "sku": "premium", "retentionDays": 7}, &v, http.StatusCreated)
	if want := fmt.Sprintf("https://payments.localhost:%d", s.port); v.URI != want {
		t.Errorf("vault uri = %s, want %s", v.URI, want)
	}
	hc := s.httpClient()
	c, err := azkeys.NewClient(v.URI, s.credential(hc), &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, "card-signing", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
	if err != nil {
		t.Fatalf("CreateKey in the new vault over TLS: %v", err)
	}
	if *k.Attributes.RecoverableDays != 7 {
		t.Errorf("recoverableDays = %d, want 7", *k.Attributes.RecoverableDays)
	}
	var p principal
	a.do("POST", "/principals", map[string]any{"name": "payments-app"}, &p, http.StatusCreated)
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": p.ObjectID, "roleDefinitionId": roleCryptoUser, "scope": "/vaults/payments"}, nil, http.StatusCreated)

	// Network rules: deny by default, then allow 127.0.0.1.
	a.do("PATCH", "/vaults/payments", map[string]any{"networkRules": map[string]any{"defaultAction": "Deny", "ipRules": []string{"10.0.0.0/8"}}}, nil, http.StatusOK)
	_, err = c.GetKey(ctx, "card-signing", "", nil)
	if !isForbidden(err) || !contains(mustBody(asResponseError(err)), "ForbiddenByFirewall") {
		t.Errorf("GetKey from 127.0.0.1 outside the allow-list = %v, want 403 ForbiddenByFirewall", err)
	}
	a.do("PATCH", "/vaults/payments", map[string]any{"networkRules": map[string]any{"defaultAction": "Deny", "ipRules": []string{"10.0.0.0/8", "127.0.0.1"}}}, nil, http.StatusOK)
	if _, err := c.GetKey(ctx, "card-signing", "", nil); err != nil {
		t.Errorf("GetKey from 127.0.0.1 inside the allow-list = %v", err)
	}

	// A vault holding keys, even soft-deleted ones, cannot be deleted.
	a.do("DELETE", "/vaults/payments", nil, nil, http.StatusConflict)
	if _, err := c.DeleteKey(ctx, "card-signing", nil); err != nil {
		t.Fatal(err)
	}
	a.do("DELETE", "/vaults/payments", nil, nil, http.StatusConflict)
	if _, err := c.PurgeDeletedKey(ctx, "card-signing", nil); err != nil {
		t.Fatal(err)
	}
	a.do("DELETE", "/vaults/payments", nil, nil, http.StatusNoContent)
	var left struct {
		Value []any `json:"value"`
	}
	a.do("GET", "/roleAssignments?principalId="+p.ObjectID, nil, &left, http.StatusOK)
	if len(left.Value) != 0 {
		t.Errorf("role assignments of the deleted vault left: %v", left.Value)
	}
	a.do("GET", "/vaults/payments", nil, nil, http.StatusNotFound)
}

func asResponseError(err error) *azcore.ResponseError {
	re, _ := err.(*azcore.ResponseError)
	if re == nil {
		return &azcore.ResponseError{}
	}
	return re
}

func contains(b []byte, s string) bool { return len(b) > 0 && bytesContains(b, s) }
