// Package software is the keys.Provider whose keys live in process memory:
// RSA (2048, 3072, 4096 bits), EC on P-256, P-384, P-521 and P-256K, and
// oct (AES 128, 192, 256 bits; generated and imported, but with no
// operations yet).
//
// Private material leaves the provider as keys.Material.Private, which the
// caller seals before it reaches a store: PKCS#8 DER for RSA and EC keys
// (for P-256K the id-ecPublicKey algorithm with the secp256k1 curve OID
// 1.3.132.0.10, as OpenSSL writes it), the raw key bytes for oct keys.
//
// Cryptography is the standard library's, except P-256K, which uses
// github.com/decred/dcrd/dcrec/secp256k1/v4. The package does no I/O and
// must not import anything above internal/keys.
package software

import (
	"context"
	"crypto/ecdsa"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
)

// RSA and oct defaults and limits.
const (
	// DefaultRSASize is the modulus length Generate uses when Spec.Size is
	// zero, as Azure Key Vault does.
	DefaultRSASize = 2048
	// MinImportRSASize is the smallest RSA modulus Import accepts.
	MinImportRSASize = 2048
	// MaxImportRSASize is the largest RSA modulus Import accepts; it bounds
	// the cost of validating and using a client-supplied key.
	MaxImportRSASize = 16384
	// DefaultOctSize is the AES key length Generate uses when Spec.Size is
	// zero.
	DefaultOctSize = 256
	// DefaultCurve is the curve Generate uses when Spec.Curve is empty, as
	// Azure Key Vault does.
	DefaultCurve = keys.P256
)

// Provider creates and loads software keys. It holds no keys itself: Load
// parses Material every time and the caller caches the Keys. A Provider is
// safe for concurrent use, and so are the Keys it returns.
type Provider struct {
	rand io.Reader
}

var _ keys.Provider = (*Provider)(nil)

// New returns a Provider that draws randomness from rand, normally
// crypto/rand.Reader; nil means crypto/rand.Reader. rand is used for P-256K
// and oct key generation and passed to the standard library for RSA and
// NIST EC generation, ECDSA nonces and padding, which since Go 1.26 ignores
// it unless GODEBUG=cryptocustomrand=1 is set.
func New(rand io.Reader) *Provider {
	if rand == nil {
		rand = cryptorand.Reader
	}
	return &Provider{rand: rand}
}

// Generate creates a new key. A zero Spec.Size means 2048 for RSA and 256
// for oct; an empty Spec.Curve means P-256. The returned Material.Spec is
// complete and has Protection software. Errors: *keys.InputError for an
// unsupported type, size, curve, public exponent (only 65537 is supported)
// or an HSM protection level.
func (p *Provider) Generate(ctx context.Context, spec keys.Spec) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	switch spec.Type {
	case keys.RSA:
		return p.generateRSA(spec)
	case keys.EC:
		return p.generateEC(spec)
	case keys.Oct:
		return p.generateOct(spec)
	}
	return keys.Material{}, keys.Inputf("Unsupported key type %.16q", string(spec.Type))
}

func (p *Provider) generateRSA(spec keys.Spec) (keys.Material, error) {
	size := spec.Size
	if size == 0 {
		size = DefaultRSASize
	}
	switch size {
	case 2048, 3072, 4096:
	default:
		return keys.Material{}, keys.Inputf("Unsupported RSA key size %d. Supported sizes are 2048, 3072 and 4096.", size)
	}
	if e := spec.PublicExponent; e != 0 && e != 65537 {
		return keys.Material{}, keys.Inputf("Unsupported RSA public exponent %d. Only 65537 is supported.", e)
	}
	priv, err := rsa.GenerateKey(p.rand, size)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: generate RSA key: %w", err)
	}
	return rsaMaterial(priv)
}

func (p *Provider) generateEC(spec keys.Spec) (keys.Material, error) {
	c := spec.Curve
	if c == "" {
		c = DefaultCurve
	}
	if c == keys.P256K {
		priv, err := secp256k1.GeneratePrivateKeyFromRand(p.rand)
		if err != nil {
			return keys.Material{}, fmt.Errorf("keys/software: generate P-256K key: %w", err)
		}
		defer priv.Zero()
		return secp256k1Material(priv)
	}
	curve := keys.EllipticCurve(c)
	if curve == nil {
		return keys.Material{}, keys.Inputf("Unsupported curve %.16q. Supported curves are P-256, P-384, P-521 and P-256K.", string(c))
	}
	priv, err := ecdsa.GenerateKey(curve, p.rand)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: generate %s key: %w", c, err)
	}
	return ecdsaMaterial(priv)
}

