package vault

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// Which operations each state refuses, as Azure Key Vault does: a disabled
// version refuses decrypt, sign and unwrapKey; a version outside its
// nbf/exp window refuses encrypt, sign and wrapKey (decrypt, unwrapKey and
// verify stay allowed so old data can still be read and checked).
var (
	refusedWhenDisabled = []Operation{OpDecrypt, OpSign, OpUnwrapKey}
	refusedOutsideDates = []Operation{OpEncrypt, OpSign, OpWrapKey}
)

// checkUse applies the state rules of a version for op at time now.
func checkUse(rec store.Version, op Operation, now time.Time) error {
	if !rec.Enabled && slices.Contains(refusedWhenDisabled, op) {
		return newErr(ErrForbidden, "KeyDisabled", "Operation %s is not allowed on a disabled key.", op)
	}
	if !slices.Contains(rec.Ops, string(op)) {
		return newErr(ErrForbidden, "KeyOperationForbidden", "Operation %s is not permitted on this key.", op)
	}
	if slices.Contains(refusedOutsideDates, op) {
		if rec.NotBefore != nil && now.Before(*rec.NotBefore) {
			return newErr(ErrForbidden, "KeyNotYetValid", "Operation %s is not allowed before the key's not-before time (%s).", op, rec.NotBefore.UTC().Format(time.RFC3339))
		}
		if rec.Expires != nil && !now.Before(*rec.Expires) {
			return newErr(ErrForbidden, "KeyExpired", "Operation %s is not allowed on an expired key (expired %s).", op, rec.Expires.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// use looks up ref, applies the state rules for op, and returns the cached
// version with its loaded crypto handle. The caller marks the version used
// (markUsed) once the operation succeeded.
func (s *Service) use(ctx context.Context, now time.Time, ref Ref, op Operation) (*cachedVersion, keys.Key, error) {
	_, _, cv, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if err := checkUse(cv.rec, op, now); err != nil {
		return nil, nil, err
	}
	h, err := s.handle(ctx, cv)
	if err != nil {
		return nil, nil, err
	}
	return cv, h, nil
}

// handle returns the version's loaded key, unsealing and loading it on
// first use.
func (s *Service) handle(ctx context.Context, cv *cachedVersion) (keys.Key, error) {
	if h := cv.loaded.Load(); h != nil {
		return *h, nil
	}
	m, err := s.materialOf(cv.rec)
	if err != nil {
		return nil, err
	}
	// Providers parse the material into their own key objects and keep no
	// reference to these bytes.
	defer m.Private.Clear()
	p := s.provider(m.Spec)
	if p == nil {
		return nil, newErr(ErrUnavailable, "", "The key provider for %s keys is not configured.", wireType(m.Spec))
	}
	h, err := p.Load(ctx, m)
	if err != nil {
		return nil, mapProviderErr(err)
	}
	cv.loaded.Store(&h)
	return h, nil
}

// materialOf unseals a version's material. The caller clears m.Private.
func (s *Service) materialOf(rec store.Version) (keys.Material, error) {
	spec := s.specOf(rec)
	priv, err := s.material.Open(rec.SealedPrivate, materialAAD(rec.Vault, rec.Name, rec.ID))
	if err != nil {
		return keys.Material{}, fmt.Errorf("vault: unseal %s/%s: %w", rec.Name, rec.ID, err)
	}
	var pub any
	if len(rec.Public) > 0 {
		if pub, err = keys.ParsePublic(spec, rec.Public); err != nil {
			priv.Clear()
			return keys.Material{}, fmt.Errorf("vault: public key of %s/%s: %w", rec.Name, rec.ID, err)
		}
	}
	return keys.Material{Spec: spec, Public: pub, Private: priv}, nil
}

// Encrypt encrypts (op OpEncrypt) or wraps (op OpWrapKey) with a key
// version. Like every successful operation of this file, it marks the
// version used in the minute of now (see FlushLastUse). Errors:
// ErrNotFound, ErrForbidden (state, key_ops), ErrInvalid (algorithm,
// length).
func (s *Service) Encrypt(ctx context.Context, now time.Time, ref Ref, op Operation, in keys.CipherInput) (string, keys.CipherOutput, error) {
	if op != OpEncrypt && op != OpWrapKey {
		return "", keys.CipherOutput{}, fmt.Errorf("vault: Encrypt with operation %s", op)
	}
	cv, h, err := s.use(ctx, now, ref, op)
	if err != nil {
		return "", keys.CipherOutput{}, err
	}
	out, err := h.Encrypt(ctx, in)
	if err != nil {
		return "", keys.CipherOutput{}, mapProviderErr(err)
	}
	s.markUsed(cv, now)
	return cv.rec.ID, out, nil
}

// Decrypt decrypts (op OpDecrypt) or unwraps (op OpUnwrapKey) with a key
// version. Errors: as Encrypt; a failed decryption is ErrInvalid.
func (s *Service) Decrypt(ctx context.Context, now time.Time, ref Ref, op Operation, in keys.CipherInput) (string, secret.Bytes, error) {
	if op != OpDecrypt && op != OpUnwrapKey {
		return "", secret.Bytes{}, fmt.Errorf("vault: Decrypt with operation %s", op)
	}
	cv, h, err := s.use(ctx, now, ref, op)
	if err != nil {
		return "", secret.Bytes{}, err
	}
	pt, err := h.Decrypt(ctx, in)
	if err != nil {
		return "", secret.Bytes{}, mapProviderErr(err)
	}
	s.markUsed(cv, now)
	return cv.rec.ID, pt, nil
}

// Sign signs a caller-computed digest. Errors: as Encrypt.
func (s *Service) Sign(ctx context.Context, now time.Time, ref Ref, alg keys.SignatureAlgorithm, digest []byte) (string, []byte, error) {
	cv, h, err := s.use(ctx, now, ref, OpSign)
	if err != nil {
		return "", nil, err
	}
	sig, err := h.Sign(ctx, alg, digest)
	if err != nil {
		return "", nil, mapProviderErr(err)
	}
	s.markUsed(cv, now)
	return cv.rec.ID, sig, nil
}

// Verify checks a signature; an invalid signature is (id, false, nil), and
// marks the version used like a valid one. Errors: as Encrypt.
func (s *Service) Verify(ctx context.Context, now time.Time, ref Ref, alg keys.SignatureAlgorithm, digest, sig []byte) (string, bool, error) {
	cv, h, err := s.use(ctx, now, ref, OpVerify)
	if err != nil {
		return "", false, err
	}
	ok, err := h.Verify(ctx, alg, digest, sig)
	if err != nil {
		return "", false, mapProviderErr(err)
	}
	s.markUsed(cv, now)
	return cv.rec.ID, ok, nil
}
