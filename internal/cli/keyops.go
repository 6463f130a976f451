package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/spf13/cobra"
)

// cipherCall is one of the four KeyOperationParameters calls.
type cipherCall func(ctx context.Context, c *azkeys.Client, name, version string, p azkeys.KeyOperationParameters) (azkeys.KeyOperationResult, error)

func encrypt(ctx context.Context, c *azkeys.Client, name, version string, p azkeys.KeyOperationParameters) (azkeys.KeyOperationResult, error) {
	r, err := c.Encrypt(ctx, name, version, p, nil)
	return r.KeyOperationResult, err
}

func decrypt(ctx context.Context, c *azkeys.Client, name, version string, p azkeys.KeyOperationParameters) (azkeys.KeyOperationResult, error) {
	r, err := c.Decrypt(ctx, name, version, p, nil)
	return r.KeyOperationResult, err
}

func wrap(ctx context.Context, c *azkeys.Client, name, version string, p azkeys.KeyOperationParameters) (azkeys.KeyOperationResult, error) {
	r, err := c.WrapKey(ctx, name, version, p, nil)
	return r.KeyOperationResult, err
}

func unwrap(ctx context.Context, c *azkeys.Client, name, version string, p azkeys.KeyOperationParameters) (azkeys.KeyOperationResult, error) {
	r, err := c.UnwrapKey(ctx, name, version, p, nil)
	return r.KeyOperationResult, err
}

// readInput returns the bytes of --<valueFlag> (base64url) or of the file
// --<fileFlag>; exactly one must be given.
func readInput(valueFlag, value, fileFlag, file string) ([]byte, error) {
	switch {
	case value != "" && file != "":
		return nil, fmt.Errorf("give only one of --%s and --%s", valueFlag, fileFlag)
	case value != "":
		return decodeBase64URL("--"+valueFlag, value)
	case file != "":
		return os.ReadFile(file)
	}
	return nil, fmt.Errorf("give --%s (base64url) or --%s (file)", valueFlag, fileFlag)
}

// emitResult prints an operation result, writing the raw bytes to out (mode
// 0600) if it is set.
func emitResult(p printer, r azkeys.KeyOperationResult, alg, out string) error {
	d := opDoc{Algorithm: alg, Bytes: len(r.Result)}
	if r.KID != nil {
		d.KID = string(*r.KID)
	}
	if out != "" {
		if err := os.WriteFile(out, r.Result, 0o600); err != nil {
			return err
		}
		d.File = out
	} else {
		d.Value = encodeBase64URL(r.Result)
	}
	return p.print(d, opTable(d))
}

