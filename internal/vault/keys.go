package vault

import (
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// CreateKey generates a new key, or a new current version of an existing
// key. Errors: ErrNotFound (vault), ErrInvalid (name, spec, ops, tags,
// attributes; code KeyPolicyViolation when the vault's key policy refuses
// the key), ErrConflict (the name is soft-deleted).
func (s *Service) CreateKey(ctx context.Context, now time.Time, vault, name string, p CreateParams) (KeyVersion, error) {
	v, spec, err := s.prepareNew(ctx, vault, name, p.Spec, p.Ops, p.Attributes, p.Tags, p.ReleasePolicy, true)
	if err != nil {
		return KeyVersion{}, err
	}
	if err := s.checkKeyPolicy(ctx, now, v.Name, spec, p.Ops, p.Attributes); err != nil {
		return KeyVersion{}, err
	}
	if err := s.checkNameFree(ctx, vault, name); err != nil {
		return KeyVersion{}, err
	}
	m, err := s.provider(spec).Generate(ctx, kekSpec(spec, p.Ops))
	if err != nil {
		return KeyVersion{}, mapProviderErr(err)
	}
	defer m.Private.Clear()
	return s.addVersion(ctx, now, v, name, m, p.Ops, p.Attributes, p.Tags, nil)
}

// ImportKey stores a client's private key as a new key or a new current
// version of an existing key, or unwraps a bring-your-own-key transfer
// blob (p.Transfer) inside the HSM (see importTransfer). The version
// records its provenance. Errors: as CreateKey.
func (s *Service) ImportKey(ctx context.Context, now time.Time, vault, name string, p ImportParams) (KeyVersion, error) {
	if p.Transfer != nil {
		return s.importTransfer(ctx, now, vault, name, p)
	}
	v, spec, err := s.prepareNew(ctx, vault, name, p.Spec, p.Ops, p.Attributes, p.Tags, p.ReleasePolicy, false)
	if err != nil {
		return KeyVersion{}, err
	}
	if err := s.checkKeyPolicy(ctx, now, v.Name, importedShape(spec, p.Private), p.Ops, p.Attributes); err != nil {
		return KeyVersion{}, err
	}
	if err := s.checkNameFree(ctx, vault, name); err != nil {
		return KeyVersion{}, err
	}
	m, err := s.provider(spec).Import(ctx, spec, p.Private)
	if err != nil {
		return KeyVersion{}, mapProviderErr(err)
	}
	defer m.Private.Clear()
	return s.addVersion(ctx, now, v, name, m, p.Ops, p.Attributes, p.Tags, provenance(store.Provenance{Method: ProvenanceImport, Imported: now}))
}

// prepareNew validates everything about a new version that needs no store
// write.
func (s *Service) prepareNew(ctx context.Context, vault, name string, spec keys.Spec, ops []Operation, a Attributes, tags map[string]string, rp *ReleasePolicy, generating bool) (Vault, keys.Spec, error) {
	if err := validateName(name); err != nil {
		return Vault{}, spec, err
	}
	v, err := s.Vault(ctx, vault)
	if err != nil {
		return Vault{}, spec, err
	}
	if spec, err = s.validateSpec(v, spec, generating); err != nil {
		return v, spec, err
	}
	if err := validateOps(ops); err != nil {
		return v, spec, err
	}
	if err := validateTags(tags); err != nil {
		return v, spec, err
	}
	if err := checkRelease(a, rp); err != nil {
		return v, spec, err
	}
	return v, spec, nil
}

func (s *Service) provider(spec keys.Spec) keys.Provider {
	if spec.Protection == keys.HSM {
		return s.hsm
	}
	return s.software
}

// mapProviderErr turns provider errors into domain errors.
func mapProviderErr(err error) error {
	var ie *keys.InputError
	switch {
	case errors.As(err, &ie):
		return &Error{Kind: ErrInvalid, Msg: ie.Msg}
	case errors.Is(err, keys.ErrUnavailable):
		return &Error{Kind: ErrUnavailable, Msg: "The key provider is unavailable. Retry later."}
	}
	return fmt.Errorf("vault: key provider: %w", err)
}

// checkNameFree refuses a name that is soft-deleted (a cheap early check;
// addVersion re-checks inside its transaction).
func (s *Service) checkNameFree(ctx context.Context, vault, name string) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		k, err := tx.Key(vault, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if k.Deleted != nil {
			return deletedButRecoverable(k.Name)
		}
		return nil
	})
}

