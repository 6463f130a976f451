package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
)

// Primitive names one benchmarked operation by its JOSE algorithm name.
type Primitive string

// The primitives that `keywarden bench` measures.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 and an RSA-2048 key.
	RS256 Primitive = "RS256"
	// PS256 is RSASSA-PSS with SHA-256 and an RSA-2048 key.
	PS256 Primitive = "PS256"
	// ES256 is ECDSA with SHA-256 on P-256.
	ES256 Primitive = "ES256"
	// RSAOAEP256 is RSAES-OAEP with SHA-256 and an RSA-2048 key.
	RSAOAEP256 Primitive = "RSA-OAEP-256"
)

// Primitives lists every Primitive, in the order the bench command runs them
// by default.
func Primitives() []Primitive { return []Primitive{RS256, PS256, ES256, RSAOAEP256} }

// ParsePrimitive returns the Primitive named s, ignoring case.
func ParsePrimitive(s string) (Primitive, error) {
	for _, p := range Primitives() {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("bench: unknown operation %q (want one of %s)", s, strings.Join(primitiveNames(), ", "))
}

func primitiveNames() []string {
	var names []string
	for _, p := range Primitives() {
		names = append(names, string(p))
	}
	return names
}

// RSA reports whether p uses an RSA key (otherwise an EC P-256 key).
func (p Primitive) RSA() bool { return p != ES256 }

// RSAKeyBits is the size of the RSA keys the RSA primitives use.
const RSAKeyBits = 2048

// Input returns the fixed input of p's operation: a SHA-256 digest for the
// signature primitives and a 32-byte message (the size of a wrapped data key)
// for RSA-OAEP-256. Server and raw runs use the same input.
func (p Primitive) Input() []byte {
	if p == RSAOAEP256 {
		msg := make([]byte, 32)
		for i := range msg {
			msg[i] = byte(i)
		}
		return msg
	}
	d := sha256.Sum256([]byte("keywarden bench " + string(p)))
	return d[:]
}

// NewRawOp generates a fresh local key for p with random and returns an Op
// that performs p's private-key (signature) or public-key (OAEP encryption)
// operation with Go's crypto packages, on p.Input(). random must be safe for
// concurrent use (crypto/rand.Reader is).
func NewRawOp(p Primitive, random io.Reader) (Op, error) {
	input := p.Input()
	switch p {
	case RS256, PS256, RSAOAEP256:
		key, err := rsa.GenerateKey(random, RSAKeyBits)
		if err != nil {
			return nil, fmt.Errorf("bench: generate RSA-%d key: %w", RSAKeyBits, err)
		}
		switch p {
		case RS256:
			return RSASignPKCS1v15(key, random, input), nil
		case PS256:
			return RSASignPSS(key, random, input), nil
		default:
			return RSAEncryptOAEP(&key.PublicKey, random, input), nil
		}
	case ES256:
		key, err := ecdsa.GenerateKey(elliptic.P256(), random)
		if err != nil {
			return nil, fmt.Errorf("bench: generate P-256 key: %w", err)
		}
		return ECDSASign(key, random, input), nil
	}
	return nil, fmt.Errorf("bench: unknown primitive %q", p)
}

// RSASignPKCS1v15 returns an Op that signs the SHA-256 digest with
// rsa.SignPKCS1v15.
func RSASignPKCS1v15(key *rsa.PrivateKey, random io.Reader, digest []byte) Op {
	return func(context.Context) error {
		_, err := rsa.SignPKCS1v15(random, key, crypto.SHA256, digest)
		return err
	}
}

// RSASignPSS returns an Op that signs the SHA-256 digest with rsa.SignPSS and
// a salt as long as the hash, as JOSE PS256 requires.
func RSASignPSS(key *rsa.PrivateKey, random io.Reader, digest []byte) Op {
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	return func(context.Context) error {
		_, err := rsa.SignPSS(random, key, crypto.SHA256, digest, opts)
		return err
	}
}

// ECDSASign returns an Op that signs the digest with ecdsa.Sign.
func ECDSASign(key *ecdsa.PrivateKey, random io.Reader, digest []byte) Op {
	return func(context.Context) error {
		_, _, err := ecdsa.Sign(random, key, digest)
		return err
	}
}

// RSAEncryptOAEP returns an Op that encrypts msg with rsa.EncryptOAEP,
// SHA-256 and no label.
func RSAEncryptOAEP(pub *rsa.PublicKey, random io.Reader, msg []byte) Op {
	return func(context.Context) error {
		_, err := rsa.EncryptOAEP(sha256.New(), random, pub, msg, nil)
		return err
	}
}
