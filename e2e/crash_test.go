package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestCrashKeepsAcknowledgedWrites kills the server (SIGKILL) under a
// stream of creates and checks after restart that every create answered
// with 200 is present and the store opens cleanly.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	acked := map[string]string{} // name -> version
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("crash-%d-%d", w, i)
				resp, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[name] = resp.Key.KID.Version()
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	cancel()
	wg.Wait()
	if len(acked) < 40 {
		t.Fatalf("only %d creates acknowledged before the kill", len(acked))
	}

	s2 := startDev(t, s.dataDir, s.port)
	c2 := s2.client(false)
	for name, version := range acked {
		got, err := c2.GetKey(context.Background(), name, "", nil)
		if err != nil {
			t.Errorf("acknowledged key %s lost after SIGKILL: %v", name, err)
			continue
		}
		if got.Key.KID.Version() != version {
			t.Errorf("key %s version = %s, want %s", name, got.Key.KID.Version(), version)
		}
	}
	t.Logf("%d acknowledged creates survived SIGKILL", len(acked))
}

// TestRestartKeepsEverything restarts gracefully and checks that keys,
// credentials and the CA are kept.
func TestRestartKeepsEverything(t *testing.T) {
	s := startDev(t, "", 0)
	c := s.client(true)
	ctx := context.Background()
	created, err := c.CreateKey(ctx, "persist", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.env
	s.stop()
	s2 := startDev(t, s.dataDir, s.port)
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "KEYWARDEN_CA_CERT"} {
		if s2.env[k] != before[k] {
			t.Errorf("dev.env %s changed across restart", k)
		}
	}
	got, err := s2.client(true).GetKey(ctx, "persist", "", nil)
	if err != nil || *got.Key.KID != *created.Key.KID {
		t.Errorf("GetKey after restart = %v, %v; want %s", got.Key, err, *created.Key.KID)
	}
}
