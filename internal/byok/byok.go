// Package byok is the Azure Key Vault bring-your-own-key transfer blob (the
// ".byok" file that vendor BYOK tools write): its format, a strict parser,
// and Package, which builds a blob from a local key for a key-exchange key
// (KEK) as a vendor tool does.
//
// A blob is JSON:
//
//	{"schema_version":"1.0.0",
//	 "header":{"kid":KEK key id,"alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},
//	 "ciphertext":base64url,
//	 "generator":"tool name and version"}
//
// Its ciphertext is CKM_RSA_AES_KEY_WRAP: RSA-OAEP with SHA-1 and MGF1-SHA-1
// of an ephemeral AES-256 key under the KEK's public key, followed by the
// RFC 5649 key wrap with padding, under that AES key, of the target key:
// PKCS#8 DER for RSA and EC keys, the raw key bytes for AES (oct) keys.
//
// The package imports nothing of Keywarden above internal/keys.
package byok

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

// The header values of every blob.
const (
	// SchemaVersion is the only schema_version the format has.
	SchemaVersion = "1.0.0"
	// Alg is the header's alg: the ciphertext is the key itself, wrapped.
	Alg = "dir"
	// Enc is the header's enc: the wrapping mechanism.
	Enc = "CKM_RSA_AES_KEY_WRAP"
)

// MaxSize bounds a blob's length in bytes: a 4096-bit RSA key wrapped for a
// 4096-bit KEK is about 4 KiB of JSON.
const MaxSize = 32 << 10

// maxGenerator bounds the generator string kept from a blob.
const maxGenerator = 256

// Blob is a parsed transfer blob. It holds no plaintext key material: the
// ciphertext is wrapped for the KEK, whose private key only the HSM holds.
type Blob struct {
	// KID is the key id of the key-exchange key the blob was wrapped for.
	KID string
	// Ciphertext is the RSA-OAEP block (as long as the KEK's modulus)
	// followed by the RFC 5649 wrap of the target key.
	Ciphertext []byte
	// Generator names the tool that made the blob; it may be empty.
	Generator string
}

// wireBlob is the JSON form of a Blob.
type wireBlob struct {
	SchemaVersion string     `json:"schema_version"`
	Header        wireHeader `json:"header"`
	Ciphertext    string     `json:"ciphertext"`
	Generator     string     `json:"generator,omitempty"`
}

type wireHeader struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Enc string `json:"enc"`
}

// FormatError reports a blob that is not a well-formed transfer blob. Its
// message is safe to show to the client: it quotes no ciphertext.
type FormatError struct {
	// Msg is the client-safe description.
	Msg string
}

func (e *FormatError) Error() string { return e.Msg }

func formatf(format string, args ...any) error {
	return &FormatError{Msg: fmt.Sprintf(format, args...)}
}

// Parse decodes a transfer blob and checks it strictly: one JSON object
// with exactly the members of the format, each at most once and spelled in
// lower case, schema_version 1.0.0, alg dir, enc CKM_RSA_AES_KEY_WRAP, a
// kid, a base64url ciphertext (padding tolerated) and a printable generator
// of at most 256 bytes.
//
// Errors: *FormatError.
func Parse(data []byte) (Blob, error) {
	if len(data) > MaxSize {
		return Blob{}, formatf("The BYOK transfer blob is larger than %d bytes.", MaxSize)
	}
	if err := checkMembers(json.NewDecoder(bytes.NewReader(data)), ""); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return Blob{}, err
		}
		return Blob{}, formatf("The BYOK transfer blob (key_hsm) is not a .byok JSON object with schema_version, header, ciphertext and generator.")
	}
	var w wireBlob
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Blob{}, formatf("The BYOK transfer blob (key_hsm) is not a .byok JSON object with schema_version, header, ciphertext and generator.")
	}
	if _, err := d.Token(); err != io.EOF {
		return Blob{}, formatf("The BYOK transfer blob (key_hsm) has data after its JSON object.")
	}
	switch {
	case w.SchemaVersion != SchemaVersion:
		return Blob{}, formatf("The BYOK transfer blob has schema_version %.16q; only %s is supported.", w.SchemaVersion, SchemaVersion)
	case w.Header.Alg != Alg:
		return Blob{}, formatf("The BYOK transfer blob's header has alg %.16q; only %s is supported.", w.Header.Alg, Alg)
	case w.Header.Enc != Enc:
		return Blob{}, formatf("The BYOK transfer blob's header has enc %.32q; only %s is supported.", w.Header.Enc, Enc)
	case w.Header.KID == "":
		return Blob{}, formatf("The BYOK transfer blob's header has no kid naming its key-exchange key.")
	case len(w.Header.KID) > 1024:
		return Blob{}, formatf("The BYOK transfer blob's header kid is too long.")
	case len(w.Generator) > maxGenerator || strings.IndexFunc(w.Generator, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return Blob{}, formatf("The BYOK transfer blob's generator must be printable and at most %d bytes long.", maxGenerator)
	}
	ct, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(w.Ciphertext, "="))
	if err != nil || len(ct) == 0 {
		return Blob{}, formatf("The BYOK transfer blob's ciphertext is missing or not base64url.")
	}
	return Blob{KID: w.Header.KID, Ciphertext: ct, Generator: w.Generator}, nil
}

