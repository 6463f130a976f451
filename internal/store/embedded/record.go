package embedded

import (
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// The records below are the on-disk JSON form of the store types. Their tags
// are the file format: renaming a Go field in package store changes nothing
// on disk, while changing a tag here needs a new store.SchemaVersion and a
// migration. Every time passes through stamp on the way in.

// stamp normalises a time to what the store keeps: UTC, microseconds, no
// monotonic reading. The zero time stays the zero time.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// stampPtr is stamp for optional times.
func stampPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}

// vaultRecord is the JSON form of store.Vault. Network and KeyPolicy were
// added within schema 1: records written before them read back with nil.
type vaultRecord struct {
	Name            string              `json:"name"`
	SKU             string              `json:"sku"`
	RetentionDays   int                 `json:"retentionDays"`
	PurgeProtection bool                `json:"purgeProtection"`
	Network         *networkRulesRecord `json:"network,omitempty"`
	KeyPolicy       []byte              `json:"keyPolicy,omitempty"`
	Created         time.Time           `json:"created"`
}

// networkRulesRecord is the JSON form of store.NetworkRules.
type networkRulesRecord struct {
	DefaultAction string   `json:"defaultAction"`
	IPRules       []string `json:"ipRules,omitempty"`
}

func newVaultRecord(v store.Vault) vaultRecord {
	return vaultRecord{
		Name:            v.Name,
		SKU:             v.SKU,
		RetentionDays:   v.RetentionDays,
		PurgeProtection: v.PurgeProtection,
		Network:         (*networkRulesRecord)(v.Network),
		KeyPolicy:       v.KeyPolicy,
		Created:         stamp(v.Created),
	}
}

func (r vaultRecord) vault() store.Vault {
	return store.Vault{
		Name:            r.Name,
		SKU:             r.SKU,
		RetentionDays:   r.RetentionDays,
		PurgeProtection: r.PurgeProtection,
		Network:         (*store.NetworkRules)(r.Network),
		KeyPolicy:       r.KeyPolicy,
		Created:         r.Created,
	}
}

// keyRecord is the JSON form of store.Key.
type keyRecord struct {
	Vault          string                `json:"vault"`
	Name           string                `json:"name"`
	Current        string                `json:"current"`
	Created        time.Time             `json:"created"`
	Updated        time.Time             `json:"updated"`
	Deleted        *deletionRecord       `json:"deleted,omitempty"`
	RotationPolicy *rotationPolicyRecord `json:"rotationPolicy,omitempty"`
}

// deletionRecord is the JSON form of store.Deletion.
type deletionRecord struct {
	Date           time.Time `json:"date"`
	ScheduledPurge time.Time `json:"scheduledPurge"`
}

// rotationPolicyRecord is the JSON form of store.RotationPolicy.
type rotationPolicyRecord struct {
	Actions    []lifetimeActionRecord `json:"actions"`
	ExpiryTime string                 `json:"expiryTime"`
	Created    time.Time              `json:"created"`
	Updated    time.Time              `json:"updated"`
}