func (p *Provider) generateOct(spec keys.Spec) (keys.Material, error) {
	size := spec.Size
	if size == 0 {
		size = DefaultOctSize
	}
	if !validOctSize(size) {
		return keys.Material{}, keys.Inputf("Unsupported oct key size %d. Supported sizes are 128, 192 and 256.", size)
	}
	b := make([]byte, size/8)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: generate oct key: %w", err)
	}
	return octMaterial(secret.Own(b)), nil
}

// Import takes a client's private key and returns its Material. private is
// an *rsa.PrivateKey (with both primes; CRT values are recomputed), a
// *keys.ECPrivateKey (or keys.ECPrivateKey) or, for oct, a secret.Bytes of
// 16, 24 or 32 bytes. Import does not modify or retain private. Fields of
// spec that are set must agree with the key; empty ones are filled in.
//
// Errors: *keys.InputError for an RSA key shorter than 2048 or longer than
// 16384 bits, one that fails rsa.PrivateKey.Validate, an EC point that is
// not on its curve, a scalar out of range or not matching the point, a key
// that contradicts spec, or an unsupported key type. Messages never include
// key bytes.
func (p *Provider) Import(ctx context.Context, spec keys.Spec, private any) (keys.Material, error) {
	if err := checkProtection(spec); err != nil {
		return keys.Material{}, err
	}
	var (
		typ keys.Type
		imp func() (keys.Material, error)
	)
	switch k := private.(type) {
	case *rsa.PrivateKey:
		typ, imp = keys.RSA, func() (keys.Material, error) { return importRSA(spec, k) }
	case *keys.ECPrivateKey:
		typ, imp = keys.EC, func() (keys.Material, error) { return importEC(spec, k) }
	case keys.ECPrivateKey:
		typ, imp = keys.EC, func() (keys.Material, error) { return importEC(spec, &k) }
	case secret.Bytes:
		typ, imp = keys.Oct, func() (keys.Material, error) { return importOct(spec, k) }
	default:
		return keys.Material{}, keys.Inputf("Unsupported private key type %T", private)
	}
	if spec.Type != "" && spec.Type != typ {
		return keys.Material{}, keys.Inputf("The imported key is an %s key, not %.16q", typ, string(spec.Type))
	}
	return imp()
}

func importRSA(spec keys.Spec, k *rsa.PrivateKey) (keys.Material, error) {
	if k == nil || k.N == nil || k.D == nil || k.N.Sign() <= 0 {
		return keys.Material{}, keys.Inputf("The RSA private key is incomplete.")
	}
	bits := k.N.BitLen()
	switch {
	case bits < MinImportRSASize:
		return keys.Material{}, keys.Inputf("Unsupported RSA key size %d. Imported RSA keys must have at least %d bits.", bits, MinImportRSASize)
	case bits > MaxImportRSASize:
		return keys.Material{}, keys.Inputf("Unsupported RSA key size %d. Imported RSA keys must have at most %d bits.", bits, MaxImportRSASize)
	case spec.Size != 0 && spec.Size != bits:
		return keys.Material{}, keys.Inputf("The RSA key has %d bits, not %d.", bits, spec.Size)
	case spec.PublicExponent != 0 && spec.PublicExponent != k.E:
		return keys.Material{}, keys.Inputf("The RSA key's public exponent is %d, not %d.", k.E, spec.PublicExponent)
	}
	if len(k.Primes) != 2 || k.Primes[0] == nil || k.Primes[1] == nil {
		return keys.Material{}, keys.Inputf("The RSA private key must include its two prime factors.")
	}
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Set(k.N), E: k.E},
		D:         new(big.Int).Set(k.D),
		Primes:    []*big.Int{new(big.Int).Set(k.Primes[0]), new(big.Int).Set(k.Primes[1])},
	}
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		// The error text of crypto/rsa holds no key material, but a fixed
		// message keeps that a local guarantee.
		return keys.Material{}, keys.Inputf("The RSA private key is invalid: its components are inconsistent.")
	}
	return rsaMaterial(priv)
}

