//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/big"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// key is a loaded HSM key: a reference to its token objects and the
// public key read from the token. It is safe for concurrent use.
type key struct {
	p    *Provider
	r    ref
	spec keys.Spec
	pub  crypto.PublicKey // *rsa.PublicKey or *keys.ECPublicKey; nil for oct
}

// Spec returns the key's shape.
func (k *key) Spec() keys.Spec { return k.spec }

// Public returns a copy of the public key read from the token, or nil for
// an oct key.
func (k *key) Public() crypto.PublicKey {
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		return &rsa.PublicKey{N: new(big.Int).Set(pub.N), E: pub.E}
	case *keys.ECPublicKey:
		return &keys.ECPublicKey{Curve: pub.Curve, X: append([]byte(nil), pub.X...), Y: append([]byte(nil), pub.Y...)}
	}
	return nil
}

// String describes the key without key material, e.g. "hsm RSA-2048 key
// kw/vault1/0f…".
func (k *key) String() string {
	if k.spec.Type == keys.EC {
		return fmt.Sprintf("hsm EC %s key %s", k.spec.Curve, k.r.label())
	}
	return fmt.Sprintf("hsm %s-%d key %s", k.spec.Type, k.spec.Size, k.r.label())
}

// GoString describes the key like String.
func (k *key) GoString() string { return k.String() }

// Format writes String for every verb and flag.
func (k *key) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue describes the key to log/slog like String.
func (k *key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// do runs fn in a session with the handle of the key's private (or
// secret) object. If the handle has gone stale, it looks the object up
// again and retries once.
func (k *key) do(ctx context.Context, op string, fn func(sh p11.SessionHandle, h p11.ObjectHandle) error) error {
	var err error
	for range 2 {
		err = k.p.session(ctx, op, func(sh p11.SessionHandle) error {
			o, err := k.p.lookup(sh, k.r, k.spec.Type)
			if err != nil {
				return err
			}
			return fn(sh, o.priv)
		})
		if err == nil || classify(err) != kindHandle {
			return err
		}
		k.p.forget(k.r)
	}
	return fmt.Errorf("pkcs11: %s: %w", op, err)
}

// Sign signs a caller-computed digest inside the token: RS* as
// CKM_RSA_PKCS over the DigestInfo, PS* as CKM_RSA_PKCS_PSS with MGF1 over
// the same hash and a salt as long as the hash, ES* as CKM_ECDSA (raw
// r||s; for ES256K with S normalized to the lower half of the order).
func (k *key) Sign(ctx context.Context, alg keys.SignatureAlgorithm, digest []byte) ([]byte, error) {
	if err := keys.CheckSignatureAlgorithm(k.spec, alg); err != nil {
		return nil, err
	}
	if err := keys.CheckDigest(alg, "value", digest); err != nil {
		return nil, err
	}
	h := alg.Hash()
	var (
		mech  *p11.Mechanism
		input = digest
	)
	switch alg {
	case keys.RS256, keys.RS384, keys.RS512:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
		input = append(digestInfoPrefix(h), digest...)
	case keys.PS256, keys.PS384, keys.PS512:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(hashMech(h), mgfOf(h), uint(h.Size())))
	default:
		if k.spec.Curve == keys.P256K && !k.p.routes.secp256k1 {
			return nil, errNoSecp256k1()
		}
		mech = p11.NewMechanism(p11.CKM_ECDSA, nil)
	}
	var sig []byte
	err := k.do(ctx, "sign", func(sh p11.SessionHandle, priv p11.ObjectHandle) error {
		if err := k.p.m.SignInit(sh, []*p11.Mechanism{mech}, priv); err != nil {
			return fmt.Errorf("C_SignInit: %w", err)
		}
		var err error
		if sig, err = k.p.m.Sign(sh, input); err != nil {
			return fmt.Errorf("C_Sign: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if k.spec.Type == keys.EC {
		if size := keys.CurveSize(k.spec.Curve); len(sig) != 2*size {
			return nil, fmt.Errorf("pkcs11: %s signature from the token has %d bytes, want %d", alg, len(sig), 2*size)
		}
		if k.spec.Curve == keys.P256K {
			lowS(sig)
		}
	}
	return sig, nil
}

// secp256k1N is the order of the secp256k1 group.
var secp256k1N, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

// lowS replaces S in the raw secp256k1 signature r||s by n-S if S is in
// the upper half of the order (BIP 62), as the software provider signs.
func lowS(sig []byte) {
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(new(big.Int).Rsh(secp256k1N, 1)) > 0 {
		s.Sub(secp256k1N, s).FillBytes(sig[32:])
	}
}

// hashMech returns the PKCS#11 mechanism of hash h.
func hashMech(h crypto.Hash) uint {
	switch h {
	case crypto.SHA1:
		return p11.CKM_SHA_1
	case crypto.SHA256:
		return p11.CKM_SHA256
	case crypto.SHA384:
		return p11.CKM_SHA384
	}
	return p11.CKM_SHA512
}

// mgfOf returns the PKCS#11 MGF1 identifier over hash h.
func mgfOf(h crypto.Hash) uint {
	switch h {
	case crypto.SHA1:
		return p11.CKG_MGF1_SHA1
	case crypto.SHA256:
		return p11.CKG_MGF1_SHA256
	case crypto.SHA384:
		return p11.CKG_MGF1_SHA384
	}
	return p11.CKG_MGF1_SHA512
}

// Verify checks sig with keys.VerifyPublic and the public key read from
// the token. Oct keys do not verify.
func (k *key) Verify(ctx context.Context, alg keys.SignatureAlgorithm, digest, sig []byte) (bool, error) {
	if k.spec.Type == keys.Oct {
		return false, refuseSignature(k.spec, alg)
	}
	return keys.VerifyPublic(k.pub, alg, digest, sig)
}

// Encrypt encrypts with the public key in Go (keys.EncryptPublic) for RSA
// keys, which is equivalent and needs no token operation, and inside the
// token for oct keys (see encryptAES). EC keys do not encrypt.
func (k *key) Encrypt(ctx context.Context, in keys.CipherInput) (keys.CipherOutput, error) {
	switch k.spec.Type {
	case keys.RSA:
		if isAES(in.Algorithm) {
			return keys.CipherOutput{}, keys.Inputf("Algorithm %s is not valid for an RSA key", in.Algorithm)
		}
		return keys.EncryptPublic(k.p.rand, k.pub, in)
	case keys.Oct:
		return k.encryptAES(ctx, in)
	}
	return keys.CipherOutput{}, refuseCipher(k.spec, in.Algorithm)
}

// Decrypt decrypts inside the token: RSA1_5 with CKM_RSA_PKCS, RSA-OAEP with
// CKM_RSA_PKCS_OAEP (SHA-1), RSA-OAEP-256 with CKM_RSA_PKCS_OAEP (SHA-256)
// where the token has it, else with the raw private operation
// CKM_RSA_X_509 and OAEP decoding in Go; AES modes for oct keys (see
// decryptAES). Every failed decryption is the same *keys.InputError.
func (k *key) Decrypt(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	switch k.spec.Type {
	case keys.RSA:
		return k.decryptRSA(ctx, in)
	case keys.Oct:
		return k.decryptAES(ctx, in)
	}
	return secret.Bytes{}, refuseCipher(k.spec, in.Algorithm)
}

func (k *key) decryptRSA(ctx context.Context, in keys.CipherInput) (secret.Bytes, error) {
	if isAES(in.Algorithm) {
		return secret.Bytes{}, keys.Inputf("Algorithm %s is not valid for an RSA key", in.Algorithm)
	}
	if err := keys.CheckEncryptionAlgorithm(k.spec, in.Algorithm); err != nil {
		return secret.Bytes{}, err
	}
	n := k.pub.(*rsa.PublicKey).Size()
	if len(in.Value) != n {
		return secret.Bytes{}, keys.Inputf("Invalid length of 'value': %d bytes. %s with a %d-bit key requires %d bytes, encoded with base64url.",
			len(in.Value), in.Algorithm, k.spec.Size, n)
	}
	construct := in.Algorithm == keys.RSAOAEP256 && !k.p.routes.oaep256
	var mech *p11.Mechanism
	switch {
	case in.Algorithm == keys.RSA15:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
	case in.Algorithm == keys.RSAOAEP:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, p11.CKZ_DATA_SPECIFIED, nil))
	case construct:
		mech = p11.NewMechanism(p11.CKM_RSA_X_509, nil)
	default:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, p11.CKZ_DATA_SPECIFIED, nil))
	}
	var out []byte
	failed := false
	err := k.do(ctx, "decrypt", func(sh p11.SessionHandle, priv p11.ObjectHandle) error {
		if err := k.p.m.DecryptInit(sh, []*p11.Mechanism{mech}, priv); err != nil {
			return fmt.Errorf("C_DecryptInit: %w", err)
		}
		var err error
		out, err = k.p.m.Decrypt(sh, in.Value)
		if err != nil {
			// SoftHSM reports bad padding as CKR_GENERAL_ERROR, so after a
			// successful C_DecryptInit that too means a bad ciphertext.
			if kind := classify(err); kind == kindInput || err == p11.Error(p11.CKR_GENERAL_ERROR) {
				failed = true
				return nil
			}
			return fmt.Errorf("C_Decrypt: %w", err)
		}
		return nil
	})
	if err != nil {
		return secret.Bytes{}, err
	}
	if failed {
		return secret.Bytes{}, errDecryption()
	}
	if !construct {
		return secret.Own(out), nil
	}
	// out is the raw RSA output; OpenSSL gives all n bytes, but pad in
	// case a token strips leading zeros.
	em := make([]byte, n)
	copy(em[n-min(len(out), n):], out[max(len(out)-n, 0):])
	clear(out)
	defer clear(em)
	msg, err := decodeOAEP(sha256.New(), em, n, nil)
	if err != nil {
		return secret.Bytes{}, errDecryption()
	}
	return secret.New(msg), nil
}

