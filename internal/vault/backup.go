package vault

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/store"
)

// Backup blobs are backupMagic followed by the backup payload sealed under
// the backup sealer with backupMagic as additional data. The payload holds
// every version with its private material, so the whole blob is
// authenticated and confidential; it restores into any vault of the same
// deployment (the backup key derives from the root key).
const backupMagic = "KWBACKUP\x01"

// backupFile is the sealed payload of a backup blob (format version 1).
type backupFile struct {
	// Class is "vault" or "managedhsm": a backup restores only into the
	// same class of vault, as in Azure. Absent in early blobs: "vault".
	Class          string          `json:"class,omitempty"`
	Name           string          `json:"name"`
	Created        time.Time       `json:"created"`
	Current        string          `json:"current"`
	RotationPolicy *backupPolicy   `json:"rotationPolicy,omitempty"`
	Versions       []backupVersion `json:"versions"`
}

type backupPolicy struct {
	Actions    []LifetimeAction `json:"actions"`
	ExpiryTime string           `json:"expiryTime,omitempty"`
	Created    time.Time        `json:"created"`
	Updated    time.Time        `json:"updated"`
}

type backupVersion struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Protection string `json:"protection"`
	Size       int    `json:"size,omitempty"`
	Curve      string `json:"curve,omitempty"`
	Public     []byte `json:"public,omitempty"`
	Private    []byte `json:"private"`
	// Wrapped tells that Private is not key material but the blob of the
	// HSM provider's keys.Backuper: the key wrapped inside the token by its
	// trusted wrapping key. Only HSM versions are wrapped.
	Wrapped    bool              `json:"wrapped,omitempty"`
	Enabled    bool              `json:"enabled"`
	NotBefore  *time.Time        `json:"nbf,omitempty"`
	Expires    *time.Time        `json:"exp,omitempty"`
	Ops        []string          `json:"ops"`
	Tags       map[string]string `json:"tags,omitempty"`
	Exportable bool              `json:"exportable,omitempty"`
	// ReleasePolicy is the version's secure key release policy.
	ReleasePolicy *backupReleasePolicy `json:"releasePolicy,omitempty"`
	Created       time.Time            `json:"created"`
	Updated       time.Time            `json:"updated"`
	// Provenance is how an imported version's material was brought in.
	Provenance *backupProvenance `json:"provenance,omitempty"`
}

type backupProvenance struct {
	Method    string    `json:"method"`
	Generator string    `json:"generator,omitempty"`
	KEK       string    `json:"kek,omitempty"`
	Imported  time.Time `json:"imported"`
}

type backupReleasePolicy struct {
	ContentType string `json:"contentType,omitempty"`
	Immutable   bool   `json:"immutable,omitempty"`
	Data        []byte `json:"data"`
}

// vaultClass returns the backup class of a vault: managed HSM objects are
// kept apart from every other vault's.
func vaultClass(v Vault) string {
	if v.SKU == ManagedHSM {
		return "managedhsm"
	}
	return "vault"
}

