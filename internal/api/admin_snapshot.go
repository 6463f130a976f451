package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// GET /admin/v1/snapshot: a consistent copy of the whole store, for backups
// (docs/operations.md). It holds what the store holds — sealed key
// material, hashed client secrets, role assignments — and never the root
// key. The snapshot is first spooled to an unlinked file in
// Config.SnapshotDir, so that the store's read transaction ends at disk
// speed whatever the client's; then the audit record is written, and only
// then is the file sent, as every other answer is sent after its record.

// snapshotTimeout bounds the spooling of a snapshot (not its sending).
const snapshotTimeout = 10 * time.Minute

// Snapshots takes consistent snapshots of the store. The embedded store
// (a store.Snapshotter) satisfies it.
type Snapshots interface {
	// Snapshot writes the store as of one transaction to w and returns the
	// number of bytes written.
	Snapshot(ctx context.Context, w io.Writer) (int64, error)
}

// heldStream is a response body sent after the held response, once its
// audit record is written: a spooled file of known size.
type heldStream struct {
	r    io.ReadCloser
	size int64
}

// adminSnapshot spools a snapshot and returns it as a heldStream, with its
// SHA-256 in Repr-Digest (RFC 9530) so that the client can check what it
// received.
func (s *Server) adminSnapshot(ctx context.Context, rq *request, _ adminParams) (any, error) {
	f, err := os.CreateTemp(s.cfg.SnapshotDir, ".snapshot-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("api: snapshot spool: %w", err)
	}
	// Unlinked at once: nothing stays behind, whatever happens next.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("api: snapshot spool: %w", err)
	}
	h := sha256.New()
	n, err := s.admin.snapshots.Snapshot(ctx, io.MultiWriter(f, h))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("api: snapshot: %w", err)
	}
	hd := rq.w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", `attachment; filename="keywarden.db"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(h.Sum(nil))+":")
	return &heldStream{r: f, size: n}, nil
}

// send writes the stream to w, giving it a write deadline for its size
// (the server's WriteTimeout is meant for JSON answers), and closes it.
func (st *heldStream) send(w http.ResponseWriter) error {
	defer st.r.Close()
	// At least 1 MiB/s, and 5 minutes more.
	d := 5*time.Minute + time.Duration(st.size>>20)*time.Second
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	n, err := io.Copy(w, st.r)
	if err == nil && n != st.size {
		err = fmt.Errorf("sent %d of %d bytes", n, st.size)
	}
	return err
}
