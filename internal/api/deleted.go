package api

import (
	"context"

	"github.com/keywarden/keywarden/internal/vault"
)

// DeletedKeyBundle is Azure's DeletedKeyBundle: the current version of a
// soft-deleted key with its recovery id and dates.
type DeletedKeyBundle struct {
	KeyBundle
	// RecoveryID is {origin}/deletedkeys/{name}.
	RecoveryID string `json:"recoveryId,omitempty"`
	// DeletedDate is when the key was deleted.
	DeletedDate *UnixTime `json:"deletedDate,omitempty"`
	// ScheduledPurgeDate is when the system purges the key.
	ScheduledPurgeDate *UnixTime `json:"scheduledPurgeDate,omitempty"`
}

// DeletedKeyItem is Azure's DeletedKeyItem: one entry of the deleted-key
// listing, with the base kid.
type DeletedKeyItem struct {
	KeyItem
	// RecoveryID is {origin}/deletedkeys/{name}.
	RecoveryID string `json:"recoveryId,omitempty"`
	// DeletedDate is when the key was deleted.
	DeletedDate *UnixTime `json:"deletedDate,omitempty"`
	// ScheduledPurgeDate is when the system purges the key.
	ScheduledPurgeDate *UnixTime `json:"scheduledPurgeDate,omitempty"`
}

// DeletedKeyListResult is Azure's DeletedKeyListResult.
type DeletedKeyListResult struct {
	// Value holds the page's items; never null.
	Value []DeletedKeyItem `json:"value"`
	// NextLink is the absolute URL of the next page, absent on the last.
	NextLink string `json:"nextLink,omitempty"`
}

// deleteKey serves DELETE /keys/{name}.
func (s *Server) deleteKey(ctx context.Context, rq *request) (any, error) {
	dk, err := s.vaults.DeleteKey(ctx, rq.now, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return rq.deletedKeyBundle(dk), nil
}

// getDeletedKey serves GET /deletedkeys/{name}.
func (s *Server) getDeletedKey(ctx context.Context, rq *request) (any, error) {
	dk, err := s.vaults.GetDeletedKey(ctx, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return rq.deletedKeyBundle(dk), nil
}

// listDeletedKeys serves GET /deletedkeys.
func (s *Server) listDeletedKeys(ctx context.Context, rq *request) (any, error) {
	marker, limit, err := rq.page()
	if err != nil {
		return nil, err
	}
	p, err := s.vaults.ListDeletedKeys(ctx, rq.vault, marker, limit)
	if err != nil {
		return nil, err
	}
	out := DeletedKeyListResult{Value: make([]DeletedKeyItem, 0, len(p.Items)), NextLink: rq.nextLink("/deletedkeys", p.Next, limit)}
	for _, dk := range p.Items {
		out.Value = append(out.Value, DeletedKeyItem{
			KeyItem:            rq.keyItem(dk.KeyVersion, rq.baseID(dk.Name)),
			RecoveryID:         rq.recoveryID(dk.Name),
			DeletedDate:        unixTimeOf(dk.DeletedDate),
			ScheduledPurgeDate: unixTimeOf(dk.ScheduledPurgeDate),
		})
	}
	return out, nil
}

// recoverDeletedKey serves POST /deletedkeys/{name}/recover.
func (s *Server) recoverDeletedKey(ctx context.Context, rq *request) (any, error) {
	kv, err := s.vaults.RecoverKey(ctx, rq.now, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// purgeDeletedKey serves DELETE /deletedkeys/{name}: 204 without a body.
func (s *Server) purgeDeletedKey(ctx context.Context, rq *request) (any, error) {
	return nil, s.vaults.PurgeKey(ctx, rq.now, rq.vault, rq.name)
}

// deletedKeyBundle converts a deleted key to its wire form.
func (rq *request) deletedKeyBundle(dk vault.DeletedKey) DeletedKeyBundle {
	return DeletedKeyBundle{
		KeyBundle:          rq.keyBundle(dk.KeyVersion),
		RecoveryID:         rq.recoveryID(dk.Name),
		DeletedDate:        unixTimeOf(dk.DeletedDate),
		ScheduledPurgeDate: unixTimeOf(dk.ScheduledPurgeDate),
	}
}

// recoveryID returns {origin}/deletedkeys/{name}.
func (rq *request) recoveryID(name string) string {
	return rq.origin + "/deletedkeys/" + escapeName(name)
}
