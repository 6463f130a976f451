package api

import (
	"context"
	"net/url"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// KeyAttributes is Azure's KeyAttributes. Times are integer Unix seconds.
type KeyAttributes struct {
	// Enabled tells whether the version may be used.
	Enabled *bool `json:"enabled,omitempty"`
	// NotBefore and Expires bound the version's validity.
	NotBefore *UnixTime `json:"nbf,omitempty"`
	Expires   *UnixTime `json:"exp,omitempty"`
	// Created and Updated are read-only.
	Created *UnixTime `json:"created,omitempty"`
	Updated *UnixTime `json:"updated,omitempty"`
	// RecoverableDays and RecoveryLevel reflect the vault's soft-delete
	// settings (read-only).
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	// Exportable allows secure key release (api-version 7.3 and later; set
	// at create or import only).
	Exportable *bool `json:"exportable,omitempty"`
	// LastUsed is a Keywarden extension (read-only, ignored in requests):
	// the start of the latest minute in which the version was used for a
	// cryptographic operation, omitted when it never was. Azure SDKs ignore
	// it as an unknown member.
	LastUsed *UnixTime `json:"lastUsed,omitempty"`
	// Provenance is a Keywarden extension (read-only, ignored in
	// requests): how an imported version's material was brought in,
	// omitted for generated keys.
	Provenance *KeyProvenance `json:"provenance,omitempty"`
}

// KeyReleasePolicy is Azure's KeyReleasePolicy.
type KeyReleasePolicy struct {
	// ContentType is the policy's content type.
	ContentType string `json:"contentType,omitempty"`
	// Immutable forbids later changes of the policy.
	Immutable *bool `json:"immutable,omitempty"`
	// Data is the policy document.
	Data Base64URL `json:"data,omitempty"`
}

// KeyBundle is Azure's KeyBundle: a key version's public key, attributes,
// tags and release policy.
type KeyBundle struct {
	// Key is the public JSON Web Key with the versioned kid.
	Key *JSONWebKey `json:"key,omitempty"`
	// Attributes are the version's attributes.
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// Tags are the version's tags.
	Tags map[string]string `json:"tags,omitempty"`
	// Managed is true only for certificate-backed keys (never here).
	Managed *bool `json:"managed,omitempty"`
	// ReleasePolicy is the secure key release policy.
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyItem is Azure's KeyItem: one entry of a key listing.
type KeyItem struct {
	// KID is the base id in /keys listings, the versioned id in /versions.
	KID string `json:"kid,omitempty"`
	// Attributes are the (current) version's attributes.
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// Tags are the (current) version's tags.
	Tags map[string]string `json:"tags,omitempty"`
	// Managed is true only for certificate-backed keys (never here).
	Managed *bool `json:"managed,omitempty"`
}

// KeyListResult is Azure's KeyListResult.
type KeyListResult struct {
	// Value holds the page's items; never null.
	Value []KeyItem `json:"value"`
	// NextLink is the absolute URL of the next page, absent on the last.
	NextLink string `json:"nextLink,omitempty"`
}

// KeyCreateParameters is the body of CreateKey.
type KeyCreateParameters struct {
	// KTY is the key type; required.
	KTY string `json:"kty"`
	// KeySize is the RSA modulus or AES key size in bits.
	KeySize int `json:"key_size,omitempty"`
	// PublicExponent is the RSA public exponent.
	PublicExponent int `json:"public_exponent,omitempty"`
	// KeyOps are the permitted operations.
	KeyOps []string `json:"key_ops,omitempty"`
	// Attributes are the initial attributes.
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// Tags are the version's tags.
	Tags map[string]string `json:"tags,omitempty"`
	// Crv is the EC curve.
	Crv string `json:"crv,omitempty"`
	// ReleasePolicy is the release policy (7.3 and later).
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyImportParameters is the body of ImportKey.
type KeyImportParameters struct {
	// Key is the JSON Web Key with its private members; required.
	Key *JSONWebKey `json:"key"`
	// HSM asks for HSM protection ("Hsm" on the wire).
	HSM *bool `json:"Hsm,omitempty"`
	// Attributes are the initial attributes.
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// Tags are the version's tags.
	Tags map[string]string `json:"tags,omitempty"`
	// ReleasePolicy is the release policy (7.3 and later).
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyUpdateParameters is the body of UpdateKey; absent fields are unchanged.
type KeyUpdateParameters struct {
	// KeyOps replaces the permitted operations when present.
	KeyOps []string `json:"key_ops,omitempty"`
	// Attributes are merged field by field.
	Attributes *KeyAttributes `json:"attributes,omitempty"`
	// Tags replace the tags when present.
	Tags map[string]string `json:"tags,omitempty"`
	// ReleasePolicy replaces the release policy when present.
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// BackupKeyResult is Azure's BackupKeyResult.
type BackupKeyResult struct {
	// Value is the opaque, sealed backup blob.
	Value Base64URL `json:"value"`
}

// KeyRestoreParameters is the body of RestoreKey.
type KeyRestoreParameters struct {
	// Value is a blob returned by BackupKey; required.
	Value Base64URL `json:"value"`
}

// createKey serves POST /keys/{name}/create.
func (s *Server) createKey(ctx context.Context, rq *request) (any, error) {
	var in KeyCreateParameters
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	typ, prot, err := parseKeyType(in.KTY)
	if err != nil {
		return nil, err
	}
	attrs, err := rq.attributesIn(in.Attributes)
	if err != nil {
		return nil, err
	}
	rp, err := rq.releasePolicyIn(in.ReleasePolicy)
	if err != nil {
		return nil, err
	}
	kv, err := s.vaults.CreateKey(ctx, rq.now, rq.vault, rq.name, vault.CreateParams{
		Spec:          keys.Spec{Type: typ, Size: in.KeySize, Curve: keys.Curve(in.Crv), PublicExponent: in.PublicExponent, Protection: prot},
		Ops:           operations(in.KeyOps),
		Attributes:    attrs,
		Tags:          in.Tags,
		ReleasePolicy: rp,
	})
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// importKey serves PUT /keys/{name}.
func (s *Server) importKey(ctx context.Context, rq *request) (any, error) {
	var in KeyImportParameters
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	if in.Key == nil {
		return nil, badParameter("The property key is required.")
	}
	defer in.Key.clearPrivate()
	var (
		spec     keys.Spec
		priv     any
		transfer *vault.Transfer
		err      error
	)
	if len(in.Key.T) > 0 {
		spec, transfer, err = s.transferIn(rq, in.Key)
	} else {
		spec, priv, err = in.Key.privateKey(in.HSM != nil && *in.HSM)
	}
	if err != nil {
		return nil, err
	}
	attrs, err := rq.attributesIn(in.Attributes)
	if err != nil {
		return nil, err
	}
	rp, err := rq.releasePolicyIn(in.ReleasePolicy)
	if err != nil {
		return nil, err
	}
	kv, err := s.vaults.ImportKey(ctx, rq.now, rq.vault, rq.name, vault.ImportParams{
		Spec:          spec,
		Private:       priv,
		Transfer:      transfer,
		Ops:           operations(in.Key.KeyOps),
		Attributes:    attrs,
		Tags:          in.Tags,
		ReleasePolicy: rp,
	})
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// getKey serves GET /keys/{name}[/{version}].
func (s *Server) getKey(ctx context.Context, rq *request) (any, error) {
	kv, err := s.vaults.GetKey(ctx, rq.now, rq.ref())
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// updateKey serves PATCH /keys/{name}[/{version}].
func (s *Server) updateKey(ctx context.Context, rq *request) (any, error) {
	var in KeyUpdateParameters
	if err := rq.decode(&in, false); err != nil {
		return nil, err
	}
	attrs, err := rq.attributesIn(in.Attributes)
	if err != nil {
		return nil, err
	}
	rp, err := rq.releasePolicyIn(in.ReleasePolicy)
	if err != nil {
		return nil, err
	}
	kv, err := s.vaults.UpdateKey(ctx, rq.now, rq.ref(), vault.UpdateParams{
		Ops:           operations(in.KeyOps),
		Attributes:    attrs,
		Tags:          in.Tags,
		ReleasePolicy: rp,
	})
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// listKeys serves GET /keys: one item per key, base kid.
func (s *Server) listKeys(ctx context.Context, rq *request) (any, error) {
	marker, limit, err := rq.page()
	if err != nil {
		return nil, err
	}
	p, err := s.vaults.ListKeys(ctx, rq.vault, marker, limit)
	if err != nil {
		return nil, err
	}
	out := KeyListResult{Value: make([]KeyItem, 0, len(p.Items)), NextLink: rq.nextLink("/keys", p.Next, limit)}
	for _, kv := range p.Items {
		out.Value = append(out.Value, rq.keyItem(kv, rq.baseID(kv.Name)))
	}
	return out, nil
}

// listVersions serves GET /keys/{name}/versions: versioned kids.
func (s *Server) listVersions(ctx context.Context, rq *request) (any, error) {
	marker, limit, err := rq.page()
	if err != nil {
		return nil, err
	}
	p, err := s.vaults.ListVersions(ctx, rq.vault, rq.name, marker, limit)
	if err != nil {
		return nil, err
	}
	out := KeyListResult{Value: make([]KeyItem, 0, len(p.Items)), NextLink: rq.nextLink("/keys/"+escapeName(rq.name)+"/versions", p.Next, limit)}
	for _, kv := range p.Items {
		out.Value = append(out.Value, rq.keyItem(kv, rq.kid(kv.Name, kv.Version)))
	}
	return out, nil
}

// backupKey serves POST /keys/{name}/backup.
func (s *Server) backupKey(ctx context.Context, rq *request) (any, error) {
	blob, err := s.vaults.BackupKey(ctx, rq.vault, rq.name)
	if err != nil {
		return nil, err
	}
	return BackupKeyResult{Value: blob}, nil
}

// restoreKey serves POST /keys/restore.
func (s *Server) restoreKey(ctx context.Context, rq *request) (any, error) {
	var in KeyRestoreParameters
	if err := rq.decode(&in, true); err != nil {
		return nil, err
	}
	if in.Value == nil {
		return nil, badParameter("The property value is required.")
	}
	kv, err := s.vaults.RestoreKey(ctx, rq.now, rq.vault, in.Value)
	if err != nil {
		return nil, err
	}
	return rq.keyBundle(kv), nil
}

// attributesIn converts request attributes, refusing exportable below
// api-version 7.3 as Azure does.
func (rq *request) attributesIn(a *KeyAttributes) (vault.Attributes, error) {
	if a == nil {
		return vault.Attributes{}, nil
	}
	out := vault.Attributes{Enabled: a.Enabled, NotBefore: a.NotBefore.Time(), Expires: a.Expires.Time(), Exportable: a.Exportable}
	if a.Exportable != nil && rq.apiVersion < v7_3 {
		if *a.Exportable {
			return vault.Attributes{}, &httpError{status: 400, code: "BadParameter", msg: "AKV.SKR.1001: The exportable attribute is only supported with premium vaults and API version >= '7.3-preview'."}
		}
		out.Exportable = nil
	}
	return out, nil
}

// releasePolicyIn converts a request release policy (7.3 and later).
func (rq *request) releasePolicyIn(p *KeyReleasePolicy) (*vault.ReleasePolicy, error) {
	if p == nil {
		return nil, nil
	}
	if rq.apiVersion < v7_3 {
		return nil, badParameter("The release_policy property is only supported with API version >= '7.3-preview'.")
	}
	return &vault.ReleasePolicy{ContentType: p.ContentType, Immutable: p.Immutable != nil && *p.Immutable, Data: p.Data}, nil
}

// kid returns the versioned key id on the request's origin.
func (rq *request) kid(name, version string) string {
	return rq.origin + "/keys/" + escapeName(name) + "/" + version
}

// baseID returns the version-less key id on the request's origin.
func (rq *request) baseID(name string) string {
	return rq.origin + "/keys/" + escapeName(name)
}

// keyBundle converts a key version to its wire form.
func (rq *request) keyBundle(kv vault.KeyVersion) KeyBundle {
	jwk := publicJWK(rq.kid(kv.Name, kv.Version), kv)
	b := KeyBundle{Key: &jwk, Attributes: rq.attributesOut(kv), Tags: tagsOut(kv.Tags)}
	if p := kv.ReleasePolicy; p != nil {
		ct := p.ContentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		imm := p.Immutable
		b.ReleasePolicy = &KeyReleasePolicy{ContentType: ct, Immutable: &imm, Data: p.Data}
	}
	return b
}

// keyItem converts a key version to a listing item with the given kid.
func (rq *request) keyItem(kv vault.KeyVersion, kid string) KeyItem {
	return KeyItem{KID: kid, Attributes: rq.attributesOut(kv), Tags: tagsOut(kv.Tags)}
}

// attributesOut converts a version's attributes; exportable is shown from
// api-version 7.3 on.
func (rq *request) attributesOut(kv vault.KeyVersion) *KeyAttributes {
	enabled, days := kv.Enabled, kv.RecoverableDays
	a := &KeyAttributes{
		Enabled:         &enabled,
		NotBefore:       unixTime(kv.NotBefore),
		Expires:         unixTime(kv.Expires),
		Created:         unixTimeOf(kv.Created),
		Updated:         unixTimeOf(kv.Updated),
		RecoverableDays: &days,
		RecoveryLevel:   kv.RecoveryLevel,
		LastUsed:        unixTime(kv.LastUsed),
		Provenance:      provenanceOut(kv.Provenance),
	}
	if rq.apiVersion >= v7_3 || kv.Exportable {
		exp := kv.Exportable
		a.Exportable = &exp
	}
	return a
}

// tagsOut returns tags, nil when empty so the field is omitted.
func tagsOut(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	return t
}

// escapeName escapes a key name for a URL path (a no-op for valid names).
func escapeName(name string) string { return url.PathEscape(name) }