func importEC(spec keys.Spec, k *keys.ECPrivateKey) (keys.Material, error) {
	if k == nil {
		return keys.Material{}, keys.Inputf("The EC private key is incomplete.")
	}
	c := k.Public.Curve
	size := keys.CurveSize(c)
	switch {
	case size == 0:
		return keys.Material{}, keys.Inputf("Unsupported curve %.16q. Supported curves are P-256, P-384, P-521 and P-256K.", string(c))
	case spec.Curve != "" && spec.Curve != c:
		return keys.Material{}, keys.Inputf("The EC key is on curve %s, not %.16q.", c, string(spec.Curve))
	case len(k.Public.X) == 0 || len(k.Public.Y) == 0 || len(k.Public.X) > size || len(k.Public.Y) > size:
		return keys.Material{}, keys.Inputf("Invalid EC public key: 'x' and 'y' must be %d bytes for curve %s.", size, c)
	case k.D.Len() == 0 || k.D.Len() > size:
		return keys.Material{}, keys.Inputf("Invalid EC private key: 'd' must be %d bytes for curve %s.", size, c)
	}
	pub, err := keys.ParseECPoint(c, k.Public.Bytes())
	if err != nil {
		return keys.Material{}, keys.Inputf("Invalid EC public key: the point is not on curve %s.", c)
	}
	d := make([]byte, size)
	defer clear(d)
	copy(d[size-k.D.Len():], k.D.Expose())

	if c == keys.P256K {
		var s secp256k1.ModNScalar
		defer s.Zero()
		if s.SetByteSlice(d) || s.IsZero() {
			return keys.Material{}, keys.Inputf("Invalid EC private key: 'd' is out of range for curve %s.", c)
		}
		priv := secp256k1.NewPrivateKey(&s)
		defer priv.Zero()
		if !pub.Equal(secp256k1Public(priv)) {
			return keys.Material{}, keys.Inputf("Invalid EC private key: 'd' does not match the public point.")
		}
		return secp256k1Material(priv)
	}
	priv, err := ecdsa.ParseRawPrivateKey(keys.EllipticCurve(c), d)
	if err != nil {
		return keys.Material{}, keys.Inputf("Invalid EC private key: 'd' is out of range for curve %s.", c)
	}
	derived, err := keys.NewECPublicKey(&priv.PublicKey)
	if err != nil || !pub.Equal(derived) {
		return keys.Material{}, keys.Inputf("Invalid EC private key: 'd' does not match the public point.")
	}
	return ecdsaMaterial(priv)
}

func importOct(spec keys.Spec, k secret.Bytes) (keys.Material, error) {
	bits := 8 * k.Len()
	switch {
	case !validOctSize(bits):
		return keys.Material{}, keys.Inputf("Unsupported oct key size %d. Supported sizes are 128, 192 and 256.", bits)
	case spec.Size != 0 && spec.Size != bits:
		return keys.Material{}, keys.Inputf("The oct key has %d bits, not %d.", bits, spec.Size)
	}
	return octMaterial(secret.New(k.Expose())), nil
}

// Load parses Material made by Generate or Import into a Key. It checks the
// private half against m.Spec (type, size, curve) and against m.Public when
// that is set. It does not retain m.Private, which the caller may clear once
// Load returns, and caches nothing.
//
// Errors: keys.ErrCorrupt (wrapped, with a reason that holds no key bytes)
// for material that does not parse or does not match its spec.
func (p *Provider) Load(ctx context.Context, m keys.Material) (keys.Key, error) {
	switch m.Spec.Type {
	case keys.RSA:
		return p.loadRSA(m)
	case keys.EC:
		if m.Spec.Curve == keys.P256K {
			return loadSecp256k1(m)
		}
		return p.loadECDSA(m)
	case keys.Oct:
		return loadOct(m)
	}
	return nil, corrupt("unsupported key type")
}

func (p *Provider) loadRSA(m keys.Material) (keys.Key, error) {
	k, err := x509.ParsePKCS8PrivateKey(m.Private.Expose())
	if err != nil {
		return nil, corrupt("RSA private key does not parse as PKCS#8")
	}
	priv, ok := k.(*rsa.PrivateKey)
	switch {
	case !ok:
		return nil, corrupt("private key is not an RSA key")
	case m.Spec.Size != 0 && m.Spec.Size != priv.N.BitLen():
		return nil, corrupt("RSA key size does not match its spec")
	case m.Public != nil && !priv.PublicKey.Equal(m.Public):
		return nil, corrupt("RSA private key does not match its public key")
	}
	return &rsaKey{base: base{rsaSpec(priv)}, priv: priv, rand: p.rand}, nil
}

