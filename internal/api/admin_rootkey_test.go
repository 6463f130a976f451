package api

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/internal/rootkey"
)

// fakeRootKeys answers like a Rotator: Rotate adds a key and refuses a
// second rotation while the first runs.
type fakeRootKeys struct {
	mu       sync.Mutex
	st       rootkey.Status
	rotating bool
}

func (f *fakeRootKeys) Status() rootkey.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeRootKeys) Rotate(ctx context.Context) (rootkey.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rotating {
		return f.st, rootkey.ErrRotating
	}
	f.rotating = true
	f.st.Keys = append(f.st.Keys, "file-new")
	f.st.Active, f.st.State = "file-new", rootkey.StateRotating
	return f.st, nil
}

func TestAdminRootKey(t *testing.T) {
	a := &fakeAuditor{}
	rk := &fakeRootKeys{st: rootkey.Status{Mode: "file", Active: "file-old", Keys: []string{"file-old"}, State: rootkey.StateIdle}}
	e := newAdminEnvWith(t, func(c *Config, d *Deps) {
		d.RootKeys = rk
		d.Audit = a
	})
	w := e.do("GET", "/admin/v1/rootKey", adminSubject, "")
	wantStatus(t, "GET rootKey", w, 200, "")
	var st rootkey.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Active != "file-old" || st.Mode != "file" || st.State != "idle" {
		t.Errorf("GET rootKey = %s (%v)", w.Body, err)
	}
	for _, who := range []string{readerSubject, strangerSubject} {
		wantStatus(t, "GET rootKey as "+who, e.do("GET", "/admin/v1/rootKey", who, ""), 403, "Forbidden")
		wantStatus(t, "POST rotate as "+who, e.do("POST", "/admin/v1/rootKey/rotate", who, ""), 403, "Forbidden")
	}
	if rk.rotating {
		t.Fatal("a refused request started a rotation")
	}
	w = e.do("POST", "/admin/v1/rootKey/rotate", adminSubject, "")
	wantStatus(t, "POST rotate", w, 202, "")
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Active != "file-new" || st.State != "rotating" {
		t.Errorf("POST rotate = %s (%v)", w.Body, err)
	}
	wantStatus(t, "second POST rotate", e.do("POST", "/admin/v1/rootKey/rotate", adminSubject, ""), 409, "Conflict")
	var ops []string
	for _, r := range a.take() {
		ops = append(ops, r.OperationName)
	}
	want := []string{"RootKeyGet", "RootKeyGet", "RootKeyRotate", "RootKeyGet", "RootKeyRotate", "RootKeyRotate", "RootKeyRotate"}
	if len(ops) != len(want) {
		t.Fatalf("audit operations %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("audit operation %d = %s, want %s", i, ops[i], want[i])
		}
	}
}
