package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/keywarden/keywarden/internal/audit"
	"github.com/keywarden/keywarden/internal/auth"
	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/rootkey"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// Sealer purposes and the records they seal. Purpose names are part of the
// on-disk format and never change.
const (
	purposeMaterial       = "material"
	purposeTokenSigning   = "token-signing"
	purposeAuditSigning   = "audit-signing"
	purposeDevCredentials = "dev-credentials"
	purposeReadiness      = "readiness"
	// backupKeyBlob holds the data key that seals key backups handed to
	// clients: it outlives root key rotations, so backups keep restoring.
	backupKeyBlob = "backup-key"
	// tenantBlob holds the tenant id, written at a store's first start.
	tenantBlob = "tenant-id"
	// devCredentialsBlob holds the dev principal's credentials.
	devCredentialsBlob = "dev-credentials"
	// chainKeyFile, in the audit directory, holds the data key of the
	// audit hash chain, beside the log it proves (verified without the
	// store).
	chainKeyFile = "chain.key"
)

// openKeyring returns the deployment's root keyring and where its keys
// live, per cfg.SealMode: the key file, or the HSM token (moving a key
// file's records into it when one is found). create allows creating a
// first root key (dev, init).
func openKeyring(ctx context.Context, cfg config.Config, hsm *pkcs11.Provider, create bool, log *slog.Logger) (*seal.Keyring, rootkey.Source, error) {
	return openKeyringMode(ctx, cfg, hsm, create, false, log)
}

