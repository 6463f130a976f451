package api

import (
	"context"

	"github.com/keywarden/keywarden/internal/rootkey"
)

// GET /admin/v1/rootKey shows the root keyring: where the keys live (file
// or hsm), their ids (the active one last) and the last rotation's
// progress; never key material. POST /admin/v1/rootKey/rotate creates a
// new root key, makes it active and re-seals every record under it in the
// background while the server keeps serving (202 with the status; poll
// GET until state is idle). docs/operations.md describes the procedure.

// RootKeys is the root key administration. cmd adapts *rootkey.Rotator.
type RootKeys interface {
	// Status returns the keyring and the last rotation's progress.
	Status() rootkey.Status
	// Rotate starts a rotation. Errors: rootkey.ErrRotating.
	Rotate(ctx context.Context) (rootkey.Status, error)
}

func (s *Server) adminRootKey(ctx context.Context, rq *request, _ adminParams) (any, error) {
	return s.admin.rootKeys.Status(), nil
}

func (s *Server) adminRotateRootKey(ctx context.Context, rq *request, _ adminParams) (any, error) {
	st, err := s.admin.rootKeys.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	return adminAccepted{st}, nil
}
