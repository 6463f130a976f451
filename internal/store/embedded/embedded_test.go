package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/storetest"
	bolt "go.etcd.io/bbolt"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(filepath.Join(t.TempDir(), "keywarden.db"))
		if err != nil {
			t.Fatalf("Open() = %v, want nil", err)
		}
		return db
	})
}

// mustOpen opens path and closes it when the test ends.
func mustOpen(t *testing.T, path string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are POSIX")
	}
	path := filepath.Join(t.TempDir(), "keywarden.db")
	mustOpen(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("Open(%q) created mode %v, want %v", path, got, os.FileMode(0o600))
	}
}

func TestOpenWritesSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	db := mustOpen(t, path)
	var got string
	if err := db.bolt.View(func(btx *bolt.Tx) error {
		got = string(btx.Bucket(bucketMeta).Get(metaSchema))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(store.SchemaVersion); got != want {
		t.Errorf("schema version after Open(%q) = %q, want %q", path, got, want)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	vault := store.Vault{Name: "v", SKU: "standard", RetentionDays: 7, Created: created}
	key := store.Key{Vault: "v", Name: "MyKey", Current: "1", Created: created, Updated: created}
	version := store.Version{Vault: "v", Name: "MyKey", ID: "1", Type: "EC", Curve: "P-256", Enabled: true, Created: created}

	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	err = db.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.PutVault(vault), tx.PutKey(key), tx.PutVersion(version), tx.PutBlob("b", []byte("blob")))
	})
	if err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	db = mustOpen(t, path)
	var (
		gotVault   store.Vault
		gotKey     store.Key
		gotVersion store.Version
		gotBlob    []byte
	)
	err = db.View(t.Context(), func(tx store.Tx) (err error) {
		if gotVault, err = tx.Vault("v"); err != nil {
			return err
		}
		if gotKey, err = tx.Key("v", "mykey"); err != nil {
			return err
		}
		if gotVersion, err = tx.Version("v", "MYKEY", "1"); err != nil {
			return err
		}
		gotBlob, err = tx.Blob("b")
		return err
	})
	if err != nil {
		t.Fatalf("View() after reopen = %v, want nil", err)
	}
	for _, c := range []struct {
		name      string
		want, got any
	}{
		{"Vault", vault, gotVault},
		{"Key", key, gotKey},
		{"Version", version, gotVersion},
		{"Blob", []byte("blob"), gotBlob},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s after reopen mismatch (-want +got):\n%s", c.name, diff)
		}
	}
}

