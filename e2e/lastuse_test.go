package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestLastUseSurvivesRestart signs through azkeys, stops the server
// gracefully (which writes the keys' last use), restarts it and reads the
// last use with `keywarden key show -o json`.
func TestLastUseSurvivesRestart(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(true)
	ctx := context.Background()
	for _, name := range []string{"used", "unused"} {
		if _, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
			t.Fatalf("CreateKey(%s) = %v", name, err)
		}
	}
	digest := sha256.Sum256([]byte("last use"))
	earliest := time.Now().UTC().Truncate(time.Minute)
	if _, err := c.Sign(ctx, "used", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil); err != nil {
		t.Fatalf("Sign = %v", err)
	}
	latest := time.Now().UTC()
	s.stop()

	s2 := startDev(t, s.dataDir, s.port)
	show := func(name string) *time.Time {
		t.Helper()
		out, err := exec.Command(binary, "key", "show", name, "-o", "json", "--env-file", filepath.Join(s2.dataDir, "dev.env")).Output()
		if err != nil {
			t.Fatalf("keywarden key show %s: %v", name, err)
		}
		var doc struct {
			LastUsed *time.Time `json:"lastUsed"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("key show %s -o json = %q: %v", name, out, err)
		}
		return doc.LastUsed
	}
	got := show("used")
	if got == nil || got.Before(earliest) || got.After(latest) || !got.Equal(got.Truncate(time.Minute)) {
		t.Errorf("key show used: lastUsed = %v, want the minute of the sign, in [%v, %v]", got, earliest, latest)
	}
	if got := show("unused"); got != nil {
		t.Errorf("key show unused: lastUsed = %v, want none", got)
	}
}