// members are the member names of the blob's objects, by path ("" the
// blob, "header" its header), as the format spells them.
var members = map[string][]string{
	"":       {"schema_version", "header", "ciphertext", "generator"},
	"header": {"kid", "alg", "enc"},
}

// checkMembers reads the JSON value at d's position, at path, and refuses
// a member name that appears twice in an object or that is not spelled as
// members lists it: encoding/json matches names without regard to case and
// keeps the last of duplicates, so two parsers could read two different
// blobs in one. Errors: *FormatError, or the decoder's error.
func checkMembers(d *json.Decoder, path string) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			t, err := d.Token()
			if err != nil {
				return err
			}
			name, _ := t.(string)
			if seen[name] {
				return formatf("The BYOK transfer blob has the member %.32q more than once.", name)
			}
			seen[name] = true
			if want, ok := members[path]; ok && !slices.Contains(want, name) {
				return formatf("The BYOK transfer blob has an unknown member %.32q (the format's member names are lower case).", name)
			}
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if err := checkMembers(d, sub); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	case json.Delim('['):
		for d.More() {
			if err := checkMembers(d, path+"[]"); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	}
	return nil
}

// Marshal encodes b as a transfer blob.
func (b Blob) Marshal() ([]byte, error) {
	return json.Marshal(wireBlob{
		SchemaVersion: SchemaVersion,
		Header:        wireHeader{KID: b.KID, Alg: Alg, Enc: Enc},
		Ciphertext:    base64.RawURLEncoding.EncodeToString(b.Ciphertext),
		Generator:     b.Generator,
	})
}

// Package wraps key for the key-exchange key kek, whose key id is kekID,
// and returns the transfer blob naming generator. key is an
// *rsa.PrivateKey, an *ecdsa.PrivateKey (P-256, P-384 or P-521) or the
// bytes of an AES-128, -192 or -256 key. The ephemeral AES-256 key comes
// from rand and is cleared after use, as is the PKCS#8 encoding of key
// (see keywrap.RSAAESWrap).
//
// Errors mention neither key.
func Package(rand io.Reader, kek *rsa.PublicKey, key any, kekID, generator string) ([]byte, error) {
	if kek == nil || kek.N == nil || kek.N.BitLen() < 2048 {
		return nil, errors.New("byok: the key-exchange key must be an RSA key of at least 2048 bits")
	}
	if kekID == "" {
		return nil, errors.New("byok: the key-exchange key id is required")
	}
	var target []byte
	switch k := key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("byok: encode the key as PKCS#8: %w", err)
		}
		target = der
	case []byte:
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("byok: an AES key must be 16, 24 or 32 bytes, not %d", n)
		}
		target = bytes.Clone(k)
	default:
		return nil, fmt.Errorf("byok: unsupported key type %T", key)
	}
	defer clear(target)
	ct, err := keywrap.RSAAESWrap(rand, kek, target)
	if err != nil {
		return nil, fmt.Errorf("byok: wrap the key for the key-exchange key: %w", err)
	}
	return Blob{KID: kekID, Ciphertext: ct, Generator: generator}.Marshal()
}
