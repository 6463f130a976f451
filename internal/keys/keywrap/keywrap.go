// Package keywrap is the AES key wrap of RFC 3394 and the key wrap with
// padding of RFC 5649, written over one AES block operation supplied by the
// caller: Go's crypto/aes (bring-your-own-key packaging) or an HSM's
// CKM_AES_ECB under a key that never leaves it (the PKCS#11 provider, where
// the token's own mechanism is missing or deviates from the RFCs).
//
// It imports nothing of Keywarden.
package keywrap

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// BlockFunc applies one AES direction (encryption or decryption, under a
// key that may be held elsewhere, such as a token) to a whole number of
// 16-byte blocks and returns the result in a new slice.
type BlockFunc func(in []byte) ([]byte, error)

// ErrUnwrap is the one integrity error of Unwrap and UnwrapPad. It does
// not say which check failed.
var ErrUnwrap = errors.New("keywrap: key unwrap integrity check failed")

// Cipher returns b's encryption and decryption as BlockFuncs.
func Cipher(b cipher.Block) (enc, dec BlockFunc) {
	run := func(f func(dst, src []byte)) BlockFunc {
		return func(in []byte) ([]byte, error) {
			if len(in)%b.BlockSize() != 0 {
				return nil, errors.New("keywrap: input is not a whole number of blocks")
			}
			out := make([]byte, len(in))
			for i := 0; i < len(in); i += b.BlockSize() {
				f(out[i:i+b.BlockSize()], in[i:i+b.BlockSize()])
			}
			return out, nil
		}
	}
	return run(b.Encrypt), run(b.Decrypt)
}

// defaultIV is the RFC 3394 §2.2.3.1 initial value.
var defaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// kwWrap is the RFC 3394 §2.2.1 wrapping process W with initial value iv
// over the plaintext p (a multiple of 8 bytes, at least 16), using enc for
// the AES block operation. It returns iv-checked ciphertext of len(p)+8
// bytes.
func kwWrap(enc BlockFunc, iv [8]byte, p []byte) ([]byte, error) {
	n := len(p) / 8
	if len(p)%8 != 0 || n < 2 {
		return nil, errors.New("keywrap: key wrap input must be a multiple of 8 bytes, at least 16")
	}
	out := make([]byte, 8+len(p))
	copy(out[8:], p)
	var a [8]byte = iv
	var b [16]byte
	defer clear(b[:])
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], out[8*i:8*i+8])
			e, err := enc(b[:])
			if err != nil {
				clear(out)
				return nil, err
			}
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(e[:8])^t)
			copy(out[8*i:], e[8:16])
			clear(e)
		}
	}
	copy(out[:8], a[:])
	return out, nil
}

// kwUnwrap is the RFC 3394 §2.2.2 unwrapping process W⁻¹, using dec for the
// AES block operation. It returns the recovered initial value and the
// plaintext; the caller checks the initial value.
func kwUnwrap(dec BlockFunc, c []byte) (iv [8]byte, p []byte, err error) {
	n := len(c)/8 - 1
	if len(c)%8 != 0 || n < 2 {
		return iv, nil, ErrUnwrap
	}
	p = make([]byte, 8*n)
	copy(p, c[8:])
	var a [8]byte
	copy(a[:], c[:8])
	var b [16]byte
	defer clear(b[:])
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], p[8*(i-1):8*i])
			d, err := dec(b[:])
			if err != nil {
				clear(p)
				return iv, nil, err
			}
			copy(a[:], d[:8])
			copy(p[8*(i-1):], d[8:16])
			clear(d)
		}
	}
	return a, p, nil
}

// Wrap is RFC 3394 AES key wrap (A*KW, CKM_AES_KEY_WRAP).
func Wrap(enc BlockFunc, p []byte) ([]byte, error) {
	return kwWrap(enc, defaultIV, p)
}

// Unwrap reverses Wrap. Any integrity failure is ErrUnwrap.
func Unwrap(dec BlockFunc, c []byte) ([]byte, error) {
	iv, p, err := kwUnwrap(dec, c)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(iv[:], defaultIV[:]) != 1 {
		clear(p)
		return nil, ErrUnwrap
	}
	return p, nil
}

// WrapPad is RFC 5649 AES key wrap with padding
// (CKM_AES_KEY_WRAP_PAD): the alternative initial value A65959A6 || MLI,
// zero padding to a multiple of 8 bytes, then one AES block encryption if
// the padded input is 8 bytes, else the RFC 3394 process W.
func WrapPad(enc BlockFunc, p []byte) ([]byte, error) {
	if len(p) == 0 || uint64(len(p)) > 1<<32-1 {
		return nil, errors.New("keywrap: key wrap with padding needs 1 to 2^32-1 bytes")
	}
	var aiv [8]byte
	binary.BigEndian.PutUint32(aiv[:4], 0xA65959A6)
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(p)))
	padded := make([]byte, (len(p)+7)/8*8)
	defer clear(padded)
	copy(padded, p)
	if len(padded) == 8 {
		var b [16]byte
		copy(b[:8], aiv[:])
		copy(b[8:], padded)
		defer clear(b[:])
		return enc(b[:])
	}
	return kwWrap(enc, aiv, padded)
}

// UnwrapPad reverses WrapPad, checking the AIV constant, that the
// message length indicator fits the padded length, and that the padding is
// zero. Any failure is ErrUnwrap. The caller clears the result when done.
func UnwrapPad(dec BlockFunc, c []byte) ([]byte, error) {
	if len(c)%8 != 0 || len(c) < 16 {
		return nil, ErrUnwrap
	}
	var (
		a [8]byte
		p []byte
	)
	if len(c) == 16 {
		d, err := dec(c)
		if err != nil {
			return nil, err
		}
		copy(a[:], d[:8])
		p = d[8:]
	} else {
		var err error
		a, p, err = kwUnwrap(dec, c)
		if err != nil {
			return nil, err
		}
	}
	// The checks below combine without early exit; the lengths involved
	// are public (derived from the ciphertext length) or checked only once
	// the whole block has been recovered.
	good := subtle.ConstantTimeCompare(a[:4], []byte{0xA6, 0x59, 0x59, 0xA6})
	mli := uint64(binary.BigEndian.Uint32(a[4:]))
	if mli > uint64(len(p)) || mli+8 <= uint64(len(p)) {
		good, mli = 0, uint64(len(p))
	}
	var pad byte
	for _, b := range p[mli:] {
		pad |= b
	}
	good &= subtle.ConstantTimeByteEq(pad, 0)
	if good != 1 {
		clear(p)
		return nil, ErrUnwrap
	}
	return p[:mli], nil
}
