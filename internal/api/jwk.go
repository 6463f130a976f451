package api

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

// Base64URL is a byte string on the wire: encoded as base64url without
// padding (azkeys refuses any "="), decoded leniently (padding and the
// standard alphabet are accepted). A nil value encodes as "" — never null —
// and is omitted by omitempty.
type Base64URL []byte

// MarshalJSON encodes b as a base64url string without padding.
func (b Base64URL) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// errBase64 is the refusal of a malformed byte field. It quotes nothing: the
// field may hold key material.
var errBase64 = &httpError{status: http.StatusBadRequest, code: "BadParameter", msg: "A property holds an invalid base64url value."}

// UnmarshalJSON decodes a base64url (or base64) string; null gives nil.
func (b *Base64URL) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return errBase64
	}
	s := data[1 : len(data)-1]
	if bytes.IndexByte(s, '\\') >= 0 { // JSON escapes such as \/ or \u002b
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return errBase64
		}
		s = []byte(str)
	}
	out, err := decodeBase64URL(s)
	if err != nil {
		return errBase64
	}
	*b = out
	return nil
}

// decodeBase64URL decodes base64url or standard base64, with or without
// padding. The result is never nil (an empty input gives an empty slice).
func decodeBase64URL(s []byte) ([]byte, error) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if bytes.ContainsAny(s, "+/") {
		t := make([]byte, len(s))
		for i, c := range s {
			switch c {
			case '+':
				c = '-'
			case '/':
				c = '_'
			}
			t[i] = c
		}
		s = t
	}
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(s)))
	n, err := base64.RawURLEncoding.Decode(out, s)
	if err != nil {
		clear(out)
		return nil, err
	}
	return out[:n], nil
}

// UnixTime is a timestamp on the wire: integer Unix seconds (azkeys refuses
// fractions and exponents). Decoding also accepts a fractional number,
// truncated.
type UnixTime int64

// UnmarshalJSON decodes an integer or, leniently, a fractional number.
func (t *UnixTime) UnmarshalJSON(data []byte) error {
	if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
		*t = UnixTime(n)
		return nil
	}
	f, err := strconv.ParseFloat(string(data), 64)
	if err != nil || math.IsNaN(f) || f > 1<<53 || f < -(1<<53) {
		return badParameter("A time property is not a number of Unix seconds.")
	}
	*t = UnixTime(int64(f))
	return nil
}

// unixTime returns t as a wire time, nil for nil.
func unixTime(t *time.Time) *UnixTime {
	if t == nil {
		return nil
	}
	u := UnixTime(t.Unix())
	return &u
}

// unixTimeOf returns t as a wire time, nil for the zero time.
func unixTimeOf(t time.Time) *UnixTime {
	if t.IsZero() {
		return nil
	}
	u := UnixTime(t.Unix())
	return &u
}

// Time returns t as a UTC time, nil for nil.
func (t *UnixTime) Time() *time.Time {
	if t == nil {
		return nil
	}
	v := time.Unix(int64(*t), 0).UTC()
	return &v
}

// JSONWebKey is Azure's JsonWebKey. Private members (d, dp, dq, qi, p, q, k)
// and key_hsm are request-only (import) and never sent.
type JSONWebKey struct {
	// KID is the key identifier, {origin}/keys/{name}/{version}.
	KID string `json:"kid,omitempty"`
	// KTY is RSA, EC or oct, with a -HSM suffix for HSM protection.
	KTY string `json:"kty,omitempty"`
	// KeyOps are the permitted operations.
	KeyOps []string `json:"key_ops,omitempty"`
	// N and E are the RSA modulus and public exponent.
	N Base64URL `json:"n,omitempty"`
	E Base64URL `json:"e,omitempty"`
	// D is the RSA or EC private exponent (import only).
	D Base64URL `json:"d,omitempty"`
	// DP, DQ, QI, P and Q are RSA private members (import only).
	DP Base64URL `json:"dp,omitempty"`
	DQ Base64URL `json:"dq,omitempty"`
	QI Base64URL `json:"qi,omitempty"`
	P  Base64URL `json:"p,omitempty"`
	Q  Base64URL `json:"q,omitempty"`
	// K is a symmetric key (import only).
	K Base64URL `json:"k,omitempty"`
	// T is a BYOK transfer blob, "key_hsm" on the wire (import only).
	T Base64URL `json:"key_hsm,omitempty"`
	// Crv, X and Y are the EC curve and public point.
	Crv string    `json:"crv,omitempty"`
	X   Base64URL `json:"x,omitempty"`
	Y   Base64URL `json:"y,omitempty"`
}

// String describes k without any key material.
func (k JSONWebKey) String() string { return "JSONWebKey{kid=" + k.KID + " kty=" + k.KTY + "}" }

// GoString describes k without any key material.
func (k JSONWebKey) GoString() string { return k.String() }

// LogValue describes k without any key material.
func (k JSONWebKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("kty", k.KTY))
}

// clearPrivate overwrites the private members (best effort).
func (k *JSONWebKey) clearPrivate() {
	for _, b := range [][]byte{k.D, k.DP, k.DQ, k.QI, k.P, k.Q, k.K, k.T} {
		clear(b)
	}
}

// parseKeyType maps a wire kty to a key family and protection level.
func parseKeyType(kty string) (keys.Type, keys.Protection, error) {
	base, prot := kty, keys.Software
	if n := len(kty) - len("-HSM"); n > 0 && strings.EqualFold(kty[n:], "-HSM") {
		base, prot = kty[:n], keys.HSM
	}
	switch {
	case strings.EqualFold(base, "RSA"):
		return keys.RSA, prot, nil
	case strings.EqualFold(base, "EC"):
		return keys.EC, prot, nil
	case strings.EqualFold(base, "oct"):
		return keys.Oct, prot, nil
	}
	if kty == "" {
		return "", "", &httpError{status: http.StatusBadRequest, code: "BadParameter", inner: "KeyTypeNotSupported", msg: "The property kty is required."}
	}
	return "", "", &httpError{status: http.StatusBadRequest, code: "BadParameter", inner: "KeyTypeNotSupported", msg: "Invalid kty value: " + truncate(kty, 16)}
}

