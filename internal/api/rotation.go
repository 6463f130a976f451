package api

import (
	"context"
	"strings"

	"github.com/keywarden/keywarden/internal/vault"
)

// KeyRotationPolicy is Azure's KeyRotationPolicy.
type KeyRotationPolicy struct {
	// ID is {origin}/keys/{name}/rotationpolicy (read-only).
	ID string `json:"id,omitempty"`
	// LifetimeActions are the policy's trigger/action pairs.
	LifetimeActions []LifetimeAction `json:"lifetimeActions"`
	// Attributes hold the expiry time of rotated versions and the policy's
	// timestamps.
	Attributes *KeyRotationPolicyAttributes `json:"attributes,omitempty"`
}

// LifetimeAction is one trigger and its action.
type LifetimeAction struct {
	// Trigger says when the action happens.
	Trigger *LifetimeActionTrigger `json:"trigger,omitempty"`
	// Action says what happens.
	Action *LifetimeActionType `json:"action,omitempty"`
}

// LifetimeActionTrigger holds exactly one ISO-8601 duration.
type LifetimeActionTrigger struct {
	// TimeAfterCreate is a duration after the current version's creation.
	TimeAfterCreate string `json:"timeAfterCreate,omitempty"`
	// TimeBeforeExpiry is a duration before the current version's expiry.
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// LifetimeActionType names the action: "Rotate" or "Notify".
type LifetimeActionType struct {
	// Type is "Rotate" or "Notify" (accepted case-insensitively).
	Type string `json:"type,omitempty"`
}

// KeyRotationPolicyAttributes are the policy's attributes.
type KeyRotationPolicyAttributes struct {
	// ExpiryTime is the ISO-8601 duration set as exp of rotated versions.
	ExpiryTime string `json:"expiryTime,omitempty"`
	// Created and Updated are read-only.
	Created *UnixTime `json:"created,omitempty"`
	Updated *UnixTime `json:"updated,omitempty"`
}

// rotateKey serves POST /keys/{name}/rotate (7.3 and later).
func (s *Server) rotateKey(ctx context.Context, rq *request) (any, error) {
	kv, err := s.vaults.RotateKey(ctx, rq.now, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// getRotationPolicy serves GET /keys/{name}/rotationpolicy.
func (s *Server) getRotationPolicy(ctx context.Context, rq *request) (any, error) {
	p, err := s.vaults.RotationPolicy(ctx, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return rq.rotationPolicy(p), nil
}

// setRotationPolicy serves PUT /keys/{name}/rotationpolicy.
func (s *Server) setRotationPolicy(ctx context.Context, rq *request) (any, error) {
	var in KeyRotationPolicy
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	p, err := s.vaults.SetRotationPolicy(ctx, rq.now, rq.vault, rq.name, rotationPolicyIn(in))
	if err != nil {
		return nil, err
	}
	return rq.rotationPolicy(p), nil
}

// rotationPolicyIn converts a request policy; action types are normalised
// to "Rotate"/"Notify" and anything else is left for the domain to refuse.
func rotationPolicyIn(in KeyRotationPolicy) vault.RotationPolicy {
	var p vault.RotationPolicy
	if in.Attributes != nil {
		p.ExpiryTime = in.Attributes.ExpiryTime
	}
	for _, la := range in.LifetimeActions {
		var a vault.LifetimeAction
		if la.Action != nil {
			a.Type = la.Action.Type
			switch {
			case strings.EqualFold(a.Type, "Rotate"):
				a.Type = "Rotate"
			case strings.EqualFold(a.Type, "Notify"):
				a.Type = "Notify"
			}
		}
		if la.Trigger != nil {
			a.TimeAfterCreate = la.Trigger.TimeAfterCreate
			a.TimeBeforeExpiry = la.Trigger.TimeBeforeExpiry
		}
		p.Actions = append(p.Actions, a)
	}
	return p
}

// rotationPolicy converts a policy to its wire form.
func (rq *request) rotationPolicy(p vault.RotationPolicy) KeyRotationPolicy {
	out := KeyRotationPolicy{
		ID:              rq.baseID(rq.name) + "/rotationpolicy",
		LifetimeActions: make([]LifetimeAction, 0, len(p.Actions)),
		Attributes: &KeyRotationPolicyAttributes{
			ExpiryTime: p.ExpiryTime,
			Created:    unixTimeOf(p.Created),
			Updated:    unixTimeOf(p.Updated),
		},
	}
	for _, a := range p.Actions {
		out.LifetimeActions = append(out.LifetimeActions, LifetimeAction{
			Trigger: &LifetimeActionTrigger{TimeAfterCreate: a.TimeAfterCreate, TimeBeforeExpiry: a.TimeBeforeExpiry},
			Action:  &LifetimeActionType{Type: a.Type},
		})
	}
	return out
}
