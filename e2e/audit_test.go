package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// recordingTransport remembers every response's request id and every
// bearer token the client sent.
type recordingTransport struct {
	hc     *http.Client
	mu     sync.Mutex
	ids    []string
	tokens []string
}

func (r *recordingTransport) Do(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		r.mu.Lock()
		r.tokens = append(r.tokens, strings.TrimPrefix(a, "Bearer "))
		r.mu.Unlock()
	}
	resp, err := r.hc.Do(req)
	if err == nil {
		r.mu.Lock()
		r.ids = append(r.ids, resp.Header.Get("x-ms-request-id"))
		r.mu.Unlock()
	}
	return resp, err
}

// auditLines reads every line of the server's audit files.
func auditLines(t *testing.T, dataDir string) ([]map[string]any, string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "audit", "keywarden-audit-*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no audit files in %s/audit (%v)", dataDir, err)
	}
	var all bytes.Buffer
	var out []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("audit line is not JSON: %v: %s", err, line)
			}
			out = append(out, m)
		}
	}
	return out, all.String()
}

func TestAuditTrail(t *testing.T) {
	s := startDev(t, "", 0)
	rt := &recordingTransport{hc: s.httpClient()}
	cred := s.credential(rt.hc)
	c, err := azkeys.NewClient(s.env["KEYWARDEN_VAULT_URL"], cred, &azkeys.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: rt, Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var secrets [][]byte
	keep := func(b []byte) []byte { secrets = append(secrets, append([]byte(nil), b...)); return b }

	created, err := c.CreateKey(ctx, "audited", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	version := created.Key.KID.Version()
	plaintext := keep([]byte("attack at dawn: the audit must never hold this"))
	enc, err := c.Encrypt(ctx, "audited", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: plaintext}, nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	keep(enc.Result)
	if _, err := c.Decrypt(ctx, "audited", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: enc.Result}, nil); err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	digest := sha256.Sum256(keep([]byte("a message to sign")))
	keep(digest[:])
	sig, err := c.Sign(ctx, "audited", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmPS256), Value: digest[:]}, nil)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	keep(sig.Result)
	if _, err := c.Verify(ctx, "audited", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmPS256), Digest: digest[:], Signature: sig.Result}, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	cek := keep(bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 11))
	wrapped, err := c.WrapKey(ctx, "audited", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: cek}, nil)
	if err != nil {
		t.Fatalf("WrapKey: %v", err)
	}
	keep(wrapped.Result)
	if _, err := c.UnwrapKey(ctx, "audited", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: wrapped.Result}, nil); err != nil {
		t.Fatalf("UnwrapKey: %v", err)
	}
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := rsaJWK(priv)
	for _, m := range [][]byte{jwk.D, jwk.P, jwk.Q, jwk.DP, jwk.DQ, jwk.QI} {
		keep(m)
	}
	if _, err := c.ImportKey(ctx, "imported", azkeys.ImportKeyParameters{Key: jwk}, nil); err != nil {
		t.Fatalf("ImportKey: %v", err)
	}
	backup, err := c.BackupKey(ctx, "imported", nil)
	if err != nil {
		t.Fatalf("BackupKey: %v", err)
	}
	keep(backup.Value[:48])
	if _, err := c.GetKey(ctx, "missing", "", nil); err == nil {
		t.Error("GetKey(missing) succeeded")
	}
	if _, err := c.DeleteKey(ctx, "imported", nil); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	// An unauthenticated request and a malformed one.
	for _, body := range []string{"", "{"} {
		req, _ := http.NewRequest("POST", s.env["KEYWARDEN_VAULT_URL"]+"/keys/audited/sign?api-version=7.5", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if body != "" && len(rt.tokens) > 0 {
			req.Header.Set("Authorization", "Bearer "+rt.tokens[0])
		}
		resp, err := rt.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s.stop()

	records, raw := auditLines(t, s.dataDir)
	// Exactly one record per response the client saw.
	byID := map[string]map[string]any{}
	for _, r := range records {
		if r["category"] != "AuditEvent" {
			continue
		}
		id := r["properties"].(map[string]any)["requestId"].(string)
		if byID[id] != nil {
			t.Errorf("two records for request %s", id)
		}
		byID[id] = r
	}
	for _, id := range rt.ids {
		if byID[id] == nil {
			t.Errorf("no audit record for request %s", id)
		}
	}
	ops := map[string]int{}
	for _, r := range byID {
		ops[r["operationName"].(string)+" "+r["resultSignature"].(string)]++
	}
	for _, want := range []string{"KeyCreate OK", "KeyEncrypt OK", "KeyDecrypt OK", "KeySign OK", "KeyVerify OK", "KeyWrap OK", "KeyUnwrap OK",
		"KeyImport OK", "KeyBackup OK", "KeyGet NotFound", "KeyDelete OK", "KeySign Unauthorized", "KeySign BadRequest", "Authentication OK"} {
		if ops[want] == 0 {
			t.Errorf("no %q record; have %v", want, ops)
		}
	}
	for _, r := range byID {
		if r["operationName"] == "KeySign" && r["resultSignature"] == "OK" {
			p := r["properties"].(map[string]any)
			if p["algorithm"] != "PS256" || p["key"] != "audited" || p["version"] != version || r["resourceId"] != "/vaults/dev" {
				t.Errorf("KeySign record = %v", r)
			}
		}
	}
	// No secret in any record, in any encoding.
	secrets = append(secrets, []byte(s.env["AZURE_CLIENT_SECRET"]))
	for _, tok := range rt.tokens {
		secrets = append(secrets, []byte(tok))
		if i := strings.LastIndexByte(tok, '.'); i > 0 {
			secrets = append(secrets, []byte(tok[i+1:])) // the token's signature
		}
	}
	if len(rt.tokens) == 0 {
		t.Fatal("no token captured")
	}
	for _, sec := range secrets {
		for _, form := range []string{string(sec), base64.RawURLEncoding.EncodeToString(sec), base64.StdEncoding.EncodeToString(sec), hex.EncodeToString(sec)} {
			if len(form) >= 8 && strings.Contains(raw, form) {
				t.Errorf("the audit log holds a secret: %.24s…", form)
			}
		}
	}

	// The log verifies with the root key and with the served public key.
	out, err := exec.Command(binary, "audit", "verify", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Errorf("audit verify = %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "audit", "verify", "--public-key", filepath.Join(s.dataDir, "audit", "audit-signing-key.jwk"), filepath.Join(s.dataDir, "audit")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") {
		t.Errorf("audit verify --public-key = %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "audit", "search", "--data-dir", s.dataDir, "--operation", "KeySign", "--result", "Unauthorized", "--output", "json").CombinedOutput()
	if err != nil || strings.Count(string(out), `"operationName":"KeySign"`) != 1 {
		t.Errorf("audit search = %v\n%s", err, out)
	}

	// Tampering is found: edit one record and verify again.
	files, _ := filepath.Glob(filepath.Join(s.dataDir, "audit", "keywarden-audit-*.jsonl"))
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(b, []byte(`"resultSignature":"Unauthorized"`), []byte(`"resultSignature":"OK"          `), 1), 0o600)
	out, err = exec.Command(binary, "audit", "verify", "--data-dir", s.dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NOT INTACT") {
		t.Errorf("audit verify of an edited log = %v\n%s", err, out)
	}
}

func TestAuditPublicKeyServed(t *testing.T) {
	s := startDev(t, "", 0)
	resp, err := s.httpClient().Get(s.env["KEYWARDEN_VAULT_URL"] + "/audit/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != 200 || len(set.Keys) != 1 || set.Keys[0]["crv"] != "P-256" {
		t.Fatalf("GET /audit/v1/keys = %d %+v %v", resp.StatusCode, set, err)
	}
	file, _ := os.ReadFile(filepath.Join(s.dataDir, "audit", "audit-signing-key.jwk"))
	if !strings.Contains(string(file), set.Keys[0]["kid"].(string)) {
		t.Errorf("served kid %v is not the one in audit-signing-key.jwk", set.Keys[0]["kid"])
	}
}
