package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// MarshalPublic encodes a public key for storage: PKIX (SubjectPublicKeyInfo)
// DER for *rsa.PublicKey and for NIST curves, given as *ECPublicKey or
// *ecdsa.PublicKey; the 65-byte uncompressed SEC 1 point 04||X||Y for
// P-256K, which PKIX parsers in the standard library do not know. A nil pub,
// the public half of an oct key, encodes as nil with no error. ParsePublic
// reverses it.
func MarshalPublic(pub crypto.PublicKey) ([]byte, error) {
	switch pub := pub.(type) {
	case nil:
		return nil, nil
	case *rsa.PublicKey:
		return x509.MarshalPKIXPublicKey(pub)
	case *ecdsa.PublicKey:
		ec, err := NewECPublicKey(pub)
		if err != nil {
			return nil, err
		}
		return MarshalPublic(ec)
	case *ECPublicKey:
		if pub.Curve == P256K {
			if _, err := ParseECPoint(P256K, pub.Bytes()); err != nil {
				return nil, err
			}
			return pub.Bytes(), nil
		}
		k, err := pub.ECDSA()
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKIXPublicKey(k)
	}
	return nil, fmt.Errorf("keys: cannot marshal public key of type %T", pub)
}

// ParsePublic decodes a public key encoded by MarshalPublic for a key of the
// given spec. The result is an *rsa.PublicKey (whose size must equal
// spec.Size when that is set) or an *ECPublicKey on spec.Curve with X and Y
// left-padded to CurveSize. For an oct spec it returns (nil, nil) if b is
// empty. Any other mismatch or malformed input is an error wrapping
// ErrCorrupt, since the input is stored data.
func ParsePublic(spec Spec, b []byte) (crypto.PublicKey, error) {
	switch spec.Type {
	case RSA:
		k, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: RSA public key: %w", ErrCorrupt, err)
		}
		pub, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: public key is %T, want RSA", ErrCorrupt, k)
		}
		if spec.Size != 0 && pub.N.BitLen() != spec.Size {
			return nil, fmt.Errorf("%w: RSA public key has %d bits, want %d", ErrCorrupt, pub.N.BitLen(), spec.Size)
		}
		return pub, nil
	case EC:
		if spec.Curve == P256K {
			pub, err := ParseECPoint(P256K, b)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return pub, nil
		}
		if EllipticCurve(spec.Curve) == nil {
			return nil, fmt.Errorf("%w: unsupported curve %.16q", ErrCorrupt, string(spec.Curve))
		}
		k, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: EC public key: %w", ErrCorrupt, err)
		}
		epub, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: public key is %T, want EC", ErrCorrupt, k)
		}
		pub, err := NewECPublicKey(epub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if pub.Curve != spec.Curve {
			return nil, fmt.Errorf("%w: public key is on curve %s, want %s", ErrCorrupt, pub.Curve, spec.Curve)
		}
		return pub, nil
	case Oct:
		if len(b) != 0 {
			return nil, fmt.Errorf("%w: oct key with a public key", ErrCorrupt)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %.16q", ErrCorrupt, string(spec.Type))
}

// EllipticCurve returns the crypto/elliptic curve named c, or nil for P-256K
// (which crypto/elliptic does not implement) and unsupported curves.
func EllipticCurve(c Curve) elliptic.Curve {
	switch c {
	case P256:
		return elliptic.P256()
	case P384:
		return elliptic.P384()
	case P521:
		return elliptic.P521()
	}
	return nil
}

// ParseECPoint parses an uncompressed SEC 1 point, 04||X||Y with X and Y at
// full CurveSize length, on curve c, and checks that it lies on the curve
// and is not the point at infinity. Compressed and hybrid encodings are
// refused. Errors do not include the input.
func ParseECPoint(c Curve, point []byte) (*ECPublicKey, error) {
	size := CurveSize(c)
	if size == 0 {
		return nil, fmt.Errorf("keys: unsupported curve %.16q", string(c))
	}
	if len(point) != 1+2*size || point[0] != 4 {
		return nil, fmt.Errorf("keys: %s public key is not a %d-byte uncompressed point", c, 1+2*size)
	}
	if c == P256K {
		if _, err := secp256k1.ParsePubKey(point); err != nil {
			return nil, errors.New("keys: P-256K public key is not a point on the curve")
		}
	} else if _, err := ecdsa.ParseUncompressedPublicKey(EllipticCurve(c), point); err != nil {
		return nil, fmt.Errorf("keys: %s public key is not a point on the curve", c)
	}
	return &ECPublicKey{
		Curve: c,
		X:     bytes.Clone(point[1 : 1+size]),
		Y:     bytes.Clone(point[1+size:]),
	}, nil
}

// NewECPublicKey converts an ECDSA public key on P-256, P-384 or P-521 to an
// *ECPublicKey. It fails for other curves and invalid points.
func NewECPublicKey(pub *ecdsa.PublicKey) (*ECPublicKey, error) {
	if pub == nil || pub.Curve == nil {
		return nil, errors.New("keys: nil ECDSA public key")
	}
	c := Curve(pub.Curve.Params().Name)
	if EllipticCurve(c) == nil {
		return nil, fmt.Errorf("keys: unsupported curve %.16q", string(c))
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("keys: invalid %s public key", c)
	}
	return ParseECPoint(c, point)
}

// Bytes returns k as an uncompressed SEC 1 point, 04||X||Y, with X and Y
// left-padded to CurveSize. It returns nil if k's curve is not supported or
// a coordinate is longer than the curve size. It does not check that the
// point is on the curve; ParseECPoint does.
func (k *ECPublicKey) Bytes() []byte {
	size := CurveSize(k.Curve)
	if size == 0 || len(k.X) > size || len(k.Y) > size {
		return nil
	}
	out := make([]byte, 1+2*size)
	out[0] = 4
	copy(out[1+size-len(k.X):1+size], k.X)
	copy(out[1+2*size-len(k.Y):], k.Y)
	return out
}

// ECDSA returns k as an *ecdsa.PublicKey. It fails for P-256K, which
// crypto/ecdsa does not support, and for points not on the curve.
func (k *ECPublicKey) ECDSA() (*ecdsa.PublicKey, error) {
	c := EllipticCurve(k.Curve)
	if c == nil {
		return nil, fmt.Errorf("keys: curve %.16q is not supported by crypto/ecdsa", string(k.Curve))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c, k.Bytes())
	if err != nil {
		return nil, fmt.Errorf("keys: %s public key is not a point on the curve", k.Curve)
	}
	return pub, nil
}

// Equal reports whether x is an *ECPublicKey for the same point on the same
// curve, ignoring leading zero padding of the coordinates.
func (k *ECPublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*ECPublicKey)
	if !ok || k.Curve != o.Curve {
		return false
	}
	kb, ob := k.Bytes(), o.Bytes()
	return kb != nil && bytes.Equal(kb, ob)
}

// PublicSpec returns the shape of a public key: Type and Size (and
// PublicExponent) for *rsa.PublicKey, Type and Curve for *ECPublicKey and
// *ecdsa.PublicKey. Protection is left empty. Other types are an error.
func PublicSpec(pub crypto.PublicKey) (Spec, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if pub == nil || pub.N == nil {
			return Spec{}, errors.New("keys: nil RSA public key")
		}
		return Spec{Type: RSA, Size: pub.N.BitLen(), PublicExponent: pub.E}, nil
	case *ECPublicKey:
		if pub == nil || CurveSize(pub.Curve) == 0 {
			return Spec{}, errors.New("keys: EC public key on an unsupported curve")
		}
		return Spec{Type: EC, Curve: pub.Curve}, nil
	case *ecdsa.PublicKey:
		if pub == nil || pub.Curve == nil {
			return Spec{}, errors.New("keys: nil ECDSA public key")
		}
		c := Curve(pub.Curve.Params().Name)
		if EllipticCurve(c) == nil {
			return Spec{}, fmt.Errorf("keys: unsupported curve %.16q", string(c))
		}
		return Spec{Type: EC, Curve: c}, nil
	}
	return Spec{}, fmt.Errorf("keys: unsupported public key type %T", pub)
}
