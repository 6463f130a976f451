package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/store"
)

// state is everything seed writes, read back for before/after comparisons.
type state struct {
	Vaults     []store.Vault
	Keys       map[string][]store.Key // by vault, active then deleted
	Versions   map[string][]store.Version
	Principals []store.Principal
	RoleDefs   []store.RoleDefinition
	Assigns    []store.RoleAssignment
	Blobs      map[string]string
}

// stateVaults and stateBlobs are the vault and blob names dump reads; the
// tests below write no others.
var (
	stateVaults = []string{"v", "w"}
	stateBlobs  = []string{"b", "c"}
)

// seed writes a small data set: vault v with an active key of two versions
// and a soft-deleted key, a principal, a custom role definition, a role
// assignment and a blob.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	put(t, s, newVault("v"),
		newKey("v", "Live"), newVersion("v", "Live", "1"), newVersion("v", "Live", "2"),
		deletedKey("v", "Gone"), newVersion("v", "Gone", "1"),
		newPrincipal("p"), newRoleDefinition("r", "R"), newRoleAssignment("a"))
	update(t, s, func(tx store.Tx) error { return tx.PutBlob("b", []byte("blob")) })
}

// dump reads the state of s.
func dump(t *testing.T, s store.Store) state {
	t.Helper()
	st := state{Keys: map[string][]store.Key{}, Versions: map[string][]store.Version{}, Blobs: map[string]string{}}
	view(t, s, func(tx store.Tx) (err error) {
		if st.Vaults, err = tx.Vaults(); err != nil {
			return err
		}
		for _, v := range stateVaults {
			for _, deleted := range []bool{false, true} {
				keys, err := tx.Keys(v, deleted, store.Page{})
				if err != nil {
					return err
				}
				st.Keys[v] = append(st.Keys[v], keys...)
				for _, k := range keys {
					versions, err := tx.Versions(v, k.Name, store.Page{})
					if err != nil {
						return err
					}
					st.Versions[v+"/"+k.Name] = versions
				}
			}
		}
		if st.Principals, err = tx.Principals(); err != nil {
			return err
		}
		if st.RoleDefs, err = tx.RoleDefinitions(); err != nil {
			return err
		}
		if st.Assigns, err = tx.RoleAssignments(); err != nil {
			return err
		}
		for _, name := range stateBlobs {
			b, err := tx.Blob(name)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				st.Blobs[name] = string(b)
			}
		}
		return nil
	})
	return st
}

// writes are one call of every write method of Tx, each of which would
// change the seeded state.
var writes = []struct {
	name string
	fn   func(store.Tx) error
}{
	{"PutVault", func(tx store.Tx) error { return tx.PutVault(newVault("w")) }},
	{"DeleteVault", func(tx store.Tx) error { return tx.DeleteVault("v") }},
	{"PutKey", func(tx store.Tx) error { return tx.PutKey(newKey("v", "New")) }},
	{"PutKeyReplace", func(tx store.Tx) error { return tx.PutKey(deletedKey("v", "Live")) }},
	{"DeleteKey", func(tx store.Tx) error { return tx.DeleteKey("v", "Live") }},
	{"PutVersion", func(tx store.Tx) error { return tx.PutVersion(newVersion("v", "Live", "3")) }},
	{"PutPrincipal", func(tx store.Tx) error { return tx.PutPrincipal(newPrincipal("q")) }},
	{"DeletePrincipal", func(tx store.Tx) error { return tx.DeletePrincipal("p") }},
	{"PutRoleDefinition", func(tx store.Tx) error { return tx.PutRoleDefinition(newRoleDefinition("r2", "R2")) }},
	{"PutRoleDefinitionReplace", func(tx store.Tx) error { return tx.PutRoleDefinition(newRoleDefinition("r", "Renamed")) }},
	{"DeleteRoleDefinition", func(tx store.Tx) error { return tx.DeleteRoleDefinition("r") }},
	{"PutRoleAssignment", func(tx store.Tx) error { return tx.PutRoleAssignment(newRoleAssignment("a2")) }},
	{"PutRoleAssignmentReplace", func(tx store.Tx) error {
		a := newRoleAssignment("a")
		a.Scope = "/"
		return tx.PutRoleAssignment(a)
	}},
	{"DeleteRoleAssignment", func(tx store.Tx) error { return tx.DeleteRoleAssignment("a") }},
	{"PutBlob", func(tx store.Tx) error { return tx.PutBlob("c", []byte("new")) }},
	{"PutBlobReplace", func(tx store.Tx) error { return tx.PutBlob("b", []byte("changed")) }},
}

// errAbort is the error the rollback tests return from Update.
var errAbort = errors.New("storetest: abort")