// newVersionID returns 16 random bytes as 32 lowercase hex characters.
func newVersionID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("vault: version id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// materialAAD binds sealed material to its vault, key and version.
func materialAAD(vault, name, version string) []byte {
	return []byte("keywarden/material/v1\x00" + vault + "\x00" + store.Fold(name) + "\x00" + version)
}

// addVersion seals m and stores it as the new current version of name,
// creating the key when needed. exp overrides the attributes' expiry (used
// by rotation).
func (s *Service) addVersion(ctx context.Context, now time.Time, v Vault, name string, m keys.Material, ops []Operation, a Attributes, tags map[string]string, extra func(*store.Version)) (KeyVersion, error) {
	id, err := newVersionID(s.rand)
	if err != nil {
		return KeyVersion{}, err
	}
	pub, err := keys.MarshalPublic(m.Public)
	if err != nil {
		return KeyVersion{}, fmt.Errorf("vault: encode public key: %w", err)
	}
	sealed, err := s.material.Seal(m.Private.Expose(), materialAAD(v.Name, name, id))
	if err != nil {
		return KeyVersion{}, fmt.Errorf("vault: seal material: %w", err)
	}
	if ops == nil {
		ops = defaultOps(m.Spec.Type)
	}
	now = now.UTC().Truncate(time.Second)
	rec := store.Version{
		Vault: v.Name, Name: name, ID: id,
		Type: string(m.Spec.Type), Protection: string(m.Spec.Protection),
		Size: m.Spec.Size, Curve: string(m.Spec.Curve),
		Public: pub, SealedPrivate: sealed,
		Enabled:   a.Enabled == nil || *a.Enabled,
		NotBefore: utcPtr(a.NotBefore), Expires: utcPtr(a.Expires),
		Ops:     opsToStrings(ops),
		Tags:    maps.Clone(tags),
		Created: now, Updated: now,
	}
	if extra != nil {
		extra(&rec)
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if err := requireVault(tx, v.Name); err != nil {
			return err
		}
		k, err := tx.Key(v.Name, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			k = store.Key{Vault: v.Name, Name: name, Created: now}
		case err != nil:
			return err
		case k.Deleted != nil:
			return deletedButRecoverable(k.Name)
		}
		rec.Name = k.Name
		k.Current, k.Updated = id, now
		if rec.SealedPrivate, err = s.freshMaterial(rec.SealedPrivate, materialAAD(v.Name, name, id)); err != nil {
			return err
		}
		if err := tx.PutVersion(rec); err != nil {
			return err
		}
		return tx.PutKey(k)
	})
	s.invalidate(v.Name, name)
	if err != nil {
		return KeyVersion{}, err
	}
	return s.toKeyVersion(v, rec)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func opsToStrings(ops []Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = string(op)
	}
	return out
}

// toKeyVersion converts a version record into the client view.
func (s *Service) toKeyVersion(v Vault, rec store.Version) (KeyVersion, error) {
	spec := keys.Spec{Type: keys.Type(rec.Type), Size: rec.Size, Curve: keys.Curve(rec.Curve), Protection: keys.Protection(rec.Protection)}
	var pub crypto.PublicKey
	if len(rec.Public) > 0 {
		var err error
		if pub, err = keys.ParsePublic(spec, rec.Public); err != nil {
			return KeyVersion{}, fmt.Errorf("vault: stored public key of %s/%s: %w", rec.Name, rec.ID, err)
		}
	}
	ops := make([]Operation, len(rec.Ops))
	for i, op := range rec.Ops {
		ops[i] = Operation(op)
	}
	kv := KeyVersion{
		Name: rec.Name, Version: rec.ID, Spec: spec, Public: pub, Ops: ops,
		Enabled: rec.Enabled, NotBefore: rec.NotBefore, Expires: rec.Expires,
		Created: rec.Created, Updated: rec.Updated, Tags: maps.Clone(rec.Tags),
		Exportable:      rec.Exportable,
		RecoveryLevel:   v.RecoveryLevel(),
		RecoverableDays: v.RetentionDays,
		LastUsed:        laterUse(rec.LastUsed, s.pendingUse(&rec)),
	}
	if p := rec.Provenance; p != nil {
		kv.Provenance = &Provenance{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: p.Imported}
	}
	if rec.ReleasePolicy != nil {
		kv.ReleasePolicy = &ReleasePolicy{ContentType: rec.ReleasePolicy.ContentType, Immutable: rec.ReleasePolicy.Immutable, Data: slices.Clone(rec.ReleasePolicy.Data)}
	}
	return kv, nil
}

