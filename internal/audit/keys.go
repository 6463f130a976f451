package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"

	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/store"
)

// SigningKeyBlob is the store blob holding the sealed audit signing key.
const SigningKeyBlob = "audit-signing-key"

// signingKeyAAD binds the sealed signing key to its purpose.
var signingKeyAAD = []byte("keywarden/audit-signing-key/v1")

// SigningKeyAAD returns the additional data the signing key is sealed
// with (for re-sealing it under a new root key).
func SigningKeyAAD() []byte { return append([]byte(nil), signingKeyAAD...) }

// Sealer seals the signing key under the root key (a seal.Sealer).
type Sealer interface {
	// Seal encrypts plaintext bound to aad.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open decrypts a record sealed with the same aad.
	Open(sealed, aad []byte) (secret.Bytes, error)
}

// LoadOrCreateSigningKey returns the deployment's audit signing key: an
// ECDSA P-256 key generated on first use, sealed by sealer and kept in the
// store blob SigningKeyBlob.
func LoadOrCreateSigningKey(ctx context.Context, st store.Store, sealer Sealer) (*ecdsa.PrivateKey, error) {
	var key *ecdsa.PrivateKey
	err := st.Update(ctx, func(tx store.Tx) error {
		key = nil
		sealed, err := tx.Blob(SigningKeyBlob)
		if err == nil {
			der, err := sealer.Open(sealed, signingKeyAAD)
			if err != nil {
				return fmt.Errorf("audit: opening the signing key: %w", err)
			}
			defer der.Clear()
			k, err := x509.ParsePKCS8PrivateKey(der.Expose())
			if err != nil {
				return fmt.Errorf("audit: parsing the signing key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok || ek.Curve != elliptic.P256() {
				return errors.New("audit: the stored signing key is not ECDSA P-256")
			}
			key = ek
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return err
		}
		sealed, err = sealer.Seal(der, signingKeyAAD)
		clear(der)
		if err != nil {
			return err
		}
		key = k
		return tx.PutBlob(SigningKeyBlob, sealed)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// PublicJWK returns the JWK of an audit signing key (alg ES256, use sig,
// kid its RFC 7638 thumbprint) and the kid.
func PublicJWK(pub *ecdsa.PublicKey) ([]byte, string, error) {
	k := jose.JSONWebKey{Key: pub, Algorithm: "ES256", Use: "sig"}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", fmt.Errorf("audit: key thumbprint: %w", err)
	}
	k.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	b, err := json.Marshal(k)
	if err != nil {
		return nil, "", err
	}
	return b, k.KeyID, nil
}

// JWKS returns the key set of public keys to publish (GET /audit/v1/keys).
func JWKS(pub *ecdsa.PublicKey) (jose.JSONWebKeySet, error) {
	b, _, err := PublicJWK(pub)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}}, nil
}

// LoadPublicKeys reads ECDSA public keys from a JWK or JWKS file.
func LoadPublicKeys(path string) ([]*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if json.Unmarshal(b, &set) != nil || len(set.Keys) == 0 {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("audit: %s is neither a JWK nor a JWKS: %w", path, err)
		}
		set.Keys = []jose.JSONWebKey{k}
	}
	var out []*ecdsa.PublicKey
	for _, k := range set.Keys {
		switch p := k.Key.(type) {
		case *ecdsa.PublicKey:
			out = append(out, p)
		case *ecdsa.PrivateKey:
			out = append(out, &p.PublicKey)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit: %s holds no ECDSA public key", path)
	}
	return out, nil
}
