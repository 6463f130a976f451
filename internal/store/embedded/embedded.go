// Package embedded is the single-file store.Store backend of Keywarden,
// built on go.etcd.io/bbolt. It owns the on-disk layout of that file: the
// buckets, the composite keys and the JSON encoding of records. It imports
// store and bbolt only; it knows nothing of HTTP, vault rules or sealing.
//
// # Layout
//
// The file holds eight top-level buckets:
//
//	meta             "schema" → decimal store.SchemaVersion
//	vaults           name → vault record
//	keys             vault NUL Fold(name) → key record
//	versions         vault NUL Fold(name) NUL id → version record
//	principals       client id → principal record
//	blobs            name → the blob's bytes, verbatim
//	roleDefinitions  id → custom role definition record
//	roleAssignments  id → role assignment record
//
// The last two buckets, and the vault fields network and keyPolicy and the
// principal field certificates, were added within schema 1: they are pure
// additions that older binaries ignore. Open creates the two buckets in a
// schema 1 file that lacks them, and records written without the new fields
// read back with nil values.
//
// Byte order of the composite keys is the listing order the store contract
// asks for: Fold(name) within a vault, ID within a key. Vault names, key
// names and version IDs must therefore be non-empty and free of NUL bytes.
//
// # Encoding
//
// Records are encoded with encoding/json into unexported mirror structs that
// carry the JSON tags, so the file format is independent of the Go field
// names in package store (whose types have no tags). Times are written as
// RFC 3339 strings in UTC truncated to the microsecond, as the store contract
// requires; byte slices as base64. The format is versioned by
// store.SchemaVersion in the meta bucket: Open writes it into a new file and
// refuses a file whose schema is newer with an error wrapping
// store.ErrSchemaTooNew.
//
// # Crash safety
//
// An acknowledged Update is an fsynced Update: when Update returns nil, bbolt
// has written the transaction's pages, fsynced them, written the new meta
// page and fsynced again (NoSync is never set). After a crash the file holds
// every acknowledged transaction; a transaction whose Update had not yet
// returned is either wholly present or wholly absent. When Open creates the
// file it also fsyncs the parent directory, so the new file's name survives a
// crash too. This relies on the file system and disk honouring fsync; network
// file systems, which may not honour fsync or flock, are not supported.
//
// # Concurrency
//
// One process at a time holds the file (an exclusive flock); a second Open
// fails with ErrInUse after the lock timeout instead of hanging. Within the
// process, a DB is safe for concurrent use: write transactions run one at a
// time and read transactions run concurrently with them.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keywarden/keywarden/internal/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrInUse reports that another process holds the store file open.
var ErrInUse = errors.New("store is in use by another process")

// ErrNotStore reports a file that is not a Keywarden store (CheckSnapshot).
var ErrNotStore = errors.New("not a Keywarden store file")

// DefaultLockTimeout is how long Open waits for the file lock unless
// WithLockTimeout says otherwise.
const DefaultLockTimeout = 2 * time.Second

// Bucket names and the meta key of the schema version.
var (
	bucketMeta       = []byte("meta")
	bucketVaults     = []byte("vaults")
	bucketKeys       = []byte("keys")
	bucketVersions   = []byte("versions")
	bucketPrincipals = []byte("principals")
	bucketBlobs      = []byte("blobs")
	bucketRoleDefs   = []byte("roleDefinitions")
	bucketRoleAssign = []byte("roleAssignments")

	metaSchema = []byte("schema")
)

// allBuckets lists every top-level bucket Open creates in a new file.
func allBuckets() [][]byte {
	return append(baseBuckets(), addedBuckets()...)
}

// baseBuckets lists the buckets every schema 1 file has held from the start.
func baseBuckets() [][]byte {
	return [][]byte{bucketMeta, bucketVaults, bucketKeys, bucketVersions, bucketPrincipals, bucketBlobs}
}

// addedBuckets lists the buckets added within schema 1; Open creates them in
// an existing file that lacks them.
func addedBuckets() [][]byte {
	return [][]byte{bucketRoleDefs, bucketRoleAssign}
}

var _ store.Store = (*DB)(nil)

// DB is an open embedded store. It is safe for concurrent use. The zero
// value is not usable; call Open.
type DB struct {
	bolt *bolt.DB
}

// config holds the settings an Option changes.
type config struct {
	lockTimeout time.Duration
	readOnly    bool
}

// Option configures Open.
type Option func(*config)

// WithLockTimeout sets how long Open waits for another process to release
// the file lock before failing with ErrInUse. A zero or negative d uses
// DefaultLockTimeout; Open never waits forever.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// ReadOnly opens an existing store file for reading only: Open takes a
// shared lock, writes nothing to the file (it stays byte for byte as it
// was), refuses a file that is not a store of a schema this binary reads
// (see CheckSnapshot), and Update fails.
func ReadOnly() Option {
	return func(c *config) { c.readOnly = true }
}