// lookup returns the cached key and version a Ref names, reading the store
// on a miss. A soft-deleted key is not found.
func (s *Service) lookup(ctx context.Context, ref Ref) (Vault, *cachedKey, *cachedVersion, error) {
	if err := validateName(ref.Name); err != nil {
		return Vault{}, nil, nil, keyNotFound(ref.Name, ref.Version)
	}
	if err := validateVersion(ref.Version); err != nil {
		return Vault{}, nil, nil, keyNotFound(ref.Name, ref.Version)
	}
	v, err := s.Vault(ctx, ref.Vault)
	if err != nil {
		return Vault{}, nil, nil, err
	}
	ck := cacheKey(ref.Vault, ref.Name)
	s.mu.RLock()
	k := s.cache[ck]
	s.mu.RUnlock()
	if k == nil {
		gen := s.gen.Load()
		var rec store.Key
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			rec, err = tx.Key(ref.Vault, ref.Name)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return v, nil, nil, keyNotFound(ref.Name, ref.Version)
		}
		if err != nil {
			return v, nil, nil, fmt.Errorf("vault: read key: %w", err)
		}
		k = &cachedKey{key: rec, versions: map[string]*cachedVersion{}}
		s.mu.Lock()
		if s.gen.Load() == gen {
			s.cache[ck] = k
		}
		s.mu.Unlock()
	}
	if k.key.Deleted != nil {
		return v, nil, nil, keyNotFound(ref.Name, ref.Version)
	}
	id := ref.Version
	if id == "" {
		id = k.key.Current
	}
	k.mu.Lock()
	cv := k.versions[id]
	k.mu.Unlock()
	if cv == nil {
		var rec store.Version
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			rec, err = tx.Version(ref.Vault, ref.Name, id)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return v, nil, nil, keyNotFound(ref.Name, ref.Version)
		}
		if err != nil {
			return v, nil, nil, fmt.Errorf("vault: read version: %w", err)
		}
		cv = &cachedVersion{rec: rec}
		cv.used.Store(max(unixMinute(rec.LastUsed), s.pendingUse(&rec)))
		k.mu.Lock()
		if prev := k.versions[id]; prev != nil {
			cv = prev
		} else {
			k.versions[id] = cv
		}
		k.mu.Unlock()
	}
	return v, k, cv, nil
}

// GetKey returns a version of a key (the current one when ref.Version is
// empty). Its LastUsed is the latest of the stored value and the uses not
// yet written. Errors: ErrNotFound.
func (s *Service) GetKey(ctx context.Context, now time.Time, ref Ref) (KeyVersion, error) {
	v, _, cv, err := s.lookup(ctx, ref)
	if err != nil {
		return KeyVersion{}, err
	}
	kv, err := s.toKeyVersion(v, cv.rec)
	if err != nil {
		return KeyVersion{}, err
	}
	// The cached record may predate the last flush; cv.used does not.
	kv.LastUsed = laterUse(kv.LastUsed, cv.used.Load())
	return kv, nil
}

