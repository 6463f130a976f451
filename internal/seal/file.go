package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/keywarden/keywarden/internal/secret"
)

// ErrKeyFile reports a root key file that exists but is unusable: wrong
// length, not a regular file, or readable by group or others. The wrapping
// error names the file and the problem, never the contents.
var ErrKeyFile = errors.New("seal: unusable root key file")

// LoadFile reads the root key from path: exactly KeySize raw bytes, in a
// regular file not accessible by group or others (mode 0600 or 0400).
// Sealers derived from the key take nonces from crypto/rand. Errors:
// ErrKeyFile, or an fs error (fs.ErrNotExist when the file is missing).
func LoadFile(path string) (*RootKey, error) {
	return loadFile(path, nil)
}

// LoadOrCreateFile reads the root key from path, or, when no file exists
// there, generates one from rand and writes it atomically with mode 0600
// (temporary file, fsync, hard link into place, fsync of the directory). The
// file is never overwritten: if another process creates it first, its key is
// loaded instead. created reports whether this call wrote the file. rand
// (nil means crypto/rand.Reader) also supplies nonces for derived Sealers.
// Errors: as LoadFile, or a write error.
func LoadOrCreateFile(path string, rand io.Reader) (k *RootKey, created bool, err error) {
	rand = orDefault(rand)
	k, err = loadFile(path, rand)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = Generate(rand)
	if err != nil {
		return nil, false, err
	}
	switch err := writeNew(path, k.key.Expose()); {
	case errors.Is(err, fs.ErrExist):
		k.key.Clear()
		k, err = loadFile(path, rand)
		return k, false, err
	case err != nil:
		k.key.Clear()
		return nil, false, err
	}
	return k, true, nil
}

func loadFile(path string, rand io.Reader) (*RootKey, error) {
	ks, err := loadKeys(path, rand)
	if err != nil {
		return nil, err
	}
	if len(ks) != 1 {
		for _, k := range ks {
			k.key.Clear()
		}
		return nil, fmt.Errorf("%w: %s holds %d root keys (a rotation is in progress); open it as a keyring", ErrKeyFile, path, len(ks))
	}
	return ks[0], nil
}

// MaxKeys is the most root keys a key file holds: the active key and the
// keys a rotation is retiring.
const MaxKeys = 4

// loadKeys reads a key file of one to MaxKeys keys of KeySize bytes each,
// oldest first.
func loadKeys(path string, rand io.Reader) ([]*RootKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: opening root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o; it must not be accessible by group or others (chmod 600 %s)",
			ErrKeyFile, path, perm, path)
	}
	b := make([]byte, MaxKeys*KeySize+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(b)
		return nil, fmt.Errorf("seal: reading root key file: %w", err)
	}
	if n == 0 || n%KeySize != 0 || n > MaxKeys*KeySize {
		clear(b)
		if n > MaxKeys*KeySize {
			return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrKeyFile, path, MaxKeys*KeySize)
		}
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d (or a multiple, up to %d keys)", ErrKeyFile, path, n, KeySize, MaxKeys)
	}
	ks := make([]*RootKey, n/KeySize)
	for i := range ks {
		ks[i] = &RootKey{key: secret.New(b[i*KeySize : (i+1)*KeySize]), rand: orDefault(rand)}
	}
	clear(b)
	return ks, nil
}

// LoadKeyring reads the key file at path (one key, or during a rotation
// the keys being retired followed by the active one) into a Keyring.
// rand supplies nonces (nil means crypto/rand.Reader). Errors: as
// LoadFile.
func LoadKeyring(path string, rand io.Reader) (*Keyring, []*RootKey, error) {
	ks, err := loadKeys(path, rand)
	if err != nil {
		return nil, nil, err
	}
	versions := make([]KeyVersion, len(ks))
	for i, k := range ks {
		versions[i] = k
	}
	r, err := NewKeyring(rand, versions...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	return r, ks, nil
}

// WriteKeys replaces the key file at path with keys (oldest first, at most
// MaxKeys) atomically and durably: a temporary file with mode 0600,
// fsync, rename over path, fsync of the directory. A crash leaves either
// the old file or the new one.
func WriteKeys(path string, keys []*RootKey) error {
	if len(keys) == 0 || len(keys) > MaxKeys {
		return fmt.Errorf("seal: a key file holds 1 to %d keys, not %d", MaxKeys, len(keys))
	}
	data := make([]byte, 0, len(keys)*KeySize)
	for _, k := range keys {
		data = append(data, k.key.Expose()...)
	}
	defer clear(data)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("seal: installing root key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// writeNew writes data to a new file at path with mode 0600, atomically and
// durably, failing with fs.ErrExist if path already exists.
func writeNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// A hard link, unlike rename, never replaces an existing key file, so two
	// processes starting at once cannot end up with different keys.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("seal: installing root key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a new synced temporary file with mode 0600 in
// path's directory and returns its name.
func writeTemp(path string, data []byte) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rootkey-*.tmp")
	if err != nil {
		return "", fmt.Errorf("seal: creating root key file: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return "", fmt.Errorf("seal: creating root key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return "", fmt.Errorf("seal: writing root key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("seal: syncing root key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("seal: writing root key file: %w", err)
	}
	return tmp.Name(), nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: syncing key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: syncing key directory: %w", err)
	}
	return nil
}
