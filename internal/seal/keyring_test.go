package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/secret"
)

func mustKeyring(t *testing.T, keys ...KeyVersion) *Keyring {
	t.Helper()
	r, err := NewKeyring(nil, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyringSealsUnderActiveKeyAndNamesIt(t *testing.T) {
	old := testKey(t, 1)
	r := mustKeyring(t, old)
	s := r.Derive("material")
	rec, err := s.Seal([]byte("private"), []byte("v/k/1"))
	if err != nil {
		t.Fatal(err)
	}
	if rec[0] != VersionKeyed {
		t.Fatalf("format byte %d, want %d", rec[0], VersionKeyed)
	}
	if id, err := KeyID(rec); err != nil || id != old.ID() {
		t.Fatalf("KeyID = %q, %v; want %q", id, err, old.ID())
	}
	if !strings.HasPrefix(old.ID(), "file-") || len(old.ID()) != 17 {
		t.Errorf("file key id %q, want file- and 12 hex digits", old.ID())
	}
	if r.Stale(rec) {
		t.Error("a record under the active key is stale")
	}
	pt, err := s.Open(rec, []byte("v/k/1"))
	if err != nil || string(pt.Expose()) != "private" {
		t.Fatalf("Open = %q, %v", pt.Expose(), err)
	}
	if _, err := s.Open(rec, []byte("v/k/2")); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with other aad = %v, want ErrOpen", err)
	}
	if _, err := r.Derive("backup").Open(rec, []byte("v/k/1")); !errors.Is(err, ErrOpen) {
		t.Errorf("Open under another purpose = %v, want ErrOpen", err)
	}
	flipped := bytes.Clone(rec)
	flipped[len(flipped)-1] ^= 1
	if _, err := s.Open(flipped, []byte("v/k/1")); !errors.Is(err, ErrOpen) {
		t.Errorf("Open of a modified record = %v, want ErrOpen", err)
	}
}

func TestKeyringOpensLegacyRecords(t *testing.T) {
	k := testKey(t, 2)
	legacy, err := k.Derive("material").Seal([]byte("old"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	r := mustKeyring(t, k)
	if !r.Stale(legacy) {
		t.Error("a format-1 record is not stale")
	}
	pt, err := r.Derive("material").Open(legacy, []byte("aad"))
	if err != nil || string(pt.Expose()) != "old" {
		t.Fatalf("Open(legacy) = %q, %v", pt.Expose(), err)
	}
	// After a rotation the legacy record still opens with the old key.
	if err := r.Add(testKey(t, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Derive("material").Open(legacy, []byte("aad")); err != nil {
		t.Fatalf("Open(legacy) after Add = %v", err)
	}
	if err := r.Remove(k.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Derive("material").Open(legacy, []byte("aad")); !errors.Is(err, ErrOpen) {
		t.Errorf("Open(legacy) after the old key is removed = %v, want ErrOpen", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	oldKey, newKey := testKey(t, 4), testKey(t, 5)
	r := mustKeyring(t, oldKey)
	s := r.Derive("material")
	before, _ := s.Seal([]byte("a"), nil)
	if err := r.Add(newKey); err != nil {
		t.Fatal(err)
	}
	if r.Active() != newKey.ID() {
		t.Fatalf("Active = %s, want the new key", r.Active())
	}
	if got := r.IDs(); len(got) != 2 || got[0] != oldKey.ID() || got[1] != newKey.ID() {
		t.Fatalf("IDs = %v", got)
	}
	after, _ := s.Seal([]byte("b"), nil)
	if !r.Stale(before) || r.Stale(after) {
		t.Fatalf("Stale(before)=%v Stale(after)=%v, want true false", r.Stale(before), r.Stale(after))
	}
	if _, err := s.Open(before, nil); err != nil {
		t.Fatalf("a record under the retiring key does not open: %v", err)
	}
	if err := r.Remove(newKey.ID()); err == nil {
		t.Error("Remove(active) succeeded")
	}
	if err := r.Add(newKey); err == nil {
		t.Error("Add of a key already held succeeded")
	}
	if err := r.Remove(oldKey.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(before, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open under a removed key = %v, want ErrUnknownKey", err)
	}
	if pt, err := s.Open(after, nil); err != nil || string(pt.Expose()) != "b" {
		t.Errorf("Open(after) = %q, %v", pt.Expose(), err)
	}
}

func TestKeyringMalformedRecords(t *testing.T) {
	r := mustKeyring(t, testKey(t, 6))
	s := r.Derive("p")
	for name, rec := range map[string][]byte{
		"empty":        nil,
		"header only":  {VersionKeyed},
		"zero id":      append([]byte{VersionKeyed, 0}, make([]byte, 40)...),
		"short":        append([]byte{VersionKeyed, 3, 'a', 'b', 'c'}, make([]byte, 20)...),
		"id too long":  append([]byte{VersionKeyed, 200}, make([]byte, 300)...),
		"legacy short": {Version, 1, 2},
	} {
		if _, err := s.Open(rec, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Open = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := s.Open([]byte{9, 1, 2}, nil); !errors.Is(err, ErrVersion) {
		t.Errorf("unknown version: %v, want ErrVersion", err)
	}
	unknown := append([]byte{VersionKeyed, 3, 'x', 'y', 'z'}, make([]byte, nonceSize+tagSize+4)...)
	if _, err := s.Open(unknown, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v, want ErrUnknownKey", err)
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	a, _, err := LoadOrCreateFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := testKey(t, 7)
	if err := WriteKeys(path, []*RootKey{a, b}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 2*KeySize {
		t.Fatalf("key file %v size %d mode %v", err, fi.Size(), fi.Mode())
	}
	if _, err := LoadFile(path); !errors.Is(err, ErrKeyFile) {
		t.Errorf("LoadFile of a two-key file = %v, want ErrKeyFile", err)
	}
	r, ks, err := LoadKeyring(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.IDs(); len(ks) != 2 || got[0] != a.ID() || got[1] != b.ID() {
		t.Fatalf("IDs = %v, want [%s %s]", got, a.ID(), b.ID())
	}
	if err := WriteKeys(path, []*RootKey{b}); err != nil {
		t.Fatal(err)
	}
	k, err := LoadFile(path)
	if err != nil || k.ID() != b.ID() {
		t.Fatalf("LoadFile = %v, %v", k, err)
	}
	if err := WriteKeys(path, nil); err == nil {
		t.Error("WriteKeys(nil) succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestNewSealerMatchesDerive(t *testing.T) {
	k := testKey(t, 8)
	rec, err := k.Derive("backup").Seal([]byte("blob"), []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(k.DeriveKey("backup", KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(rec, []byte("m")); err != nil || string(pt.Expose()) != "blob" {
		t.Fatalf("NewSealer(DeriveKey) does not open Derive's record: %q %v", pt.Expose(), err)
	}
}

func TestKeyringConcurrentSealDuringRotation(t *testing.T) {
	r := mustKeyring(t, testKey(t, 9))
	s := r.Derive("material")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				rec, err := s.Seal([]byte("x"), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Open(rec, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	if err := r.Add(testKey(t, 10)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// FuzzKeyringOpen feeds arbitrary records to a keyring's Open, KeyID and
// Stale: they must fail cleanly and never panic; only a record sealed
// under the key (the seeds, whose plaintext is "x") opens.
func FuzzKeyringOpen(f *testing.F) {
	k, err := New(secret.New(bytes.Repeat([]byte{0x42}, KeySize)), nil)
	if err != nil {
		f.Fatal(err)
	}
	r, err := NewKeyring(nil, k)
	if err != nil {
		f.Fatal(err)
	}
	s := r.Derive("material")
	for _, seed := range []Sealer{s, k.Derive("material")} {
		rec, err := seed.Seal([]byte("x"), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte{VersionKeyed, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		_, _ = KeyID(rec)
		_ = r.Stale(rec)
		pt, err := s.Open(rec, nil)
		if err == nil && string(pt.Expose()) != "x" {
			t.Fatalf("Open accepted a forged record: %x -> %q", rec, pt.Expose())
		}
	})
}
