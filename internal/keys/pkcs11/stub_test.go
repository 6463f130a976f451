//go:build !cgo

package pkcs11

import (
	"errors"
	"testing"

	"github.com/keywarden/keywarden/internal/secret"
)

func TestStubOpenFails(t *testing.T) {
	p, err := Open(Config{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", PIN: secret.New([]byte("1"))})
	if p != nil || !errors.Is(err, ErrNoCgo) {
		t.Errorf("Open() = %v, %v, want nil, ErrNoCgo", p, err)
	}
}
