package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestObservability checks the metrics listener: counters move after known
// operations, the inventory counts keys, and /healthz and /readyz answer.
func TestObservability(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(false)
	ctx := context.Background()
	if _, err := c.CreateKey(ctx, "observed", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Sign(ctx, "observed", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: hashFor(azkeys.SignatureAlgorithmES256, []byte("m"))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RotateKey(ctx, "observed", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetKey(ctx, "missing", "", nil); err == nil {
		t.Fatal("GetKey(missing) succeeded")
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.metricsPort, path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/metrics")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	for _, want := range []string{
		`keywarden_requests_total{operation="KeySign",result="Success",status="200",vault="dev"} 3`,
		`keywarden_requests_total{operation="KeyGet",result="Failure",status="404",vault="dev"} 1`,
		`keywarden_crypto_operations_total{algorithm="ES256",key_type="EC",operation="KeySign"} 3`,
		`keywarden_request_duration_seconds_bucket{operation="KeySign",vault="dev"`,
		`keywarden_rotations_total{vault="dev"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := get(path); status != 200 {
			t.Errorf("%s = %d %s, want 200", path, status, body)
		}
	}
	if _, body := get("/readyz"); !strings.Contains(body, "audit") || !strings.Contains(body, "store") {
		t.Errorf("/readyz = %s, want the store and audit checks listed", body)
	}

	// A key deletion raises an alert: in the log, the metrics and the
	// audit trail.
	if _, err := c.DeleteKey(ctx, "observed", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get("/metrics")
		audited := false
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "audit", "*.jsonl"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			audited = audited || strings.Contains(string(b), `"category":"Alert"`)
		}
		if strings.Contains(body, "keywarden_alerts_total{") && audited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert after a key deletion: metric present %v, audit record %v", strings.Contains(body, "keywarden_alerts_total{"), audited)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
