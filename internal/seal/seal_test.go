package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/secret"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testKey(t *testing.T, fill byte) *RootKey {
	t.Helper()
	k, err := New(secret.New(bytes.Repeat([]byte{fill}, KeySize)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDeriveKeyRFC5869 checks the HKDF step against RFC 5869 appendix A:
// test case 1 (salt and info) and test case 3 (no salt, no info, the shape
// Derive uses).
func TestDeriveKeyRFC5869(t *testing.T) {
	tests := []struct {
		name           string
		ikm, salt, okm string
		info           string
		length         int
	}{
		{
			name:   "case 1",
			ikm:    "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			salt:   "000102030405060708090a0b0c",
			info:   string(mustHex(t, "f0f1f2f3f4f5f6f7f8f9")),
			length: 42,
			okm:    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
		},
		{
			name:   "case 3",
			ikm:    "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			length: 42,
			okm:    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deriveKey(mustHex(t, tt.ikm), mustHex(t, tt.salt), tt.info, tt.length)
			if err != nil {
				t.Fatalf("deriveKey() error = %v", err)
			}
			if h := hex.EncodeToString(got); h != tt.okm {
				t.Errorf("deriveKey() = %s, want %s", h, tt.okm)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	s := testKey(t, 1).Derive("material")
	for _, n := range []int{0, 1, 31, 32, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := bytes.Repeat([]byte{0xa5}, n)
			aad := []byte("vault=a;key=k;version=v")
			sealed, err := s.Seal(pt, aad)
			if err != nil {
				t.Fatalf("Seal() error = %v", err)
			}
			if len(sealed) != n+Overhead {
				t.Errorf("len(Seal()) = %d, want %d", len(sealed), n+Overhead)
			}
			if sealed[0] != Version {
				t.Errorf("Seal()[0] = %d, want %d", sealed[0], Version)
			}
			got, err := s.Open(sealed, aad)
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if !bytes.Equal(got.Expose(), pt) {
				t.Errorf("Open(Seal(pt)) = %x, want %x", got.Expose(), pt)
			}
		})
	}
}

func TestNoncesDiffer(t *testing.T) {
	s := testKey(t, 1).Derive("material")
	a, _ := s.Seal([]byte("x"), nil)
	b, _ := s.Seal([]byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Error("Seal(x) twice gave identical records, want fresh nonces")
	}
}

func TestOpenFailures(t *testing.T) {
	root := testKey(t, 1)
	s := root.Derive("material")
	pt := []byte("private key material")
	aad := []byte("vault=a;key=k;version=v")
	sealed, err := s.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sealer Sealer
		record []byte
		aad    []byte
		want   error
	}{
		{"wrong aad", s, sealed, []byte("vault=b;key=k;version=v"), ErrOpen},
		{"nil aad", s, sealed, nil, ErrOpen},
		{"wrong root key", testKey(t, 2).Derive("material"), sealed, aad, ErrOpen},
		{"wrong purpose", root.Derive("backup"), sealed, aad, ErrOpen},
		{"empty", s, nil, aad, ErrMalformed},
		{"truncated", s, sealed[:Overhead-1], aad, ErrMalformed},
		{"version 0", s, append([]byte{0}, sealed[1:]...), aad, ErrVersion},
		{"version 2", s, append([]byte{2}, sealed[1:]...), aad, ErrVersion},
		{"appended byte", s, append(append([]byte(nil), sealed...), 0), aad, ErrOpen},
	}
	for i := 1; i < len(sealed); i++ {
		tampered := append([]byte(nil), sealed...)
		tampered[i] ^= 0x01
		tests = append(tests, struct {
			name   string
			sealer Sealer
			record []byte
			aad    []byte
			want   error
		}{fmt.Sprintf("flip byte %d", i), s, tampered, aad, ErrOpen})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.record, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open() = %v, %v; want error %v", got, err, tt.want)
			}
			if !got.IsZero() {
				t.Errorf("Open() returned %d bytes with an error", got.Len())
			}
			if strings.Contains(err.Error(), string(pt)) {
				t.Errorf("Open() error %q contains the plaintext", err)
			}
		})
	}
}

