// Package keys is the crypto engine contract: key specifications, algorithms
// and the Provider interface that software and PKCS#11 engines implement.
//
// It knows nothing of HTTP, the wire format, the store or vaults. Inputs are
// raw bytes (digests, plaintexts); private material crosses this boundary
// only as secret.Bytes inside Material, which the caller seals before it is
// stored.
package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/internal/secret"
)

// Type is a key family, without protection level.
type Type string

// Key families.
const (
	RSA Type = "RSA"
	EC  Type = "EC"
	Oct Type = "oct"
)

// Curve is an elliptic curve name as JOSE spells it.
type Curve string

// Supported curves.
const (
	P256  Curve = "P-256"
	P384  Curve = "P-384"
	P521  Curve = "P-521"
	P256K Curve = "P-256K"
)

// Protection is where key material lives and is used.
type Protection string

// Protection levels.
const (
	Software Protection = "software"
	HSM      Protection = "hsm"
)

// Spec describes a key to generate or the shape of an existing key.
type Spec struct {
	// Type is the key family.
	Type Type
	// Size is the RSA modulus or AES key length in bits; zero for EC.
	Size int
	// Curve is the EC curve; empty for RSA and oct.
	Curve Curve
	// PublicExponent is the RSA public exponent; zero means 65537.
	PublicExponent int
	// Protection is software or hsm.
	Protection Protection
	// Owner namespaces provider-held key objects, e.g. by vault: an HSM
	// provider labels the objects it creates with it and refuses to Load
	// Material whose Owner differs from the one the objects were created
	// for. Empty is a valid owner. The software provider ignores it.
	Owner string
	// UnwrapOnly asks Generate (and an HSM provider's ImportWrapped, which
	// restores a backup) for an RSA key whose private key can only unwrap
	// keys (a BYOK key-exchange key): an HSM provider creates the private
	// object without decrypt, sign or derive permission, and not
	// modifiable. Other providers and key types ignore it; it is not
	// stored, and the Spec a provider returns does not carry it.
	UnwrapOnly bool
}

// SignatureAlgorithm is a JOSE signature algorithm name (RS256, ES256K, ...).
type SignatureAlgorithm string

// Signature algorithms.
const (
	RS256  SignatureAlgorithm = "RS256"
	RS384  SignatureAlgorithm = "RS384"
	RS512  SignatureAlgorithm = "RS512"
	PS256  SignatureAlgorithm = "PS256"
	PS384  SignatureAlgorithm = "PS384"
	PS512  SignatureAlgorithm = "PS512"
	ES256  SignatureAlgorithm = "ES256"
	ES384  SignatureAlgorithm = "ES384"
	ES512  SignatureAlgorithm = "ES512"
	ES256K SignatureAlgorithm = "ES256K"
)

// EncryptionAlgorithm is a JOSE key-encryption algorithm name (RSA-OAEP, ...).
type EncryptionAlgorithm string

// Encryption and key-wrap algorithms.
const (
	RSA15      EncryptionAlgorithm = "RSA1_5"
	RSAOAEP    EncryptionAlgorithm = "RSA-OAEP"
	RSAOAEP256 EncryptionAlgorithm = "RSA-OAEP-256"
)

// AES encryption and key-wrap algorithms of oct keys, as the wire format
// names them. The number is the AES key length in bits the algorithm
// requires; CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_PAD take any AES key.
const (
	// A128GCM, A192GCM and A256GCM are AES-GCM with a 12-byte nonce the
	// service generates and a 16-byte tag.
	A128GCM EncryptionAlgorithm = "A128GCM"
	A192GCM EncryptionAlgorithm = "A192GCM"
	A256GCM EncryptionAlgorithm = "A256GCM"
	// A128CBC, A192CBC and A256CBC are AES-CBC without padding, with a
	// 16-byte client IV.
	A128CBC EncryptionAlgorithm = "A128CBC"
	A192CBC EncryptionAlgorithm = "A192CBC"
	A256CBC EncryptionAlgorithm = "A256CBC"
	// A128CBCPAD, A192CBCPAD and A256CBCPAD are AES-CBC with PKCS#7
	// padding, with a 16-byte client IV.
	A128CBCPAD EncryptionAlgorithm = "A128CBCPAD"
	A192CBCPAD EncryptionAlgorithm = "A192CBCPAD"
	A256CBCPAD EncryptionAlgorithm = "A256CBCPAD"
	// A128KW, A192KW and A256KW are the AES key wrap of RFC 3394.
	A128KW EncryptionAlgorithm = "A128KW"
	A192KW EncryptionAlgorithm = "A192KW"
	A256KW EncryptionAlgorithm = "A256KW"
	// AESKeyWrap is CKM_AES_KEY_WRAP, the RFC 3394 key wrap with any AES
	// key length.
	AESKeyWrap EncryptionAlgorithm = "CKM_AES_KEY_WRAP"
	// AESKeyWrapPad is CKM_AES_KEY_WRAP_PAD, the RFC 5649 key wrap with
	// padding, with any AES key length.
	AESKeyWrapPad EncryptionAlgorithm = "CKM_AES_KEY_WRAP_PAD"
)

