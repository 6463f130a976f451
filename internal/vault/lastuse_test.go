package vault_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/vault"
)

// minute0 is the start of t0's minute.
var minute0 = t0.Truncate(time.Minute)

// lastUsed returns GetKey's LastUsed of ref.
func (e *env) lastUsed(t *testing.T, ref vault.Ref) *time.Time {
	t.Helper()
	kv, err := e.svc.GetKey(e.ctx, t0, ref)
	if err != nil {
		t.Fatalf("GetKey(%v) = %v", ref, err)
	}
	return kv.LastUsed
}

// storedLastUsed reads a version's LastUsed straight from the store.
func (e *env) storedLastUsed(t *testing.T, name, id string) *time.Time {
	t.Helper()
	var rec store.Version
	if err := e.db.View(e.ctx, func(tx store.Tx) (err error) {
		rec, err = tx.Version("dev", name, id)
		return err
	}); err != nil {
		t.Fatalf("Version(dev, %s, %s) = %v", name, id, err)
	}
	return rec.LastUsed
}

// reopen returns a new Service on e's store and root key, as after a
// restart.
func (e *env) reopen() *vault.Service {
	return vault.New(vault.Options{
		Store:    e.db,
		Material: e.root.Derive("material"),
		Backup:   e.root.Derive("backup"),
		Software: software.New(rand.Reader),
	})
}

func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func flush(t *testing.T, svc *vault.Service, want int) {
	t.Helper()
	n, err := svc.FlushLastUse(context.Background())
	if err != nil || n != want {
		t.Fatalf("FlushLastUse() = %d, %v; want %d, nil", n, err, want)
	}
}

// TestLastUseMarked checks that each successful cryptographic operation
// marks its version used in the minute of its now, and that refused or
// failed operations do not.
func TestLastUseMarked(t *testing.T) {
	e := newEnv(t)
	e.create(t, "rsa", rsaSpec())
	e.create(t, "ec", ecSpec())
	d := digest("last use")
	type opFunc func(e *env, ref vault.Ref, kv vault.KeyVersion, now time.Time) error
	cipher := func(op vault.Operation) opFunc {
		return func(e *env, ref vault.Ref, _ vault.KeyVersion, now time.Time) error {
			_, _, err := e.svc.Encrypt(e.ctx, now, ref, op, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("x")})
			return err
		}
	}
	decipher := func(op vault.Operation, valid bool) opFunc {
		return func(e *env, ref vault.Ref, kv vault.KeyVersion, now time.Time) error {
			ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, kv.Public.(*rsa.PublicKey), []byte("secret"), nil)
			if err != nil {
				return err
			}
			if !valid {
				ct[0] ^= 1
			}
			_, _, err = e.svc.Decrypt(e.ctx, now, ref, op, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: ct})
			return err
		}
	}
	sign := func(e *env, ref vault.Ref, _ vault.KeyVersion, now time.Time) error {
		_, _, err := e.svc.Sign(e.ctx, now, ref, keys.ES256, d)
		return err
	}
	verify := func(e *env, ref vault.Ref, _ vault.KeyVersion, now time.Time) error {
		_, _, err := e.svc.Verify(e.ctx, now, ref, keys.ES256, d, make([]byte, 64))
		return err
	}
	tests := []struct {
		name   string
		key    string
		op     opFunc
		failed bool
	}{
		{"encrypt", "rsa", cipher(vault.OpEncrypt), false},
		{"wrapKey", "rsa", cipher(vault.OpWrapKey), false},
		{"decrypt", "rsa", decipher(vault.OpDecrypt, true), false},
		{"unwrapKey", "rsa", decipher(vault.OpUnwrapKey, true), false},
		{"sign", "ec", sign, false},
		{"verify (invalid signature)", "ec", verify, false},
		{"failed decrypt", "rsa", decipher(vault.OpDecrypt, false), true},
		{"refused sign (wrong key type)", "rsa", sign, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh version per case: rotate the key.
			kv, err := e.svc.RotateKey(e.ctx, t0, "dev", tt.key)
			if err != nil {
				t.Fatal(err)
			}
			ref := vault.Ref{Vault: "dev", Name: tt.key}
			if got := e.lastUsed(t, ref); got != nil {
				t.Fatalf("LastUsed of a new version = %v, want nil", got)
			}
			now := t0.Add(time.Duration(i) * time.Hour)
			err = tt.op(e, ref, kv, now)
			if tt.failed {
				if err == nil {
					t.Fatalf("%s = nil error, want one", tt.name)
				}
				if got := e.lastUsed(t, ref); got != nil {
					t.Errorf("LastUsed after %s = %v, want nil", tt.name, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s = %v", tt.name, err)
			}
			wantTime(t, "LastUsed after "+tt.name, e.lastUsed(t, ref), now.Truncate(time.Minute))
			page, err := e.svc.ListVersions(e.ctx, "dev", tt.key, "", 25)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				if it.Version == kv.Version {
					wantTime(t, "ListVersions LastUsed after "+tt.name, it.LastUsed, now.Truncate(time.Minute))
				}
			}
		})
	}
}

