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
	b := make([]byte, KeySize+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(b)
		return nil, fmt.Errorf("seal: reading root key file: %w", err)
	}
	if n != KeySize {
		clear(b)
		if n > KeySize {
			return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrKeyFile, path, KeySize)
		}
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrKeyFile, path, n, KeySize)
	}
	return &RootKey{key: secret.Own(b[:KeySize]), rand: orDefault(rand)}, nil
}

// writeNew writes data to a new file at path with mode 0600, atomically and
// durably, failing with fs.ErrExist if path already exists.
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".rootkey-*.tmp")
	if err != nil {
		return fmt.Errorf("seal: creating root key file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("seal: creating root key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("seal: writing root key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("seal: syncing root key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: writing root key file: %w", err)
	}
	// A hard link, unlike rename, never replaces an existing key file, so two
	// processes starting at once cannot end up with different keys.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("seal: installing root key file: %w", err)
	}
	return syncDir(dir)
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
