package keys

import (
	"crypto/elliptic"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Generator returns the base point of curve c as an uncompressed SEC 1
// point, 04||X||Y. Errors: an unsupported curve.
func Generator(c Curve) ([]byte, error) {
	size := CurveSize(c)
	if size == 0 {
		return nil, fmt.Errorf("keys: unsupported curve %.16q", string(c))
	}
	out := make([]byte, 1+2*size)
	out[0] = 4
	if c == P256K {
		p := secp256k1.Params()
		p.Gx.FillBytes(out[1 : 1+size])
		p.Gy.FillBytes(out[1+size:])
		return out, nil
	}
	p := EllipticCurve(c).Params()
	p.Gx.FillBytes(out[1 : 1+size])
	p.Gy.FillBytes(out[1+size:])
	return out, nil
}

// PointsWithX returns the points of curve c whose affine X coordinate is x
// (big-endian, at most CurveSize bytes): the two points ±(x, y), or none
// when x is no point's X coordinate.
func PointsWithX(c Curve, x []byte) []*ECPublicKey {
	size := CurveSize(c)
	if size == 0 || len(x) > size {
		return nil
	}
	var out []*ECPublicKey
	for _, prefix := range []byte{2, 3} {
		comp := make([]byte, 1+size)
		comp[0] = prefix
		copy(comp[1+size-len(x):], x)
		var uncompressed []byte
		if c == P256K {
			k, err := secp256k1.ParsePubKey(comp)
			if err != nil {
				continue
			}
			uncompressed = k.SerializeUncompressed()
		} else {
			cv := EllipticCurve(c)
			px, py := elliptic.UnmarshalCompressed(cv, comp)
			if px == nil {
				continue
			}
			uncompressed = make([]byte, 1+2*size)
			uncompressed[0] = 4
			px.FillBytes(uncompressed[1 : 1+size])
			py.FillBytes(uncompressed[1+size:])
		}
		if k, err := ParseECPoint(c, uncompressed); err == nil {
			out = append(out, k)
		}
	}
	return out
}