// BackupKey returns a sealed blob holding every version of a key, its
// attributes, tags and rotation policy. Software versions hold their
// private material; HSM versions hold the key wrapped inside the token by
// its trusted wrapping key (keys.Backuper), so their private part never
// leaves the HSM in plaintext. Errors: ErrNotFound, ErrInvalid (an HSM key
// and an HSM provider that cannot back keys up), ErrUnavailable (the HSM
// cannot be reached).
func (s *Service) BackupKey(ctx context.Context, vault, name string) ([]byte, error) {
	v, _, _, err := s.lookup(ctx, Ref{Vault: vault, Name: name})
	if err != nil {
		return nil, err
	}
	var (
		f  backupFile
		vs []store.Version
	)
	err = s.store.View(ctx, func(tx store.Tx) error {
		k, err := tx.Key(vault, name)
		if err != nil {
			return err
		}
		if k.Deleted != nil {
			return keyNotFound(name, "")
		}
		f = backupFile{Class: vaultClass(v), Name: k.Name, Created: k.Created, Current: k.Current}
		if p := k.RotationPolicy; p != nil {
			f.RotationPolicy = &backupPolicy{Actions: fromStoreActions(p.Actions), ExpiryTime: p.ExpiryTime, Created: p.Created, Updated: p.Updated}
		}
		vs, err = tx.Versions(vault, name, store.Page{})
		return err
	})
	if err != nil {
		return nil, err
	}
	var backuper keys.Backuper
	for _, rec := range vs {
		if keys.Protection(rec.Protection) != keys.HSM {
			continue
		}
		b, ok := s.hsm.(keys.Backuper)
		if !ok {
			return nil, errHSMBackup
		}
		backuper = b
	}
	defer func() {
		for _, v := range f.Versions {
			clear(v.Private)
		}
	}()
	// The HSM wraps outside the store transaction: token calls may be slow.
	for _, rec := range vs {
		priv, err := s.material.Open(rec.SealedPrivate, materialAAD(vault, rec.Name, rec.ID))
		if err != nil {
			return nil, fmt.Errorf("vault: unseal %s/%s for backup: %w", rec.Name, rec.ID, err)
		}
		bv := backupVersion{
			ID: rec.ID, Type: rec.Type, Protection: rec.Protection, Size: rec.Size, Curve: rec.Curve,
			Public: rec.Public, Private: priv.Expose(), Enabled: rec.Enabled,
			NotBefore: rec.NotBefore, Expires: rec.Expires, Ops: rec.Ops, Tags: rec.Tags,
			Exportable: rec.Exportable, ReleasePolicy: toBackupPolicy(rec.ReleasePolicy),
			Created: rec.Created, Updated: rec.Updated,
		}
		if p := rec.Provenance; p != nil {
			bv.Provenance = &backupProvenance{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: p.Imported}
		}
		if keys.Protection(rec.Protection) == keys.HSM {
			wrapped, err := backuper.ExportWrapped(ctx, keys.Material{Spec: s.specOf(rec), Private: priv})
			priv.Clear()
			if err != nil {
				return nil, mapProviderErr(fmt.Errorf("wrap %s/%s version %s: %w", rec.Vault, rec.Name, rec.ID, err))
			}
			bv.Private, bv.Wrapped = wrapped, true
		}
		f.Versions = append(f.Versions, bv)
	}
	payload, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("vault: encode backup: %w", err)
	}
	defer clear(payload)
	sealed, err := s.backup.Seal(payload, []byte(backupMagic))
	if err != nil {
		return nil, fmt.Errorf("vault: seal backup: %w", err)
	}
	return append([]byte(backupMagic), sealed...), nil
}

var errHSMBackup = &Error{Kind: ErrInvalid, Msg: "Backup of HSM-protected keys is not supported yet."}

var errBadBackup = &Error{Kind: ErrInvalid, Msg: "Backup blob is corrupt, was altered, or was not made by this deployment."}

