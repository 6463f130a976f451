package pkcs11

import "github.com/keywarden/keywarden/internal/keys"

// aesMode is the construction of an AES encryption algorithm.
type aesMode int

const (
	modeNone aesMode = iota
	modeGCM
	modeCBC
	modeCBCPad
	modeKW
	modeKWP
)

// aesAlgorithm returns the mode of alg and the AES key length in bits it
// requires (0: any), or modeNone if alg is not an AES algorithm.
func aesAlgorithm(alg keys.EncryptionAlgorithm) (aesMode, int) {
	switch alg {
	case keys.A128GCM:
		return modeGCM, 128
	case keys.A192GCM:
		return modeGCM, 192
	case keys.A256GCM:
		return modeGCM, 256
	case keys.A128CBC:
		return modeCBC, 128
	case keys.A192CBC:
		return modeCBC, 192
	case keys.A256CBC:
		return modeCBC, 256
	case keys.A128CBCPAD:
		return modeCBCPad, 128
	case keys.A192CBCPAD:
		return modeCBCPad, 192
	case keys.A256CBCPAD:
		return modeCBCPad, 256
	case keys.A128KW:
		return modeKW, 128
	case keys.A192KW:
		return modeKW, 192
	case keys.A256KW:
		return modeKW, 256
	case keys.AESKeyWrap:
		return modeKW, 0
	case keys.AESKeyWrapPad:
		return modeKWP, 0
	}
	return modeNone, 0
}

// isAES reports whether alg is an AES algorithm.
func isAES(alg keys.EncryptionAlgorithm) bool {
	m, _ := aesAlgorithm(alg)
	return m != modeNone
}

// Sizes of the AES-GCM nonce and tag, and of the AES block.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
	aesBlockSize = 16
)

// checkAESInput validates an AES request for a key of keyBits bits and
// returns its mode. Messages follow Azure's wording for lengths.
func checkAESInput(keyBits int, in keys.CipherInput, encrypt bool) (aesMode, error) {
	alg := in.Algorithm
	mode, bits := aesAlgorithm(alg)
	switch {
	case mode == modeNone:
		if alg == keys.RSA15 || alg == keys.RSAOAEP || alg == keys.RSAOAEP256 {
			return modeNone, keys.Inputf("Algorithm %s is not valid for an oct key", alg)
		}
		return modeNone, keys.Inputf("Unsupported encryption algorithm %.32q", string(alg))
	case bits != 0 && bits != keyBits:
		return modeNone, keys.Inputf("Algorithm %s requires a %d-bit key; this key has %d bits.", alg, bits, keyBits)
	}
	n := len(in.Value)
	switch mode {
	case modeGCM:
		if encrypt {
			if len(in.IV) != 0 {
				return mode, keys.Inputf("'iv' must not be set for %s encryption: the service generates the nonce.", alg)
			}
			return mode, nil
		}
		if len(in.IV) != gcmNonceSize {
			return mode, keys.Inputf("Invalid length of 'iv': %d bytes. %s requires %d bytes, encoded with base64url.", len(in.IV), alg, gcmNonceSize)
		}
		if len(in.Tag) != gcmTagSize {
			return mode, keys.Inputf("Invalid length of 'tag': %d bytes. %s requires %d bytes, encoded with base64url.", len(in.Tag), alg, gcmTagSize)
		}
	case modeCBC, modeCBCPad:
		if len(in.IV) != aesBlockSize {
			return mode, keys.Inputf("Invalid length of 'iv': %d bytes. %s requires %d bytes, encoded with base64url.", len(in.IV), alg, aesBlockSize)
		}
		if (mode == modeCBC || !encrypt) && (n == 0 || n%aesBlockSize != 0) {
			return mode, keys.Inputf("Invalid length of 'value': %d bytes. %s requires a non-zero multiple of %d bytes.", n, alg, aesBlockSize)
		}
	case modeKW:
		if min := 16 + 8*btoi(!encrypt); n < min || n%8 != 0 {
			return mode, keys.Inputf("Invalid length of 'value': %d bytes. %s requires a multiple of 8 bytes, at least %d.", n, alg, min)
		}
	case modeKWP:
		if encrypt && n == 0 {
			return mode, keys.Inputf("Invalid length of 'value': 0 bytes. %s requires at least 1 byte.", alg)
		}
		if !encrypt && (n < 16 || n%8 != 0) {
			return mode, keys.Inputf("Invalid length of 'value': %d bytes. %s requires a multiple of 8 bytes, at least 16.", n, alg)
		}
	}
	return mode, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
