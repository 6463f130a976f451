package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keywarden/keywarden/internal/tlsca"
)

// TestExternalIssuer configures a trusted external OIDC issuer (keys from a
// JWKS file) and checks that its tokens work only for what their subject —
// or their group — was granted, and that forged tokens are refused.
func TestExternalIssuer(t *testing.T) {
	dir := t.TempDir()
	idpKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := jose.JSONWebKey{Key: idpKey.Public(), KeyID: "idp-1", Algorithm: "ES256", Use: "sig"}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	if err := os.WriteFile(filepath.Join(dir, "idp-jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := tlsca.LoadOrCreateCA(filepath.Join(dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlsca.NewServerCertificates(ca, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := fmt.Sprintf(`{"dataDir": %q, "listen": "127.0.0.1:%d", "tenantId": "contoso", "defaultVault": "prod",
  "vaults": [{"name": "prod", "sku": "premium", "retentionDays": 90}],
  "tls": {"certFile": %q, "keyFile": %q},
  "externalIssuers": [{"issuer": "https://idp.example.test/realms/apps", "jwksFile": %q, "audiences": ["api://keywarden"], "groupsClaim": "groups"}]}`,
		filepath.Join(dir, "data"), port, filepath.Join(dir, "pki", tlsca.ServerFile), filepath.Join(dir, "pki", tlsca.ServerKeyFile), filepath.Join(dir, "idp-jwks.json"))
	cfgPath := filepath.Join(dir, "keywarden.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	out, err := exec.Command(binary, "init", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	clientID := regexp.MustCompile(`client id\s+(\S+)`).FindSubmatch(out)[1]
	clientSecret := regexp.MustCompile(`client secret\s+(\S+)`).FindSubmatch(out)[1]
	srv := exec.Command(binary, "server", "--config", cfgPath)
	var log strings.Builder
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", log.String())
		}
	}()
	s := &server{t: t, port: port, env: map[string]string{
		"KEYWARDEN_CA_CERT": ca.CertPath(), "KEYWARDEN_VAULT_URL": fmt.Sprintf("https://127.0.0.1:%d", port),
		"AZURE_TENANT_ID": "contoso", "AZURE_CLIENT_ID": string(clientID), "AZURE_CLIENT_SECRET": string(clientSecret),
		"AZURE_AUTHORITY_HOST": fmt.Sprintf("https://127.0.0.1:%d/", port),
	}}
	hc := s.httpClient()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := hc.Get(s.env["KEYWARDEN_VAULT_URL"] + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	const idp = "https://idp.example.test/realms/apps"
	a := newAdmin(t, s)
	// The first administrator grants the external user Reader on the vault,
	// and the external group Crypto Officer, both bound to the external
	// issuer.
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": "alice-oid", "principalIssuer": idp, "roleDefinitionId": roleReader, "scope": "/vaults/prod"}, nil, http.StatusCreated)
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": "signers", "principalIssuer": idp, "roleDefinitionId": roleCryptoOfficer, "scope": "/vaults/prod"}, nil, http.StatusCreated)
	// The same ids without the issuer name built-in principals: they grant
	// the external tokens nothing more.
	a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": "alice-oid", "roleDefinitionId": roleCryptoOfficer, "scope": "/vaults/prod"}, nil, http.StatusCreated)
	// The built-in administrator's object id.
	var principals struct {
		Value []principal `json:"value"`
	}
	a.do("GET", "/principals", nil, &principals, http.StatusOK)
	var adminOID string
	for _, p := range principals.Value {
		if p.ClientID == string(clientID) {
			adminOID = p.ObjectID
		}
	}
	if adminOID == "" {
		t.Fatalf("administrator %s not among the principals %+v", clientID, principals.Value)
	}

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: idpKey, KeyID: "idp-1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	token := func(key any, alg jose.SignatureAlgorithm, claims map[string]any) string {
		sg := signer
		if key != nil {
			sg, _ = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
		}
		now := time.Now()
		base := map[string]any{"iss": "https://idp.example.test/realms/apps", "aud": "api://keywarden", "sub": "alice-sub", "oid": "alice-oid",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range claims {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		tok, err := jwt.Signed(sg).Claims(base).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	call := func(tok, method, path string) int {
		target := s.env["KEYWARDEN_VAULT_URL"] + path + "?api-version=7.5"
		var body io.Reader = strings.NewReader(`{"kty":"EC"}`)
		if strings.HasPrefix(path, "/admin/") {
			target, body = s.env["KEYWARDEN_VAULT_URL"]+path, nil
		}
		req, _ := http.NewRequestWithContext(context.Background(), method, target, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name         string
		tok          string
		method, path string
		want         int
	}{
		{"reader lists", token(nil, "", nil), "GET", "/keys", 200},
		{"reader cannot create", token(nil, "", nil), "POST", "/keys/ext/create", 403},
		{"reader cannot administer", token(nil, "", nil), "GET", "/admin/v1/principals", 403},
		{"administrator's oid, keys", token(nil, "", map[string]any{"oid": adminOID}), "GET", "/keys", 403},
		{"administrator's oid, create", token(nil, "", map[string]any{"oid": adminOID}), "POST", "/keys/ext2/create", 403},
		{"administrator's oid, admin", token(nil, "", map[string]any{"oid": adminOID}), "GET", "/admin/v1/principals", 403},
		{"administrator's oid as sub, admin", token(nil, "", map[string]any{"oid": nil, "sub": adminOID}), "GET", "/admin/v1/roleAssignments", 403},
		{"administrator's oid as group, admin", token(nil, "", map[string]any{"oid": "carol-oid", "groups": []string{adminOID}}), "GET", "/admin/v1/vaults", 403},
		{"group member creates", token(nil, "", map[string]any{"oid": "bob-oid", "groups": []string{"signers"}}), "POST", "/keys/ext/create", 200},
		{"wrong audience", token(nil, "", map[string]any{"aud": "api://other"}), "GET", "/keys", 401},
		{"wrong issuer", token(nil, "", map[string]any{"iss": "https://evil.example.test"}), "GET", "/keys", 401},
		{"expired", token(nil, "", map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()}), "GET", "/keys", 401},
		{"not yet valid", token(nil, "", map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "GET", "/keys", 401},
		{"signed by another key", token(jose.JSONWebKey{Key: other, KeyID: "idp-1"}, jose.ES256, nil), "GET", "/keys", 401},
		{"HS256 with the public key", token(mustJSON(jwk), jose.HS256, nil), "GET", "/keys", 401},
		{"unsigned", unsigned(), "GET", "/keys", 401},
	}
	for _, tt := range tests {
		if got := call(tt.tok, tt.method, tt.path); got != tt.want {
			t.Errorf("%s: %s %s = %d, want %d", tt.name, tt.method, tt.path, got, tt.want)
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// unsigned returns an alg=none token.
func unsigned() string {
	enc := func(s string) string { return strings.TrimRight(jsonB64(s), "=") }
	now := time.Now().Unix()
	return enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(fmt.Sprintf(`{"iss":"https://idp.example.test/realms/apps","aud":"api://keywarden","oid":"alice-oid","iat":%d,"nbf":%d,"exp":%d}`, now, now, now+3600)) + "."
}
