//go:build cgo

package pkcs11_test

import (
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"os"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
)

// shared is the Provider most tests use, opened on first use and closed by
// TestMain.
var shared struct {
	once sync.Once
	p    *pkcs11.Provider
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.p != nil {
		_ = shared.p.Close()
	}
	softhsmtest.Remove()
	os.Exit(code)
}

// provider returns the shared Provider on the test token.
func provider(t testing.TB) *pkcs11.Provider {
	t.Helper()
	cfg := softhsmtest.New(t)
	shared.once.Do(func() {
		shared.p, shared.err = pkcs11.Open(cfg)
	})
	if shared.err != nil {
		t.Fatalf("Open() = %v", shared.err)
	}
	return shared.p
}
