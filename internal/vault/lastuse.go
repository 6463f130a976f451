package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// Last use. Every successful cryptographic operation marks its version used
// in the minute of its now, in memory: the hot path reads one atomic and
// does nothing more while the minute has not changed. The marks are written
// to the store by FlushLastUse, which Run calls periodically and once more
// on its way out.

// DefaultLastUseFlushInterval is how often Run writes last-use marks when
// Options.LastUseFlushInterval is zero.
const DefaultLastUseFlushInterval = 30 * time.Second

// finalFlushTimeout bounds the flush Run makes after its context ends.
const finalFlushTimeout = 10 * time.Second

// useMark is a version's last use not yet written to the store.
type useMark struct {
	vault, name, id string
	// minute is the Unix time of the start of the latest minute of use.
	minute int64
}

// usesKey identifies a version in Service.uses.
func usesKey(vault, name, id string) string { return cacheKey(vault, name) + "\x00" + id }

// minuteOf returns the Unix time of the start of t's minute.
func minuteOf(t time.Time) int64 {
	u := t.Unix()
	r := u % 60
	if r < 0 {
		r += 60
	}
	return u - r
}

// unixMinute returns the start of the minute of the stored time p, or 0.
func unixMinute(p *time.Time) int64 {
	if p == nil {
		return 0
	}
	return minuteOf(*p)
}

// markUsed records that cv was used at now. It is called on every
// successful operation and costs one atomic load unless the minute moved on.
func (s *Service) markUsed(cv *cachedVersion, now time.Time) {
	if m := minuteOf(now); cv.used.Load() < m {
		s.noteUse(cv, m)
	}
}

// noteUse raises cv's last use to minute and records it for the next flush.
func (s *Service) noteUse(cv *cachedVersion, minute int64) {
	for {
		old := cv.used.Load()
		if old >= minute {
			return
		}
		if cv.used.CompareAndSwap(old, minute) {
			break
		}
	}
	rec := &cv.rec
	k := usesKey(rec.Vault, rec.Name, rec.ID)
	s.umu.Lock()
	if u := s.uses[k]; u == nil {
		s.uses[k] = &useMark{vault: rec.Vault, name: rec.Name, id: rec.ID, minute: minute}
	} else if u.minute < minute {
		u.minute = minute
	}
	s.umu.Unlock()
}

// pendingUse returns the unwritten last use of a version, or 0.
func (s *Service) pendingUse(rec *store.Version) int64 {
	s.umu.Lock()
	defer s.umu.Unlock()
	if u := s.uses[usesKey(rec.Vault, rec.Name, rec.ID)]; u != nil {
		return u.minute
	}
	return 0
}

// forgetUses drops the unwritten last uses of a purged key, so that a key
// restored under the same name and version ids does not inherit them.
func (s *Service) forgetUses(vault, name string) {
	prefix := cacheKey(vault, name) + "\x00"
	s.umu.Lock()
	defer s.umu.Unlock()
	for k := range s.uses {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			delete(s.uses, k)
		}
	}
}

// laterUse returns the later of a stored last use and a minute (0: none).
func laterUse(stored *time.Time, minute int64) *time.Time {
	if minute == 0 || stored != nil && stored.Unix() >= minute {
		return stored
	}
	t := time.Unix(minute, 0).UTC()
	return &t
}

// FlushLastUse writes every last-use mark not yet stored, in one
// transaction, and returns how many version records it changed. A stored
// value is never moved backwards, nothing but LastUsed is changed, and
// versions purged meanwhile are skipped. On error the marks are kept for the
// next flush. Calls are serialised.
func (s *Service) FlushLastUse(ctx context.Context) (int, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.umu.Lock()
	batch := make([]useMark, 0, len(s.uses))
	for _, u := range s.uses {
		batch = append(batch, *u)
	}
	s.umu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	var n int
	err := s.store.Update(ctx, func(tx store.Tx) error {
		n = 0
		for _, u := range batch {
			rec, err := tx.Version(u.vault, u.name, u.id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if rec.LastUsed != nil && rec.LastUsed.Unix() >= u.minute {
				continue // never move a stored value backwards
			}
			t := time.Unix(u.minute, 0).UTC()
			rec.LastUsed = &t
			if err := tx.PutVersion(rec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("vault: write last use of %d versions: %w", len(batch), err)
	}
	s.umu.Lock()
	for _, u := range batch {
		k := usesKey(u.vault, u.name, u.id)
		if cur := s.uses[k]; cur != nil && cur.minute <= u.minute {
			delete(s.uses, k)
		}
	}
	s.umu.Unlock()
	return n, nil
}

// Run writes last-use marks to the store every
// Options.LastUseFlushInterval until ctx ends, then flushes once more (with
// a context of its own, so that the last minutes of use before a shutdown
// are kept) and returns that flush's error. A failed periodic flush is
// reported to Options.OnLastUseError and retried at the next tick. Run
// must be called at most once at a time; its caller owns the goroutine and
// waits for Run to return before closing the store.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			_, err := s.FlushLastUse(fctx)
			return err
		case <-t.C:
			if _, err := s.FlushLastUse(ctx); err != nil && ctx.Err() == nil && s.onLastUseError != nil {
				s.onLastUseError(err)
			}
		}
	}
}
