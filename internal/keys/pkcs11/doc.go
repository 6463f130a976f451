// Package pkcs11 is the keys.Provider for protection level hsm: keys are
// generated, stored and used inside a PKCS#11 token through
// github.com/miekg/pkcs11, and their private halves never leave it.
//
// Key types: RSA 2048, 3072 and 4096 bits; EC on P-256, P-384, P-521, and
// P-256K where the token generates secp256k1 keys; AES 128, 192 and 256
// bits (oct). Private and secret objects are token objects with
// CKA_PRIVATE, CKA_SENSITIVE and CKA_EXTRACTABLE set and
// CKA_WRAP_WITH_TRUSTED, so that only a token key marked CKA_TRUSTED (set up
// by the security officer, see Config.SOPIN) can wrap them out, for backup
// and key release. Objects carry a random 16-byte CKA_ID and the label
// "kw/{owner}/{hex id}"; keys.Material.Private is a short reference to
// them, never key bytes.
//
// Where the token lacks a mechanism or deviates from the standard, the
// provider builds the standard construction from the token's primitives,
// and Probe says which path each algorithm takes. On SoftHSM2 2.6:
// RSA-OAEP-256 decryption is the raw RSA private operation (CKM_RSA_X_509)
// in the token with EME-OAEP decoding in Go, and CKM_AES_KEY_WRAP_PAD (RFC
// 5649) is computed in Go over the token's AES block operation
// (CKM_AES_ECB). Public-key operations (verify, RSA encrypt) run in Go with
// the public key read from the token.
//
// Import of plaintext key material (a client's JWK with "hsm": true)
// creates the object with C_CreateObject: the key exists in Keywarden's
// memory for the duration of the request. Bring-your-own-key import, where
// the key arrives wrapped and is unwrapped inside the token, is the path
// that never has it in plaintext.
//
// Module and session failures (device errors, closed sessions, a removed
// token) are reported as keys.ErrUnavailable; the provider drops the
// affected sessions, opens new ones and logs in again once the module
// answers, and finds the token again by label when its slot changes.
//
// cgo is needed; without it the package builds a stub whose Open fails.
// The package imports nothing above internal/keys.
package pkcs11
