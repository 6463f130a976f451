// Package vault holds Keywarden's domain rules: vaults, keys, versions,
// attributes, soft delete, recovery, purge, backup and restore, rotation
// and the checks every cryptographic operation passes (enabled, key_ops,
// not-before, expiry).
//
// It takes typed arguments and returns domain types and *Error values; it
// never imports net/http, the wire format or a concrete store or key
// backend. Time is always a parameter: only cmd owns the clock.
package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// Sealer seals secrets under a key derived from the root key, binding each
// to additional data.
type Sealer interface {
	// Seal encrypts plaintext bound to aad.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open decrypts sealed, which must have been sealed with the same aad.
	Open(sealed, aad []byte) (secret.Bytes, error)
}

// Options are the dependencies of a Service.
type Options struct {
	// Store persists vaults, keys and versions.
	Store store.Store
	// Material seals private key material (AES-256-GCM under a root-derived key).
	Material Sealer
	// Backup seals backup blobs; it must not be the Material sealer.
	Backup Sealer
	// Software is the software key provider.
	Software keys.Provider
	// HSM is the HSM key provider, or nil when none is configured. If it
	// implements keys.Destroyer, purge destroys the token objects of every
	// purged version.
	HSM keys.Provider
	// OnDestroyError, when set, is called with each failure to destroy
	// HSM objects: a purged version's (the purge itself has succeeded and
	// is not undone), a failed restore's or a refused BYOK import's, so
	// that the operator can remove them.
	OnDestroyError func(error)
	// Rand is the randomness source; nil means crypto/rand.Reader.
	Rand io.Reader
	// OnVaultCreated, when set, is called with the name of each vault
	// CreateVault created, after the vault is committed (cmd adds the
	// vault's host name to the served certificate). It runs on the
	// creating request's goroutine and must not block for long.
	OnVaultCreated func(name string)
	// OnVaultDeleted, when set, is called with the name of each vault
	// DeleteVault removed, after commit (cmd removes the role assignments
	// scoped to it).
	OnVaultDeleted func(name string)
	// OnAccessChanged, when set, is called after a commit that removed role
	// assignments (with a deleted vault, or a purged key), so the
	// authorizer's cache can be rebuilt.
	OnAccessChanged func()
	// LastUseFlushInterval is how often Run writes the versions' last-use
	// marks to the store; zero means DefaultLastUseFlushInterval.
	LastUseFlushInterval time.Duration
	// OnLastUseError, when set, is called with the error of a periodic
	// last-use flush that failed (its marks are kept and retried).
	OnLastUseError func(error)
}

// Service implements the key vault's domain operations. It is safe for
// concurrent use. Parsed keys and their records are cached in memory and
// invalidated by every write to the key through this Service. The last use
// of each version is kept in memory and written to the store by Run (or
// FlushLastUse), which must run before the store is closed, or the uses of
// the last flush interval are lost.
type Service struct {
	store    store.Store
	material Sealer
	backup   Sealer
	software keys.Provider
	hsm      keys.Provider
	rand     io.Reader
	// onVaultCreated is Options.OnVaultCreated.
	onVaultCreated func(name string)
	// onDestroyError is Options.OnDestroyError.
	onDestroyError func(error)
	// onVaultDeleted is Options.OnVaultDeleted.
	onVaultDeleted func(name string)
	// onAccessChanged is Options.OnAccessChanged.
	onAccessChanged func()
	// flushEvery is Options.LastUseFlushInterval or its default.
	flushEvery time.Duration
	// onLastUseError is Options.OnLastUseError.
	onLastUseError func(error)

	gen   atomic.Uint64 // bumped on every invalidation
	mu    sync.RWMutex
	cache map[string]*cachedKey // by cacheKey(vault, name)
	vmu   sync.RWMutex
	vault map[string]cachedVault
	vgen  uint64 // bumped under vmu by every forgetVault

	// umu guards uses: the last-use marks not yet written to the store,
	// by usesKey. Entries outlive cache invalidation.
	umu  sync.Mutex
	uses map[string]*useMark
	// flushMu serialises FlushLastUse.
	flushMu sync.Mutex
}

// cachedVault is a vault record with its converted settings. policyErr is
// set when the stored key policy cannot be read (v.KeyPolicy is then zero).
type cachedVault struct {
	rec       store.Vault
	v         Vault
	policyErr error
}

// New returns a Service using o's dependencies.
func New(o Options) *Service {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	every := o.LastUseFlushInterval
	if every <= 0 {
		every = DefaultLastUseFlushInterval
	}
	return &Service{
		store:    o.Store,
		material: o.Material,
		backup:   o.Backup,
		software: o.Software,
		hsm:      o.HSM,
		rand:     r,
		cache:    map[string]*cachedKey{},
		vault:    map[string]cachedVault{},
		uses:     map[string]*useMark{},

		flushEvery:     every,
		onLastUseError: o.OnLastUseError,

		onVaultCreated:  o.OnVaultCreated,
		onVaultDeleted:  o.OnVaultDeleted,
		onAccessChanged: o.OnAccessChanged,
		onDestroyError:  o.OnDestroyError,
	}
}

// cachedKey is a key record with its loaded versions.
type cachedKey struct {
	key      store.Key
	mu       sync.Mutex
	versions map[string]*cachedVersion
}

