package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// storeFile is the name of the store file in a data directory.
const storeFile = "keywarden.db"

// restoreOptions are the flags of `keywarden restore`.
type restoreOptions struct {
	snapshot, dataDir, rootKeyFile, config string
	force                                  bool
	// auditDir is the deployment's audit directory (from the config, else
	// <data-dir>/audit), whose chain key the root key must open too.
	auditDir string
}

func newRestoreCommand() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore --snapshot FILE --data-dir DIR",
		Short: "Install a store snapshot into a data directory (server stopped), after checking it with the root key",
		Long: `restore installs a snapshot taken by "keywarden backup" (or a copy of
keywarden.db taken with the server stopped) as <data-dir>/keywarden.db.

Run it with the server stopped. It checks that the snapshot is a Keywarden
store of a schema this binary reads, and that the root key (--root-key-file,
default <data-dir>/root.key; with --config, where the config puts it: the
key file, or the HSM of sealMode "hsm") opens every sealed key version and the
token-signing key in it; it prints the counts of vaults, keys, versions and
principals, or the first record that does not open. Only then does it
install the snapshot, atomically. It refuses to replace an existing store
unless --force is given; the replaced store is kept beside it as
keywarden.db.pre-restore-<time>. See docs/operations.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRestore(cmd.Context(), o, time.Now(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "snapshot file to restore (required)")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory to restore into (required unless --config gives it)")
	f.StringVar(&o.config, "config", "", `the deployment's JSON config: data directory, and the root key as the server opens it (needed for sealMode "hsm")`)
	f.StringVar(&o.rootKeyFile, "root-key-file", "", "root key file of the deployment the snapshot was taken from (default <data-dir>/root.key)")
	f.BoolVar(&o.force, "force", false, "replace an existing store (kept as keywarden.db.pre-restore-<time>)")
	cmd.MarkFlagRequired("snapshot")
	return cmd
}

// runRestore checks o.snapshot with the root key and installs it as the
// store of o.dataDir. Nothing is installed unless every check passes.
func runRestore(ctx context.Context, o restoreOptions, now time.Time, out io.Writer) error {
	ring, where, closeKeys, err := restoreKeyring(ctx, &o)
	if err != nil {
		return err
	}
	defer closeKeys()
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dest := filepath.Join(o.dataDir, storeFile)
	// Hold the current store's lock until the new file is in place: a
	// running server holds it, and none can open the old file meanwhile.
	unlock, exists, err := lockStoreFile(dest)
	if err != nil {
		return err
	}
	defer unlock()
	if exists && !o.force {
		return fmt.Errorf("%s already holds a store; restore refuses to replace it without --force (it is then kept as %s.pre-restore-<time>)", dest, storeFile)
	}

	tmp, size, sum, err := copySnapshot(o.snapshot, o.dataDir)
	if err != nil {
		return err
	}
	installed := false
	defer func() {
		if !installed {
			os.Remove(tmp)
		}
	}()
	inv, err := checkRestored(ctx, tmp, ring)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w; nothing was installed", o.snapshot, err)
	}
	// The audit directory is not rolled back: its chain key must open with
	// the same keys, or the server would not start.
	if path := filepath.Join(o.auditDir, chainKeyFile); fileExists(path) {
		k, err := rootkey.FileDataKey(path, ring.Derive(rootkey.DataKeySealerPurpose), nil)
		if err != nil {
			return fmt.Errorf("%s: %w; put every root key in the key file, the oldest first and the current one last (docs/operations.md); nothing was installed", path, err)
		}
		k.Clear()
	}

	var aside string
	if exists {
		aside = dest + ".pre-restore-" + now.UTC().Format("20060102T150405Z")
		if err := os.Link(dest, aside); err != nil {
			return fmt.Errorf("keeping the current store: %w; nothing was installed", err)
		}
	}
	if err := embedded.Install(tmp, dest); err != nil {
		return fmt.Errorf("installing the snapshot: %w", err)
	}
	installed = true
	fmt.Fprintf(out, "Restored %s (%d bytes, SHA-256 %s) as %s\n", o.snapshot, size, hex.EncodeToString(sum), dest)
	fmt.Fprintf(out, "  vaults %d, keys %d, key versions %d, principals %d: every sealed key version opens with %s\n",
		inv.Vaults, inv.Keys, inv.Versions, inv.Principals, where)
	if aside != "" {
		fmt.Fprintf(out, "  the replaced store is kept as %s; delete it once the restored server is verified\n", aside)
	}
	return nil
}

