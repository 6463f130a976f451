// Package rootkey keeps the root keyring of a deployment: where its keys
// live (a key file, or an AES key inside the PKCS#11 token), rotation to a
// new root key while the server keeps serving, and the re-sealing of every
// sealed record under the active key.
//
// A rotation adds a new key to the key store first (durably), then makes it
// the keyring's active key, so that every record sealed from then on is
// sealed under it. After a grace period for requests that sealed under the
// old key just before the switch, each Resealer re-seals the records still
// sealed under another key, until a full pass finds none; only then are the
// old keys destroyed. A crash at any step leaves the old keys in place:
// Resume, at the next start, finishes the rotation.
package rootkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/seal"
)

// Source is where a deployment's root keys are kept.
type Source interface {
	// Mode names the source: "file" or "hsm".
	Mode() string
	// New creates a root key and stores it durably beside the existing
	// ones before returning it.
	New(ctx context.Context, now time.Time) (seal.KeyVersion, error)
	// Remove destroys the root key id durably.
	Remove(ctx context.Context, id string) error
}

// Resealer re-seals the sealed records one component keeps.
type Resealer struct {
	// Name says which records these are, for logs and status.
	Name string
	// Reseal re-seals, under the keyring's active key, every record for
	// which stale reports true, and returns how many it re-sealed. It must
	// be safe to run while the server serves: each record is re-read and
	// re-written in one transaction.
	Reseal func(ctx context.Context, stale func(sealed []byte) bool) (int, error)
}

// States of a Rotator.
const (
	StateIdle     = "idle"
	StateRotating = "rotating"
	StateFailed   = "failed"
)

// Status is what a Rotator reports.
type Status struct {
	// Mode is the source's mode.
	Mode string `json:"mode"`
	// Active is the id of the key that seals new records.
	Active string `json:"activeKeyId"`
	// Keys are the ids of the keys held, oldest first.
	Keys []string `json:"keyIds"`
	// State is idle, rotating or failed.
	State string `json:"state"`
	// Started and Finished bound the last rotation.
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	// Resealed counts the records the last rotation re-sealed, by
	// Resealer name.
	Resealed map[string]int `json:"resealed,omitempty"`
	// Error is why the last rotation failed; it is retried by Resume or
	// another Rotate.
	Error string `json:"error,omitempty"`
}

// ErrRotating reports a Rotate while a rotation is running.
var ErrRotating = errors.New("rootkey: a root key rotation is already running")

// Rotator rotates the root key of a keyring. It is safe for concurrent
// use.
type Rotator struct {
	ring      *seal.Keyring
	source    Source
	resealers []Resealer
	log       *slog.Logger
	grace     time.Duration
	now       func() time.Time

	mu     sync.Mutex
	status Status
	done   chan struct{} // closed when the running rotation ends; nil when idle
}

