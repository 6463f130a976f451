//go:build cgo

package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keywarden/keywarden/internal/byok"
)

// TestByokImport drives bring-your-own-key end to end: a key-exchange key
// (RSA-HSM, key_ops import) created through azkeys, its public key
// downloaded, locally generated RSA and EC keys packaged into .byok blobs by
// `keywarden byok package`, imported through azkeys with the blob as
// key_hsm (as az keyvault key import --byok-file sends it), used to sign in
// the token and verified locally with the original public keys, with their
// provenance shown by `keywarden key show`. Then every refusal: an altered
// blob, a blob for another KEK, KEKs that may do more than import or are
// not in the HSM, a kty that is not the blob's key's, and a standard vault;
// each is a 400 that creates no key.
func TestByokImport(t *testing.T) {
	requireSoftHSM(t)
	s := startDev(t, "", 0)
	c := s.client(true)
	ctx := context.Background()
	dir := t.TempDir()
	envFile := filepath.Join(s.dataDir, "dev.env")
	kw := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(binary, args...).CombinedOutput()
		return string(out), err
	}
	writePEM := func(name, typ string, der []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// newKEK creates an RSA key with the given ops and writes its public
	// key as PEM, as az keyvault key download does.
	newKEK := func(name string, kty azkeys.KeyType, ops ...azkeys.KeyOperation) (kid, pemFile string) {
		t.Helper()
		r, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(kty), KeySize: to.Ptr[int32](2048), KeyOps: to.SliceOfPtrs(ops...)}, nil)
		if err != nil {
			t.Fatalf("CreateKey(%s %s) = %v", name, kty, err)
		}
		der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(r.Key.N), E: int(new(big.Int).SetBytes(r.Key.E).Int64())})
		if err != nil {
			t.Fatal(err)
		}
		return string(*r.Key.KID), writePEM(name+".pem", "PUBLIC KEY", der)
	}
	pack := func(kekPEM, kid, keyFile string) []byte {
		t.Helper()
		out := filepath.Join(dir, filepath.Base(keyFile)+"-"+filepath.Base(kekPEM)+".byok")
		if msg, err := kw("byok", "package", "--kek-public", kekPEM, "--kek-id", kid, "--key", keyFile, "--out", out); err != nil {
			t.Fatalf("keywarden byok package: %v\n%s", err, msg)
		}
		blob, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return blob
	}
	importBlob := func(c *azkeys.Client, name string, kty azkeys.KeyType, blob []byte) (azkeys.ImportKeyResponse, error) {
		return c.ImportKey(ctx, name, azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{
			Kty: to.Ptr(kty), T: blob,
			KeyOps: to.SliceOfPtrs(azkeys.KeyOperationSign, azkeys.KeyOperationVerify),
		}}, nil)
	}

	kid, kekPEM := newKEK("kek", azkeys.KeyTypeRSAHSM, azkeys.KeyOperationImport)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := writePEM("rsa.pem", "PRIVATE KEY", pkcs8)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	ecPEM := writePEM("ec.pem", "EC PRIVATE KEY", sec1)
	rsaBlob, ecBlob := pack(kekPEM, kid, rsaPEM), pack(kekPEM, kid, ecPEM)

	msg := []byte("signed with a key brought to the HSM")
	for _, tc := range []struct {
		name string
		kty  azkeys.KeyType
		blob []byte
		alg  azkeys.SignatureAlgorithm
		pub  crypto.PublicKey
	}{
		{"byok-rsa", azkeys.KeyTypeRSAHSM, rsaBlob, azkeys.SignatureAlgorithmPS256, &rsaKey.PublicKey},
		{"byok-ec", azkeys.KeyTypeECHSM, ecBlob, azkeys.SignatureAlgorithmES256, &ecKey.PublicKey},
	} {
		r, err := importBlob(c, tc.name, tc.kty, tc.blob)
		if err != nil {
			t.Fatalf("ImportKey(%s, key_hsm) = %v", tc.name, err)
		}
		if *r.Key.Kty != tc.kty {
			t.Errorf("ImportKey(%s).Key.Kty = %s, want %s", tc.name, *r.Key.Kty, tc.kty)
		}
		d := hashFor(tc.alg, msg)
		sig, err := c.Sign(ctx, tc.name, "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: d}, nil)
		if err != nil {
			t.Fatalf("Sign(%s) = %v", tc.name, err)
		}
		switch pub := tc.pub.(type) {
		case *rsa.PublicKey:
			if r.Key.N == nil || new(big.Int).SetBytes(r.Key.N).Cmp(pub.N) != 0 {
				t.Errorf("ImportKey(%s).Key.N is not the local key's modulus", tc.name)
			}
			err = rsa.VerifyPSS(pub, crypto.SHA256, d, sig.Result, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		case *ecdsa.PublicKey:
			if new(big.Int).SetBytes(r.Key.X).Cmp(pub.X) != 0 || new(big.Int).SetBytes(r.Key.Y).Cmp(pub.Y) != 0 {
				t.Errorf("ImportKey(%s).Key (x, y) is not the local key's point", tc.name)
			}
			if !ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
				err = errors.New("ecdsa.Verify failed")
			}
		}
		if err != nil {
			t.Errorf("%s signature of %s does not verify with the original public key: %v", tc.alg, tc.name, err)
		}

		out, err := kw("key", "show", tc.name, "--output", "json", "--env-file", envFile)
		if err != nil {
			t.Fatalf("key show %s: %v\n%s", tc.name, err, out)
		}
		var doc struct {
			Provenance struct{ Method, Generator, KEK, Imported string } `json:"provenance"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("key show -o json = %q: %v", out, err)
		}
		if p := doc.Provenance; p.Method != "byok" || p.Generator != "keywarden byok package" || p.KEK != kid || p.Imported == "" {
			t.Errorf("key show %s provenance = %+v, want byok, keywarden byok package, %s, a time", tc.name, p, kid)
		}
		if out, _ := kw("key", "show", tc.name, "--env-file", envFile); !strings.Contains(out, "IMPORTED-BY") || !strings.Contains(out, "byok") {
			t.Errorf("key show %s = %q, want the provenance block", tc.name, out)
		}
	}

	// The README's commands: KEK from key show -o json, import with the
	// CLI.
	if out, err := kw("key", "create", "kek-cli", "--kty", "RSA-HSM", "--size", "3072", "--ops", "import", "--env-file", envFile); err != nil {
		t.Fatalf("key create kek-cli: %v\n%s", err, out)
	}
	kekJSON, err := exec.Command(binary, "key", "show", "kek-cli", "-o", "json", "--env-file", envFile).Output()
	if err != nil {
		t.Fatalf("key show kek-cli -o json: %v", err)
	}
	kekJSONFile := filepath.Join(dir, "kek-cli.json")
	if err := os.WriteFile(kekJSONFile, kekJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	cliBlob := filepath.Join(dir, "cli.byok")
	if out, err := kw("byok", "package", "--kek-public", kekJSONFile, "--key", ecPEM, "--out", cliBlob); err != nil {
		t.Fatalf("byok package with a JWK KEK: %v\n%s", err, out)
	}
	if out, err := kw("key", "import", "byok-cli", "--byok-file", cliBlob, "--kty", "EC", "--ops", "sign,verify", "--env-file", envFile); err != nil {
		t.Fatalf("key import --byok-file: %v\n%s", err, out)
	}
	if r, err := c.GetKey(ctx, "byok-cli", "", nil); err != nil || *r.Key.Kty != azkeys.KeyTypeECHSM || new(big.Int).SetBytes(r.Key.X).Cmp(ecKey.X) != 0 {
		t.Errorf("GetKey(byok-cli) = %v, want the local EC key as EC-HSM", err)
	}

	refused := func(what string, c *azkeys.Client, name string, kty azkeys.KeyType, blob []byte, want string) {
		t.Helper()
		_, err := importBlob(c, name, kty, blob)
		wantCode(t, what, err, http.StatusBadRequest, "BadParameter")
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a message saying %q", what, err, want)
		}
		if _, err := c.GetKey(ctx, name, "", nil); err == nil {
			t.Errorf("%s created key %s", what, name)
		} else {
			wantCode(t, "GetKey after "+what, err, http.StatusNotFound, "KeyNotFound")
		}
	}
	b, err := byok.Parse(rsaBlob)
	if err != nil {
		t.Fatal(err)
	}
	b.Ciphertext[len(b.Ciphertext)-5] ^= 0x10
	tampered, _ := b.Marshal()
	refused("altered blob", c, "byok-tampered", azkeys.KeyTypeRSAHSM, tampered, "integrity check")

	// A blob wrapped for another KEK but naming this one.
	_, otherPEM := newKEK("kek-other", azkeys.KeyTypeRSAHSM, azkeys.KeyOperationImport)
	refused("blob for another KEK", c, "byok-wrong-kek", azkeys.KeyTypeRSAHSM, pack(otherPEM, kid, rsaPEM), "not wrapped for this key-exchange key")

	// A KEK may do nothing but import: Keywarden refuses to make one that
	// does more, and refuses keys that do other things as KEKs.
	_, err = c.CreateKey(ctx, "kek-sign", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeyOps: to.SliceOfPtrs(azkeys.KeyOperationImport, azkeys.KeyOperationSign)}, nil)
	wantCode(t, "CreateKey(KEK with import and sign)", err, http.StatusBadRequest, "BadParameter")
	signKID, signPEM := newKEK("signer", azkeys.KeyTypeRSAHSM, azkeys.KeyOperationSign, azkeys.KeyOperationVerify)
	refused("signing key as KEK", c, "byok-signer", azkeys.KeyTypeRSAHSM, pack(signPEM, signKID, rsaPEM), `only the import operation`)
	softKID, softPEM := newKEK("kek-soft", azkeys.KeyTypeRSA, azkeys.KeyOperationImport)
	refused("software KEK", c, "byok-soft", azkeys.KeyTypeRSAHSM, pack(softPEM, softKID, rsaPEM), "HSM-protected RSA key")

	refused("RSA blob as EC-HSM", c, "byok-kty", azkeys.KeyTypeECHSM, rsaBlob, "is not an EC key")

	// A KEK stays one: its key_ops cannot become decrypt (whose RSA-OAEP
	// would open a captured blob's ephemeral key), and no key gains import.
	_, err = c.UpdateKey(ctx, "kek", "", azkeys.UpdateKeyParameters{KeyOps: to.SliceOfPtrs(azkeys.KeyOperationDecrypt)}, nil)
	wantCode(t, "UpdateKey(KEK key_ops decrypt)", err, http.StatusBadRequest, "BadParameter")
	_, err = c.UpdateKey(ctx, "signer", "", azkeys.UpdateKeyParameters{KeyOps: to.SliceOfPtrs(azkeys.KeyOperationImport)}, nil)
	wantCode(t, "UpdateKey(signing key key_ops import)", err, http.StatusBadRequest, "BadParameter")
	if r, err := c.GetKey(ctx, "kek", "", nil); err != nil || len(r.Key.KeyOps) != 1 || *r.Key.KeyOps[0] != azkeys.KeyOperationImport {
		t.Errorf("GetKey(kek) after the refused update = %v, want key_ops [import]", err)
	}

	// A KEK imported in plaintext is not one: Azure requires it generated
	// in the HSM.
	kekKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	imp, err := c.ImportKey(ctx, "kek-imported", azkeys.ImportKeyParameters{HSM: to.Ptr(true), Key: &azkeys.JSONWebKey{
		Kty: to.Ptr(azkeys.KeyTypeRSAHSM), N: kekKey.N.Bytes(), E: big.NewInt(int64(kekKey.E)).Bytes(), D: kekKey.D.Bytes(),
		P: kekKey.Primes[0].Bytes(), Q: kekKey.Primes[1].Bytes(), DP: kekKey.Precomputed.Dp.Bytes(), DQ: kekKey.Precomputed.Dq.Bytes(), QI: kekKey.Precomputed.Qinv.Bytes(),
		KeyOps: to.SliceOfPtrs(azkeys.KeyOperationImport),
	}}, nil)
	if err != nil {
		t.Fatalf("ImportKey(kek-imported) = %v", err)
	}
	impPub, _ := x509.MarshalPKIXPublicKey(&kekKey.PublicKey)
	refused("imported KEK", c, "byok-imported-kek", azkeys.KeyTypeRSAHSM, pack(writePEM("kek-imported.pem", "PUBLIC KEY", impPub), string(*imp.Key.KID), rsaPEM), "must be generated in the HSM")

	std := vaultClient(t, s, newAdmin(t, s), "plain", "standard")
	refused("blob in a standard vault", std, "byok-std", azkeys.KeyTypeRSAHSM, rsaBlob, "premium")
}