// lifetimeActionRecord is the JSON form of store.LifetimeAction.
type lifetimeActionRecord struct {
	Type             string `json:"type"`
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

func newKeyRecord(k store.Key) keyRecord {
	r := keyRecord{
		Vault:   k.Vault,
		Name:    k.Name,
		Current: k.Current,
		Created: stamp(k.Created),
		Updated: stamp(k.Updated),
	}
	if d := k.Deleted; d != nil {
		r.Deleted = &deletionRecord{Date: stamp(d.Date), ScheduledPurge: stamp(d.ScheduledPurge)}
	}
	if p := k.RotationPolicy; p != nil {
		rp := &rotationPolicyRecord{
			ExpiryTime: p.ExpiryTime,
			Created:    stamp(p.Created),
			Updated:    stamp(p.Updated),
		}
		for _, a := range p.Actions {
			rp.Actions = append(rp.Actions, lifetimeActionRecord(a))
		}
		r.RotationPolicy = rp
	}
	return r
}

func (r keyRecord) key() store.Key {
	k := store.Key{
		Vault:   r.Vault,
		Name:    r.Name,
		Current: r.Current,
		Created: r.Created,
		Updated: r.Updated,
	}
	if d := r.Deleted; d != nil {
		k.Deleted = &store.Deletion{Date: d.Date, ScheduledPurge: d.ScheduledPurge}
	}
	if p := r.RotationPolicy; p != nil {
		rp := &store.RotationPolicy{
			ExpiryTime: p.ExpiryTime,
			Created:    p.Created,
			Updated:    p.Updated,
		}
		for _, a := range p.Actions {
			rp.Actions = append(rp.Actions, store.LifetimeAction(a))
		}
		k.RotationPolicy = rp
	}
	return k
}

// versionRecord is the JSON form of store.Version.
type versionRecord struct {
	Vault         string               `json:"vault"`
	Name          string               `json:"name"`
	ID            string               `json:"id"`
	Type          string               `json:"type"`
	Protection    string               `json:"protection"`
	Size          int                  `json:"size,omitempty"`
	Curve         string               `json:"curve,omitempty"`
	Public        []byte               `json:"public,omitempty"`
	SealedPrivate []byte               `json:"sealedPrivate,omitempty"`
	Enabled       bool                 `json:"enabled"`
	NotBefore     *time.Time           `json:"notBefore,omitempty"`
	Expires       *time.Time           `json:"expires,omitempty"`
	Ops           []string             `json:"ops,omitempty"`
	Tags          map[string]string    `json:"tags,omitempty"`
	Exportable    bool                 `json:"exportable"`
	ReleasePolicy *releasePolicyRecord `json:"releasePolicy,omitempty"`
	Created       time.Time            `json:"created"`
	Updated       time.Time            `json:"updated"`
	// LastUsed was added within schema 1: records written before it, and
	// versions never used, have none.
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	// Provenance was added within schema 1: records written before it,
	// and generated versions, have none.
	Provenance *provenanceRecord `json:"provenance,omitempty"`
}

// provenanceRecord is the JSON form of store.Provenance.
type provenanceRecord struct {
	Method    string    `json:"method"`
	Generator string    `json:"generator,omitempty"`
	KEK       string    `json:"kek,omitempty"`
	Imported  time.Time `json:"imported"`
}

// releasePolicyRecord is the JSON form of store.ReleasePolicy.
type releasePolicyRecord struct {
	ContentType string `json:"contentType"`
	Immutable   bool   `json:"immutable"`
	Data        []byte `json:"data,omitempty"`
}

func newVersionRecord(v store.Version) versionRecord {
	r := versionRecord{
		Vault:         v.Vault,
		Name:          v.Name,
		ID:            v.ID,
		Type:          v.Type,
		Protection:    v.Protection,
		Size:          v.Size,
		Curve:         v.Curve,
		Public:        v.Public,
		SealedPrivate: v.SealedPrivate,
		Enabled:       v.Enabled,
		NotBefore:     stampPtr(v.NotBefore),
		Expires:       stampPtr(v.Expires),
		Ops:           v.Ops,
		Tags:          v.Tags,
		Exportable:    v.Exportable,
		Created:       stamp(v.Created),
		Updated:       stamp(v.Updated),
		LastUsed:      stampPtr(v.LastUsed),
	}
	if p := v.ReleasePolicy; p != nil {
		r.ReleasePolicy = &releasePolicyRecord{ContentType: p.ContentType, Immutable: p.Immutable, Data: p.Data}
	}
	if p := v.Provenance; p != nil {
		r.Provenance = &provenanceRecord{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: stamp(p.Imported)}
	}
	return r
}

func (r versionRecord) version() store.Version {
	v := store.Version{
		Vault:         r.Vault,
		Name:          r.Name,
		ID:            r.ID,
		Type:          r.Type,
		Protection:    r.Protection,
		Size:          r.Size,
		Curve:         r.Curve,
		Public:        r.Public,
		SealedPrivate: r.SealedPrivate,
		Enabled:       r.Enabled,
		NotBefore:     r.NotBefore,
		Expires:       r.Expires,
		Ops:           r.Ops,
		Tags:          r.Tags,
		Exportable:    r.Exportable,
		Created:       r.Created,
		Updated:       r.Updated,
		LastUsed:      r.LastUsed,
	}
	if p := r.ReleasePolicy; p != nil {
		v.ReleasePolicy = &store.ReleasePolicy{ContentType: p.ContentType, Immutable: p.Immutable, Data: p.Data}
	}
	if p := r.Provenance; p != nil {
		v.Provenance = &store.Provenance{Method: p.Method, Generator: p.Generator, KEK: p.KEK, Imported: p.Imported}
	}
	return v
}

// principalRecord is the JSON form of store.Principal. Certificates was
// added within schema 1: records written before it read back with none.
type principalRecord struct {
	ClientID     string              `json:"clientId"`
	ObjectID     string              `json:"objectId"`
	Name         string              `json:"name"`
	Disabled     bool                `json:"disabled"`
	Secrets      []credentialRecord  `json:"secrets,omitempty"`
	Certificates []certificateRecord `json:"certificates,omitempty"`
	Created      time.Time           `json:"created"`
}

// certificateRecord is the JSON form of store.CertificateCredential.
type certificateRecord struct {
	ID               string     `json:"id"`
	DER              []byte     `json:"der,omitempty"`
	Thumbprint       string     `json:"thumbprint,omitempty"`
	ThumbprintSHA256 string     `json:"thumbprintSha256,omitempty"`
	Expires          *time.Time `json:"expires,omitempty"`
	Created          time.Time  `json:"created"`
}

// credentialRecord is the JSON form of store.Credential.
type credentialRecord struct {
	ID      string     `json:"id"`
	Hash    string     `json:"hash"`
	Expires *time.Time `json:"expires,omitempty"`
	Created time.Time  `json:"created"`
}

func newPrincipalRecord(p store.Principal) principalRecord {
	r := principalRecord{
		ClientID: p.ClientID,
		ObjectID: p.ObjectID,
		Name:     p.Name,
		Disabled: p.Disabled,
		Created:  stamp(p.Created),
	}
	for _, c := range p.Secrets {
		r.Secrets = append(r.Secrets, credentialRecord{
			ID:      c.ID,
			Hash:    c.Hash,
			Expires: stampPtr(c.Expires),
			Created: stamp(c.Created),
		})
	}
	for _, c := range p.Certificates {
		r.Certificates = append(r.Certificates, certificateRecord{
			ID:               c.ID,
			DER:              c.DER,
			Thumbprint:       c.Thumbprint,
			ThumbprintSHA256: c.ThumbprintSHA256,
			Expires:          stampPtr(c.Expires),
			Created:          stamp(c.Created),
		})
	}
	return r
}

func (r principalRecord) principal() store.Principal {
	p := store.Principal{
		ClientID: r.ClientID,
		ObjectID: r.ObjectID,
		Name:     r.Name,
		Disabled: r.Disabled,
		Created:  r.Created,
	}
	for _, c := range r.Secrets {
		p.Secrets = append(p.Secrets, store.Credential{
			ID:      c.ID,
			Hash:    c.Hash,
			Expires: c.Expires,
			Created: c.Created,
		})
	}
	for _, c := range r.Certificates {
		p.Certificates = append(p.Certificates, store.CertificateCredential{
			ID:               c.ID,
			DER:              c.DER,
			Thumbprint:       c.Thumbprint,
			ThumbprintSHA256: c.ThumbprintSHA256,
			Expires:          c.Expires,
			Created:          c.Created,
		})
	}
	return p
}

// roleDefinitionRecord is the JSON form of store.RoleDefinition.
type roleDefinitionRecord struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Description      string    `json:"description,omitempty"`
	Actions          []string  `json:"actions,omitempty"`
	NotActions       []string  `json:"notActions,omitempty"`
	DataActions      []string  `json:"dataActions,omitempty"`
	NotDataActions   []string  `json:"notDataActions,omitempty"`
	AssignableScopes []string  `json:"assignableScopes,omitempty"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

func newRoleDefinitionRecord(d store.RoleDefinition) roleDefinitionRecord {
	return roleDefinitionRecord{
		ID:               d.ID,
		Name:             d.Name,
		Description:      d.Description,
		Actions:          d.Actions,
		NotActions:       d.NotActions,
		DataActions:      d.DataActions,
		NotDataActions:   d.NotDataActions,
		AssignableScopes: d.AssignableScopes,
		Created:          stamp(d.Created),
		Updated:          stamp(d.Updated),
	}
}

func (r roleDefinitionRecord) roleDefinition() store.RoleDefinition {
	return store.RoleDefinition{
		ID:               r.ID,
		Name:             r.Name,
		Description:      r.Description,
		Actions:          r.Actions,
		NotActions:       r.NotActions,
		DataActions:      r.DataActions,
		NotDataActions:   r.NotDataActions,
		AssignableScopes: r.AssignableScopes,
		Created:          r.Created,
		Updated:          r.Updated,
	}
}

// roleAssignmentRecord is the JSON form of store.RoleAssignment.
type roleAssignmentRecord struct {
	ID          string `json:"id"`
	PrincipalID string `json:"principalId"`
	// Issuer is omitted for the built-in issuer, so that records written
	// before assignments named an issuer read as built-in ones.
	Issuer           string    `json:"issuer,omitempty"`
	RoleDefinitionID string    `json:"roleDefinitionId"`
	Scope            string    `json:"scope"`
	Created          time.Time `json:"created"`
}

func newRoleAssignmentRecord(a store.RoleAssignment) roleAssignmentRecord {
	return roleAssignmentRecord{
		ID:               a.ID,
		PrincipalID:      a.PrincipalID,
		Issuer:           a.Issuer,
		RoleDefinitionID: a.RoleDefinitionID,
		Scope:            a.Scope,
		Created:          stamp(a.Created),
	}
}

func (r roleAssignmentRecord) roleAssignment() store.RoleAssignment {
	return store.RoleAssignment{
		ID:               r.ID,
		PrincipalID:      r.PrincipalID,
		Issuer:           r.Issuer,
		RoleDefinitionID: r.RoleDefinitionID,
		Scope:            r.Scope,
		Created:          r.Created,
	}
}