// RestoreKey restores a backup blob into vault with the same name and
// version ids. Every version must follow the vault's key policy. HSM
// versions are unwrapped inside the token (keys.Backuper) into new objects
// owned by vault; if the restore fails after that, those objects are
// destroyed, so a failed restore leaves nothing behind. Errors:
// ErrInvalid (bad blob; KeyPolicyViolation; HSM versions and an HSM
// provider that cannot restore keys), ErrConflict (the name exists, active
// or soft-deleted), ErrUnavailable (the HSM cannot be reached).
func (s *Service) RestoreKey(ctx context.Context, now time.Time, vault string, blob []byte) (KeyVersion, error) {
	v, err := s.Vault(ctx, vault)
	if err != nil {
		return KeyVersion{}, err
	}
	policy, err := s.keyPolicy(ctx, vault)
	if err != nil {
		return KeyVersion{}, err
	}
	if !bytes.HasPrefix(blob, []byte(backupMagic)) {
		return KeyVersion{}, errBadBackup
	}
	payload, err := s.backup.Open(blob[len(backupMagic):], []byte(backupMagic))
	if err != nil {
		return KeyVersion{}, errBadBackup
	}
	defer payload.Clear()
	var f backupFile
	err = json.Unmarshal(payload.Expose(), &f)
	defer func() {
		for _, bv := range f.Versions {
			clear(bv.Private)
		}
	}()
	if err != nil || validateName(f.Name) != nil || len(f.Versions) == 0 {
		return KeyVersion{}, errBadBackup
	}
	if class := cmp.Or(f.Class, "vault"); class != vaultClass(v) {
		return KeyVersion{}, invalidf("This backup was made in a %s and restores only into one; vault %s is a %s.", classNoun(class), vault, classNoun(vaultClass(v)))
	}
	var recs []store.Version
	current := -1 // index in recs of the current version
	for _, bv := range f.Versions {
		if validateVersion(bv.ID) != nil || bv.ID == "" {
			return KeyVersion{}, errBadBackup
		}
		// Only HSM versions are wrapped, and every HSM version is.
		if bv.Wrapped != (keys.Protection(bv.Protection) == keys.HSM) {
			return KeyVersion{}, errBadBackup
		}
		rec := store.Version{
			Vault: vault, Name: f.Name, ID: bv.ID, Type: bv.Type, Protection: bv.Protection,
			Size: bv.Size, Curve: bv.Curve, Public: bv.Public,
			Enabled: bv.Enabled, NotBefore: bv.NotBefore, Expires: bv.Expires, Ops: bv.Ops, Tags: bv.Tags,
			Exportable: bv.Exportable, ReleasePolicy: fromBackupPolicy(bv.ReleasePolicy),
			Created: bv.Created, Updated: bv.Updated,
		}
		if p := bv.Provenance; p != nil {
			rec.Provenance = &store.Provenance{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: p.Imported}
		}
		// Every version must be one this vault may hold, with the
		// protection it would give it.
		spec, err := s.validateSpec(v, s.specOf(rec), false)
		if err != nil {
			return KeyVersion{}, err
		}
		if string(spec.Protection) != rec.Protection {
			return KeyVersion{}, invalidf("Version %s of this backup is %s-protected; vault %s would hold it as %s.", bv.ID, rec.Protection, vault, spec.Protection)
		}
		if rec.Exportable && rec.ReleasePolicy == nil {
			return KeyVersion{}, errBadBackup
		}
		recs = append(recs, rec)
		if bv.ID == f.Current {
			current = len(recs) - 1
		}
	}
	if current < 0 {
		return KeyVersion{}, errBadBackup
	}
	if err := policy.checkRestore(vault, recs); err != nil {
		return KeyVersion{}, err
	}
	var backuper keys.Backuper
	for _, bv := range f.Versions {
		if bv.Wrapped {
			b, ok := s.hsm.(keys.Backuper)
			if !ok {
				return KeyVersion{}, errHSMRestore
			}
			backuper = b
		}
	}
	// From here on, HSM objects exist: any failure destroys them.
	var created []keys.Material
	defer func() {
		for _, m := range created {
			m.Private.Clear()
		}
	}()
	fail := func(err error) (KeyVersion, error) {
		s.destroyRestored(ctx, vault, f.Name, created)
		return KeyVersion{}, err
	}
	for i, bv := range f.Versions {
		priv := bv.Private
		if bv.Wrapped {
			// A key-exchange key is restored unwrap-only, as CreateKey
			// and RotateKey generate it.
			ops := make([]Operation, len(recs[i].Ops))
			for j, op := range recs[i].Ops {
				ops[j] = Operation(op)
			}
			m, err := backuper.ImportWrapped(ctx, kekSpec(s.specOf(recs[i]), ops), bv.Private)
			if err != nil {
				var le *keys.LeftoverError
				if errors.As(err, &le) && s.onDestroyError != nil {
					s.onDestroyError(fmt.Errorf("vault: destroy the HSM objects of failed restore of key %s/%s: %w", vault, f.Name, le))
				}
				if errors.Is(err, keys.ErrCorrupt) {
					return fail(errBadBackup)
				}
				return fail(mapProviderErr(err))
			}
			created = append(created, m)
			if err := checkRestored(recs[i], m); err != nil {
				return fail(err)
			}
			priv = m.Private.Expose()
		}
		sealed, err := s.material.Seal(priv, materialAAD(vault, f.Name, bv.ID))
		if err != nil {
			return fail(fmt.Errorf("vault: seal restored material: %w", err))
		}
		recs[i].SealedPrivate = sealed
	}
	cur := recs[current]
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if err := requireVault(tx, vault); err != nil {
			return err
		}
		existing, err := tx.Key(vault, f.Name)
		switch {
		case err == nil && existing.Deleted != nil:
			return deletedButRecoverable(existing.Name)
		case err == nil:
			return newErr(ErrConflict, "", "Key %s already exists in this vault; restore needs a free name.", existing.Name)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		k := store.Key{Vault: vault, Name: f.Name, Current: f.Current, Created: f.Created, Updated: now.UTC().Truncate(time.Second)}
		if p := f.RotationPolicy; p != nil {
			k.RotationPolicy = &store.RotationPolicy{Actions: toStoreActions(p.Actions), ExpiryTime: p.ExpiryTime, Created: p.Created, Updated: p.Updated}
		}
		for _, rec := range recs {
			if rec.SealedPrivate, err = s.freshMaterial(rec.SealedPrivate, materialAAD(vault, f.Name, rec.ID)); err != nil {
				return err
			}
			if err := tx.PutVersion(rec); err != nil {
				return err
			}
		}
		return tx.PutKey(k)
	})
	s.invalidate(vault, f.Name)
	if err != nil {
		return fail(err)
	}
	return s.toKeyVersion(v, cur)
}