// Options configure a Rotator.
type Options struct {
	// Ring is the keyring in use; Source holds its keys.
	Ring   *seal.Keyring
	Source Source
	// Resealers are every component's sealed records. A record no
	// Resealer covers becomes unreadable when its key is destroyed.
	Resealers []Resealer
	// Log receives progress; nil discards.
	Log *slog.Logger
	// Grace is how long to wait after the switch before re-sealing, for
	// requests that sealed under the old key just before it; zero means 2 s.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Rotator.
func New(o Options) *Rotator {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Grace == 0 {
		o.Grace = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Rotator{ring: o.Ring, source: o.Source, resealers: o.Resealers, log: o.Log, grace: o.Grace, now: o.Now}
	r.status.State = StateIdle
	return r
}

// Status returns the keyring and the last rotation's progress.
func (r *Rotator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Mode = r.source.Mode()
	s.Active = r.ring.Active()
	s.Keys = r.ring.IDs()
	s.Resealed = make(map[string]int, len(r.status.Resealed))
	for k, v := range r.status.Resealed {
		s.Resealed[k] = v
	}
	return s
}

// Rotate creates a new root key, makes it active and starts re-sealing
// every record under it in the background (under ctx, which should live as
// long as the server). It returns once the new key is active. When an
// earlier rotation did not finish (more than one key is held), it finishes
// that one instead of creating another key. Errors: ErrRotating, or the
// source's error (nothing changed).
func (r *Rotator) Rotate(ctx context.Context) (Status, error) {
	r.mu.Lock()
	if r.done != nil {
		r.mu.Unlock()
		return r.Status(), ErrRotating
	}
	if len(r.ring.IDs()) > 1 {
		// A rotation failed or was interrupted: finish it rather than
		// add yet another key.
		r.log.Warn("finishing the unfinished root key rotation", "active_key", r.ring.Active())
		r.startLocked(ctx)
		r.mu.Unlock()
		return r.Status(), nil
	}
	k, err := r.source.New(ctx, r.now())
	if err != nil {
		r.mu.Unlock()
		return r.Status(), fmt.Errorf("rootkey: creating a root key: %w", err)
	}
	if err := r.ring.Add(k); err != nil {
		r.mu.Unlock()
		return r.Status(), err
	}
	r.log.Info("root key rotation started", "new_key", k.ID())
	r.startLocked(ctx)
	r.mu.Unlock()
	return r.Status(), nil
}

// Resume finishes an interrupted rotation: when the keyring holds more
// than one key, it re-seals in the background as Rotate does. It reports
// whether a rotation was resumed.
func (r *Rotator) Resume(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil || len(r.ring.IDs()) < 2 {
		return false
	}
	r.log.Warn("a root key rotation was interrupted; finishing it", "active_key", r.ring.Active())
	r.startLocked(ctx)
	return true
}

// Wait blocks until the running rotation, if any, ends, and returns the
// status then.
func (r *Rotator) Wait(ctx context.Context) (Status, error) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return r.Status(), ctx.Err()
		}
	}
	return r.Status(), nil
}

func (r *Rotator) startLocked(ctx context.Context) {
	now := r.now()
	r.status = Status{State: StateRotating, Started: &now, Resealed: map[string]int{}}
	done := make(chan struct{})
	r.done = done
	go func() {
		err := r.finish(ctx)
		end := r.now()
		r.mu.Lock()
		r.status.Finished = &end
		r.status.State = StateIdle
		if err != nil {
			r.status.State = StateFailed
			r.status.Error = err.Error()
		}
		r.done = nil
		r.mu.Unlock()
		close(done)
		if err != nil {
			r.log.Error("root key rotation failed; the old keys are kept and it resumes at the next start or rotate", "err", err)
		} else {
			r.log.Info("root key rotation finished", "active_key", r.ring.Active())
		}
	}()
}

// maxPasses bounds the re-seal passes: the first re-seals everything, a
// later one only what was sealed under an old key during the previous.
const maxPasses = 5

// finish re-seals every record under the active key, then destroys the
// other keys.
func (r *Rotator) finish(ctx context.Context) error {
	select {
	case <-time.After(r.grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	active := r.ring.Active()
	stale := func(sealed []byte) bool {
		id, err := seal.KeyID(sealed)
		return err != nil || id != active
	}
	clean := false
	for pass := 0; pass < maxPasses && !clean; pass++ {
		clean = true
		for _, rs := range r.resealers {
			n, err := rs.Reseal(ctx, stale)
			if err != nil {
				return fmt.Errorf("re-sealing %s: %w", rs.Name, err)
			}
			if n > 0 {
				clean = false
				r.mu.Lock()
				r.status.Resealed[rs.Name] += n
				r.mu.Unlock()
				r.log.Info("re-sealed records under the new root key", "records", rs.Name, "count", n, "pass", pass+1)
			}
		}
	}
	if !clean {
		return fmt.Errorf("records were still sealed under an old root key after %d passes", maxPasses)
	}
	for _, id := range slices.DeleteFunc(r.ring.IDs(), func(id string) bool { return id == active }) {
		// Out of the keyring first: nothing opens with it any more, and a
		// failure below leaves it in the key store, where the next start
		// finds it and finishes.
		if err := r.ring.Remove(id); err != nil {
			return err
		}
		if err := r.source.Remove(ctx, id); err != nil {
			return fmt.Errorf("destroying the old root key %s: %w", id, err)
		}
		r.log.Info("old root key destroyed", "key", id)
	}
	return nil
}