// TestFlushLastUse checks that a flush writes a mark once, that use within
// the same minute does not mark the version again, and that a new Service on
// the same store reads the value back.
func TestFlushLastUse(t *testing.T) {
	e := newEnv(t)
	kv := e.create(t, "k", ecSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	sign := func(now time.Time) {
		t.Helper()
		if _, _, err := e.svc.Sign(e.ctx, now, ref, keys.ES256, digest("x")); err != nil {
			t.Fatalf("Sign(at %v) = %v", now, err)
		}
	}
	flush(t, e.svc, 0)
	sign(t0)
	if got := e.storedLastUsed(t, "k", kv.Version); got != nil {
		t.Errorf("stored LastUsed before a flush = %v, want nil", got)
	}
	flush(t, e.svc, 1)
	wantTime(t, "stored LastUsed after a flush", e.storedLastUsed(t, "k", kv.Version), minute0)
	wantTime(t, "GetKey LastUsed after a flush", e.lastUsed(t, ref), minute0)

	sign(t0.Add(30 * time.Second)) // same minute: nothing to write
	sign(t0)
	flush(t, e.svc, 0)

	next := t0.Add(time.Minute)
	sign(next)
	wantTime(t, "GetKey LastUsed before the flush", e.lastUsed(t, ref), minute0.Add(time.Minute))
	flush(t, e.svc, 1)
	flush(t, e.svc, 0)
	wantTime(t, "stored LastUsed", e.storedLastUsed(t, "k", kv.Version), minute0.Add(time.Minute))

	restarted := e.reopen()
	got, err := restarted.GetKey(e.ctx, t0, ref)
	if err != nil {
		t.Fatal(err)
	}
	wantTime(t, "GetKey LastUsed after a restart", got.LastUsed, minute0.Add(time.Minute))
	if _, _, err := restarted.Sign(e.ctx, next, ref, keys.ES256, digest("x")); err != nil {
		t.Fatal(err)
	}
	flush(t, restarted, 0) // the stored minute is known: nothing to write
}

// TestLastUseSurvivesInvalidation checks that a mark not yet flushed is
// still seen after a write to the key drops it from the cache.
func TestLastUseSurvivesInvalidation(t *testing.T) {
	e := newEnv(t)
	e.create(t, "k", ecSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	if _, _, err := e.svc.Sign(e.ctx, t0, ref, keys.ES256, digest("x")); err != nil {
		t.Fatal(err)
	}
	kv, err := e.svc.UpdateKey(e.ctx, t0, ref, vault.UpdateParams{Tags: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	wantTime(t, "UpdateKey LastUsed", kv.LastUsed, minute0)
	wantTime(t, "GetKey LastUsed after UpdateKey", e.lastUsed(t, ref), minute0)
	flush(t, e.svc, 1)
	wantTime(t, "stored LastUsed", e.storedLastUsed(t, "k", kv.Version), minute0)
}

// TestLastUseNeverMovesBack checks that a later stored value is kept by a
// flush of an earlier mark and shown by GetKey.
func TestLastUseNeverMovesBack(t *testing.T) {
	e := newEnv(t)
	kv := e.create(t, "k", ecSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	if _, _, err := e.svc.Sign(e.ctx, t0, ref, keys.ES256, digest("x")); err != nil {
		t.Fatal(err)
	}
	later := minute0.Add(time.Hour)
	// Another writer (a second server on a shared store) recorded a later
	// use meanwhile.
	if err := e.db.Update(e.ctx, func(tx store.Tx) error {
		rec, err := tx.Version("dev", "k", kv.Version)
		if err != nil {
			return err
		}
		rec.LastUsed = &later
		return tx.PutVersion(rec)
	}); err != nil {
		t.Fatal(err)
	}
	flush(t, e.svc, 0)
	wantTime(t, "stored LastUsed", e.storedLastUsed(t, "k", kv.Version), later)
	restarted := e.reopen()
	got, err := restarted.GetKey(e.ctx, t0, ref)
	if err != nil {
		t.Fatal(err)
	}
	wantTime(t, "GetKey LastUsed", got.LastUsed, later)
}

// TestLastUseConcurrentUpdate signs in ever later minutes and flushes
// while another goroutine updates the version's tags: both the last use and
// the last tags are kept. Run it with -race.
func TestLastUseConcurrentUpdate(t *testing.T) {
	e := newEnv(t)
	kv := e.create(t, "k", ecSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	const rounds = 50
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		for i := range rounds {
			if _, _, err := e.svc.Sign(e.ctx, t0.Add(time.Duration(i)*time.Minute), ref, keys.ES256, digest("x")); err != nil {
				errc <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range rounds / 5 {
			if _, err := e.svc.FlushLastUse(e.ctx); err != nil {
				errc <- err
				return
			}
		}
	})
	wg.Go(func() {
		for i := range rounds {
			tags := map[string]string{"n": strconv.Itoa(i)}
			if _, err := e.svc.UpdateKey(e.ctx, t0, ref, vault.UpdateParams{Tags: tags}); err != nil {
				errc <- err
				return
			}
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if _, err := e.svc.FlushLastUse(e.ctx); err != nil {
		t.Fatal(err)
	}
	var rec store.Version
	if err := e.db.View(e.ctx, func(tx store.Tx) (err error) {
		rec, err = tx.Version("dev", "k", kv.Version)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	last := rounds - 1
	wantTime(t, "stored LastUsed", rec.LastUsed, minute0.Add(time.Duration(last)*time.Minute))
	if want := strconv.Itoa(last); rec.Tags["n"] != want {
		t.Errorf("stored tags = %v, want n=%s (the last update)", rec.Tags, want)
	}
	wantTime(t, "GetKey LastUsed", e.lastUsed(t, ref), minute0.Add(time.Duration(last)*time.Minute))
}

// TestLastUseForgottenOnPurge checks that the unwritten marks of a purged
// key are not written onto a key restored from its backup.
func TestLastUseForgottenOnPurge(t *testing.T) {
	e := newEnv(t)
	e.create(t, "k", ecSpec())
	ref := vault.Ref{Vault: "dev", Name: "k"}
	blob, err := e.svc.BackupKey(e.ctx, "dev", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Sign(e.ctx, t0, ref, keys.ES256, digest("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteKey(e.ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PurgeKey(e.ctx, t0, "dev", "k"); err != nil {
		t.Fatal(err)
	}
	kv, err := e.svc.RestoreKey(e.ctx, t0, "dev", blob)
	if err != nil {
		t.Fatal(err)
	}
	flush(t, e.svc, 0)
	if kv.LastUsed != nil {
		t.Errorf("RestoreKey LastUsed = %v, want nil", kv.LastUsed)
	}
	if got := e.lastUsed(t, ref); got != nil {
		t.Errorf("GetKey LastUsed after restore = %v, want nil", got)
	}
}

// TestRunFlushes checks that Run writes marks every interval and once more
// when its context ends.
func TestRunFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		kv := e.create(t, "k", ecSpec())
		ref := vault.Ref{Vault: "dev", Name: "k"}
		svc := vault.New(vault.Options{
			Store:                e.db,
			Material:             e.root.Derive("material"),
			Backup:               e.root.Derive("backup"),
			Software:             software.New(rand.Reader),
			LastUseFlushInterval: 10 * time.Second,
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()

		if _, _, err := svc.Sign(ctx, t0, ref, keys.ES256, digest("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if got := e.storedLastUsed(t, "k", kv.Version); got != nil {
			t.Errorf("stored LastUsed before the first tick = %v, want nil", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantTime(t, "stored LastUsed after a tick", e.storedLastUsed(t, "k", kv.Version), minute0)

		if _, _, err := svc.Sign(ctx, t0.Add(time.Minute), ref, keys.ES256, digest("x")); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		wantTime(t, "stored LastUsed after Run returned", e.storedLastUsed(t, "k", kv.Version), minute0.Add(time.Minute))
	})
}

// TestRunReportsFlushErrors checks that a failing periodic flush is
// reported and its marks are kept for a later flush.
func TestRunReportsFlushErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.create(t, "k", ecSpec())
		ref := vault.Ref{Vault: "dev", Name: "k"}
		fs := &failingStore{Store: e.db}
		var reported []error
		svc := vault.New(vault.Options{
			Store:                fs,
			Material:             e.root.Derive("material"),
			Backup:               e.root.Derive("backup"),
			Software:             software.New(rand.Reader),
			LastUseFlushInterval: 10 * time.Second,
			OnLastUseError:       func(err error) { reported = append(reported, err) },
		})
		if _, _, err := svc.Sign(t.Context(), t0, ref, keys.ES256, digest("x")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		fs.fail.Store(true)
		go func() { done <- svc.Run(ctx) }()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if len(reported) != 1 || !errors.Is(reported[0], errStoreDown) {
			t.Errorf("reported errors = %v, want one wrapping %v", reported, errStoreDown)
		}
		fs.fail.Store(false)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		wantTime(t, "GetKey LastUsed after recovery", e.lastUsed(t, ref), minute0)
		got, err := e.reopen().GetKey(e.ctx, t0, ref)
		if err != nil {
			t.Fatal(err)
		}
		wantTime(t, "stored LastUsed after recovery", got.LastUsed, minute0)
	})
}

var errStoreDown = errors.New("store down")

// failingStore fails every Update while fail is set.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (f *failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if f.fail.Load() {
		return errStoreDown
	}
	return f.Store.Update(ctx, fn)
}
