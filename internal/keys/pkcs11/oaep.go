package pkcs11

import (
	"crypto/subtle"
	"errors"
	"hash"
)

// errOAEP is the one error of decodeOAEP. It does not say which check
// failed.
var errOAEP = errors.New("pkcs11: OAEP decoding failed")

// decodeOAEP is EME-OAEP decoding (RFC 8017 §7.1.2 step 3) of em, the
// output of the raw RSA private operation left-padded to k bytes (the
// modulus length), with hash h for both the label hash and MGF1, and the
// given label. It returns the message, which aliases em.
//
// It follows the structure of crypto/rsa's decryptOAEP: every check runs
// and is combined with constant-time selection, so the time taken depends
// only on k, the hash, and whether decoding succeeded, not on where it
// failed or on where the message starts. The caller must report any
// failure with one error that does not tell the checks apart.
func decodeOAEP(h hash.Hash, em []byte, k int, label []byte) ([]byte, error) {
	hLen := h.Size()
	if len(em) != k || k < 2*hLen+2 {
		return nil, errOAEP
	}
	h.Reset()
	h.Write(label)
	lHash := h.Sum(nil)

	firstByteIsZero := subtle.ConstantTimeByteEq(em[0], 0)
	seed := em[1 : hLen+1]
	db := em[hLen+1:]
	mgf1XOR(seed, h, db)
	mgf1XOR(db, h, seed)

	lHashGood := subtle.ConstantTimeCompare(lHash, db[:hLen])

	// The rest of db is PS (zero bytes), then 0x01, then the message.
	// lookingForIndex is 1 until the first non-zero byte; invalid becomes
	// 1 if that byte is not 0x01.
	var lookingForIndex, index, invalid int
	lookingForIndex = 1
	rest := db[hLen:]
	for i := range rest {
		equals0 := subtle.ConstantTimeByteEq(rest[i], 0)
		equals1 := subtle.ConstantTimeByteEq(rest[i], 1)
		index = subtle.ConstantTimeSelect(lookingForIndex&equals1, i, index)
		lookingForIndex = subtle.ConstantTimeSelect(equals1, 0, lookingForIndex)
		invalid = subtle.ConstantTimeSelect(lookingForIndex&^equals0, 1, invalid)
	}
	if firstByteIsZero&lHashGood&^invalid&^lookingForIndex != 1 {
		return nil, errOAEP
	}
	return rest[index+1:], nil
}

// mgf1XOR XORs out with MGF1(seed) using hash h (RFC 8017 §B.2.1).
func mgf1XOR(out []byte, h hash.Hash, seed []byte) {
	var counter [4]byte
	var digest []byte
	done := 0
	for done < len(out) {
		h.Reset()
		h.Write(seed)
		h.Write(counter[:])
		digest = h.Sum(digest[:0])
		for i := 0; i < len(digest) && done < len(out); i++ {
			out[done] ^= digest[i]
			done++
		}
		for i := 3; i >= 0; i-- {
			counter[i]++
			if counter[i] != 0 {
				break
			}
		}
	}
	clear(digest)
}
