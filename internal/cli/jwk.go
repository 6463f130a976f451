package cli

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// jwkFromPEM converts the first private key in PEM data (see
// privateKeyFromPEM) to a private JWK. Errors never include key bytes.
func jwkFromPEM(data []byte) (*azkeys.JSONWebKey, error) {
	key, err := privateKeyFromPEM(data)
	if err != nil {
		return nil, err
	}
	return jwkFromPrivateKey(key)
}

// privateKeyFromPEM parses the first private key in PEM data (PKCS#8
// "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY"). Other
// blocks, such as "EC PARAMETERS", are skipped. Errors never include key
// bytes.
func privateKeyFromPEM(data []byte) (any, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PEM private keys are not supported: decrypt it first, for example with openssl pkcs8")
		default:
			continue
		}
		clear(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		return key, nil
	}
}

// jwkFromPrivateKey converts an RSA or ECDSA (P-256, P-384, P-521) private key
// to a private JWK.
func jwkFromPrivateKey(key any) (*azkeys.JSONWebKey, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return nil, fmt.Errorf("RSA key with %d primes: want 2", len(k.Primes))
		}
		k.Precompute()
		kty := azkeys.KeyTypeRSA
		return &azkeys.JSONWebKey{
			Kty: &kty,
			N:   k.N.Bytes(),
			E:   big.NewInt(int64(k.E)).Bytes(),
			D:   k.D.Bytes(),
			P:   k.Primes[0].Bytes(),
			Q:   k.Primes[1].Bytes(),
			DP:  k.Precomputed.Dp.Bytes(),
			DQ:  k.Precomputed.Dq.Bytes(),
			QI:  k.Precomputed.Qinv.Bytes(),
		}, nil
	case *ecdsa.PrivateKey:
		var crv azkeys.CurveName
		switch k.Curve.Params().Name {
		case "P-256":
			crv = azkeys.CurveNameP256
		case "P-384":
			crv = azkeys.CurveNameP384
		case "P-521":
			crv = azkeys.CurveNameP521
		default:
			return nil, fmt.Errorf("EC curve %s is not supported", k.Curve.Params().Name)
		}
		ek, err := k.ECDH()
		if err != nil {
			return nil, fmt.Errorf("EC key: %w", err)
		}
		// Uncompressed point 0x04 || X || Y, each of the curve's byte size.
		pub := ek.PublicKey().Bytes()
		size := (len(pub) - 1) / 2
		kty := azkeys.KeyTypeEC
		return &azkeys.JSONWebKey{
			Kty: &kty,
			Crv: &crv,
			X:   pub[1 : 1+size],
			Y:   pub[1+size:],
			D:   ek.Bytes(),
		}, nil
	}
	return nil, fmt.Errorf("private key type %T is not supported (want RSA or EC)", key)
}

// jwkFromJSON parses a private JWK, as in a --jwk-file. It must have a kty
// and private material (d for RSA and EC, k for oct).
func jwkFromJSON(data []byte) (*azkeys.JSONWebKey, error) {
	var k azkeys.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		// The JSON decoder's message quotes no input bytes beyond a
		// character, but do not risk echoing key material: say only where.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("JWK: invalid JSON at byte %d", se.Offset)
		}
		return nil, errors.New("JWK: invalid JSON Web Key")
	}
	if k.Kty == nil || *k.Kty == "" {
		return nil, errors.New("JWK: no kty")
	}
	switch *k.Kty {
	case azkeys.KeyTypeOct, azkeys.KeyTypeOctHSM:
		if len(k.K) == 0 {
			return nil, errors.New("JWK: oct key without k")
		}
	default:
		if len(k.D) == 0 {
			return nil, fmt.Errorf("JWK: %s key without private part d", *k.Kty)
		}
	}
	return &k, nil
}

// clearJWK overwrites the private parts of k (best effort).
func clearJWK(k *azkeys.JSONWebKey) {
	if k == nil {
		return
	}
	for _, b := range [][]byte{k.D, k.P, k.Q, k.DP, k.DQ, k.QI, k.K, k.T} {
		clear(b)
	}
}
