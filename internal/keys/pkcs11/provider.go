//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
)

// Generation defaults, as in the software provider and Azure Key Vault.
const (
	defaultRSASize = 2048
	defaultOctSize = 256
	defaultCurve   = keys.P256
)

// trustedKeyLabel is the label of the token's trusted wrapping key (see
// Config.SOPIN). It cannot collide with key labels, which start "kw/".
const trustedKeyLabel = "kw-trusted-wrap"

// Provider is the keys.Provider for HSM keys in one PKCS#11 token. It is
// safe for concurrent use; at most Config.PoolSize token operations run at
// once, and others wait for a session (or for their context).
type Provider struct {
	m     module
	label string
	pin   string
	rand  io.Reader

	sem  chan struct{}          // one slot per borrowed session
	done chan struct{}          // closed by Close
	idle chan p11.SessionHandle // open, logged-in sessions

	mu       sync.Mutex // guards slot and ownsInit
	slot     uint
	ownsInit bool // this Provider's C_Initialize succeeded: Close finalizes

	epoch  atomic.Uint64 // bumped when cached object handles become invalid
	closed atomic.Bool

	cacheMu sync.Mutex
	cache   map[string]objects // by label, which holds owner and id

	routes routes
	paths  []MechanismPath
}

var _ keys.Provider = (*Provider)(nil)

// objects are the handles of one key's token objects, valid in epoch.
type objects struct {
	epoch uint64
	priv  p11.ObjectHandle // private or secret key
	pub   p11.ObjectHandle // public key; 0 for oct
}

// Open loads the module, finds the token labelled cfg.TokenLabel, logs in
// with cfg.PIN and probes which mechanisms the token offers (see Probe).
// With cfg.SOPIN set it also creates the token's trusted wrapping key if
// there is none. Close releases the module.
//
// Several Providers may share a module in one process; the one whose
// C_Initialize succeeded finalizes the module on Close, and the others
// initialize it again when they next need it.
func Open(cfg Config) (*Provider, error) {
	return open(cfg, nil)
}

// open is Open with an optional wrapper around the module, for fault
// injection in tests.
func open(cfg Config, wrap func(module) module) (*Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx := p11.New(cfg.ModulePath)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %q (on Debian: apt-get install softhsm2, module /usr/lib/softhsm/libsofthsm2.so)", cfg.ModulePath)
	}
	var m module = ctx
	if wrap != nil {
		m = wrap(m)
	}
	size := cfg.PoolSize
	if size == 0 {
		size = DefaultPoolSize
	}
	p := &Provider{
		m:     m,
		label: cfg.TokenLabel,
		pin:   string(cfg.PIN.Expose()),
		rand:  rand.Reader,
		sem:   make(chan struct{}, size),
		done:  make(chan struct{}),
		idle:  make(chan p11.SessionHandle, size),
		cache: make(map[string]objects),
	}
	err := m.Initialize()
	switch {
	case err == nil:
		p.ownsInit = true
	case errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
	default:
		m.Destroy()
		return nil, fmt.Errorf("pkcs11: C_Initialize %q: %w", cfg.ModulePath, err)
	}
	if p.slot, err = findSlot(m, cfg.TokenLabel); err != nil {
		p.release()
		return nil, err
	}
	if !cfg.SOPIN.IsZero() {
		if err := p.ensureTrustedKey(string(cfg.SOPIN.Expose())); err != nil {
			p.release()
			return nil, err
		}
	}
	// Log in now, so that a wrong PIN fails Open rather than the first
	// request.
	err = p.session(context.Background(), "log in", func(p11.SessionHandle) error { return nil })
	if err != nil {
		p.release()
		return nil, err
	}
	if err := p.probe(context.Background()); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// release closes idle sessions, finalizes the module if this Provider
// initialized it, and unloads it.
func (p *Provider) release() {
	p.drainIdle()
	p.mu.Lock()
	owns := p.ownsInit
	p.mu.Unlock()
	if owns {
		_ = p.m.Finalize()
	}
	p.m.Destroy()
}

// Close waits for running operations, closes the sessions and unloads the
// module. Keys loaded from p fail with an error afterwards. Close is safe

// closeWait bounds how long Close waits for borrowed sessions to return.
const closeWait = 10 * time.Second

// to call more than once.
func (p *Provider) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(p.done)
	// Wait for borrowed sessions to come back, but not forever: a module
	// call that never returns must not hang shutdown.
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
drain:
	for range cap(p.sem) {
		select {
		case p.sem <- struct{}{}:
		case <-deadline.C:
			break drain
		}
	}
	p.release()
	return nil
}