// cachedVersion is a version record with its loaded crypto handle.
type cachedVersion struct {
	rec    store.Version
	loaded atomic.Pointer[keys.Key] // set on first crypto use
	// used is the Unix time of the start of the latest minute of use known
	// here (stored or marked since), 0 for none; see markUsed.
	used atomic.Int64
}

func cacheKey(vault, name string) string { return vault + "\x00" + store.Fold(name) }

// invalidate drops a key from the cache.
func (s *Service) invalidate(vault, name string) {
	s.gen.Add(1)
	s.mu.Lock()
	delete(s.cache, cacheKey(vault, name))
	s.mu.Unlock()
}

// Vault returns a vault's settings, cached: its Network and KeyPolicy are
// shared and must not be modified. Errors: ErrNotFound.
func (s *Service) Vault(ctx context.Context, name string) (Vault, error) {
	e, err := s.cachedVault(ctx, name)
	return e.v, err
}

// Vaults lists all vaults.
func (s *Service) Vaults(ctx context.Context) ([]Vault, error) {
	var out []Vault
	err := s.store.View(ctx, func(tx store.Tx) error {
		vs, err := tx.Vaults()
		for _, v := range vs {
			out = append(out, fromStoreVault(v))
		}
		return err
	})
	return out, err
}

// EnsureVault creates the vault v if it does not exist and otherwise applies
// the changes the rules allow: purge protection can be turned on but never
// off, and the retention days are fixed after creation. Network rules and
// the key policy are only set on a vault it creates, and it never calls
// Options.OnVaultCreated: it is cmd's provisioning at startup. It returns
// the vault as stored. Errors: ErrInvalid for bad settings.
func (s *Service) EnsureVault(ctx context.Context, now time.Time, v Vault) (Vault, error) {
	if err := validateVault(v); err != nil {
		return Vault{}, err
	}
	network, err := normalizeNetwork(v.Network)
	if err != nil {
		return Vault{}, err
	}
	policy, err := encodeKeyPolicy(v.KeyPolicy)
	if err != nil {
		return Vault{}, err
	}
	var out store.Vault
	err = s.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Vault(v.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			out = store.Vault{Name: v.Name, SKU: string(v.SKU), RetentionDays: v.RetentionDays, PurgeProtection: v.PurgeProtection,
				Network: toStoreNetwork(network), KeyPolicy: policy, Created: now.UTC()}
		case err != nil:
			return err
		default:
			out = cur
			out.PurgeProtection = cur.PurgeProtection || v.PurgeProtection
		}
		return tx.PutVault(out)
	})
	if err != nil {
		return Vault{}, err
	}
	s.forgetVault(v.Name)
	return fromStoreVault(out), nil
}

func validateVault(v Vault) error {
	if !vaultNameRE.MatchString(v.Name) {
		return invalidf("Vault name %q is invalid: use 3-24 characters, lowercase letters, digits and dashes, starting with a letter.", v.Name)
	}
	switch v.SKU {
	case Standard, Premium, ManagedHSM:
	default:
		return invalidf("Vault SKU %q is invalid: use standard, premium or managedhsm.", v.SKU)
	}
	if v.RetentionDays < 7 || v.RetentionDays > 90 {
		return invalidf("Soft delete retention of %d days is invalid: use 7 to 90 days.", v.RetentionDays)
	}
	return nil
}

// fromStoreVault converts a vault record. A stored key policy that cannot
// be read converts to no rules here; key operations read the policy through
// Service.keyPolicy, which refuses them instead.
func fromStoreVault(v store.Vault) Vault {
	policy, _ := decodeKeyPolicy(v.KeyPolicy)
	return Vault{Name: v.Name, SKU: SKU(v.SKU), RetentionDays: v.RetentionDays, PurgeProtection: v.PurgeProtection,
		Network: fromStoreNetwork(v.Network), KeyPolicy: policy, Created: v.Created}
}

// storeVault returns a vault record, cached.
func (s *Service) storeVault(ctx context.Context, name string) (store.Vault, error) {
	e, err := s.cachedVault(ctx, name)
	return e.rec, err
}

// cachedVault returns a vault record and its settings, cached until
// forgetVault. A read that raced with a change is not cached.
func (s *Service) cachedVault(ctx context.Context, name string) (cachedVault, error) {
	s.vmu.RLock()
	e, ok := s.vault[name]
	gen := s.vgen
	s.vmu.RUnlock()
	if ok {
		return e, nil
	}
	var v store.Vault
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.Vault(name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return cachedVault{}, vaultNotFound(name)
	}
	if err != nil {
		return cachedVault{}, fmt.Errorf("vault: read vault %s: %w", name, err)
	}
	e = cachedVault{rec: v, v: fromStoreVault(v)}
	_, e.policyErr = decodeKeyPolicy(v.KeyPolicy)
	s.vmu.Lock()
	if s.vgen == gen {
		s.vault[name] = e
	}
	s.vmu.Unlock()
	return e, nil
}

// RandomBytes returns count (1..128) random bytes.
func (s *Service) RandomBytes(count int) ([]byte, error) {
	if count < 1 || count > 128 {
		return nil, invalidf("The value of 'count' is invalid: %d. It must be between 1 and 128.", count)
	}
	b := make([]byte, count)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, fmt.Errorf("vault: random bytes: %w", err)
	}
	return b, nil
}
