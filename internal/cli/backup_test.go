package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// onlyFile fails unless dir holds exactly the named file.
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only %s", names, name)
	}
}

func TestBackup(t *testing.T) {
	s := newAdminSession(t)
	s.f.snapshot = bytes.Repeat([]byte("sealed store page "), 50000)
	dir := t.TempDir()
	out := filepath.Join(dir, "snap.db")

	stdout, stderr, err := s.exec("backup", "--out", out, "--output", "json")
	if err != nil {
		t.Fatalf("backup: %v (stderr %q)", err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, s.f.snapshot) {
		t.Fatalf("backup wrote %d bytes (%v), want the %d bytes of the snapshot", len(got), err, len(s.f.snapshot))
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode = %v, want 0600", fi.Mode().Perm())
	}
	var doc backupDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("backup --output json = %q: %v", stdout, err)
	}
	sum := sha256.Sum256(s.f.snapshot)
	if want := (backupDoc{File: out, Size: int64(len(s.f.snapshot)), SHA256: hex.EncodeToString(sum[:])}); doc != want {
		t.Errorf("backup printed %+v, want %+v", doc, want)
	}
	onlyFile(t, dir, "snap.db")

	stdout, _, err = s.exec("backup", "--out", out)
	if err != nil || !strings.Contains(stdout, hex.EncodeToString(sum[:])) || !strings.Contains(stdout, "bytes") {
		t.Errorf("backup (table) = %q, %v; want the size and SHA-256", stdout, err)
	}
}

func TestBackupRefused(t *testing.T) {
	previous := []byte("the previous backup")
	wrong := "sha-256=:" + strings.Repeat("A", 43) + "=:"
	empty := ""
	tests := []struct {
		name    string
		secret  string
		client  string
		digest  *string
		wantErr string
	}{
		{"reader", readerSecret, "reader", nil, "Forbidden"},
		{"digest mismatch", adminSecret, "client1", &wrong, "not the one the server sent"},
		{"no digest", adminSecret, "client1", &empty, "Repr-Digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAdminSession(t)
			s.f.snapshot = []byte("sealed store")
			s.f.snapshotDigest = tt.digest
			dir := t.TempDir()
			out := filepath.Join(dir, "snap.db")
			if err := os.WriteFile(out, previous, 0o600); err != nil {
				t.Fatal(err)
			}
			env := s.f.envFile(t, tt.client, tt.secret, "")
			_, stderr, err := s.exec("backup", "--out", out, "--env-file", env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("backup = %v (stderr %q), want an error with %q", err, stderr, tt.wantErr)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, previous) {
				t.Error("a refused backup changed the existing file")
			}
			onlyFile(t, filepath.Join(dir), "snap.db")
		})
	}
}