func (c *keyCmd) cipherCommand(use, short string, call cipherCall) *cobra.Command {
	var version, alg, value, in, out string
	cmd := &cobra.Command{
		Use:   use + " NAME (--value B64URL | --in FILE)",
		Short: short,
		Long: short + `.

The input is --value in base64url or the raw bytes of --in; the result is
printed in base64url, or written raw to --out (mode 0600).`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := matchFold(alg, "algorithm", azkeys.PossibleEncryptionAlgorithmValues())
			if err != nil {
				return fmt.Errorf("--alg: %w", err)
			}
			input, err := readInput("value", value, "in", in)
			if err != nil {
				return err
			}
			defer clear(input)
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			r, err := call(cmd.Context(), client, args[0], version, azkeys.KeyOperationParameters{Algorithm: &a, Value: input})
			if err != nil {
				return apiError(use+" with key "+args[0], err)
			}
			defer clear(r.Result)
			return emitResult(p, r, string(a), out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&version, "version", "", "key version (default: latest)")
	fs.StringVar(&alg, "alg", string(azkeys.EncryptionAlgorithmRSAOAEP256), "algorithm: "+algNames(azkeys.PossibleEncryptionAlgorithmValues()))
	fs.StringVar(&value, "value", "", "input in base64url")
	fs.StringVar(&in, "in", "", "file holding the raw input")
	fs.StringVar(&out, "out", "", "file to write the raw result to instead of printing it")
	return cmd
}

// signInput returns the digest to sign or verify: --digest as given, or the
// hash of the --data file by the hash of alg.
func signInput(alg azkeys.SignatureAlgorithm, digestB64, dataFile string) ([]byte, error) {
	switch {
	case digestB64 != "" && dataFile != "":
		return nil, errors.New("give only one of --digest and --data")
	case digestB64 != "":
		return decodeBase64URL("--digest", digestB64)
	case dataFile != "":
		data, err := os.ReadFile(dataFile)
		if err != nil {
			return nil, err
		}
		return digest(alg, data)
	}
	return nil, errors.New("give --digest (base64url) or --data (file to hash)")
}

func (c *keyCmd) signCommand() *cobra.Command {
	var version, alg, dig, data, out string
	cmd := &cobra.Command{
		Use:   "sign NAME --alg ALG (--digest B64URL | --data FILE)",
		Short: "Sign a digest with a key",
		Long: `Sign a digest with a key.

--digest is the digest in base64url; --data is a file that is hashed first
with the hash of --alg (SHA-256 for RS256, PS256, ES256; SHA-384 and SHA-512
for the 384 and 512 variants). The signature is printed in base64url, or
written raw to --out.`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := matchFold(alg, "algorithm", azkeys.PossibleSignatureAlgorithmValues())
			if err != nil {
				return fmt.Errorf("--alg: %w", err)
			}
			d, err := signInput(a, dig, data)
			if err != nil {
				return err
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			r, err := client.Sign(cmd.Context(), args[0], version, azkeys.SignParameters{Algorithm: &a, Value: d}, nil)
			if err != nil {
				return apiError("sign with key "+args[0], err)
			}
			return emitResult(p, r.KeyOperationResult, string(a), out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&version, "version", "", "key version (default: latest)")
	fs.StringVar(&alg, "alg", "", "algorithm: "+algNames(azkeys.PossibleSignatureAlgorithmValues()))
	fs.StringVar(&dig, "digest", "", "digest in base64url")
	fs.StringVar(&data, "data", "", "file to hash and sign")
	fs.StringVar(&out, "out", "", "file to write the raw signature to instead of printing it")
	_ = cmd.MarkFlagRequired("alg")
	return cmd
}

func (c *keyCmd) verifyCommand() *cobra.Command {
	var version, alg, dig, data, sig, sigFile string
	cmd := &cobra.Command{
		Use:   "verify NAME --alg ALG (--digest B64URL | --data FILE) (--signature B64URL | --signature-file FILE)",
		Short: "Verify a signature with a key",
		Long: `Verify a signature over a digest with a key.

--digest and --data work as for sign. The command succeeds when the server
answers, valid or not: read VALID (or "valid" in JSON).`,
		Args: nameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := matchFold(alg, "algorithm", azkeys.PossibleSignatureAlgorithmValues())
			if err != nil {
				return fmt.Errorf("--alg: %w", err)
			}
			d, err := signInput(a, dig, data)
			if err != nil {
				return err
			}
			s, err := readInput("signature", sig, "signature-file", sigFile)
			if err != nil {
				return err
			}
			p, client, err := c.start(cmd)
			if err != nil {
				return err
			}
			r, err := client.Verify(cmd.Context(), args[0], version, azkeys.VerifyParameters{Algorithm: &a, Digest: d, Signature: s}, nil)
			if err != nil {
				return apiError("verify with key "+args[0], err)
			}
			doc := verifyDoc{Name: args[0], Version: version, Algorithm: string(a), Valid: deref(r.Value)}
			return p.print(doc, verifyTable(doc))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&version, "version", "", "key version (default: latest)")
	fs.StringVar(&alg, "alg", "", "algorithm: "+algNames(azkeys.PossibleSignatureAlgorithmValues()))
	fs.StringVar(&dig, "digest", "", "digest in base64url")
	fs.StringVar(&data, "data", "", "file to hash")
	fs.StringVar(&sig, "signature", "", "signature in base64url")
	fs.StringVar(&sigFile, "signature-file", "", "file holding the raw signature")
	_ = cmd.MarkFlagRequired("alg")
	return cmd
}