// Open opens the store file at path, creating it with mode 0600 and writing
// store.SchemaVersion if it does not exist. The parent directory must exist.
//
// Errors: ErrInUse when another process holds the file beyond the lock
// timeout; an error wrapping store.ErrSchemaTooNew when the file was written
// by a newer schema; other errors for unreadable or corrupt files.
func Open(path string, opts ...Option) (*DB, error) {
	cfg := config{lockTimeout: DefaultLockTimeout}
	for _, o := range opts {
		o(&cfg)
	}

	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  cfg.lockTimeout,
		NoSync:   false, // acknowledged Update == fsynced; never change this.
		ReadOnly: cfg.readOnly,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded: open %s: %w (lock not acquired within %v)", path, ErrInUse, cfg.lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	prepare, check := b.Update, initSchema
	if cfg.readOnly {
		prepare, check = b.View, checkExisting
	}
	if err := prepare(check); err != nil {
		b.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			b.Close()
			return nil, fmt.Errorf("embedded: open %s: %w", path, err)
		}
	}
	return &DB{bolt: b}, nil
}

// initSchema checks the schema version of a store file, and on a new file
// creates the buckets and writes store.SchemaVersion. On an existing file it
// creates the buckets added within the schema that are missing. It writes
// nothing to a file it refuses.
func initSchema(btx *bolt.Tx) error {
	meta := btx.Bucket(bucketMeta)
	if meta == nil {
		// A new file: nothing but the meta bucket may be missing from an
		// existing one, so anything else present means corruption.
		if err := btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			return fmt.Errorf("bucket %q present without schema version", name)
		}); err != nil {
			return err
		}
		for _, name := range allBuckets() {
			if _, err := btx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return btx.Bucket(bucketMeta).Put(metaSchema, []byte(strconv.Itoa(store.SchemaVersion)))
	}

	if err := checkSchema(meta.Get(metaSchema)); err != nil {
		return err
	}
	for _, name := range baseBuckets() {
		if btx.Bucket(name) == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
	}
	for _, name := range addedBuckets() {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %q: %w", name, err)
		}
	}
	return nil
}

// checkExisting checks, writing nothing, that a file is a store of a schema
// this binary reads, with every bucket it has held from the start (the
// buckets added within the schema may be missing; they read as empty).
func checkExisting(btx *bolt.Tx) error {
	meta := btx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("no schema version")
	}
	if err := checkSchema(meta.Get(metaSchema)); err != nil {
		return err
	}
	for _, name := range baseBuckets() {
		if btx.Bucket(name) == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
	}
	return nil
}

// checkSchema checks the schema version stored in the meta bucket. Errors
// wrap store.ErrSchemaTooNew for a newer schema.
func checkSchema(raw []byte) error {
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return fmt.Errorf("invalid schema version %q", raw)
	}
	switch {
	case v > store.SchemaVersion:
		return fmt.Errorf("schema version %d, this binary supports %d: %w", v, store.SchemaVersion, store.ErrSchemaTooNew)
	case v < store.SchemaVersion:
		// Migrations from older schemas go here when SchemaVersion grows.
		return fmt.Errorf("schema version %d is older than %d and no migration exists", v, store.SchemaVersion)
	}
	return nil
}

// syncDir fsyncs a directory so that a file just created in it survives a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// View runs fn in a read-only transaction. Write methods of the Tx fail.
// View returns ctx.Err() without running fn if ctx is already done, and
// store.ErrClosed after Close; otherwise it returns fn's error unchanged.
// The Tx must not be used after fn returns.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := db.bolt.View(func(btx *bolt.Tx) error {
		fnErr = fn(&tx{b: btx})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap("view", err)
}

// Update runs fn in a read-write transaction and commits it, fsynced, if fn
// returns nil. It rolls back, writing nothing, if fn returns an error, if fn
// panics, or if ctx is done before fn starts or before the commit; then it
// returns fn's error unchanged or ctx.Err(). After Close it returns
// store.ErrClosed. Updates run one at a time; fn is called once per Update.
// The Tx must not be used after fn returns.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		// Waiting for the writer lock may have outlived ctx.
		if fnErr = ctx.Err(); fnErr != nil {
			return fnErr
		}
		if fnErr = fn(&tx{b: btx}); fnErr != nil {
			return fnErr
		}
		fnErr = ctx.Err()
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap("update", err)
}

// wrap turns an error of bbolt into an error of this package.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("embedded: %s: %w", op, store.ErrClosed)
	default:
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
}

// Close waits for running transactions, then closes the file and releases
// its lock. Closing a closed DB is a no-op; other methods then return
// store.ErrClosed.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("embedded: close: %w", err)
	}
	return nil
}
