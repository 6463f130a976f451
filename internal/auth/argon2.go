package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are Argon2id cost parameters.
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon2 returns the OWASP minimum for Argon2id (19 MiB, 2 passes,
// 1 lane): tens of milliseconds per client-credentials exchange, which an SDK
// performs about once an hour per client.
func defaultArgon2() argon2Params { return argon2Params{memory: 19 * 1024, time: 2, threads: 1} }

const (
	saltLen = 16
	hashLen = 32

	// Bounds accepted when parsing a stored hash, so that a corrupted or
	// hostile record cannot make verification arbitrarily expensive.
	maxMemory  = 256 * 1024 // KiB
	maxTime    = 16
	maxThreads = 16
	minSalt    = 8
	maxSalt    = 64
	minHash    = 16
	maxHash    = 64
)

var errHashFormat = errors.New("auth: malformed argon2id hash")

// hashSecret returns the PHC-style encoding
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> of secret under
// a fresh salt read from rand.
func hashSecret(rand io.Reader, secret []byte, p argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	h := argon2.IDKey(secret, salt, p.time, p.memory, p.threads, hashLen)
	return encodeHash(p, salt, h), nil
}

func encodeHash(p argon2Params, salt, h []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h))
}

// parseHash decodes an encoding produced by encodeHash. It accepts only the
// canonical form and parameters within the package bounds.
func parseHash(s string) (p argon2Params, salt, h []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errHashFormat
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, errHashFormat
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return p, nil, nil, errHashFormat
		}
		if v[i], err = strconv.ParseUint(num, 10, 32); err != nil {
			return p, nil, nil, errHashFormat
		}
	}
	if v[2] < 1 || v[2] > maxThreads || v[1] < 1 || v[1] > maxTime || v[0] < 8*v[2] || v[0] > maxMemory {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", errHashFormat)
	}
	p = argon2Params{memory: uint32(v[0]), time: uint32(v[1]), threads: uint8(v[2])}
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < minSalt || len(salt) > maxSalt {
		return p, nil, nil, fmt.Errorf("%w: bad salt", errHashFormat)
	}
	if h, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(h) < minHash || len(h) > maxHash {
		return p, nil, nil, fmt.Errorf("%w: bad hash", errHashFormat)
	}
	if encodeHash(p, salt, h) != s {
		return p, nil, nil, fmt.Errorf("%w: not canonical", errHashFormat)
	}
	return p, salt, h, nil
}

// verifySecret reports whether secret matches the encoded hash, comparing in
// constant time. Errors: errHashFormat.
func verifySecret(encoded string, secret []byte) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(secret, salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
