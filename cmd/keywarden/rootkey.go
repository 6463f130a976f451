package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
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
	switch cfg.SealMode {
	case "hsm":
		if hsm == nil {
			return nil, nil, errors.New(`root key: sealMode "hsm" needs an HSM: configure the hsm section (dev: install SoftHSM2)`)
		}
		ring, src, created, err := rootkey.OpenHSM(ctx, hsm, cfg.RootKeyFile, create, time.Now(), rand.Reader)
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
// directory. For a log from before data keys (log files but no chain.key)
// it is created as what the root key derived for the chain, so that the
// chain continues; for a new log it is random.
func chainKey(dir string, ring *seal.Keyring, src rootkey.Source) (secret.Bytes, error) {
	initial := rootkey.Random(rand.Reader)
	files, err := audit.LogFiles(dir)
	if err != nil {
		return secret.Bytes{}, err
	}
	if len(files) > 0 {
		initial = rootkey.LegacyDerived(src, auditChainPurpose, rand.Reader)
	}
	return rootkey.FileDataKey(filepath.Join(dir, chainKeyFile), ring.Derive(rootkey.DataKeySealerPurpose), initial)
}

// resealers are every sealed record of the deployment, for root key
// rotation. A sealed record missing here would become unreadable when the
// old key is destroyed: every Derive in this binary has its entry.
func (e *engine) resealers() []rootkey.Resealer {
	dataKeys := e.ring.Derive(rootkey.DataKeySealerPurpose)
	return []rootkey.Resealer{
		{Name: "key material", Reseal: e.vaults.ResealMaterial},
		rootkey.BlobResealer(e.store, auth.SigningKeyBlob, e.ring.Derive(purposeTokenSigning), []byte(auth.SigningKeyBlob)),
		rootkey.BlobResealer(e.store, audit.SigningKeyBlob, e.ring.Derive(purposeAuditSigning), audit.SigningKeyAAD()),
		rootkey.BlobResealer(e.store, devCredentialsBlob, e.ring.Derive(purposeDevCredentials), []byte(devCredentialsBlob)),
		rootkey.DataKeyResealer(e.store, dataKeys, backupKeyBlob),
		rootkey.FileDataKeyResealer(filepath.Join(e.cfg.Audit.Dir, chainKeyFile), dataKeys),
	}
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
