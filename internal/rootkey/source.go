package rootkey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/seal"
)

// Modes of a Source.
const (
	ModeFile = "file"
	ModeHSM  = "hsm"
)

// FileSource keeps the root keys in a key file (seal.WriteKeys): the
// active key last.
type FileSource struct {
	path string
	rand io.Reader

	mu   sync.Mutex
	keys []*seal.RootKey
}

// OpenFile reads the key file at path into a keyring. When the file does
// not exist and create is set, a new key is generated and written (created
// reports it). rand supplies keys and nonces (nil means crypto/rand).
func OpenFile(path string, create bool, rand io.Reader) (ring *seal.Keyring, src *FileSource, created bool, err error) {
	if create {
		if _, created, err = seal.LoadOrCreateFile(path, rand); err != nil && !errors.Is(err, seal.ErrKeyFile) {
			return nil, nil, false, err
		}
	}
	ring, ks, err := seal.LoadKeyring(path, rand)
	if err != nil {
		return nil, nil, false, err
	}
	return ring, &FileSource{path: path, rand: rand, keys: ks}, created, nil
}

// Mode returns "file".
func (f *FileSource) Mode() string { return ModeFile }

// New generates a key and rewrites the key file with it last.
func (f *FileSource) New(ctx context.Context, now time.Time) (seal.KeyVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) >= seal.MaxKeys {
		return nil, fmt.Errorf("rootkey: the key file already holds %d keys", len(f.keys))
	}
	k, err := seal.Generate(f.rand)
	if err != nil {
		return nil, err
	}
	keys := append(slices.Clone(f.keys), k)
	if err := seal.WriteKeys(f.path, keys); err != nil {
		return nil, err
	}
	f.keys = keys
	return k, nil
}

// Remove rewrites the key file without the key id; when no key is left
// (the keys moved into an HSM), the file is removed.
func (f *FileSource) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.keys, func(k *seal.RootKey) bool { return k.ID() == id })
	if i < 0 {
		return nil
	}
	keys := slices.Delete(slices.Clone(f.keys), i, i+1)
	if len(keys) == 0 {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rootkey: removing the key file: %w", err)
		}
		if d, err := os.Open(filepath.Dir(f.path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	} else if err := seal.WriteKeys(f.path, keys); err != nil {
		return err
	}
	f.keys = keys
	return nil
}

// HSM is the part of the PKCS#11 provider the HSM source uses.
type HSM interface {
	RootKeys(ctx context.Context) ([]*pkcs11.RootKey, error)
	GenerateRootKey(ctx context.Context, now time.Time) (*pkcs11.RootKey, error)
	DestroyRootKey(ctx context.Context, id string) error
}

// HSMSource keeps the root keys inside the PKCS#11 token; a key file left
// from file mode is retired by the first rotation (which Resume starts).
type HSMSource struct {
	hsm    HSM
	legacy *FileSource
}

// ErrNoHSMRootKey reports an HSM-mode start without a root key in the
// token and without a key file to migrate from.
var ErrNoHSMRootKey = errors.New("rootkey: the HSM holds no root key (run `keywarden init` first, or give the token that holds it)")

// OpenHSM returns the keyring of the root keys in the token, oldest first,
// after the keys of the key file at legacyPath when that file exists (a
// deployment moving from file mode: the token key is created and becomes
// active, and Resume moves every record under it and removes the file).
// Without a token key, one is created when create is set or a key file
// exists; otherwise ErrNoHSMRootKey. created reports a new token key.
func OpenHSM(ctx context.Context, hsm HSM, legacyPath string, create bool, now time.Time, rand io.Reader) (ring *seal.Keyring, src *HSMSource, created bool, err error) {
	src = &HSMSource{hsm: hsm}
	var versions []seal.KeyVersion
	if legacyPath != "" {
		if _, err := os.Stat(legacyPath); err == nil {
			_, f, _, err := OpenFile(legacyPath, false, rand)
			if err != nil {
				return nil, nil, false, err
			}
			src.legacy = f
			for _, k := range f.keys {
				versions = append(versions, k)
			}
		}
	}
	tokenKeys, err := hsm.RootKeys(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("rootkey: listing the HSM root keys: %w", err)
	}
	if len(tokenKeys) == 0 {
		if !create && src.legacy == nil {
			return nil, nil, false, ErrNoHSMRootKey
		}
		k, err := hsm.GenerateRootKey(ctx, now)
		if err != nil {
			return nil, nil, false, fmt.Errorf("rootkey: creating the HSM root key: %w", err)
		}
		tokenKeys, created = []*pkcs11.RootKey{k}, true
	}
	for _, k := range tokenKeys {
		versions = append(versions, k)
	}
	ring, err = seal.NewKeyring(rand, versions...)
	if err != nil {
		return nil, nil, false, err
	}
	return ring, src, created, nil
}

// Mode returns "hsm".
func (h *HSMSource) Mode() string { return ModeHSM }

// New creates a root key in the token.
func (h *HSMSource) New(ctx context.Context, now time.Time) (seal.KeyVersion, error) {
	return h.hsm.GenerateRootKey(ctx, now)
}

// Remove destroys a token root key, or retires a key of the legacy key
// file.
func (h *HSMSource) Remove(ctx context.Context, id string) error {
	if h.legacy != nil && strings.HasPrefix(id, "file-") {
		return h.legacy.Remove(ctx, id)
	}
	return h.hsm.DestroyRootKey(ctx, id)
}
