package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// admin calls the administration API with the dev administrator's token.
type admin struct {
	t     *testing.T
	s     *server
	hc    *http.Client
	token string
}

func newAdmin(t *testing.T, s *server) *admin {
	t.Helper()
	hc := s.httpClient()
	tok, err := s.credential(hc).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("https://localhost:%d/.default", s.port)}})
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return &admin{t: t, s: s, hc: hc, token: tok.Token}
}

// do sends a JSON request to the admin API and decodes the answer into out.
func (a *admin) do(method, path string, in, out any, want int) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.s.env["KEYWARDEN_VAULT_URL"]+"/admin/v1"+path, body)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type principal struct {
	ClientID     string `json:"clientId"`
	ObjectID     string `json:"objectId"`
	ClientSecret string `json:"clientSecret"`
}

// principalWithRole creates a principal holding only role at scope and
// returns an azkeys client acting as it.
func (a *admin) principalWithRole(name, roleID, scope string) (*azkeys.Client, principal) {
	a.t.Helper()
	var p principal
	a.do("POST", "/principals", map[string]any{"name": name}, &p, http.StatusCreated)
	if p.ClientSecret == "" || p.ObjectID == "" {
		a.t.Fatalf("POST /principals answered no secret or object id: %+v", p)
	}
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": p.ObjectID, "roleDefinitionId": roleID, "scope": scope}, nil, http.StatusCreated)
	hc := a.s.httpClient()
	cred, err := azidentity.NewClientSecretCredential(a.s.env["AZURE_TENANT_ID"], p.ClientID, p.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: a.s.env["AZURE_AUTHORITY_HOST"]}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		a.t.Fatal(err)
	}
	c, err := azkeys.NewClient(a.s.env["KEYWARDEN_VAULT_DNS_URL"], cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		a.t.Fatal(err)
	}
	return c, p
}

var idCounter int

func newID() string {
	idCounter++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idCounter)
}

// Built-in role ids (Azure's).
const (
	roleAdministrator     = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleCryptoOfficer     = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
	roleCryptoUser        = "12338af0-0e69-4776-bea7-57ae8d297424"
	roleServiceEncryption = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	roleServiceRelease    = "08bbd89e-9f13-488c-ac41-acfcb10c90ab"
	roleReader            = "21090545-7ca7-4776-b22c-e363652d74d2"
)