func (p *Provider) loadECDSA(m keys.Material) (keys.Key, error) {
	k, err := x509.ParsePKCS8PrivateKey(m.Private.Expose())
	if err != nil {
		return nil, corrupt("EC private key does not parse as PKCS#8")
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, corrupt("private key is not an EC key")
	}
	pub, err := keys.NewECPublicKey(&priv.PublicKey)
	switch {
	case err != nil:
		return nil, corrupt("EC private key is on an unsupported curve")
	case pub.Curve != m.Spec.Curve:
		return nil, corrupt("EC key curve does not match its spec")
	case m.Public != nil && !pub.Equal(m.Public):
		return nil, corrupt("EC private key does not match its public key")
	}
	return &ecdsaKey{base: base{ecSpec(pub.Curve)}, priv: priv, pub: pub, rand: p.rand}, nil
}

func loadSecp256k1(m keys.Material) (keys.Key, error) {
	priv, err := parseSecp256k1(m.Private.Expose())
	if err != nil {
		return nil, err
	}
	pub := secp256k1Public(priv)
	if m.Public != nil && !pub.Equal(m.Public) {
		priv.Zero()
		return nil, corrupt("P-256K private key does not match its public key")
	}
	return &secp256k1Key{base: base{ecSpec(keys.P256K)}, priv: priv, pub: pub}, nil
}

func loadOct(m keys.Material) (keys.Key, error) {
	bits := 8 * m.Private.Len()
	switch {
	case !validOctSize(bits):
		return nil, corrupt("oct key has an unsupported length")
	case m.Spec.Size != 0 && m.Spec.Size != bits:
		return nil, corrupt("oct key size does not match its spec")
	case m.Public != nil:
		return nil, corrupt("oct key with a public key")
	}
	return &octKey{base: base{octSpec(bits)}, key: secret.New(m.Private.Expose())}, nil
}

// rsaMaterial encodes priv as PKCS#8.
func rsaMaterial(priv *rsa.PrivateKey) (keys.Material, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: encode RSA key: %w", err)
	}
	return keys.Material{
		Spec:    rsaSpec(priv),
		Public:  copyRSAPublic(&priv.PublicKey),
		Private: secret.Own(der),
	}, nil
}

// ecdsaMaterial encodes priv as PKCS#8.
func ecdsaMaterial(priv *ecdsa.PrivateKey) (keys.Material, error) {
	pub, err := keys.NewECPublicKey(&priv.PublicKey)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: encode EC key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: encode EC key: %w", err)
	}
	return keys.Material{Spec: ecSpec(pub.Curve), Public: pub, Private: secret.Own(der)}, nil
}

// secp256k1Material encodes priv as PKCS#8 with the secp256k1 curve OID.
func secp256k1Material(priv *secp256k1.PrivateKey) (keys.Material, error) {
	der, err := marshalSecp256k1(priv)
	if err != nil {
		return keys.Material{}, fmt.Errorf("keys/software: encode P-256K key: %w", err)
	}
	return keys.Material{Spec: ecSpec(keys.P256K), Public: secp256k1Public(priv), Private: secret.Own(der)}, nil
}

// octMaterial wraps k, which it takes ownership of.
func octMaterial(k secret.Bytes) keys.Material {
	return keys.Material{Spec: octSpec(8 * k.Len()), Private: k}
}

func rsaSpec(priv *rsa.PrivateKey) keys.Spec {
	return keys.Spec{Type: keys.RSA, Size: priv.N.BitLen(), PublicExponent: priv.E, Protection: keys.Software}
}

func ecSpec(c keys.Curve) keys.Spec {
	return keys.Spec{Type: keys.EC, Curve: c, Protection: keys.Software}
}

func octSpec(bits int) keys.Spec {
	return keys.Spec{Type: keys.Oct, Size: bits, Protection: keys.Software}
}

func validOctSize(bits int) bool { return bits == 128 || bits == 192 || bits == 256 }

// checkProtection refuses specs that ask for anything but software keys.
func checkProtection(spec keys.Spec) error {
	if spec.Protection != "" && spec.Protection != keys.Software {
		return keys.Inputf("The software key provider cannot hold keys with protection %.16q.", string(spec.Protection))
	}
	return nil
}

// corrupt returns keys.ErrCorrupt wrapped with a fixed reason.
func corrupt(reason string) error {
	return fmt.Errorf("%w: %s", keys.ErrCorrupt, reason)
}

func copyRSAPublic(pub *rsa.PublicKey) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).Set(pub.N), E: pub.E}
}