// setSchema overwrites the schema version of the store file at path.
func setSchema(t *testing.T, path, version string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMeta).Put(metaSchema, []byte(version))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSchema(t *testing.T) {
	tests := []struct {
		name    string
		version string
		wantErr error // nil: any error
	}{
		{"TooNew", strconv.Itoa(store.SchemaVersion + 1), store.ErrSchemaTooNew},
		{"MuchTooNew", "1000", store.ErrSchemaTooNew},
		{"TooOld", "0", nil},
		{"Garbage", "one", nil},
		{"Empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keywarden.db")
			db := mustOpen(t, path)
			db.Close()
			setSchema(t, path, tt.version)

			// Twice: a refused Open must release the lock and leave the
			// file as it was.
			for range 2 {
				db, err := Open(path, WithLockTimeout(time.Second))
				if err == nil {
					db.Close()
					t.Fatalf("Open(%q) with schema %q = nil error, want an error", path, tt.version)
				}
				if errors.Is(err, ErrInUse) {
					t.Fatalf("Open(%q) with schema %q = %v, want the lock released by the refused Open", path, tt.version, err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Open(%q) with schema %q = %v, want %v", path, tt.version, err, tt.wantErr)
				}
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	first, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	defer first.Close()

	const timeout = 100 * time.Millisecond
	start := time.Now()
	second, err := Open(path, WithLockTimeout(timeout))
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatalf("second Open(%q) while open = nil error, want ErrInUse", path)
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open(%q) while open = %v, want ErrInUse", path, err)
	}
	// bbolt polls the lock every 50ms and may give up one poll early; what
	// matters is that Open does not hang.
	if elapsed > timeout+5*time.Second {
		t.Errorf("second Open(%q) failed after %v, want about %v", path, elapsed, timeout)
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	third, err := Open(path, WithLockTimeout(timeout))
	if err != nil {
		t.Fatalf("Open(%q) after Close = %v, want nil", path, err)
	}
	third.Close()
}

func TestInvalidNames(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "keywarden.db"))
	tests := []struct {
		name string
		fn   func(store.Tx) error
	}{
		{"PutVaultEmpty", func(tx store.Tx) error { return tx.PutVault(store.Vault{}) }},
		{"PutVaultNUL", func(tx store.Tx) error { return tx.PutVault(store.Vault{Name: "a\x00b"}) }},
		{"PutKeyEmptyVault", func(tx store.Tx) error { return tx.PutKey(store.Key{Name: "k"}) }},
		{"PutKeyEmptyName", func(tx store.Tx) error { return tx.PutKey(store.Key{Vault: "v"}) }},
		{"PutKeyNUL", func(tx store.Tx) error { return tx.PutKey(store.Key{Vault: "v", Name: "k\x00"}) }},
		{"PutVersionEmptyID", func(tx store.Tx) error { return tx.PutVersion(store.Version{Vault: "v", Name: "k"}) }},
		{"PutVersionNUL", func(tx store.Tx) error { return tx.PutVersion(store.Version{Vault: "v", Name: "k", ID: "\x00"}) }},
		{"PutPrincipalEmpty", func(tx store.Tx) error { return tx.PutPrincipal(store.Principal{}) }},
		{"PutBlobEmpty", func(tx store.Tx) error { return tx.PutBlob("", []byte("x")) }},
		{"PutRoleDefinitionEmpty", func(tx store.Tx) error { return tx.PutRoleDefinition(store.RoleDefinition{Name: "n"}) }},
		{"PutRoleAssignmentEmpty", func(tx store.Tx) error { return tx.PutRoleAssignment(store.RoleAssignment{Scope: "/"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Update(t.Context(), tt.fn); err == nil {
				t.Errorf("Update(%s) = nil, want an error", tt.name)
			}
		})
	}
}

// TestOpenSchema1WithoutAdditions opens a file written by a binary that
// predates the role buckets and the vault and principal fields added within
// schema 1: it opens, its records read back with the new fields nil, and the
// new buckets are created and usable.
func TestOpenSchema1WithoutAdditions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	old := map[string]map[string]string{
		"meta":     {"schema": "1"},
		"vaults":   {"v": `{"name":"v","sku":"premium","retentionDays":90,"purgeProtection":true,"created":"2025-03-14T15:09:26.535897Z"}`},
		"keys":     {},
		"versions": {},
		"principals": {"app": `{"clientId":"app","objectId":"oid","name":"App","disabled":false,` +
			`"secrets":[{"id":"s1","hash":"h","created":"2025-03-14T15:09:26.535897Z"}],"created":"2025-03-14T15:09:26.535897Z"}`},
		"blobs": {},
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(btx *bolt.Tx) error {
		for bucket, records := range old {
			bk, err := btx.CreateBucket([]byte(bucket))
			if err != nil {
				return err
			}
			for k, v := range records {
				if err := bk.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	db := mustOpen(t, path)
	var (
		vault     store.Vault
		principal store.Principal
		defs      []store.RoleDefinition
		assigns   []store.RoleAssignment
	)
	err = db.View(t.Context(), func(tx store.Tx) (err error) {
		if vault, err = tx.Vault("v"); err != nil {
			return err
		}
		if principal, err = tx.Principal("app"); err != nil {
			return err
		}
		if defs, err = tx.RoleDefinitions(); err != nil {
			return err
		}
		assigns, err = tx.RoleAssignments()
		return err
	})
	if err != nil {
		t.Fatalf("View() of an old schema 1 file = %v, want nil", err)
	}
	wantVault := store.Vault{Name: "v", SKU: "premium", RetentionDays: 90, PurgeProtection: true, Created: created}
	if diff := cmp.Diff(wantVault, vault); diff != "" {
		t.Errorf("Vault(%q) of an old file mismatch (-want +got):\n%s", "v", diff)
	}
	if vault.Network != nil || vault.KeyPolicy != nil {
		t.Errorf("Vault(%q) of an old file = Network %+v, KeyPolicy %q, want nil, nil", "v", vault.Network, vault.KeyPolicy)
	}
	wantPrincipal := store.Principal{
		ClientID: "app", ObjectID: "oid", Name: "App",
		Secrets: []store.Credential{{ID: "s1", Hash: "h", Created: created}},
		Created: created,
	}
	if diff := cmp.Diff(wantPrincipal, principal); diff != "" {
		t.Errorf("Principal(%q) of an old file mismatch (-want +got):\n%s", "app", diff)
	}
	if principal.Certificates != nil {
		t.Errorf("Principal(%q).Certificates of an old file = %v, want nil", "app", principal.Certificates)
	}
	if len(defs) != 0 || len(assigns) != 0 {
		t.Errorf("RoleDefinitions(), RoleAssignments() of an old file = %v, %v, want none", defs, assigns)
	}

	// The added buckets exist now: writes succeed and survive a reopen.
	a := store.RoleAssignment{ID: "a", PrincipalID: "oid", RoleDefinitionID: "r", Scope: "/", Created: created}
	if err := db.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.PutRoleAssignment(a), tx.PutRoleDefinition(store.RoleDefinition{ID: "r", Name: "R"}))
	}); err != nil {
		t.Fatalf("Update(PutRoleAssignment, PutRoleDefinition) on an old file = %v, want nil", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, path)
	var got store.RoleAssignment
	if err := db.View(t.Context(), func(tx store.Tx) (err error) {
		got, err = tx.RoleAssignment("a")
		return err
	}); err != nil {
		t.Fatalf("RoleAssignment(%q) after reopen = %v, want nil", "a", err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("RoleAssignment(%q) after reopen mismatch (-want +got):\n%s", "a", diff)
	}
}

// TestOpenMissingBaseBucket refuses a schema 1 file that lacks a bucket
// every schema 1 file has.
func TestOpenMissingBaseBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	db := mustOpen(t, path)
	db.Close()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(btx *bolt.Tx) error { return btx.DeleteBucket(bucketKeys) }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if db, err := Open(path, WithLockTimeout(time.Second)); err == nil {
		db.Close()
		t.Errorf("Open(%q) without the keys bucket = nil error, want an error", path)
	}
}

// TestRoleAssignmentIssuerOmitted checks that a built-in principal's role
// assignment is stored without an issuer member and that a record written
// before assignments named an issuer reads back as a built-in one.
func TestRoleAssignmentIssuerOmitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	db := mustOpen(t, path)
	builtin := store.RoleAssignment{ID: "new", PrincipalID: "oid", RoleDefinitionID: "r", Scope: "/", Created: created}
	external := store.RoleAssignment{ID: "ext", PrincipalID: "oid", Issuer: "https://idp.example.test", RoleDefinitionID: "r", Scope: "/", Created: created}
	if err := db.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.PutRoleAssignment(builtin), tx.PutRoleAssignment(external))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var rawNew, rawExt string
	err = b.Update(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketRoleAssign)
		rawNew, rawExt = string(bk.Get([]byte("new"))), string(bk.Get([]byte("ext")))
		return bk.Put([]byte("old"), []byte(`{"id":"old","principalId":"oid","roleDefinitionId":"r","scope":"/","created":"2025-03-14T15:09:26.535897Z"}`))
	})
	if err := errors.Join(err, b.Close()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rawNew, `"issuer"`) {
		t.Errorf("built-in assignment record = %s, want no issuer member", rawNew)
	}
	if !strings.Contains(rawExt, `"issuer":"https://idp.example.test"`) {
		t.Errorf("external assignment record = %s, want its issuer", rawExt)
	}
	db = mustOpen(t, path)
	var got store.RoleAssignment
	if err := db.View(t.Context(), func(tx store.Tx) (err error) {
		got, err = tx.RoleAssignment("old")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := store.RoleAssignment{ID: "old", PrincipalID: "oid", RoleDefinitionID: "r", Scope: "/", Created: created}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RoleAssignment(%q) of an old record mismatch (-want +got):\n%s", "old", diff)
	}
}
