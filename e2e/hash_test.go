package e2e

import (
	"crypto"
	"encoding/base64"
	"strings"
)

type cryptoHash = crypto.Hash

const (
	sha256Hash = crypto.SHA256
	sha384Hash = crypto.SHA384
	sha512Hash = crypto.SHA512
)

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func jsonB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
