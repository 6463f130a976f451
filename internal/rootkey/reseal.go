package rootkey

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// BlobResealer re-seals the store blob name, sealed by sealer with aad. A
// missing blob is nothing to do.
func BlobResealer(st store.Store, name string, sealer seal.Sealer, aad []byte) Resealer {
	return Resealer{Name: "blob " + name, Reseal: func(ctx context.Context, stale func([]byte) bool) (int, error) {
		n := 0
		err := st.Update(ctx, func(tx store.Tx) error {
			n = 0
			old, err := tx.Blob(name)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !stale(old)) {
				return nil
			}
			if err != nil {
				return err
			}
			fresh, err := reseal(sealer, old, aad)
			if err != nil {
				return err
			}
			n = 1
			return tx.PutBlob(name, fresh)
		})
		return n, err
	}}
}

// FileResealer re-seals the file at path, sealed by sealer with aad,
// replacing it atomically. A missing file is nothing to do.
func FileResealer(path string, sealer seal.Sealer, aad []byte) Resealer {
	return Resealer{Name: "file " + filepath.Base(path), Reseal: func(ctx context.Context, stale func([]byte) bool) (int, error) {
		old, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) || (err == nil && !stale(old)) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		fresh, err := reseal(sealer, old, aad)
		if err != nil {
			return 0, err
		}
		if err := WriteFileAtomic(path, fresh); err != nil {
			return 0, err
		}
		return 1, nil
	}}
}

// reseal opens a record and seals its plaintext again under the active
// key.
func reseal(sealer seal.Sealer, old, aad []byte) ([]byte, error) {
	pt, err := sealer.Open(old, aad)
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	defer pt.Clear()
	return sealer.Seal(pt.Expose(), aad)
}

// WriteFileAtomic replaces path with data (mode 0600) through a synced
// temporary file and a rename, then syncs the directory.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// DataKeyAAD is the additional data a data key is sealed with: its name.
func DataKeyAAD(name string) []byte { return []byte("keywarden/data-key/" + name) }

// DataKeySealerPurpose is the keyring purpose that seals data keys.
const DataKeySealerPurpose = "data-keys"

// DataKey returns the data key kept in store blob name, sealed by sealer
// (the keyring's DataKeySealerPurpose sealer); on first use it is created
// by initial and stored. A data key stays the same across root key
// rotations (only its sealing changes), for what must outlive one: key
// backups handed to clients. DataKeyResealer re-seals it.
func DataKey(ctx context.Context, st store.Store, sealer seal.Sealer, name string, initial func() (secret.Bytes, error)) (secret.Bytes, error) {
	var sealed []byte
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		sealed, err = tx.Blob(name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		sealed, err = createDataKey(ctx, st, sealer, name, initial)
	}
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("data key %s: %w", name, err)
	}
	k, err := sealer.Open(sealed, DataKeyAAD(name))
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("data key %s: %w", name, err)
	}
	return k, nil
}

// createDataKey stores a new data key in blob name unless another writer
// stored one first, and returns the stored record.
func createDataKey(ctx context.Context, st store.Store, sealer seal.Sealer, name string, initial func() (secret.Bytes, error)) ([]byte, error) {
	k, err := initial()
	if err != nil {
		return nil, err
	}
	fresh, err := sealer.Seal(k.Expose(), DataKeyAAD(name))
	k.Clear()
	if err != nil {
		return nil, err
	}
	var sealed []byte
	err = st.Update(ctx, func(tx store.Tx) error {
		var err error
		if sealed, err = tx.Blob(name); errors.Is(err, store.ErrNotFound) {
			sealed = fresh
			return tx.PutBlob(name, fresh)
		}
		return err
	})
	return sealed, err
}

// DataKeyResealer re-seals the data key of DataKey.
func DataKeyResealer(st store.Store, sealer seal.Sealer, name string) Resealer {
	return BlobResealer(st, name, sealer, DataKeyAAD(name))
}

// FileDataKey is DataKey for a data key kept in a file (the audit chain
// key lives beside the audit log, which is verified without the store).
func FileDataKey(path string, sealer seal.Sealer, initial func() (secret.Bytes, error)) (secret.Bytes, error) {
	name := filepath.Base(path)
	sealed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := initial()
		if err != nil {
			return secret.Bytes{}, err
		}
		sealed, err = sealer.Seal(k.Expose(), DataKeyAAD(name))
		k.Clear()
		if err != nil {
			return secret.Bytes{}, err
		}
		if err := WriteFileAtomic(path, sealed); err != nil {
			return secret.Bytes{}, fmt.Errorf("data key %s: %w", name, err)
		}
	} else if err != nil {
		return secret.Bytes{}, fmt.Errorf("data key %s: %w", name, err)
	}
	k, err := sealer.Open(sealed, DataKeyAAD(name))
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("data key %s: %w", path, err)
	}
	return k, nil
}

// FileDataKeyResealer re-seals the data key of FileDataKey.
func FileDataKeyResealer(path string, sealer seal.Sealer) Resealer {
	return FileResealer(path, sealer, DataKeyAAD(filepath.Base(path)))
}

// LegacyDerived returns an initial function for DataKey that gives what
// the key file's oldest key derives for purpose (seal.RootKey.DeriveKey):
// for a deployment from before data keys, whose backups and audit chain
// were keyed so. Without a key file (HSM mode) it falls back to Random.
func LegacyDerived(src Source, purpose string, rand io.Reader) func() (secret.Bytes, error) {
	return func() (secret.Bytes, error) {
		var f *FileSource
		switch s := src.(type) {
		case *FileSource:
			f = s
		case *HSMSource:
			f = s.legacy
		}
		if f != nil {
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.keys) > 0 {
				return f.keys[0].DeriveKey(purpose, seal.KeySize), nil
			}
		}
		return Random(rand)()
	}
}

// Random returns an initial function for DataKey that gives 32 random
// bytes from rand (nil means crypto/rand): for new deployments, whose data
// keys owe nothing to the root key.
func Random(rand io.Reader) func() (secret.Bytes, error) {
	return func() (secret.Bytes, error) {
		b := make([]byte, seal.KeySize)
		if _, err := io.ReadFull(orRand(rand), b); err != nil {
			return secret.Bytes{}, err
		}
		return secret.Own(b), nil
	}
}

func orRand(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}