// ensureTrustedKey creates the trusted wrapping key, an AES-256 token key
// with CKA_TRUSTED and CKA_WRAP set, unless the token has one. Only the
// security officer may set CKA_TRUSTED, and an SO session can create only
// public objects, so the key is CKA_PRIVATE=false (visible, never
// readable: CKA_SENSITIVE=true, CKA_EXTRACTABLE=false). Wrapping still
// needs a user session, since the keys it wraps are private objects.
func (p *Provider) ensureTrustedKey(soPIN string) error {
	sh, err := p.m.OpenSession(p.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: C_OpenSession: %w", err)
	}
	defer func() { _ = p.m.CloseSession(sh) }()
	if h, err := findTrusted(p.m, sh); err != nil || h != 0 {
		return err
	}
	if err := p.m.Login(sh, p11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("pkcs11: security officer C_Login: %w", err)
	}
	defer func() { _ = p.m.Logout(sh) }()
	_, err = p.m.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_LABEL, trustedKeyLabel),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_TRUSTED, true),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
	})
	if err != nil {
		return fmt.Errorf("pkcs11: generate the trusted wrapping key: %w", err)
	}
	return nil
}

// findTrusted returns the handle of the trusted wrapping key, or 0.
func findTrusted(m module, sh p11.SessionHandle) (p11.ObjectHandle, error) {
	hs, err := find(m, sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_LABEL, trustedKeyLabel),
		p11.NewAttribute(p11.CKA_TRUSTED, true),
	})
	if err != nil || len(hs) == 0 {
		return 0, err
	}
	return hs[0], nil
}

// find returns the handles of the objects matching template.
func find(m module, sh p11.SessionHandle, template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := m.FindObjectsInit(sh, template); err != nil {
		return nil, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	var all []p11.ObjectHandle
	for {
		hs, _, err := m.FindObjects(sh, 16)
		if err != nil {
			_ = m.FindObjectsFinal(sh)
			return nil, fmt.Errorf("C_FindObjects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := m.FindObjectsFinal(sh); err != nil {
		return nil, fmt.Errorf("C_FindObjectsFinal: %w", err)
	}
	return all, nil
}

// ref is what keys.Material.Private holds for an HSM key: the objects'
// CKA_ID and the owner they were created for, as the text
// "kw-pkcs11:v1:{hex id}:{owner}".
type ref struct {
	id    []byte
	owner string
}

const refPrefix = "kw-pkcs11:v1:"

func (r ref) marshal() []byte {
	return []byte(refPrefix + hex.EncodeToString(r.id) + ":" + r.owner)
}

func parseRef(b []byte) (ref, error) {
	s, ok := strings.CutPrefix(string(b), refPrefix)
	if !ok {
		return ref{}, corrupt("private part is not a PKCS#11 object reference")
	}
	idHex, owner, ok := strings.Cut(s, ":")
	id, err := hex.DecodeString(idHex)
	if !ok || err != nil || len(id) != idLen {
		return ref{}, corrupt("PKCS#11 object reference is malformed")
	}
	return ref{id: id, owner: owner}, nil
}

// idLen is the length of the random CKA_ID of every key.
const idLen = 16

// label is the CKA_LABEL of r's objects.
func (r ref) label() string { return "kw/" + r.owner + "/" + hex.EncodeToString(r.id) }

// corrupt returns keys.ErrCorrupt wrapped with a fixed reason.
func corrupt(reason string) error {
	return fmt.Errorf("%w: pkcs11: %s", keys.ErrCorrupt, reason)
}

// checkProtection refuses specs that ask for anything but HSM keys.
func checkProtection(spec keys.Spec) error {
	if spec.Protection != "" && spec.Protection != keys.HSM {
		return keys.Inputf("The HSM key provider cannot hold keys with protection %.16q.", string(spec.Protection))
	}
	return nil
}

// checkOwner refuses owners that would make labels ambiguous or unprintable.
func checkOwner(owner string) error {
	if len(owner) > 128 {
		return errors.New("pkcs11: key owner is longer than 128 bytes")
	}
	for _, c := range owner {
		if c < 0x20 || c == 0x7f {
			return errors.New("pkcs11: key owner contains a control character")
		}
	}
	return nil
}

// newRef returns a reference with a fresh random id.
func (p *Provider) newRef(owner string) (ref, error) {
	if err := checkOwner(owner); err != nil {
		return ref{}, err
	}
	id := make([]byte, idLen)
	if _, err := io.ReadFull(p.rand, id); err != nil {
		return ref{}, fmt.Errorf("pkcs11: key id: %w", err)
	}
	return ref{id: id, owner: owner}, nil
}

// Curve object identifiers (RFC 5480, SEC 2), DER-encoded as CKA_EC_PARAMS.
var curveOIDs = map[keys.Curve]asn1.ObjectIdentifier{
	keys.P256:  {1, 2, 840, 10045, 3, 1, 7},
	keys.P384:  {1, 3, 132, 0, 34},
	keys.P521:  {1, 3, 132, 0, 35},
	keys.P256K: {1, 3, 132, 0, 10},
}

// ecParams returns the DER CKA_EC_PARAMS of c.
func ecParams(c keys.Curve) []byte {
	b, err := asn1.Marshal(curveOIDs[c])
	if err != nil {
		panic(err) // constant input
	}
	return b
}

// curveOf returns the curve whose CKA_EC_PARAMS is params, or "".
func curveOf(params []byte) keys.Curve {
	for c := range curveOIDs {
		if bytes.Equal(params, ecParams(c)) {
			return c
		}
	}
	return ""
}

// readPublic reads the public key of the public object h: *rsa.PublicKey
// from CKA_MODULUS and CKA_PUBLIC_EXPONENT, *keys.ECPublicKey from the
// DER-encoded CKA_EC_POINT and CKA_EC_PARAMS.
func readPublic(m module, sh p11.SessionHandle, h p11.ObjectHandle, typ keys.Type) (crypto.PublicKey, error) {
	switch typ {
	case keys.RSA:
		attrs, err := m.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_MODULUS, nil),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
		}
		n := new(big.Int).SetBytes(attrs[0].Value)
		e := new(big.Int).SetBytes(attrs[1].Value)
		if n.Sign() <= 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, corrupt("RSA public key in the token is malformed")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case keys.EC:
		attrs, err := m.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EC_PARAMS, nil),
			p11.NewAttribute(p11.CKA_EC_POINT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
		}
		c := curveOf(attrs[0].Value)
		if c == "" {
			return nil, corrupt("EC key in the token is on an unsupported curve")
		}
		point := attrs[1].Value
		var octets []byte
		if rest, err := asn1.Unmarshal(point, &octets); err == nil && len(rest) == 0 {
			point = octets // DER OCTET STRING, as PKCS#11 specifies
		}
		pub, err := keys.ParseECPoint(c, point)
		if err != nil {
			return nil, corrupt("EC public key in the token is malformed")
		}
		return pub, nil
	}
	return nil, nil
}

