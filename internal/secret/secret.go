// Package secret holds key material and other secrets in a type that never
// prints, logs or marshals its contents.
//
// It imports nothing from Keywarden. Every secret byte slice in the codebase
// travels as a Bytes value; the only way to read it is the greppable
// Expose method.
package secret

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Bytes is an immutable holder of secret bytes. The zero value is an empty
// secret. Bytes values are not comparable with ==; use Equal, which runs in
// constant time.
type Bytes struct {
	_ [0]func() // not comparable
	b []byte
}

// New returns a Bytes holding a copy of b.
func New(b []byte) Bytes { return Bytes{b: append([]byte(nil), b...)} }

// Own returns a Bytes that takes ownership of b without copying; the caller
// must not use b afterwards.
func Own(b []byte) Bytes { return Bytes{b: b} }

// Expose returns the secret bytes. The caller must not modify or retain them
// longer than needed. It is the one accessor: grep for Expose to audit use.
func (s Bytes) Expose() []byte { return s.b }

// Len reports the length of the secret.
func (s Bytes) Len() int { return len(s.b) }

// IsZero reports whether the secret is empty.
func (s Bytes) IsZero() bool { return len(s.b) == 0 }

// Equal reports whether s and o hold the same bytes, in constant time.
func (s Bytes) Equal(o Bytes) bool { return subtle.ConstantTimeCompare(s.b, o.b) == 1 }

// Clear overwrites the secret bytes with zeros (best effort).
func (s Bytes) Clear() { clear(s.b) }

const redacted = "[REDACTED]"

// String returns a fixed placeholder.
func (s Bytes) String() string { return redacted }

// GoString returns a fixed placeholder.
func (s Bytes) GoString() string { return redacted }

// Format prints a fixed placeholder for every verb (%v, %d, %x, ...).
func (s Bytes) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue returns a fixed placeholder for log/slog.
func (s Bytes) LogValue() slog.Value { return slog.StringValue(redacted) }

// ErrMarshal is returned by the marshal methods: secrets are never encoded.
var ErrMarshal = errors.New("secret: refusing to marshal secret bytes")

// MarshalJSON always fails.
func (s Bytes) MarshalJSON() ([]byte, error) { return nil, ErrMarshal }

// MarshalText always fails.
func (s Bytes) MarshalText() ([]byte, error) { return nil, ErrMarshal }
