package e2e

import "crypto"

type cryptoHash = crypto.Hash

const (
	sha256Hash = crypto.SHA256
	sha384Hash = crypto.SHA384
	sha512Hash = crypto.SHA512
)