// CipherInput is the input of Encrypt and Decrypt.
type CipherInput struct {
	// Algorithm selects the construction.
	Algorithm EncryptionAlgorithm
	// Value is the plaintext (Encrypt) or ciphertext (Decrypt).
	Value []byte
	// IV, AAD and Tag are used by AES modes only.
	IV, AAD, Tag []byte
}

// CipherOutput is the result of Encrypt. Decrypt returns the plaintext only.
type CipherOutput struct {
	// Value is the ciphertext.
	Value []byte
	// IV, AAD and Tag are set by AES modes only.
	IV, AAD, Tag []byte
}

// Material is the provider's representation of one key version: the public
// half, and the private half as the provider needs it to load the key again
// (PKCS#8 DER for software keys; an object reference for HSM keys). The
// caller seals Private before storing it.
type Material struct {
	// Spec is the shape of the key (Size and Curve filled in).
	Spec Spec
	// Public is the public key: *rsa.PublicKey or *ECPublicKey; nil for oct.
	Public crypto.PublicKey
	// Private is the provider-specific private representation.
	Private secret.Bytes
}

// Provider creates and loads keys of one protection level. Implementations
// are safe for concurrent use.
type Provider interface {
	// Generate creates a new key. Errors: *InputError for an unsupported spec.
	Generate(ctx context.Context, spec Spec) (Material, error)
	// Import takes a private key given by a client (*rsa.PrivateKey,
	// *ECPrivateKey, or secret.Bytes for oct) and returns its Material.
	// It validates the key (RSA Validate, EC point on curve and matching D).
	// Errors: *InputError for an invalid or unsupported key.
	Import(ctx context.Context, spec Spec, private any) (Material, error)
	// Load turns stored Material into a usable Key. Errors: ErrCorrupt.
	Load(ctx context.Context, m Material) (Key, error)
}

// Destroyer is an optional capability of a Provider whose keys live
// outside the stored Material, in an HSM: Destroy removes the key objects
// that m refers to, for good. Destroying objects that are already gone is
// not an error. Keys loaded from m fail afterwards. Errors:
// ErrUnavailable (wrapped) when the provider cannot be reached, ErrCorrupt
// (wrapped) for Material that is not the provider's.
type Destroyer interface {
	Destroy(ctx context.Context, m Material) error
}

// Backuper is an optional capability of a Provider whose keys live
// outside the stored Material, in an HSM: it moves a key out of and back
// into the provider without its private part ever leaving the provider in
// plaintext.
type Backuper interface {
	// ExportWrapped returns the key that m refers to wrapped inside the
	// provider by a key that never leaves it, as a self-describing blob
	// that only ImportWrapped of a provider holding the same wrapping key
	// can use. Errors: ErrCorrupt (wrapped) for Material that is not the
	// provider's or whose objects are gone; ErrUnavailable (wrapped) when
	// the provider cannot be reached; *InputError when the provider cannot
	// wrap keys (no wrapping key).
	ExportWrapped(ctx context.Context, m Material) ([]byte, error)
	// ImportWrapped unwraps a blob of ExportWrapped inside the provider
	// into new key objects owned by spec.Owner and returns their Material,
	// as Generate does. spec.Type must be the blob's; its Size and Curve
	// are taken from the blob. Errors: ErrCorrupt (wrapped) for a blob that
	// is malformed, was altered or was wrapped by another wrapping key, or
	// whose key is not of spec.Type; ErrUnavailable (wrapped); *InputError
	// when the provider cannot unwrap keys or hold the key.
	ImportWrapped(ctx context.Context, spec Spec, wrapped []byte) (Material, error)
}