// lookup returns the handles of r's objects, from the cache or the token.
// It checks that the private (or secret) object carries r's label, so that
// a reference cannot reach another owner's key.
func (p *Provider) lookup(sh p11.SessionHandle, r ref, typ keys.Type) (objects, error) {
	key := r.label()
	epoch := p.epoch.Load()
	p.cacheMu.Lock()
	o, ok := p.cache[key]
	p.cacheMu.Unlock()
	if ok && o.epoch == epoch {
		return o, nil
	}
	o = objects{epoch: epoch}
	class := uint(p11.CKO_PRIVATE_KEY)
	if typ == keys.Oct {
		class = p11.CKO_SECRET_KEY
	}
	hs, err := find(p.m, sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, class),
		p11.NewAttribute(p11.CKA_ID, r.id),
	})
	if err != nil {
		return objects{}, err
	}
	switch len(hs) {
	case 0:
		return objects{}, corrupt("the key's object is not in the token")
	case 1:
	default:
		return objects{}, corrupt("several token objects have the key's id")
	}
	o.priv = hs[0]
	attrs, err := p.m.GetAttributeValue(sh, o.priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
	if err != nil {
		return objects{}, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	if string(attrs[0].Value) != r.label() {
		return objects{}, corrupt("the key's token object belongs to another owner")
	}
	if typ != keys.Oct {
		hs, err := find(p.m, sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
			p11.NewAttribute(p11.CKA_ID, r.id),
			p11.NewAttribute(p11.CKA_LABEL, r.label()),
		})
		if err != nil {
			return objects{}, err
		}
		if len(hs) != 1 {
			return objects{}, corrupt("the key's public object is not in the token")
		}
		o.pub = hs[0]
	}
	p.cacheMu.Lock()
	p.cache[key] = o
	p.cacheMu.Unlock()
	return o, nil
}

// forget drops r's cached handles.
func (p *Provider) forget(r ref) {
	p.cacheMu.Lock()
	delete(p.cache, r.label())
	p.cacheMu.Unlock()
}