// errDecryption is the one error for a ciphertext that does not decrypt,
// worded as the software provider's.
func errDecryption() error {
	return &keys.InputError{Msg: "Decryption failed: the ciphertext is not valid for this key and algorithm."}
}

// refuseCipher returns the *keys.InputError for an encryption algorithm a
// key without encryption support (EC) is asked to use.
func refuseCipher(spec keys.Spec, alg keys.EncryptionAlgorithm) error {
	if isAES(alg) {
		return keys.Inputf("Algorithm %s is not valid for %s", alg, article(spec))
	}
	if err := keys.CheckEncryptionAlgorithm(spec, alg); err != nil {
		return err
	}
	return keys.Inputf("Algorithm %s is not supported by this key", alg)
}

// refuseSignature returns the *keys.InputError for a signature algorithm an
// oct key is asked to use.
func refuseSignature(spec keys.Spec, alg keys.SignatureAlgorithm) error {
	if err := keys.CheckSignatureAlgorithm(spec, alg); err != nil {
		return err
	}
	return keys.Inputf("Algorithm %s is not supported by this key", alg)
}

// article names the kind of key with its article, as keys does.
func article(spec keys.Spec) string {
	switch spec.Type {
	case keys.RSA, keys.EC, keys.Oct:
		return fmt.Sprintf("an %s key", spec.Type)
	}
	return "this key"
}