// UpdateKey changes a version's attributes, key_ops, tags. Key material
// never changes. A change of key_ops, nbf or exp must follow the vault's
// key policy. The import operation is fixed for a version's lifetime:
// a version that has it keeps its key_ops, and no other gains it. Errors:
// ErrNotFound, ErrInvalid (code KeyPolicyViolation when the key policy
// refuses the change).
func (s *Service) UpdateKey(ctx context.Context, now time.Time, ref Ref, p UpdateParams) (KeyVersion, error) {
	v, _, cv, err := s.lookup(ctx, ref)
	if err != nil {
		return KeyVersion{}, err
	}
	policy, err := s.keyPolicy(ctx, v.Name)
	if err != nil {
		return KeyVersion{}, err
	}
	if err := validateOps(p.Ops); err != nil {
		return KeyVersion{}, err
	}
	if err := validateTags(p.Tags); err != nil {
		return KeyVersion{}, err
	}
	if p.Attributes.Exportable != nil && *p.Attributes.Exportable != cv.rec.Exportable {
		return KeyVersion{}, invalidf("AKV.SKR.1014: Cannot modify the exportable state of a key.")
	}
	if p.ReleasePolicy != nil {
		if err := checkRelease(Attributes{}, p.ReleasePolicy); err != nil {
			return KeyVersion{}, err
		}
	}
	var rec store.Version
	err = s.store.Update(ctx, func(tx store.Tx) error {
		k, err := tx.Key(ref.Vault, ref.Name)
		if err != nil {
			return err
		}
		if k.Deleted != nil {
			return keyNotFound(ref.Name, ref.Version)
		}
		if rec, err = tx.Version(ref.Vault, ref.Name, cv.rec.ID); err != nil {
			return err
		}
		old := rec
		if p.Ops != nil {
			if err := checkImportOps(old.Ops, p.Ops); err != nil {
				return err
			}
			rec.Ops = opsToStrings(p.Ops)
		}
		if p.Tags != nil {
			rec.Tags = maps.Clone(p.Tags)
		}
		a := p.Attributes
		if a.Enabled != nil {
			rec.Enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			rec.NotBefore = utcPtr(a.NotBefore)
		}
		if a.Expires != nil {
			rec.Expires = utcPtr(a.Expires)
		}
		if err := policy.checkUpdate(v.Name, old, rec); err != nil {
			return err
		}
		rec.Updated = now.UTC().Truncate(time.Second)
		return tx.PutVersion(rec)
	})
	s.invalidate(ref.Vault, ref.Name)
	if errors.Is(err, store.ErrNotFound) {
		return KeyVersion{}, keyNotFound(ref.Name, ref.Version)
	}
	if err != nil {
		return KeyVersion{}, err
	}
	return s.toKeyVersion(v, rec)
}

// ListKeys lists the active keys of a vault, each as its current version,
// ordered by case-folded name. marker is the Next of the previous page.
// limit is 1..25. Errors: ErrNotFound (vault).
func (s *Service) ListKeys(ctx context.Context, vault, marker string, limit int) (Page[KeyVersion], error) {
	return listKeys(ctx, s, vault, false, marker, limit, func(v Vault, _ store.Key, cur store.Version) (KeyVersion, error) {
		return s.toKeyVersion(v, cur)
	})
}

// listKeys pages through the active or soft-deleted keys of a vault,
// converting each key with its current version.
func listKeys[T any](ctx context.Context, s *Service, vault string, deleted bool, marker string, limit int, conv func(Vault, store.Key, store.Version) (T, error)) (Page[T], error) {
	v, err := s.Vault(ctx, vault)
	if err != nil {
		return Page[T]{}, err
	}
	var page Page[T]
	err = s.store.View(ctx, func(tx store.Tx) error {
		ks, err := tx.Keys(vault, deleted, store.Page{After: marker, Limit: limit + 1})
		if err != nil {
			return err
		}
		if len(ks) > limit {
			ks = ks[:limit]
			page.Next = store.Fold(ks[limit-1].Name)
		}
		for _, k := range ks {
			cur, err := tx.Version(vault, k.Name, k.Current)
			if err != nil {
				return fmt.Errorf("current version of %s: %w", k.Name, err)
			}
			item, err := conv(v, k, cur)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, item)
		}
		return nil
	})
	return page, err
}

// ListVersions lists every version of an active key ordered by version id.
// Errors: ErrNotFound.
func (s *Service) ListVersions(ctx context.Context, vault, name, marker string, limit int) (Page[KeyVersion], error) {
	v, _, _, err := s.lookup(ctx, Ref{Vault: vault, Name: name})
	if err != nil {
		return Page[KeyVersion]{}, err
	}
	var page Page[KeyVersion]
	err = s.store.View(ctx, func(tx store.Tx) error {
		vs, err := tx.Versions(vault, name, store.Page{After: marker, Limit: limit + 1})
		if err != nil {
			return err
		}
		if len(vs) > limit {
			vs = vs[:limit]
			page.Next = vs[limit-1].ID
		}
		for _, rec := range vs {
			kv, err := s.toKeyVersion(v, rec)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, kv)
		}
		return nil
	})
	return page, err
}
