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
	gone := f.keys[i]
	keys := slices.Delete(slices.Clone(f.keys), i, i+1)
	if len(keys) == 0 {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rootkey: removing the key file: %w", err)
		}
		d, err := os.Open(filepath.Dir(f.path))
		if err != nil {
			return fmt.Errorf("rootkey: syncing the key directory: %w", err)
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("rootkey: syncing the key directory: %w", err)
		}
	} else if err := seal.WriteKeys(f.path, keys); err != nil {
		return err
	}
	f.keys = keys
	gone.Destroy()
	return nil
}

// HSM is the part of the PKCS#11 provider the HSM source uses.
type HSM interface {
	RootKeys(ctx context.Context, label string) ([]*pkcs11.RootKey, error)
	GenerateRootKey(ctx context.Context, label string, now time.Time) (*pkcs11.RootKey, error)
	DestroyRootKey(ctx context.Context, label, id string) error
}

// HSMSource keeps the root keys inside the PKCS#11 token, as objects
// labelled with the deployment's label; a key file left from file mode is
// retired by the first rotation (which Resume starts).
type HSMSource struct {
	hsm    HSM
	label  string
	legacy *FileSource
}

// HSMOptions configure OpenHSM.
type HSMOptions struct {
	// Label is the CKA_LABEL of this deployment's root key objects;
	// empty means pkcs11.DefaultRootKeyLabel. Deployments sharing a token
	// need distinct labels.
	Label string
	// LegacyPath is the key file of file mode; when it exists, its keys
	// open the records not yet moved into the HSM.
	LegacyPath string
	// Create allows creating the first token key (init, dev). Without it a
	// token key is still created to move a key file's records into the HSM,
	// unless CheckOnly is set.
	Create bool
	// CheckOnly opens without changing the token (restore's check).
	CheckOnly bool
}

// ErrNoHSMRootKey reports an HSM-mode start without a root key in the
// token and without a key file to migrate from.
var ErrNoHSMRootKey = errors.New("rootkey: the HSM holds no root key (run `keywarden init` first, or give the token that holds it)")

// OpenHSM returns the keyring of the root keys in the token, oldest first,
// after the keys of the key file at o.LegacyPath when that file exists (a
// deployment moving from file mode: the token key is created and becomes
// active, and Resume moves every record under it and removes the file).
// Without a token key, one is created when o.Create is set or a key file
// exists (unless o.CheckOnly); otherwise ErrNoHSMRootKey. The active token
// key must pass its self-test. created reports a new token key.
func OpenHSM(ctx context.Context, hsm HSM, o HSMOptions, now time.Time, rand io.Reader) (ring *seal.Keyring, src *HSMSource, created bool, err error) {
	if o.Label == "" {
		o.Label = pkcs11.DefaultRootKeyLabel
	}
	src = &HSMSource{hsm: hsm, label: o.Label}
	var versions []seal.KeyVersion
	if o.LegacyPath != "" {
		if _, err := os.Stat(o.LegacyPath); err == nil {
			_, f, _, err := OpenFile(o.LegacyPath, false, rand)
			if err != nil {
				return nil, nil, false, err
			}
			src.legacy = f
			for _, k := range f.keys {
				versions = append(versions, k)
			}
		}
	}
	tokenKeys, err := hsm.RootKeys(ctx, o.Label)
	if err != nil {
		return nil, nil, false, fmt.Errorf("rootkey: listing the HSM root keys: %w", err)
	}
	if len(tokenKeys) == 0 {
		switch {
		case !o.CheckOnly && (o.Create || src.legacy != nil):
			k, err := hsm.GenerateRootKey(ctx, o.Label, now)
			if err != nil {
				return nil, nil, false, fmt.Errorf("rootkey: creating the HSM root key: %w", err)
			}
			tokenKeys, created = []*pkcs11.RootKey{k}, true
		case src.legacy == nil:
			return nil, nil, false, ErrNoHSMRootKey
		}
	}
	for _, k := range tokenKeys {
		versions = append(versions, k)
	}
	if n := len(tokenKeys); n > 0 {
		if err := tokenKeys[n-1].SelfTest(); err != nil {
			return nil, nil, false, err
		}
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
	return h.hsm.GenerateRootKey(ctx, h.label, now)
}

// Remove destroys a token root key, or retires a key of the legacy key
// file.
func (h *HSMSource) Remove(ctx context.Context, id string) error {
	if h.legacy != nil && strings.HasPrefix(id, "file-") {
		return h.legacy.Remove(ctx, id)
	}
	return h.hsm.DestroyRootKey(ctx, h.label, id)
}
