package cli

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/byok"
)

// generator is the generator string of the blobs `byok package` writes.
const generator = "keywarden byok package"

// NewBYOKCommand returns `keywarden byok` and its subcommand package, which
// builds a bring-your-own-key transfer blob (.byok file) from a local key
// for a key-exchange key, as an HSM vendor's BYOK tool does. It works
// offline: it never talks to a server.
func NewBYOKCommand(env Env) *cobra.Command {
	env = env.withDefaults()
	cmd := &cobra.Command{
		Use:          "byok",
		Short:        "Bring your own key: package local keys for import into an HSM",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	cmd.AddCommand(newBYOKPackageCommand(env))
	return cmd
}

func newBYOKPackageCommand(env Env) *cobra.Command {
	var kekPublic, keyFile, kekID, out string
	var oct bool
	cmd := &cobra.Command{
		Use:   "package",
		Short: "Wrap a local key for a key-exchange key into a .byok transfer blob",
		Long: `Wrap a local private key for a key-exchange key (KEK) into a .byok transfer
blob, as HSM vendors' BYOK tools do: an ephemeral AES-256 key wrapped with
RSA-OAEP (SHA-1) under the KEK's public key, then the key (PKCS#8) wrapped with
the AES key wrap with padding (RFC 5649) under the ephemeral key
(CKM_RSA_AES_KEY_WRAP). Only the vault's HSM, which holds the KEK's private
key, can unwrap it.

--kek-public is the KEK's public key: PEM ("PUBLIC KEY" or "RSA PUBLIC KEY",
as az keyvault key download writes it) or a JWK (JSON with n and e; a key
bundle's "key", or "publicKey" of keywarden key show -o json). --key is a PEM
private key (PKCS#8, PKCS#1 or SEC1), or with --oct a file holding the 16,
24 or 32 raw bytes of an AES key. --kek-id is the KEK's key id; a JWK's kid
is used when it is not given.

Import the blob with: keywarden key import NAME --byok-file FILE --kty RSA|EC, or any
Azure tool (az keyvault key import --byok-file FILE).`,
		Example: `  keywarden key create kek --kty RSA-HSM --ops import
  keywarden key show kek -o json > kek.json
  keywarden byok package --kek-public kek.json --key key.pem --out key.byok`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kekData, err := os.ReadFile(kekPublic)
			if err != nil {
				return fmt.Errorf("read --kek-public: %w", err)
			}
			kek, kid, err := parseKEKPublic(kekData)
			if err != nil {
				return fmt.Errorf("--kek-public %s: %w", kekPublic, err)
			}
			if kekID == "" {
				kekID = kid
			}
			if kekID == "" {
				return errors.New("--kek-id is required (the key-exchange key's id, https://{vault host}/keys/{name}/{version})")
			}
			keyData, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("read --key: %w", err)
			}
			defer clear(keyData)
			var key any = keyData
			if !oct {
				if key, err = privateKeyFromPEM(keyData); err != nil {
					return fmt.Errorf("--key %s: %w", keyFile, err)
				}
			}
			blob, err := byok.Package(env.Rand, kek, key, kekID, generator)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = env.Stdout.Write(append(blob, '\n'))
				return err
			}
			if err := os.WriteFile(out, blob, 0o600); err != nil {
				return fmt.Errorf("write --out: %w", err)
			}
			fmt.Fprintf(env.Stderr, "wrote %s for key-exchange key %s\n", out, kekID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kekPublic, "kek-public", "", "the key-exchange key's public key: PEM or JWK file (required)")
	f.StringVar(&keyFile, "key", "", "the key to package: PEM private key file, or raw AES key with --oct (required)")
	f.StringVar(&kekID, "kek-id", "", "the key-exchange key's id (default: the JWK's kid)")
	f.StringVar(&out, "out", "", `the .byok file to write, "-" for standard output (required)`)
	f.BoolVar(&oct, "oct", false, "--key holds the raw bytes of an AES key (for oct-HSM in a managed HSM)")
	for _, name := range []string{"kek-public", "key", "out"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// parseKEKPublic parses a key-exchange key's public key: PEM ("PUBLIC KEY"
// or "RSA PUBLIC KEY") or JSON (a JWK, or an object whose "key" or
// "publicKey" member is one). It returns the JWK's kid, if any.
func parseKEKPublic(data []byte) (*rsa.PublicKey, string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var doc struct {
			jwkPublic
			Key       *jwkPublic `json:"key"`
			PublicKey *jwkPublic `json:"publicKey"`
		}
		if err := json.Unmarshal(trimmed, &doc); err != nil {
			return nil, "", errors.New("not a JSON Web Key")
		}
		k := &doc.jwkPublic
		if doc.Key != nil {
			k = doc.Key
		} else if doc.PublicKey != nil {
			k = doc.PublicKey
		}
		kid := k.KID
		if kid == "" {
			kid = doc.ID
		}
		pub, err := k.rsa()
		return pub, kid, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, "", errors.New("no PEM public key found (want PUBLIC KEY or RSA PUBLIC KEY) and not a JWK")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, "", err
			}
			pub, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, "", fmt.Errorf("the key-exchange key must be RSA, not %T", k)
			}
			return pub, "", nil
		case "RSA PUBLIC KEY":
			pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
			return pub, "", err
		}
	}
}

// jwkPublic is the public part of an RSA JWK; ID is the "id" of a
// `keywarden key show -o json` document.
type jwkPublic struct {
	KID string `json:"kid"`
	ID  string `json:"id"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (k *jwkPublic) rsa() (*rsa.PublicKey, error) {
	if !strings.HasPrefix(k.Kty, "RSA") {
		return nil, fmt.Errorf("the key-exchange key must be RSA, not %.16q", k.Kty)
	}
	n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("the JWK's n and e are not base64url RSA public key members")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
}

// byokJWK returns the import JWK of a .byok file: its bytes as key_hsm,
// with kty RSA-HSM, EC-HSM or oct-HSM and the curve, as az keyvault key
// import --byok-file sends them.
func byokJWK(file, kty, curve string) (*azkeys.JSONWebKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if _, err := byok.Parse(data); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var t azkeys.KeyType
	switch strings.TrimSuffix(strings.ToUpper(kty), "-HSM") {
	case "RSA":
		t = azkeys.KeyTypeRSAHSM
	case "EC":
		t = azkeys.KeyTypeECHSM
	case "OCT":
		t = azkeys.KeyTypeOctHSM
	default:
		return nil, fmt.Errorf("--kty %.16q: want RSA, EC or oct", kty)
	}
	k := &azkeys.JSONWebKey{Kty: &t, T: data}
	if curve != "" {
		c := azkeys.CurveName(curve)
		k.Crv = &c
	}
	return k, nil
}
