package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
)

// fakeSnapshots writes data as the snapshot, or fails with err.
type fakeSnapshots struct {
	mu    sync.Mutex
	data  []byte
	err   error
	calls int
}

func (f *fakeSnapshots) Snapshot(ctx context.Context, w io.Writer) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	n, err := w.Write(f.data)
	return int64(n), err
}

// newSnapshotEnv is an admin server with snapshots spooled to a temporary
// directory (returned) and an audit trail.
func newSnapshotEnv(t *testing.T, snaps Snapshots) (*adminEnv, *fakeAuditor, string) {
	t.Helper()
	a := &fakeAuditor{}
	dir := t.TempDir()
	e := newAdminEnvWith(t, func(c *Config, d *Deps) {
		c.SnapshotDir = dir
		d.Snapshots = snaps
		d.Audit = a
	})
	return e, a, dir
}

// wantEmptyDir fails if the spool directory holds a file.
func wantEmptyDir(t *testing.T, dir string) {
	t.Helper()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool directory holds %d files after the request, want none", len(ents))
	}
}

func TestAdminSnapshot(t *testing.T) {
	data := bytes.Repeat([]byte("sealed store page "), 10000)
	snaps := &fakeSnapshots{data: data}
	e, a, dir := newSnapshotEnv(t, snaps)

	w := e.do("GET", "/admin/v1/snapshot", adminSubject, "")
	wantStatus(t, "GET snapshot", w, 200, "")
	if !bytes.Equal(w.Body.Bytes(), data) {
		t.Errorf("GET snapshot body = %d bytes, want the %d bytes of the snapshot", w.Body.Len(), len(data))
	}
	sum := sha256.Sum256(data)
	for h, want := range map[string]string{
		"Content-Type":   "application/octet-stream",
		"Content-Length": strconv.Itoa(len(data)),
		"Cache-Control":  "no-store",
		"Repr-Digest":    "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":",
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("GET snapshot %s = %q, want %q", h, got, want)
		}
	}
	infos := a.take()
	if len(infos) != 1 || infos[0].OperationName != "StoreSnapshotGet" || infos[0].Status != 200 || infos[0].ObjectID != adminSubject {
		t.Errorf("audit records = %+v, want one StoreSnapshotGet 200 by %s", infos, adminSubject)
	}
	wantEmptyDir(t, dir)
}

func TestAdminSnapshotRefused(t *testing.T) {
	snaps := &fakeSnapshots{data: []byte("sealed")}
	e, a, dir := newSnapshotEnv(t, snaps)
	tests := []struct {
		name, sub string
		status    int
		code      string
	}{
		{"no token", "", 401, "Unauthorized"},
		{"reader", readerSubject, 403, "Forbidden"},
		{"stranger", strangerSubject, 403, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("GET", "/admin/v1/snapshot", tt.sub, "")
			wantStatus(t, tt.name, w, tt.status, tt.code)
			if bytes.Contains(w.Body.Bytes(), snaps.data) {
				t.Errorf("%s: the refusal carries the snapshot", tt.name)
			}
			if infos := a.take(); len(infos) != 1 || infos[0].OperationName != "StoreSnapshotGet" || infos[0].Status != tt.status {
				t.Errorf("%s: audit records = %+v, want one StoreSnapshotGet %d", tt.name, infos, tt.status)
			}
		})
	}
	if snaps.calls != 0 {
		t.Errorf("refused requests took %d snapshots, want 0", snaps.calls)
	}
	if w := e.do("POST", "/admin/v1/snapshot", adminSubject, ""); w.Code != 405 {
		t.Errorf("POST snapshot = %d, want 405", w.Code)
	}
	wantEmptyDir(t, dir)
}

func TestAdminSnapshotFailures(t *testing.T) {
	t.Run("not configured", func(t *testing.T) {
		e, _, _ := newSnapshotEnv(t, nil)
		wantStatus(t, "GET snapshot", e.do("GET", "/admin/v1/snapshot", adminSubject, ""), 501, "BadParameter")
	})
	t.Run("snapshot fails", func(t *testing.T) {
		e, _, dir := newSnapshotEnv(t, &fakeSnapshots{err: errors.New("disk on fire")})
		w := e.do("GET", "/admin/v1/snapshot", adminSubject, "")
		wantStatus(t, "GET snapshot", w, 500, "")
		if bytes.Contains(w.Body.Bytes(), []byte("disk on fire")) {
			t.Errorf("GET snapshot answered the internal error: %s", w.Body)
		}
		wantEmptyDir(t, dir)
	})
	t.Run("audit record fails", func(t *testing.T) {
		snaps := &fakeSnapshots{data: []byte("sealed store")}
		e, a, dir := newSnapshotEnv(t, snaps)
		a.recordErr = errors.New("audit disk full")
		w := e.do("GET", "/admin/v1/snapshot", adminSubject, "")
		wantStatus(t, "GET snapshot", w, 503, "ServiceUnavailable")
		if bytes.Contains(w.Body.Bytes(), snaps.data) || w.Header().Get("Repr-Digest") != "" {
			t.Errorf("GET snapshot without an audit record sent the snapshot")
		}
		wantEmptyDir(t, dir)
	})
}