// keyType returns the wire kty of spec: RSA, EC, oct, or RSA-HSM, EC-HSM,
// oct-HSM for HSM protection.
func keyType(spec keys.Spec) string {
	if spec.Protection == keys.HSM {
		return string(spec.Type) + "-HSM"
	}
	return string(spec.Type)
}

// curveSize is the field length in bytes of each supported curve.
func curveSize(c keys.Curve) int {
	switch c {
	case keys.P256, keys.P256K:
		return 32
	case keys.P384:
		return 48
	case keys.P521:
		return 66
	}
	return 0
}

// leftPad returns b left-padded with zeros to n bytes, after dropping
// redundant leading zeros; ok is false when b is longer than n.
func leftPad(b []byte, n int) ([]byte, bool) {
	for len(b) > n && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > n {
		return nil, false
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, true
}

// privateKey converts an import JWK into the domain's import form: its spec
// (type and protection; size and curve come from the key) and
// *rsa.PrivateKey, *keys.ECPrivateKey or secret.Bytes. hsm is the request's
// "Hsm" flag. The caller clears k's private members afterwards. A key with
// a BYOK transfer blob (key_hsm) goes through transferIn instead.
func (k *JSONWebKey) privateKey(hsm bool) (keys.Spec, any, error) {
	typ, prot, err := parseKeyType(k.KTY)
	if err != nil {
		return keys.Spec{}, nil, err
	}
	if hsm {
		prot = keys.HSM
	}
	spec := keys.Spec{Type: typ, Protection: prot}
	switch typ {
	case keys.RSA:
		if len(k.N) == 0 || len(k.E) == 0 || len(k.D) == 0 || len(k.P) == 0 || len(k.Q) == 0 {
			return spec, nil, badParameter("An RSA key to import needs the JWK members n, e, d, p and q.")
		}
		if len(k.E) > 4 {
			return spec, nil, badParameter("The RSA public exponent e is too large.")
		}
		e := new(big.Int).SetBytes(k.E).Int64()
		if e < 3 || e > math.MaxInt32 {
			return spec, nil, badParameter("The RSA public exponent e is invalid.")
		}
		priv := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(e)},
			D:         new(big.Int).SetBytes(k.D),
			Primes:    []*big.Int{new(big.Int).SetBytes(k.P), new(big.Int).SetBytes(k.Q)},
		}
		if len(k.DP) > 0 && len(k.DQ) > 0 && len(k.QI) > 0 {
			priv.Precomputed.Dp = new(big.Int).SetBytes(k.DP)
			priv.Precomputed.Dq = new(big.Int).SetBytes(k.DQ)
			priv.Precomputed.Qinv = new(big.Int).SetBytes(k.QI)
		}
		return spec, priv, nil
	case keys.EC:
		crv := keys.Curve(k.Crv)
		n := curveSize(crv)
		if n == 0 {
			return spec, nil, &httpError{status: http.StatusBadRequest, code: "BadParameter", inner: "CurveNotSupported", msg: "Invalid crv value: " + truncate(k.Crv, 16)}
		}
		spec.Curve = crv
		if len(k.X) == 0 || len(k.Y) == 0 || len(k.D) == 0 {
			return spec, nil, badParameter("An EC key to import needs the JWK members crv, x, y and d.")
		}
		x, okX := leftPad(k.X, n)
		y, okY := leftPad(k.Y, n)
		d, okD := leftPad(k.D, n)
		if !okX || !okY || !okD {
			return spec, nil, badParameter("The EC key members x, y and d must be at most %d bytes for %s.", n, crv)
		}
		return spec, &keys.ECPrivateKey{Public: keys.ECPublicKey{Curve: crv, X: x, Y: y}, D: secret.Own(d)}, nil
	default: // keys.Oct
		if len(k.K) == 0 {
			return spec, nil, badParameter("A symmetric key to import needs the JWK member k.")
		}
		return spec, secret.New(k.K), nil
	}
}

// publicJWK returns the wire form of a key version's public part.
func publicJWK(kid string, kv vault.KeyVersion) JSONWebKey {
	k := JSONWebKey{KID: kid, KTY: keyType(kv.Spec), KeyOps: opStrings(kv.Ops)}
	setPublic(&k, kv.Public)
	return k
}

// setPublic fills the public members of k from pub: *rsa.PublicKey or
// *keys.ECPublicKey (nil for oct keys, which show no material).
func setPublic(k *JSONWebKey, pub crypto.PublicKey) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k.N = p.N.Bytes()
		k.E = big.NewInt(int64(p.E)).Bytes()
	case *keys.ECPublicKey:
		k.Crv = string(p.Curve)
		k.X = p.X
		k.Y = p.Y
	}
}

// opStrings converts domain operations to wire key_ops.
func opStrings(ops []vault.Operation) []string {
	if ops == nil {
		return nil
	}
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = string(op)
	}
	return out
}

// operations converts wire key_ops to domain operations, keeping nil (absent)
// apart from empty (replace with none).
func operations(ops []string) []vault.Operation {
	if ops == nil {
		return nil
	}
	out := make([]vault.Operation, len(ops))
	for i, op := range ops {
		out[i] = vault.Operation(op)
	}
	return out
}
