package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestVaultKeyPolicy sets a key policy on a new vault through the
// administration API and checks, through the Azure SDK on the vault's own
// origin, that keys breaking a rule are refused with 400 BadParameter
// naming the rule and that compliant keys are created.
func TestVaultKeyPolicy(t *testing.T) {
	s := startDev(t, "", 0)
	a := newAdmin(t, s)
	ctx := context.Background()
	keyPolicy := map[string]any{"minRsaSize": 3072, "allowedCurves": []string{"P-384"}, "allowedKeyTypes": []string{"RSA", "EC"},
		"requireExpiry": true, "maxValidity": "P1Y", "onePurposePerKey": true}
	var v struct {
		URI       string         `json:"uri"`
		KeyPolicy map[string]any `json:"keyPolicy"`
	}
	a.do("POST", "/vaults", map[string]any{"name": "payments", "sku": "premium", "keyPolicy": keyPolicy}, &v, http.StatusCreated)
	if v.KeyPolicy["maxValidity"] != "P1Y" || v.KeyPolicy["onePurposePerKey"] != true {
		t.Errorf("created vault keyPolicy = %v, want the policy sent", v.KeyPolicy)
	}
	a.do("POST", "/vaults", map[string]any{"name": "lax", "sku": "premium", "keyPolicy": map[string]any{"minRsaSize": 1024}}, nil, http.StatusBadRequest)

	hc := s.httpClient()
	c, err := azkeys.NewClient(v.URI, s.credential(hc), &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	soon := &azkeys.KeyAttributes{Expires: to.Ptr(time.Now().AddDate(0, 6, 0))}
	signOps := []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify)}
	refused := []struct {
		name string
		p    azkeys.CreateKeyParameters
		rule string
	}{
		{"RSA 2048", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048), KeyOps: signOps, KeyAttributes: soon}, "minRsaSize"},
		{"RSA without key_ops", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072), KeyAttributes: soon}, "onePurposePerKey"},
		{"P-256", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256), KeyAttributes: soon}, "allowedCurves"},
		{"no expiry", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP384)}, "requireExpiry"},
		{"two years", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP384),
			KeyAttributes: &azkeys.KeyAttributes{Expires: to.Ptr(time.Now().AddDate(2, 0, 0))}}, "maxValidity"},
	}
	for _, tt := range refused {
		_, err := c.CreateKey(ctx, "refused", tt.p, nil)
		re := asResponseError(err)
		body := string(mustBody(re))
		if re.StatusCode != http.StatusBadRequest || re.ErrorCode != "BadParameter" ||
			!strings.Contains(body, "KeyPolicyViolation") || !strings.Contains(body, "("+tt.rule+").") {
			t.Errorf("CreateKey(%s) = %v, want 400 BadParameter naming (%s)", tt.name, err, tt.rule)
		}
	}
	if _, err := c.GetKey(ctx, "refused", "", nil); asResponseError(err).StatusCode != http.StatusNotFound {
		t.Errorf("GetKey(refused) = %v, want 404: no refused create made a key", err)
	}

	k, err := c.CreateKey(ctx, "invoice-signing", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072), KeyOps: signOps, KeyAttributes: soon}, nil)
	if err != nil {
		t.Fatalf("CreateKey(compliant RSA) = %v", err)
	}
	if len(k.Key.KeyOps) != 2 {
		t.Errorf("compliant RSA key_ops = %d, want sign and verify", len(k.Key.KeyOps))
	}
	if _, err := c.CreateKey(ctx, "card-signing", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP384), KeyAttributes: soon}, nil); err != nil {
		t.Fatalf("CreateKey(compliant EC) = %v", err)
	}
	// An update that adds an encryption operation breaks one purpose per key.
	_, err = c.UpdateKey(ctx, "invoice-signing", "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{
		to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify), to.Ptr(azkeys.KeyOperationEncrypt)}}, nil)
	if re := asResponseError(err); re.StatusCode != http.StatusBadRequest || !strings.Contains(string(mustBody(re)), "(onePurposePerKey).") {
		t.Errorf("UpdateKey(sign, verify, encrypt) = %v, want 400 naming (onePurposePerKey)", err)
	}

	// Removing the policy lets the same requests through; existing keys stay.
	a.do("PATCH", "/vaults/payments", map[string]any{"keyPolicy": nil}, nil, http.StatusOK)
	if _, err := c.CreateKey(ctx, "refused", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Errorf("CreateKey(P-256) after the policy was removed = %v", err)
	}
}
