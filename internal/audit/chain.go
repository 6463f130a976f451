package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// Field markers: JSON escapes '"' inside strings, so these byte sequences
// can only be the fields themselves.
var (
	chainField     = []byte(`,"chain":"`)
	signatureField = []byte(`,"signature":"`)
)

// chainSize is the length of a chain value (HMAC-SHA256).
const chainSize = sha256.Size

// mac computes the chain value of line (without its chain) after prev.
func mac(key []byte, prev [chainSize]byte, line []byte) [chainSize]byte {
	h := hmac.New(sha256.New, key)
	h.Write(prev[:])
	h.Write(line)
	var out [chainSize]byte
	h.Sum(out[:0])
	return out
}

// appendField returns obj (a JSON object ending in '}') with a string field
// added last.
func appendField(obj []byte, field []byte, value string) []byte {
	out := make([]byte, 0, len(obj)+len(field)+len(value)+2)
	out = append(out, obj[:len(obj)-1]...)
	out = append(out, field...)
	out = append(out, value...)
	return append(out, '"', '}')
}

// cutField splits a line (without newline) into the object without its
// last field named by marker, and that field's value. ok is false when the
// line does not end with that field.
func cutField(line, marker []byte) (rest []byte, value string, ok bool) {
	i := bytes.LastIndex(line, marker)
	if i < 0 || len(line) < i+len(marker)+2 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", false
	}
	v := line[i+len(marker) : len(line)-2]
	if bytes.IndexByte(v, '"') >= 0 {
		return nil, "", false
	}
	rest = make([]byte, 0, i+1)
	rest = append(rest, line[:i]...)
	return append(rest, '}'), string(v), true
}

// signLine signs the SHA-256 of a checkpoint line (without signature and
// chain) with ECDSA P-256, returning base64url(r||s).
func signLine(key *ecdsa.PrivateKey, line []byte) (string, error) {
	d := sha256.Sum256(line)
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		return "", fmt.Errorf("audit: signing checkpoint: %w", err)
	}
	var raw [64]byte
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// verifyLine checks a checkpoint signature made by signLine.
func verifyLine(pub *ecdsa.PublicKey, line []byte, sig string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return false
	}
	d := sha256.Sum256(line)
	r := new(big.Int).SetBytes(raw[:32])
	s := new(big.Int).SetBytes(raw[32:])
	return ecdsa.Verify(pub, d[:], r, s)
}

// parseChain decodes a hex chain value.
func parseChain(s string) ([chainSize]byte, error) {
	var out [chainSize]byte
	if len(s) != 2*chainSize {
		return out, errors.New("chain value has the wrong length")
	}
	_, err := hex.Decode(out[:], []byte(s))
	return out, err
}
