package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keywarden/keywarden/internal/store"
	bolt "go.etcd.io/bbolt"
)

var _ store.Snapshotter = (*DB)(nil)

// Snapshot writes a consistent copy of the store file to w: the file as of
// one read transaction, in the same format, so that the copy opens with
// Open like the original (restore installs it as the store file). It
// returns the number of bytes written, which is the size of the file at
// that transaction.
//
// Reads and writes go on while the copy runs. bbolt holds back one kind of
// write until the copy ends: a commit that must grow the file's memory
// map. Write w to something as fast as a local file (the admin API spools
// the snapshot to a file in the data directory before sending it), not to
// a slow network peer.
//
// Errors: ctx.Err() when ctx is done (checked before each write to w);
// store.ErrClosed after Close; the error of w.
func (db *DB) Snapshot(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return n, cerr
		}
		return n, wrap("snapshot", err)
	}
	return n, nil
}

// ctxWriter stops a copy when its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// CheckSnapshot reports whether the file at path is a store file this
// binary reads: a bbolt file holding the schema version of a Keywarden
// store, not newer than store.SchemaVersion, with every bucket of that
// schema. It opens the file read-only (ReadOnly) and writes nothing to it.
//
// Errors: an error wrapping store.ErrSchemaTooNew for a newer schema;
// ErrInUse when a process holds the file open for writing; ErrNotStore for
// any other file that is not a Keywarden store.
func CheckSnapshot(path string) error {
	db, err := Open(path, ReadOnly())
	switch {
	case err == nil:
		return db.Close()
	case errors.Is(err, store.ErrSchemaTooNew), errors.Is(err, ErrInUse):
		return err
	default:
		return fmt.Errorf("%w: %v", ErrNotStore, err)
	}
}

// Install moves the store file at src into place as dst, replacing any
// file there, atomically and durably: a rename within one directory, then
// an fsync of that directory. src must be a complete, fsynced store file
// in dst's directory, closed (restore checks it with CheckSnapshot and a
// ReadOnly Open first).
func Install(src, dst string) error {
	dir := filepath.Dir(dst)
	if filepath.Dir(src) != dir {
		return fmt.Errorf("embedded: install %s: not in the directory of %s", src, dst)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("embedded: install: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("embedded: install: %w", err)
	}
	return nil
}