// restoreKeyring opens the root keyring restore checks the snapshot
// with, as the server would open it: from --config (file or HSM, per its
// sealMode) or the key file (--root-key-file, default <data-dir>/root.key).
// It fills o.dataDir from the config when not given, and says where the
// keys are.
func restoreKeyring(ctx context.Context, o *restoreOptions) (ring *seal.Keyring, where string, closeKeys func(), err error) {
	cfg := config.Defaults()
	if o.config != "" {
		if cfg, err = config.Load(o.config, os.Getenv); err != nil {
			return nil, "", nil, err
		}
		if o.dataDir == "" {
			o.dataDir = cfg.DataDir
		}
	} else {
		cfg.SealMode = "file"
	}
	if o.dataDir == "" {
		return nil, "", nil, errors.New("give --data-dir (or --config)")
	}
	o.auditDir = filepath.Join(o.dataDir, "audit")
	if o.config != "" {
		o.auditDir = cfg.Audit.Dir
	}
	if o.rootKeyFile != "" {
		cfg.RootKeyFile = o.rootKeyFile
	} else if o.config == "" {
		cfg.RootKeyFile = filepath.Join(o.dataDir, "root.key")
	}
	var hsm *pkcs11.Provider
	if cfg.SealMode == "hsm" {
		if hsm, err = openHSM(cfg.HSM, os.Getenv, slog.New(slog.DiscardHandler)); err != nil {
			return nil, "", nil, err
		}
	}
	closeKeys = func() {
		if hsm != nil {
			hsm.Close()
		}
	}
	ring, _, err = openKeyringMode(ctx, cfg, hsm, false, true, slog.New(slog.DiscardHandler))
	if err != nil {
		closeKeys()
		return nil, "", nil, err
	}
	where = cfg.RootKeyFile
	if cfg.SealMode == "hsm" {
		where = "the HSM root key " + ring.Active()
	}
	return ring, where, closeKeys, nil
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// lockStoreFile takes the lock a server holds on the store file at path,
// if the file exists, failing when a server holds it. The returned
// function releases it.
func lockStoreFile(path string) (unlock func(), exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, true, fmt.Errorf("%s is in use: stop the server before restoring", path)
		}
		return nil, true, fmt.Errorf("store: lock %s: %w", path, err)
	}
	return func() { f.Close() }, true, nil
}

// copySnapshot copies the snapshot at src into a new temporary file in
// dir, mode 0600, fsynced, and returns its name, size and SHA-256.
func copySnapshot(src, dir string) (name string, size int64, sum []byte, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, nil, fmt.Errorf("snapshot: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+storeFile+".restore-*.tmp")
	if err != nil {
		return "", 0, nil, fmt.Errorf("snapshot copy: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return "", 0, nil, fmt.Errorf("snapshot copy: %w", err)
	}
	h := sha256.New()
	if size, err = io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		return "", 0, nil, fmt.Errorf("snapshot copy: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, nil, fmt.Errorf("snapshot copy: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, nil, fmt.Errorf("snapshot copy: %w", err)
	}
	return tmp.Name(), size, h.Sum(nil), nil
}

// checkRestored checks the store file at path: a Keywarden store of a
// schema this binary reads, whose sealed key versions and sealed blobs
// (token and audit signing keys, dev credentials, backup data key) open
// with ring. It names the first record that does not open,
// never any material.
func checkRestored(ctx context.Context, path string, ring *seal.Keyring) (vault.Inventory, error) {
	if err := embedded.CheckSnapshot(path); err != nil {
		return vault.Inventory{}, err
	}
	// Read-only: the installed file is the snapshot byte for byte.
	db, err := embedded.Open(path, embedded.ReadOnly())
	if err != nil {
		return vault.Inventory{}, err
	}
	defer db.Close()
	inv, err := vault.VerifySealed(ctx, db, ring.Derive(purposeMaterial))
	if err != nil {
		return inv, err
	}
	if err := checkSealedBlobs(ctx, db, ring); err != nil {
		return inv, err
	}
	return inv, nil
}
