//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// errClosed is returned by operations on a closed Provider.
var errClosed = errors.New("pkcs11: provider is closed")

// session borrows a session from the pool, runs fn with it and returns it.
// A module, token or session failure drops the session and every idle one
// (they likely share its fate) and comes back as keys.ErrUnavailable;
// other errors pass through and the session is kept. fn's errors may wrap
// module errors.
func (p *Provider) session(ctx context.Context, op string, fn func(sh p11.SessionHandle) error) error {
	sh, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(sh)
	if err != nil && classify(err) == kindUnavailable {
		_ = p.m.CloseSession(sh)
		p.drainIdle()
		<-p.sem
		return unavailable(op, err)
	}
	p.idle <- sh
	<-p.sem
	return err
}

// acquire takes a pool slot, then an idle session or a new one.
func (p *Provider) acquire(ctx context.Context) (p11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-p.done:
		return 0, errClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if p.closed.Load() {
		<-p.sem
		return 0, errClosed
	}
	select {
	case sh := <-p.idle:
		return sh, nil
	default:
	}
	sh, err := p.openSession()
	if err != nil {
		<-p.sem
		if classify(err) == kindUnavailable {
			return 0, unavailable("open session", err)
		}
		return 0, fmt.Errorf("pkcs11: open session: %w", err)
	}
	return sh, nil
}

// drainIdle closes every idle session.
func (p *Provider) drainIdle() {
	for {
		select {
		case sh := <-p.idle:
			_ = p.m.CloseSession(sh)
		default:
			return
		}
	}
}

// openSession opens a read-write session on the token and makes sure the
// user is logged in (login state is per application and ends when its last
// session closes). If the module has been finalized or the token has moved
// to another slot, it initializes the module again, finds the token by
// label and retries once.
func (p *Provider) openSession() (p11.SessionHandle, error) {
	sh, err := p.tryOpenSession()
	if err == nil || classify(err) != kindUnavailable {
		return sh, err
	}
	if rerr := p.reattach(); rerr != nil {
		return 0, errors.Join(err, rerr)
	}
	return p.tryOpenSession()
}

func (p *Provider) tryOpenSession() (p11.SessionHandle, error) {
	p.mu.Lock()
	slot := p.slot
	p.mu.Unlock()
	sh, err := p.m.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("C_OpenSession: %w", err)
	}
	if err := p.login(sh); err != nil {
		_ = p.m.CloseSession(sh)
		return 0, err
	}
	return sh, nil
}

// login logs the user in on sh unless the application already is.
func (p *Provider) login(sh p11.SessionHandle) error {
	info, err := p.m.GetSessionInfo(sh)
	if err != nil {
		return fmt.Errorf("C_GetSessionInfo: %w", err)
	}
	if info.State == p11.CKS_RW_USER_FUNCTIONS || info.State == p11.CKS_RO_USER_FUNCTIONS {
		return nil
	}
	err = p.m.Login(sh, p11.CKU_USER, p.pin)
	if err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("C_Login: %w", err)
	}
	return nil
}

// reattach initializes the module if it is not (another user of the
// library in this process may have finalized it) and finds the token's
// slot again. Either invalidates every cached object handle.
func (p *Provider) reattach() error {
	err := p.m.Initialize()
	switch {
	case err == nil:
		p.mu.Lock()
		p.ownsInit = true
		p.mu.Unlock()
	case errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
	default:
		return fmt.Errorf("C_Initialize: %w", err)
	}
	slot, err := findSlot(p.m, p.label)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.slot = slot
	p.mu.Unlock()
	p.epoch.Add(1)
	return nil
}

// findSlot returns the slot holding the token labelled label.
func findSlot(m module, label string) (uint, error) {
	slots, err := m.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	found := []uint{}
	for _, s := range slots {
		ti, err := m.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Label == label && ti.Flags&p11.CKF_TOKEN_INITIALIZED != 0 {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("pkcs11: no initialized token labelled %q", label)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("pkcs11: %d tokens are labelled %q; labels must be unique", len(found), label)
}

// Ping checks that the token answers: it borrows a session and reads its
// state. Errors wrap keys.ErrUnavailable when the module does not answer.
func (p *Provider) Ping(ctx context.Context) error {
	return p.session(ctx, "ping", func(sh p11.SessionHandle) error {
		_, err := p.m.GetSessionInfo(sh)
		return err
	})
}

// Sessions reports how many pooled sessions are borrowed and how many are
// idle.
func (p *Provider) Sessions() (inUse, idle int) { return len(p.sem), len(p.idle) }
