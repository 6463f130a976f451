package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/store"
	bolt "go.etcd.io/bbolt"
)

// putVault commits one vault named name.
func putVault(t *testing.T, db *DB, name string) {
	t.Helper()
	v := store.Vault{Name: name, SKU: "standard", RetentionDays: 7, Created: time.Unix(1700000000, 0)}
	if err := db.Update(t.Context(), func(tx store.Tx) error { return tx.PutVault(v) }); err != nil {
		t.Fatalf("PutVault(%s) = %v", name, err)
	}
}

// vaultNames lists the vault names of db.
func vaultNames(t *testing.T, db store.Store) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	if err := db.View(t.Context(), func(tx store.Tx) error {
		vs, err := tx.Vaults()
		for _, v := range vs {
			names[v.Name] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// writeSnapshot takes a snapshot of db into a new file and returns its path.
func writeSnapshot(t *testing.T, db *DB) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := db.Snapshot(t.Context(), &buf)
	if err != nil {
		t.Fatalf("Snapshot() = %v, want nil", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Snapshot() = %d bytes, wrote %d", n, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSnapshotOpensAsStore(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "keywarden.db"))
	putVault(t, db, "before")
	path := writeSnapshot(t, db)
	putVault(t, db, "after")

	if err := CheckSnapshot(path); err != nil {
		t.Fatalf("CheckSnapshot(snapshot) = %v, want nil", err)
	}
	snap := mustOpen(t, path)
	if got := vaultNames(t, snap); !got["before"] || got["after"] || len(got) != 1 {
		t.Errorf("vaults of the snapshot = %v, want only before", got)
	}
}

// TestSnapshotDuringWrites takes snapshots while writers commit: every
// snapshot opens, holds a prefix of the writers' commits (each writer's
// vaults are numbered in commit order, each with its blob), and no write
// fails.
func TestSnapshotDuringWrites(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "keywarden.db"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const writers = 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				v := store.Vault{Name: fmt.Sprintf("w%d-%06d", w, i), SKU: "standard", RetentionDays: 7}
				err := db.Update(context.Background(), func(tx store.Tx) error {
					// Blobs make the file grow, so that commits remap it.
					if err := tx.PutBlob(v.Name, bytes.Repeat([]byte{byte(i)}, 4096)); err != nil {
						return err
					}
					return tx.PutVault(v)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 5 {
		// A slow writer: the snapshot's transaction stays open a while.
		path := filepath.Join(t.TempDir(), "snapshot.db")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.Snapshot(t.Context(), slowWriter{f})
		f.Close()
		if err != nil {
			t.Fatalf("Snapshot() during writes = %v, want nil", err)
		}
		if fi, _ := os.Stat(path); fi.Size() != n {
			t.Errorf("Snapshot() = %d, file has %d bytes", n, fi.Size())
		}
		if err := CheckSnapshot(path); err != nil {
			t.Fatalf("CheckSnapshot() = %v", err)
		}
		checkPrefixes(t, path, writers)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Update() during Snapshot = %v, want nil", err)
	}
	if got := len(vaultNames(t, db)); got < writers {
		t.Errorf("writers committed %d vaults, want at least %d", got, writers)
	}
}

// checkPrefixes checks that the snapshot at path holds, for each writer,
// vaults 0..n-1 and a blob for each.
func checkPrefixes(t *testing.T, path string, writers int) {
	t.Helper()
	snap, err := Open(path)
	if err != nil {
		t.Fatalf("Open(snapshot) = %v", err)
	}
	defer snap.Close()
	names := vaultNames(t, snap)
	for w := range writers {
		n := 0
		for names[fmt.Sprintf("w%d-%06d", w, n)] {
			n++
		}
		count := 0
		for name := range names {
			if len(name) > 2 && name[:2] == fmt.Sprintf("w%d", w) {
				count++
			}
		}
		if count != n {
			t.Errorf("snapshot holds %d vaults of writer %d, but only 0..%d in a row", count, w, n-1)
		}
	}
	if err := snap.View(t.Context(), func(tx store.Tx) error {
		for name := range names {
			if _, err := tx.Blob(name); err != nil {
				return fmt.Errorf("blob %s: %w", name, err)
			}
		}
		return nil
	}); err != nil {
		t.Errorf("snapshot is not transaction-consistent: %v", err)
	}
}

// slowWriter sleeps a little on each write.
type slowWriter struct{ f *os.File }

func (s slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.f.Write(p)
}

func TestSnapshotCancelled(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "keywarden.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.Snapshot(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Snapshot(cancelled) = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	w := writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
	if _, err := db.Snapshot(ctx, w); !errors.Is(err, context.Canceled) {
		t.Errorf("Snapshot(cancelled while writing) = %v, want context.Canceled", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSnapshotClosed(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "keywarden.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := db.Snapshot(t.Context(), &bytes.Buffer{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Snapshot() after Close = %v, want store.ErrClosed", err)
	}
}

func TestCheckSnapshot(t *testing.T) {
	dir := t.TempDir()
	storeFile := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "keywarden.db")
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		return path
	}
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantErr error
	}{
		{"store", storeFile, nil},
		{"newer schema", func(t *testing.T) string {
			p := storeFile(t)
			setSchema(t, p, "2")
			return p
		}, store.ErrSchemaTooNew},
		{"bad schema", func(t *testing.T) string {
			p := storeFile(t)
			setSchema(t, p, "x")
			return p
		}, ErrNotStore},
		{"bbolt file without schema", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "other.db")
			b, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			b.Update(func(btx *bolt.Tx) error { _, err := btx.CreateBucket([]byte("x")); return err })
			b.Close()
			return p
		}, ErrNotStore},
		{"not bbolt", func(t *testing.T) string {
			p := filepath.Join(dir, "text")
			os.WriteFile(p, bytes.Repeat([]byte("not a store\n"), 1000), 0o600)
			return p
		}, ErrNotStore},
		{"empty", func(t *testing.T) string {
			p := filepath.Join(dir, "empty")
			os.WriteFile(p, nil, 0o600)
			return p
		}, ErrNotStore},
		{"missing", func(t *testing.T) string { return filepath.Join(dir, "missing") }, ErrNotStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			before, _ := os.ReadFile(path)
			err := CheckSnapshot(path)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckSnapshot(%s) = %v, want %v", tt.name, err, tt.wantErr)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("CheckSnapshot(%s) changed the file", tt.name)
			}
		})
	}
}

