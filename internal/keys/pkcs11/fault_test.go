//go:build cgo

package pkcs11_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
	"github.com/keywarden/keywarden/internal/secret"
)

// faulty wraps a module and, while a fault is set, fails the calls that
// reach the token with it.
type faulty struct {
	pkcs11.Module
	mu    sync.Mutex
	fault p11.Error // 0: no fault
	calls int       // calls failed so far
}

func (f *faulty) set(rv p11.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = rv
}

func (f *faulty) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault == 0 {
		return nil
	}
	f.calls++
	return f.fault
}

func (f *faulty) OpenSession(slot, flags uint) (p11.SessionHandle, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Module.OpenSession(slot, flags)
}

func (f *faulty) FindObjectsInit(sh p11.SessionHandle, temp []*p11.Attribute) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Module.FindObjectsInit(sh, temp)
}

func (f *faulty) SignInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Module.SignInit(sh, m, o)
}

func (f *faulty) Sign(sh p11.SessionHandle, msg []byte) ([]byte, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Module.Sign(sh, msg)
}

func (f *faulty) Decrypt(sh p11.SessionHandle, c []byte) ([]byte, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Module.Decrypt(sh, c)
}

func (f *faulty) Encrypt(sh p11.SessionHandle, m []byte) ([]byte, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Module.Encrypt(sh, m)
}

func (f *faulty) GenerateKeyPair(sh p11.SessionHandle, m []*p11.Mechanism, pub, priv []*p11.Attribute) (p11.ObjectHandle, p11.ObjectHandle, error) {
	if err := f.err(); err != nil {
		return 0, 0, err
	}
	return f.Module.GenerateKeyPair(sh, m, pub, priv)
}

func (f *faulty) GetSessionInfo(sh p11.SessionHandle) (p11.SessionInfo, error) {
	if err := f.err(); err != nil {
		return p11.SessionInfo{}, err
	}
	return f.Module.GetSessionInfo(sh)
}

func (f *faulty) CreateObject(sh p11.SessionHandle, temp []*p11.Attribute) (p11.ObjectHandle, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Module.CreateObject(sh, temp)
}

func TestFaultRecovery(t *testing.T) {
	provider(t) // the shared provider keeps the module initialized
	cfg := softhsmtest.New(t)
	cfg.PoolSize = 2
	f := &faulty{}
	p, err := pkcs11.OpenWith(cfg, func(m pkcs11.Module) pkcs11.Module { f.Module = m; return f })
	if err != nil {
		t.Fatalf("OpenWith() = %v", err)
	}
	defer p.Close()

	load := func(spec keys.Spec) keys.Key {
		m, err := p.Generate(ctx, spec)
		if err != nil {
			t.Fatalf("Generate(%+v) = %v", spec, err)
		}
		k, err := p.Load(ctx, m)
		if err != nil {
			t.Fatalf("Load() = %v", err)
		}
		return k
	}
	ek := load(keys.Spec{Type: keys.EC, Owner: "faults"})
	rk := load(keys.Spec{Type: keys.RSA, Owner: "faults"})
	ok := load(keys.Spec{Type: keys.Oct, Owner: "faults"})
	rsaCT, err := rk.Encrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: []byte("m")})
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		run  func() error
	}{
		{"sign", func() error { _, err := ek.Sign(ctx, keys.ES256, digest(keys.ES256)); return err }},
		{"RSA decrypt", func() error {
			_, err := rk.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP256, Value: rsaCT.Value})
			return err
		}},
		{"AES-GCM encrypt", func() error {
			_, err := ok.Encrypt(ctx, keys.CipherInput{Algorithm: keys.A256GCM, Value: []byte("m")})
			return err
		}},
		{"AES-KWP encrypt", func() error {
			_, err := ok.Encrypt(ctx, keys.CipherInput{Algorithm: keys.AESKeyWrapPad, Value: []byte("m")})
			return err
		}},
		{"generate", func() error { _, err := p.Generate(ctx, keys.Spec{Type: keys.EC, Owner: "faults"}); return err }},
		{"ping", func() error { return p.Ping(ctx) }},
		{"import", func() error {
			_, err := p.Import(ctx, keys.Spec{Type: keys.Oct, Owner: "faults"}, secret.New(make([]byte, 16)))
			return err
		}},
	}
	for _, rv := range []p11.Error{p11.CKR_DEVICE_ERROR, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_TOKEN_NOT_PRESENT} {
		t.Run(strings.TrimPrefix(rv.Error(), "pkcs11: "), func(t *testing.T) {
			f.set(rv)
			for _, op := range ops {
				if err := op.run(); !errors.Is(err, keys.ErrUnavailable) {
					t.Errorf("%s during the fault = %v, want ErrUnavailable", op.name, err)
				}
			}
			f.set(0)
			for _, op := range ops {
				if err := op.run(); err != nil {
					t.Errorf("%s after the fault = %v, want nil", op.name, err)
				}
			}
		})
	}
	t.Run("concurrent faults", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if i == 8 {
					f.set(p11.CKR_DEVICE_ERROR)
				}
				_, err := ek.Sign(ctx, keys.ES256, digest(keys.ES256))
				if err != nil && !errors.Is(err, keys.ErrUnavailable) {
					t.Errorf("Sign() = %v, want nil or ErrUnavailable", err)
				}
			})
		}
		wg.Wait()
		f.set(0)
		if _, err := ek.Sign(ctx, keys.ES256, digest(keys.ES256)); err != nil {
			t.Errorf("Sign() after the fault = %v, want nil", err)
		}
	})
	if f.calls == 0 {
		t.Error("the fault injector failed no calls")
	}
}

func TestClosedProvider(t *testing.T) {
	provider(t)
	p, err := pkcs11.Open(softhsmtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Generate(ctx, keys.Spec{Type: keys.EC, Owner: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.Load(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if _, err := k.Sign(ctx, keys.ES256, digest(keys.ES256)); err == nil {
		t.Error("Sign() after Close = nil error, want an error")
	}
	// The shared provider still works: Close did not finalize its module.
	if _, k2 := generated(t, keys.Spec{Type: keys.EC, Curve: keys.P256}); k2 != nil {
		if _, err := k2.Sign(ctx, keys.ES256, digest(keys.ES256)); err != nil {
			t.Errorf("shared provider Sign() after another Close = %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	cfg := softhsmtest.New(t)
	tests := []struct {
		name   string
		mutate func(*pkcs11.Config)
		want   string
	}{
		{"no module", func(c *pkcs11.Config) { c.ModulePath = "" }, "no module path"},
		{"missing module", func(c *pkcs11.Config) { c.ModulePath = "/nonexistent/libnothing.so" }, "apt-get install softhsm2"},
		{"no label", func(c *pkcs11.Config) { c.TokenLabel = "" }, "no token label"},
		{"unknown label", func(c *pkcs11.Config) { c.TokenLabel = "no-such-token" }, `no initialized token labelled "no-such-token"`},
		{"no PIN", func(c *pkcs11.Config) { c.PIN = secret.Bytes{} }, "no user PIN"},
		{"negative pool", func(c *pkcs11.Config) { c.PoolSize = -1 }, "negative session pool size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.mutate(&c)
			p, err := pkcs11.Open(c)
			if err == nil {
				p.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), string(cfg.PIN.Expose())) {
				t.Errorf("Open() error %q holds the PIN", err)
			}
		})
	}
}