// openKeyringMode is openKeyring; checkOnly opens without creating or
// changing anything (restore's check).
func openKeyringMode(ctx context.Context, cfg config.Config, hsm *pkcs11.Provider, create, checkOnly bool, log *slog.Logger) (*seal.Keyring, rootkey.Source, error) {
	switch cfg.SealMode {
	case "hsm":
		if hsm == nil {
			return nil, nil, errors.New(`root key: sealMode "hsm" needs an HSM: configure the hsm section (dev: install SoftHSM2)`)
		}
		o := rootkey.HSMOptions{Label: cfg.SealKeyLabel, LegacyPath: cfg.RootKeyFile, Create: create, CheckOnly: checkOnly}
		ring, src, created, err := rootkey.OpenHSM(ctx, hsm, o, time.Now(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("root key: %w", err)
		}
		if created {
			log.Info("created the root key inside the HSM", "key", ring.Active())
		}
		return ring, src, nil
	default:
		ring, src, created, err := rootkey.OpenFile(cfg.RootKeyFile, create, rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("root key: %w", err)
		}
		if created {
			log.Info("created root key", "path", cfg.RootKeyFile)
		}
		return ring, src, nil
	}
}

// backupSealer returns the sealer of key backups: a data key kept sealed
// under the root keyring. On a store from before data keys (one that
// already has a tenant id) it is created as what the root key derived for
// "backup", so that older backups restore; on a new store it is random.
func backupSealer(ctx context.Context, st store.Store, ring *seal.Keyring, src rootkey.Source) (seal.Sealer, error) {
	initial := rootkey.Random(rand.Reader)
	err := st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Blob(tenantBlob)
		if err == nil {
			initial = rootkey.LegacyDerived(src, "backup", rand.Reader)
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	k, err := rootkey.DataKey(ctx, st, ring.Derive(rootkey.DataKeySealerPurpose), backupKeyBlob, initial)
	if err != nil {
		return nil, err
	}
	defer k.Clear()
	return seal.NewSealer(k, rand.Reader)
}

// chainKey returns the audit chain's data key, kept sealed in the audit
// directory. For a log from before data keys (log files, no chain.key, and
// a store without the backup data key) it is created as what the root key
// derived for the chain, so that the chain continues; for a new log it is
// random. Log files without chain.key in a deployment that has data keys
// mean the key file was lost: the server refuses to start rather than
// continue the chain under another key.
func chainKey(ctx context.Context, dir string, st store.Store, ring *seal.Keyring, src rootkey.Source) (secret.Bytes, error) {
	path := filepath.Join(dir, chainKeyFile)
	initial := rootkey.Random(rand.Reader)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		files, err := audit.LogFiles(dir)
		if err != nil {
			return secret.Bytes{}, err
		}
		if len(files) > 0 {
			hasDataKeys := false
			if err := st.View(ctx, func(tx store.Tx) error {
				_, err := tx.Blob(backupKeyBlob)
				hasDataKeys = err == nil
				if errors.Is(err, store.ErrNotFound) {
					err = nil
				}
				return err
			}); err != nil {
				return secret.Bytes{}, err
			}
			if hasDataKeys {
				return secret.Bytes{}, fmt.Errorf("%s holds audit log files but not %s, the sealed key of their hash chain: restore it from the audit directory's backup (docs/operations.md)", dir, chainKeyFile)
			}
			initial = rootkey.LegacyDerived(src, auditChainPurpose, rand.Reader)
		}
	}
	k, err := rootkey.FileDataKey(path, ring.Derive(rootkey.DataKeySealerPurpose), initial)
	if errors.Is(err, seal.ErrUnknownKey) {
		return secret.Bytes{}, fmt.Errorf("%w: %s is sealed under a root key the key file does not hold — after restoring a store from before a root key rotation, put every root key in the key file, the oldest first and the current one last (docs/operations.md)", err, path)
	}
	return k, err
}

// sealedBlob is a store blob sealed under the root keyring, with the
// purpose and additional data it is sealed with.
type sealedBlob struct {
	name, purpose string
	aad           []byte
}

// sealedBlobs are every store blob sealed under the root keyring: what a
// rotation re-seals and what restore checks. A sealed blob missing here
// would become unreadable when a rotation destroys the old key.
func sealedBlobs() []sealedBlob {
	return []sealedBlob{
		{auth.SigningKeyBlob, purposeTokenSigning, []byte(auth.SigningKeyBlob)},
		{audit.SigningKeyBlob, purposeAuditSigning, audit.SigningKeyAAD()},
		{devCredentialsBlob, purposeDevCredentials, []byte(devCredentialsBlob)},
		{backupKeyBlob, rootkey.DataKeySealerPurpose, rootkey.DataKeyAAD(backupKeyBlob)},
	}
}

// resealers are every sealed record of the deployment, for root key
// rotation: key material, the sealed blobs and the audit chain key file.
func (e *engine) resealers() []rootkey.Resealer {
	rs := []rootkey.Resealer{{Name: "key material", Reseal: e.vaults.ResealMaterial}}
	for _, b := range sealedBlobs() {
		rs = append(rs, rootkey.BlobResealer(e.store, b.name, e.ring.Derive(b.purpose), b.aad))
	}
	return append(rs, rootkey.FileDataKeyResealer(filepath.Join(e.cfg.Audit.Dir, chainKeyFile), e.ring.Derive(rootkey.DataKeySealerPurpose)))
}

// checkSealedBlobs checks that ring opens every sealed blob st holds,
// naming the first that does not open (never its content).
func checkSealedBlobs(ctx context.Context, st store.Store, ring *seal.Keyring) error {
	return st.View(ctx, func(tx store.Tx) error {
		for _, b := range sealedBlobs() {
			sealed, err := tx.Blob(b.name)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			pt, err := ring.Derive(b.purpose).Open(sealed, b.aad)
			if err != nil {
				return fmt.Errorf("the sealed %s does not open with this root key: %w", b.name, err)
			}
			pt.Clear()
		}
		return nil
	})
}

// rootKeyAdmin adapts *rootkey.Rotator to api.RootKeys: a rotation runs
// under the server's background context, not the request's.
type rootKeyAdmin struct {
	r          *rootkey.Rotator
	background context.Context
}

func (a rootKeyAdmin) Status() rootkey.Status { return a.r.Status() }

func (a rootKeyAdmin) Rotate(context.Context) (rootkey.Status, error) {
	return a.r.Rotate(a.background)
}