// TestOpenReadOnly checks that a read-only open leaves the file byte for
// byte as it was, refuses writes, and reads a schema 1 file without the
// buckets added within the schema.
func TestOpenReadOnly(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "keywarden.db"))
	putVault(t, db, "v")
	path := writeSnapshot(t, db)
	// Drop the added buckets, as in a file of an older binary.
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(btx *bolt.Tx) error {
		for _, name := range addedBuckets() {
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	before, _ := os.ReadFile(path)

	ro := mustOpen(t, path, ReadOnly())
	if got := vaultNames(t, ro); !got["v"] {
		t.Errorf("vaults of the read-only store = %v, want v", got)
	}
	if err := ro.View(t.Context(), func(tx store.Tx) error {
		ds, err := tx.RoleDefinitions()
		if err == nil && len(ds) != 0 {
			return fmt.Errorf("%d role definitions, want none", len(ds))
		}
		if _, err := tx.RoleAssignment("x"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("RoleAssignment(x) = %v, want ErrNotFound", err)
		}
		return err
	}); err != nil {
		t.Errorf("reading a file without the added buckets: %v", err)
	}
	if err := ro.Update(t.Context(), func(tx store.Tx) error { return tx.PutBlob("b", []byte("x")) }); err == nil {
		t.Error("Update on a read-only store = nil, want an error")
	}
	ro.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("Open(ReadOnly) changed the file")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), ReadOnly()); err == nil {
		t.Error("Open(missing file, ReadOnly) = nil, want an error")
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, ".new.tmp"), filepath.Join(dir, "keywarden.db")
	os.WriteFile(src, []byte("new"), 0o600)
	os.WriteFile(dst, []byte("old"), 0o600)
	if err := Install(src, dst); err != nil {
		t.Fatalf("Install() = %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "new" {
		t.Errorf("after Install, %s holds %q, want new", dst, got)
	}
	if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Install, %s still exists", src)
	}
	other := filepath.Join(t.TempDir(), "x")
	os.WriteFile(other, nil, 0o600)
	if err := Install(other, dst); err == nil {
		t.Error("Install(from another directory) = nil, want an error")
	}
}
