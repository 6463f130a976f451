//go:build !cgo

package pkcs11

import (
	"context"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/seal"
)

// Provider is the PKCS#11 provider; in this build (no cgo) it cannot be
// opened.
type Provider struct{}

var _ keys.Provider = (*Provider)(nil)

// Open always fails with ErrNoCgo in binaries built without cgo.
func Open(cfg Config) (*Provider, error) { return nil, ErrNoCgo }

// Close does nothing.
func (p *Provider) Close() error { return nil }

// Probe returns nil.
func (p *Provider) Probe(ctx context.Context) []MechanismPath { return nil }

// Generate fails with ErrNoCgo.
func (p *Provider) Generate(ctx context.Context, spec keys.Spec) (keys.Material, error) {
	return keys.Material{}, ErrNoCgo
}

// Import fails with ErrNoCgo.
func (p *Provider) Import(ctx context.Context, spec keys.Spec, private any) (keys.Material, error) {
	return keys.Material{}, ErrNoCgo
}

// Load fails with ErrNoCgo.
func (p *Provider) Load(ctx context.Context, m keys.Material) (keys.Key, error) {
	return nil, ErrNoCgo
}

// Destroy fails with ErrNoCgo.
func (p *Provider) Destroy(ctx context.Context, m keys.Material) error { return ErrNoCgo }

// Ping fails with ErrNoCgo.
func (p *Provider) Ping(ctx context.Context) error { return ErrNoCgo }

// Sessions reports none.
func (p *Provider) Sessions() (inUse, idle int) { return 0, 0 }

// ExportWrapped fails with ErrNoCgo.
func (p *Provider) ExportWrapped(ctx context.Context, m keys.Material) ([]byte, error) {
	return nil, ErrNoCgo
}

// ImportWrapped fails with ErrNoCgo.
func (p *Provider) ImportWrapped(ctx context.Context, spec keys.Spec, wrapped []byte) (keys.Material, error) {
	return keys.Material{}, ErrNoCgo
}

// RootKey is an HSM root key; in this build it cannot exist.
type RootKey struct{}

// ID returns "".
func (k *RootKey) ID() string { return "" }

// Cipher fails with ErrNoCgo.
func (k *RootKey) Cipher(purpose string) (seal.Cipher, error) { return nil, ErrNoCgo }

// SelfTest fails with ErrNoCgo.
func (k *RootKey) SelfTest() error { return ErrNoCgo }

// DefaultRootKeyLabel is the default label of root key objects.
const DefaultRootKeyLabel = "kw-root"

// RootKeys fails with ErrNoCgo.
func (p *Provider) RootKeys(ctx context.Context, label string) ([]*RootKey, error) {
	return nil, ErrNoCgo
}

// GenerateRootKey fails with ErrNoCgo.
func (p *Provider) GenerateRootKey(ctx context.Context, label string, now time.Time) (*RootKey, error) {
	return nil, ErrNoCgo
}

// DestroyRootKey fails with ErrNoCgo.
func (p *Provider) DestroyRootKey(ctx context.Context, label, id string) error { return ErrNoCgo }