var errHSMRestore = &Error{Kind: ErrInvalid, Msg: "This backup holds HSM-protected keys, and this deployment's HSM provider cannot restore them."}

// checkRestored checks that the key an HSM restored has the shape and
// public key the backup records for the version.
func checkRestored(rec store.Version, m keys.Material) error {
	pub, err := keys.MarshalPublic(m.Public)
	switch {
	case err != nil:
		return fmt.Errorf("vault: encode restored public key: %w", err)
	case string(m.Spec.Type) != rec.Type || (rec.Size != 0 && m.Spec.Size != rec.Size) || string(m.Spec.Curve) != rec.Curve || !bytes.Equal(pub, rec.Public):
		return errBadBackup
	}
	return nil
}

// destroyRestored destroys the HSM objects a failed restore created, even
// when ctx is done; a failure goes to Options.OnDestroyError.
func (s *Service) destroyRestored(ctx context.Context, vault, name string, created []keys.Material) {
	if len(created) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	d, ok := s.hsm.(keys.Destroyer)
	for _, m := range created {
		var err error
		if ok {
			err = d.Destroy(ctx, m)
		} else {
			err = errors.New("no HSM provider that can destroy keys is configured")
		}
		if err != nil && s.onDestroyError != nil {
			s.onDestroyError(fmt.Errorf("vault: destroy the HSM objects of failed restore of key %s/%s: %w", vault, name, err))
		}
	}
}

func classNoun(class string) string {
	if class == "managedhsm" {
		return "managed HSM"
	}
	return "key vault"
}

func toBackupPolicy(p *store.ReleasePolicy) *backupReleasePolicy {
	if p == nil {
		return nil
	}
	return &backupReleasePolicy{ContentType: p.ContentType, Immutable: p.Immutable, Data: p.Data}
}

func fromBackupPolicy(p *backupReleasePolicy) *store.ReleasePolicy {
	if p == nil {
		return nil
	}
	return &store.ReleasePolicy{ContentType: p.ContentType, Immutable: p.Immutable, Data: p.Data}
}