// TransferImporter is an optional capability of a Provider whose keys live
// in an HSM: bring-your-own-key import, where a key arrives wrapped for a
// key-exchange key (KEK) that the provider holds and is unwrapped inside
// it, so that its plaintext never exists outside the HSM.
type TransferImporter interface {
	// ImportTransfer unwraps wrapped, a CKM_RSA_AES_KEY_WRAP ciphertext
	// (RSA-OAEP with SHA-1 of an AES key under kek's public key, then the
	// RFC 5649 wrap of the target key: PKCS#8 for RSA and EC, raw bytes
	// for oct), inside the provider under kek's private key into new key
	// objects of type spec.Type owned by spec.Owner, and returns their
	// Material, as Generate does; Size and Curve are the unwrapped key's.
	// kek must be one of the provider's RSA keys. Every object created is
	// destroyed when the call fails.
	//
	// Errors: *InputError for a ciphertext not wrapped for kek, one that
	// was altered, a key that is not of spec.Type, or an unsupported size
	// or curve; ErrCorrupt (wrapped) for a kek that is not the provider's;
	// ErrUnavailable (wrapped) when the provider cannot be reached.
	ImportTransfer(ctx context.Context, spec Spec, kek Material, wrapped []byte) (Material, error)
}

// Key is a loaded key version, usable for cryptographic operations. Digest
// and length validation happen here and fail with *InputError.
type Key interface {
	// Spec returns the key's shape.
	Spec() Spec
	// Public returns the public key (*rsa.PublicKey or *ECPublicKey); nil
	// for oct keys.
	Public() crypto.PublicKey
	// Sign signs a caller-computed digest. ECDSA signatures are raw r||s at
	// full curve length; PSS salt length equals the hash length.
	Sign(ctx context.Context, alg SignatureAlgorithm, digest []byte) ([]byte, error)
	// Verify reports whether sig is a valid signature of digest. An invalid
	// signature is (false, nil), not an error.
	Verify(ctx context.Context, alg SignatureAlgorithm, digest, sig []byte) (bool, error)
	// Encrypt encrypts (or wraps) in.Value.
	Encrypt(ctx context.Context, in CipherInput) (CipherOutput, error)
	// Decrypt decrypts (or unwraps) in.Value. A failed decryption is an
	// *InputError that reveals nothing about the plaintext.
	Decrypt(ctx context.Context, in CipherInput) (secret.Bytes, error)
}

// InputError reports input a key cannot accept: wrong algorithm for the key
// type, digest of the wrong length, plaintext too long, failed decryption.
// Its message is safe to show to the client and never holds secret input.
type InputError struct {
	// Msg is the client-safe description.
	Msg string
}

func (e *InputError) Error() string { return e.Msg }

// Inputf returns an *InputError with a formatted message.
func Inputf(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// LeftoverError reports key objects that a failed provider call created
// and could not destroy, which the operator must remove. A provider joins
// it to the call's own error (errors.Join), which alone decides how the
// failure is answered; the caller finds it with errors.As and reports it.
// Its message names no key material.
type LeftoverError struct {
	// Op names the failed call.
	Op string
	// Err is the failure to destroy the objects.
	Err error
}

func (e *LeftoverError) Error() string {
	return "keys: " + e.Op + " failed and left key objects it could not destroy: " + e.Err.Error()
}

// ErrCorrupt reports stored material that cannot be loaded.
var ErrCorrupt = errors.New("keys: stored key material is corrupt")

// ErrUnavailable reports that the provider (an HSM) cannot serve right now;
// the request may be retried.
var ErrUnavailable = errors.New("keys: key provider unavailable")

// ECPublicKey is an elliptic-curve public key on any supported curve,
// including P-256K, which crypto/ecdsa does not offer.
type ECPublicKey struct {
	// Curve names the curve.
	Curve Curve
	// X and Y are the affine coordinates, big-endian, left-padded to the
	// curve's field length.
	X, Y []byte
}

// ECPrivateKey is an elliptic-curve private key given for import.
type ECPrivateKey struct {
	// Public is the public point.
	Public ECPublicKey
	// D is the private scalar, big-endian.
	D secret.Bytes
}