// TestPermissionMatrix gives each built-in role to its own principal, at
// vault scope and at key scope, and attempts every key data action through
// the Azure SDK, asserting the outcome against the role's data actions.
func TestPermissionMatrix(t *testing.T) {
	s := startDev(t, "", 0)
	a := newAdmin(t, s)
	owner := s.client(true)
	ctx := context.Background()
	digest := hashFor(azkeys.SignatureAlgorithmRS256, []byte("matrix"))

	// State-changing actions come last: recover and purge leave the key deleted.
	all := []string{"read", "create", "import", "update", "backup", "encrypt", "decrypt", "wrap", "unwrap", "sign", "verify", "rotate", "getpolicy", "setpolicy", "delete", "recover", "purge", "restore"}
	roles := []struct {
		name, id string
		allowed  []string
	}{
		{"administrator", roleAdministrator, all},
		{"officer", roleCryptoOfficer, all},
		{"user", roleCryptoUser, []string{"read", "update", "backup", "encrypt", "decrypt", "wrap", "unwrap", "sign", "verify"}},
		{"encryption", roleServiceEncryption, []string{"read", "wrap", "unwrap"}},
		{"release", roleServiceRelease, nil},
		{"reader", roleReader, []string{"read", "getpolicy"}}, // vaults/*/read covers keyrotationpolicies/read
	}
	for _, scopeKind := range []string{"vault", "key"} {
		for _, role := range roles {
			t.Run(scopeKind+"/"+role.name, func(t *testing.T) {
				k := fmt.Sprintf("m-%s-%s", scopeKind, role.name)
				mk := func(name string) string {
					r, err := owner.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
					if err != nil {
						t.Fatal(err)
					}
					return r.Key.KID.Version()
				}
				v0 := mk(k) // create and import add EC versions: crypto attempts name this one
				scope := "/vaults/dev"
				if scopeKind == "key" {
					scope = "/vaults/dev/keys/" + k
				}
				c, _ := a.principalWithRole(k, role.id, scope)
				enc, _ := owner.Encrypt(ctx, k, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
				sig, _ := owner.Sign(ctx, k, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
				backup, _ := owner.BackupKey(ctx, k, nil)
				attempts := map[string]func() error{
					"read": func() error { _, err := c.GetKey(ctx, k, "", nil); return err },
					"create": func() error {
						_, err := c.CreateKey(ctx, k, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
						return err
					},
					"import": func() error {
						_, err := c.ImportKey(ctx, k, azkeys.ImportKeyParameters{Key: ecJWK()}, nil)
						return err
					},
					"update": func() error {
						_, err := c.UpdateKey(ctx, k, "", azkeys.UpdateKeyParameters{Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
						return err
					},
					"encrypt": func() error {
						_, err := c.Encrypt(ctx, k, v0, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
						return err
					},
					"decrypt": func() error {
						_, err := c.Decrypt(ctx, k, enc.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: enc.Result}, nil)
						return err
					},
					"wrap": func() error {
						_, err := c.WrapKey(ctx, k, v0, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("0123456789abcdef")}, nil)
						return err
					},
					"unwrap": func() error {
						_, err := c.UnwrapKey(ctx, k, enc.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: enc.Result}, nil)
						return err
					},
					"sign": func() error {
						_, err := c.Sign(ctx, k, v0, azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest}, nil)
						return err
					},
					"verify": func() error {
						_, err := c.Verify(ctx, k, sig.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: digest, Signature: sig.Result}, nil)
						return err
					},
					"backup":    func() error { _, err := c.BackupKey(ctx, k, nil); return err },
					"rotate":    func() error { _, err := c.RotateKey(ctx, k, nil); return err },
					"getpolicy": func() error { _, err := c.GetKeyRotationPolicy(ctx, k, nil); return err },
					"setpolicy": func() error {
						_, err := c.UpdateKeyRotationPolicy(ctx, k, azkeys.KeyRotationPolicy{Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P90D")}}, nil)
						return err
					},
					// State-changing actions last, on the same key.
					"delete": func() error { _, err := c.DeleteKey(ctx, k, nil); return err },
					"recover": func() error {
						owner.DeleteKey(ctx, k, nil)
						_, err := c.RecoverDeletedKey(ctx, k, nil)
						return err
					},
					"purge": func() error {
						owner.DeleteKey(ctx, k, nil)
						_, err := c.PurgeDeletedKey(ctx, k, nil)
						return err
					},
					"restore": func() error {
						owner.PurgeDeletedKey(ctx, k, nil)
						_, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
						return err
					},
				}
				allowed := map[string]bool{}
				for _, op := range role.allowed {
					allowed[op] = true
				}
				for _, op := range all {
					if scopeKind == "key" && op == "restore" {
						continue // restore acts on the vault, not on one key: checked at vault scope
					}
					err := attempts[op]()
					var re *azcore.ResponseError
					denied := errors.As(err, &re) && re.StatusCode == http.StatusForbidden
					if denied && !strings.Contains(string(mustBody(re)), "ForbiddenByRbac") {
						t.Errorf("%s: 403 without ForbiddenByRbac: %v", op, err)
					}
					switch {
					case allowed[op] && err != nil:
						t.Errorf("%s = %v, want allowed", op, err)
					case !allowed[op] && !denied:
						t.Errorf("%s = %v, want 403 ForbiddenByRbac", op, err)
					}
				}
				if scopeKind == "key" && len(role.allowed) > 0 {
					// A key-scope assignment grants nothing on other keys or the vault.
					pager := c.NewListKeyPropertiesPager(nil)
					if _, err := pager.NextPage(ctx); !isForbidden(err) {
						t.Errorf("list keys with a key-scope assignment = %v, want 403", err)
					}
					mk(k + "-other")
					if _, err := c.GetKey(ctx, k+"-other", "", nil); !isForbidden(err) {
						t.Errorf("get another key with a key-scope assignment = %v, want 403", err)
					}
				}
			})
		}
	}
}

// TestNoAssignmentNoAccess checks deny by default and that deleting or
// disabling a principal stops its tokens at once.
func TestNoAssignmentNoAccess(t *testing.T) {
	s := startDev(t, "", 0)
	a := newAdmin(t, s)
	ctx := context.Background()
	if _, err := s.client(true).CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	var p principal
	a.do("POST", "/principals", map[string]any{"name": "nobody"}, &p, http.StatusCreated)
	hc := s.httpClient()
	cred, _ := azidentity.NewClientSecretCredential(s.env["AZURE_TENANT_ID"], p.ClientID, p.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.env["AZURE_AUTHORITY_HOST"]}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	c, _ := azkeys.NewClient(s.env["KEYWARDEN_VAULT_DNS_URL"], cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if _, err := c.GetKey(ctx, "k", "", nil); !isForbidden(err) {
		t.Errorf("GetKey without assignment = %v, want 403", err)
	}
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": p.ObjectID, "roleDefinitionId": roleReader, "scope": "/"}, nil, http.StatusCreated)
	if _, err := c.GetKey(ctx, "k", "", nil); err != nil {
		t.Errorf("GetKey with Reader = %v, want allowed", err)
	}
	a.do("PATCH", "/principals/"+p.ClientID, map[string]any{"disabled": true}, nil, http.StatusOK)
	var re *azcore.ResponseError
	if _, err := c.GetKey(ctx, "k", "", nil); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("GetKey after disable = %v, want 401 at once", err)
	}
}

func isForbidden(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

func mustBody(re *azcore.ResponseError) []byte {
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(re.RawResponse.Body)
	re.RawResponse.Body = io.NopCloser(bytes.NewReader(b))
	return b
}