func TestDeriveSeparation(t *testing.T) {
	root := testKey(t, 7)
	purposes := []string{"material", "backup", "token-signing"}
	for _, p := range purposes {
		sealed, err := root.Derive(p).Seal([]byte("secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range purposes {
			t.Run(p+"/"+q, func(t *testing.T) {
				_, err := root.Derive(q).Open(sealed, nil)
				if p == q && err != nil {
					t.Errorf("Derive(%q).Open(own record) = %v, want nil", q, err)
				}
				if p != q && !errors.Is(err, ErrOpen) {
					t.Errorf("Derive(%q).Open(record of %q) = %v, want %v", q, p, err, ErrOpen)
				}
			})
		}
	}
}

func TestNewRejectsBadLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(secret.New(make([]byte, n)), nil); err == nil {
			t.Errorf("New(%d bytes) = nil error, want error", n)
		}
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")

	k1, created, err := LoadOrCreateFile(path, nil)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile(new) = _, %v, %v; want created", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Errorf("root key file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), KeySize)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after create, want 1 (no temp files left)", len(entries))
	}

	k2, created, err := LoadOrCreateFile(path, nil)
	if err != nil || created {
		t.Fatalf("LoadOrCreateFile(existing) = _, %v, %v; want loaded", created, err)
	}
	k3, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile() error = %v", err)
	}
	sealed, err := k1.Derive("material").Seal([]byte("x"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []*RootKey{k2, k3} {
		if _, err := k.Derive("material").Open(sealed, []byte("aad")); err != nil {
			t.Errorf("reloaded key %d cannot open record of created key: %v", i, err)
		}
	}
}

func TestLoadOrCreateFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	const n = 8
	keys := make([]*RootKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = LoadOrCreateFile(path, nil) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateFile() #%d error = %v", i, errs[i])
		}
		if !keys[i].key.Equal(keys[0].key) {
			t.Errorf("LoadOrCreateFile() #%d returned a different key than #0", i)
		}
	}
}

func TestLoadFileRejects(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantMsg string
	}{
		{"group readable", make([]byte, KeySize), 0o640, "mode 0640"},
		{"world readable", make([]byte, KeySize), 0o604, "mode 0604"},
		{"group writable", make([]byte, KeySize), 0o620, "mode 0620"},
		{"short", []byte("hunter2-short-secret"), 0o600, "has 20 bytes, want 32"},
		{"empty", nil, 0o600, "has 0 bytes"},
		{"long", []byte(strings.Repeat("hunter2-", 5)), 0o600, "has 40 bytes"},
		{"too many keys", []byte(strings.Repeat("hunter2-", 4*5)), 0o600, "longer than 128 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(path)
			if !errors.Is(err, ErrKeyFile) {
				t.Fatalf("LoadFile() = %v, want %v", err, ErrKeyFile)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("LoadFile() = %q, want message containing %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("LoadFile() error %q echoes file contents", err)
			}
			// LoadOrCreateFile must refuse too, not replace the file.
			if _, _, err := LoadOrCreateFile(path, nil); !errors.Is(err, ErrKeyFile) {
				t.Errorf("LoadOrCreateFile() = %v, want %v", err, ErrKeyFile)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.content) {
				t.Error("LoadOrCreateFile() modified an unusable key file")
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(absent) = %v, want %v", err, fs.ErrNotExist)
	}
}

func TestLoadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(dir); !errors.Is(err, ErrKeyFile) {
		t.Errorf("LoadFile(directory) = %v, want %v", err, ErrKeyFile)
	}
}

func TestRootKeyNeverPrints(t *testing.T) {
	k := testKey(t, 0x41)
	type wrapper struct{ K *RootKey }
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "k", k)
	for name, s := range map[string]string{
		"v":      fmt.Sprintf("%v", k),
		"+v":     fmt.Sprintf("%+v", k),
		"#v":     fmt.Sprintf("%#v", k),
		"x":      fmt.Sprintf("%x", k),
		"d":      fmt.Sprintf("%d", k),
		"s":      fmt.Sprintf("%s", k),
		"struct": fmt.Sprintf("%+v", wrapper{k}),
		"sealer": fmt.Sprintf("%+v", k.Derive("x")),
		"slog":   buf.String(),
	} {
		if strings.Contains(s, "AAAA") || strings.Contains(s, "65 65") || strings.Contains(s, "4141") {
			t.Errorf("formatting a RootKey with %s leaked key bytes: %s", name, s)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s := func() Sealer {
		k, _ := New(secret.New(make([]byte, KeySize)), nil)
		return k.Derive("fuzz")
	}()
	good, _ := s.Seal([]byte("plaintext"), []byte("aad"))
	f.Add(good, []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("aad"))
	f.Fuzz(func(t *testing.T, record, aad []byte) {
		pt, err := s.Open(record, aad)
		if err != nil {
			return
		}
		again, err := s.Seal(pt.Expose(), aad)
		if err != nil {
			t.Fatal(err)
		}
		if pt2, err := s.Open(again, aad); err != nil || !bytes.Equal(pt2.Expose(), pt.Expose()) {
			t.Fatalf("Open(Seal(Open(record))) = %v, want round trip", err)
		}
	})
}
