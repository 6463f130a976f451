package software

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/keywarden/keywarden/internal/keys"
)

// base holds what every key type shares: its spec, and formatting that
// describes the key without printing any of its fields, so that %v, %+v,
// %#v, %x and slog never reveal private material.
type base struct {
	spec keys.Spec
}

// Spec returns the key's shape.
func (b base) Spec() keys.Spec { return b.spec }

// String describes the key, e.g. "software RSA-2048 key".
func (b base) String() string {
	switch b.spec.Type {
	case keys.EC:
		return fmt.Sprintf("software EC %s key", b.spec.Curve)
	case keys.RSA, keys.Oct:
		return fmt.Sprintf("software %s-%d key", b.spec.Type, b.spec.Size)
	}
	return "software key"
}

// GoString describes the key like String.
func (b base) GoString() string { return b.String() }

// Format writes String for every verb and flag.
func (b base) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue describes the key to log/slog like String.
func (b base) LogValue() slog.Value { return slog.StringValue(b.String()) }

// refuseCipher returns the *keys.InputError for an encryption algorithm a
// key without encryption support is asked to use.
func refuseCipher(spec keys.Spec, alg keys.EncryptionAlgorithm) error {
	if err := keys.CheckEncryptionAlgorithm(spec, alg); err != nil {
		return err
	}
	return keys.Inputf("Algorithm %s is not supported by this key", alg)
}

// refuseSignature returns the *keys.InputError for a signature algorithm a
// key without signature support is asked to use.
func refuseSignature(spec keys.Spec, alg keys.SignatureAlgorithm) error {
	if err := keys.CheckSignatureAlgorithm(spec, alg); err != nil {
		return err
	}
	return keys.Inputf("Algorithm %s is not supported by this key", alg)
}