func testTransactions(t *testing.T, open opener) {
	t.Run("Rollback", func(t *testing.T) {
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				s := newStore(t, open)
				seed(t, s)
				before := dump(t, s)
				err := s.Update(t.Context(), func(tx store.Tx) error {
					if err := w.fn(tx); err != nil {
						return fmt.Errorf("%s: %w", w.name, err)
					}
					return errAbort
				})
				if !errors.Is(err, errAbort) {
					t.Errorf("Update(%s, then fail) = %v, want the callback's error", w.name, err)
				}
				if diff := cmp.Diff(before, dump(t, s), cmpOpts...); diff != "" {
					t.Errorf("state after a failed Update(%s) changed (-before +after):\n%s", w.name, diff)
				}
			})
		}

		t.Run("All", func(t *testing.T) {
			s := newStore(t, open)
			seed(t, s)
			before := dump(t, s)
			err := s.Update(t.Context(), func(tx store.Tx) error {
				for _, w := range writes {
					if err := w.fn(tx); err != nil {
						return fmt.Errorf("%s: %w", w.name, err)
					}
				}
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Errorf("Update(every write, then fail) = %v, want the callback's error", err)
			}
			if diff := cmp.Diff(before, dump(t, s), cmpOpts...); diff != "" {
				t.Errorf("state after a failed Update changed (-before +after):\n%s", diff)
			}
		})
	})

	t.Run("Commit", func(t *testing.T) {
		// Each write changes the state; a committed Update keeps the change.
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				s := newStore(t, open)
				seed(t, s)
				before := dump(t, s)
				update(t, s, w.fn)
				if cmp.Equal(before, dump(t, s), cmpOpts...) {
					t.Errorf("state after a committed Update(%s) did not change", w.name)
				}
			})
		}
	})

	t.Run("ReadYourWrites", func(t *testing.T) {
		s := newStore(t, open)
		seed(t, s)
		update(t, s, func(tx store.Tx) error {
			if err := tx.PutVault(newVault("w")); err != nil {
				return err
			}
			if _, err := tx.Vault("w"); err != nil {
				t.Errorf("Vault(%q) after PutVault in the same Update = %v, want nil", "w", err)
			}
			if err := tx.PutKey(newKey("w", "Fresh")); err != nil {
				return err
			}
			if err := tx.PutVersion(newVersion("w", "Fresh", "1")); err != nil {
				return err
			}
			if k, err := tx.Key("w", "FRESH"); err != nil || k.Name != "Fresh" {
				t.Errorf("Key(%q, %q) after PutKey in the same Update = %q, %v, want %q, nil", "w", "FRESH", k.Name, err, "Fresh")
			}
			if keys, err := tx.Keys("w", false, store.Page{}); err != nil || len(keys) != 1 {
				t.Errorf("Keys(%q) after PutKey in the same Update = %v, %v, want [Fresh], nil", "w", keyNames(keys), err)
			}
			if vs, err := tx.Versions("w", "fresh", store.Page{}); err != nil || len(vs) != 1 {
				t.Errorf("Versions(%q, %q) after PutVersion in the same Update = %v, %v, want [1], nil", "w", "fresh", versionIDs(vs), err)
			}
			if err := tx.DeleteKey("v", "Live"); err != nil {
				return err
			}
			_, err := tx.Key("v", "Live")
			wantNotFound(t, `Key("v", "Live") after DeleteKey in the same Update`, err)
			_, err = tx.Version("v", "Live", "1")
			wantNotFound(t, `Version("v", "Live", "1") after DeleteKey in the same Update`, err)
			if err := tx.PutPrincipal(newPrincipal("q")); err != nil {
				return err
			}
			if ps, err := tx.Principals(); err != nil || len(ps) != 2 {
				t.Errorf("Principals() after PutPrincipal in the same Update = %d principals, %v, want 2, nil", len(ps), err)
			}
			if err := tx.DeletePrincipal("p"); err != nil {
				return err
			}
			_, err = tx.Principal("p")
			wantNotFound(t, `Principal("p") after DeletePrincipal in the same Update`, err)
			if err := tx.PutRoleDefinition(newRoleDefinition("r2", "R2")); err != nil {
				return err
			}
			if d, err := tx.RoleDefinition("r2"); err != nil || d.Name != "R2" {
				t.Errorf("RoleDefinition(%q) after PutRoleDefinition in the same Update = %q, %v, want %q, nil", "r2", d.Name, err, "R2")
			}
			if ds, err := tx.RoleDefinitions(); err != nil || len(ds) != 2 {
				t.Errorf("RoleDefinitions() after PutRoleDefinition in the same Update = %v, %v, want [r r2], nil", roleDefinitionIDs(ds), err)
			}
			if err := tx.DeleteRoleDefinition("r"); err != nil {
				return err
			}
			_, err = tx.RoleDefinition("r")
			wantNotFound(t, `RoleDefinition("r") after DeleteRoleDefinition in the same Update`, err)
			if err := tx.PutRoleAssignment(newRoleAssignment("a2")); err != nil {
				return err
			}
			if as, err := tx.RoleAssignments(); err != nil || len(as) != 2 {
				t.Errorf("RoleAssignments() after PutRoleAssignment in the same Update = %v, %v, want [a a2], nil", roleAssignmentIDs(as), err)
			}
			if err := tx.DeleteRoleAssignment("a"); err != nil {
				return err
			}
			_, err = tx.RoleAssignment("a")
			wantNotFound(t, `RoleAssignment("a") after DeleteRoleAssignment in the same Update`, err)
			if err := tx.PutBlob("b", []byte("new")); err != nil {
				return err
			}
			if b, err := tx.Blob("b"); err != nil || string(b) != "new" {
				t.Errorf("Blob(%q) after PutBlob in the same Update = %q, %v, want %q, nil", "b", b, err, "new")
			}
			return nil
		})
	})

	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"))
		const workers, perWorker = 8, 10
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					err := s.Update(t.Context(), func(tx store.Tx) error {
						n := 0
						b, err := tx.Blob("b")
						switch {
						case errors.Is(err, store.ErrNotFound):
						case err != nil:
							return err
						default:
							if n, err = strconv.Atoi(string(b)); err != nil {
								return err
							}
						}
						if err := tx.PutBlob("b", []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
						return tx.PutKey(newKey("v", fmt.Sprintf("w%d-%d", w, i)))
					})
					if err != nil {
						t.Errorf("Update() in worker %d = %v, want nil", w, err)
						return
					}
				}
			})
		}
		wg.Wait()
		var (
			counter []byte
			keys    []store.Key
		)
		view(t, s, func(tx store.Tx) (err error) {
			if counter, err = tx.Blob("b"); err != nil {
				return err
			}
			keys, err = tx.Keys("v", false, store.Page{})
			return err
		})
		if want := strconv.Itoa(workers * perWorker); string(counter) != want {
			t.Errorf("Blob(%q) after %d concurrent increments = %q, want %q", "b", workers*perWorker, counter, want)
		}
		if len(keys) != workers*perWorker {
			t.Errorf("len(Keys(%q)) after %d concurrent PutKey = %d, want %d", "v", workers*perWorker, len(keys), workers*perWorker)
		}
	})

	t.Run("ViewIsReadOnly", func(t *testing.T) {
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				s := newStore(t, open)
				seed(t, s)
				before := dump(t, s)
				var werr error
				// View's own result is not checked: a backend may fail the
				// whole transaction once a write was attempted.
				_ = s.View(t.Context(), func(tx store.Tx) error {
					werr = w.fn(tx)
					return nil
				})
				if werr == nil {
					t.Errorf("%s in View = nil, want an error", w.name)
				}
				if diff := cmp.Diff(before, dump(t, s), cmpOpts...); diff != "" {
					t.Errorf("state after %s in View changed (-before +after):\n%s", w.name, diff)
				}
			})
		}
	})

	t.Run("CancelledBefore", func(t *testing.T) {
		s := newStore(t, open)
		seed(t, s)
		before := dump(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		called := false
		err := s.Update(ctx, func(tx store.Tx) error {
			called = true
			return tx.PutVault(newVault("w"))
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Update(cancelled ctx) = %v, want context.Canceled", err)
		}
		if called {
			t.Errorf("Update(cancelled ctx) ran its callback, want not")
		}
		err = s.View(ctx, func(store.Tx) error {
			called = true
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("View(cancelled ctx) = %v, want context.Canceled", err)
		}
		if called {
			t.Errorf("View(cancelled ctx) ran its callback, want not")
		}
		if diff := cmp.Diff(before, dump(t, s), cmpOpts...); diff != "" {
			t.Errorf("state after Update(cancelled ctx) changed (-before +after):\n%s", diff)
		}
	})

	t.Run("CancelledBeforeCommit", func(t *testing.T) {
		s := newStore(t, open)
		seed(t, s)
		before := dump(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		err := s.Update(ctx, func(tx store.Tx) error {
			for _, w := range writes {
				if err := w.fn(tx); err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Update(ctx cancelled in the callback) = %v, want context.Canceled", err)
		}
		if diff := cmp.Diff(before, dump(t, s), cmpOpts...); diff != "" {
			t.Errorf("state after Update(ctx cancelled in the callback) changed (-before +after):\n%s", diff)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		called := false
		fn := func(store.Tx) error {
			called = true
			return nil
		}
		if err := s.Update(t.Context(), fn); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Update() after Close = %v, want store.ErrClosed", err)
		}
		if err := s.View(t.Context(), fn); !errors.Is(err, store.ErrClosed) {
			t.Errorf("View() after Close = %v, want store.ErrClosed", err)
		}
		if called {
			t.Errorf("a transaction ran its callback after Close, want not")
		}
	})
}
