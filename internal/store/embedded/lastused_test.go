package embedded

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keywarden/keywarden/internal/store"
)

// TestVersionLastUsedOmitted checks that a version never used is stored
// without a lastUsed member and that a version record written before
// versions had one reads back with LastUsed nil.
func TestVersionLastUsedOmitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywarden.db")
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	used := time.Date(2025, 3, 15, 8, 30, 0, 0, time.UTC)
	db := mustOpen(t, path)
	fresh := store.Version{Vault: "v", Name: "k", ID: "fresh", Type: "EC", Protection: "software", Enabled: true, Created: created, Updated: created}
	usedV := fresh
	usedV.ID, usedV.LastUsed = "used", &used
	if err := db.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.PutVersion(fresh), tx.PutVersion(usedV))
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
	var rawFresh, rawUsed string
	err = b.Update(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketVersions)
		rawFresh = string(bk.Get(append(versionPrefix("v", "k"), "fresh"...)))
		rawUsed = string(bk.Get(append(versionPrefix("v", "k"), "used"...)))
		return bk.Put(append(versionPrefix("v", "k"), "old"...),
			[]byte(`{"vault":"v","name":"k","id":"old","type":"EC","protection":"software","enabled":true,"exportable":false,`+
				`"created":"2025-03-14T15:09:26.535897Z","updated":"2025-03-14T15:09:26.535897Z"}`))
	})
	if err := errors.Join(err, b.Close()); err != nil {
		t.Fatal(err)
	}
	if rawFresh == "" || strings.Contains(rawFresh, `"lastUsed"`) {
		t.Errorf("unused version record = %q, want one without a lastUsed member", rawFresh)
	}
	if !strings.Contains(rawUsed, `"lastUsed":"2025-03-15T08:30:00Z"`) {
		t.Errorf("used version record = %q, want its lastUsed", rawUsed)
	}

	db = mustOpen(t, path)
	var old, gotUsed store.Version
	if err := db.View(t.Context(), func(tx store.Tx) (err error) {
		if old, err = tx.Version("v", "k", "old"); err != nil {
			return err
		}
		gotUsed, err = tx.Version("v", "k", "used")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if old.LastUsed != nil {
		t.Errorf("Version(%q).LastUsed of an old record = %v, want nil", "old", old.LastUsed)
	}
	if gotUsed.LastUsed == nil || !gotUsed.LastUsed.Equal(used) {
		t.Errorf("Version(%q).LastUsed = %v, want %v", "used", gotUsed.LastUsed, used)
	}
}
