//go:build cgo

package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	p11 "github.com/miekg/pkcs11"
)

// softHSMModules are where Debian and Ubuntu install the SoftHSM2 module
// that keywarden dev looks for.
var softHSMModules = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"}

// requireSoftHSM returns the SoftHSM2 module, or skips the test with the
// install command (fails it under CI).
func requireSoftHSM(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("softhsm2-util")
	for _, m := range softHSMModules {
		if _, serr := os.Stat(m); serr == nil && err == nil {
			return m
		}
	}
	msg := "SoftHSM2 is not installed; install it with: sudo apt-get install softhsm2"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestHSMKeys drives HSM-protected keys through azkeys on the dev server's
// own SoftHSM2 token: RSA-HSM and EC-HSM signatures verified with Go's
// crypto, RSA decryption of ciphertexts made locally, persistence in the
// token across a restart, a standard vault's refusal, and a managedhsm
// vault with RSA turned into RSA-HSM, oct-HSM keys with the AES modes and
// key wraps (checked against Go and the RFC vectors), no backup, and purge
// destroying the token objects.
func TestHSMKeys(t *testing.T) {
	module := requireSoftHSM(t)
	dir, port := t.TempDir(), freePort(t)
	s := startDev(t, dir, port)
	if want := "HSM: SoftHSM2 token keywarden-dev (" + module + ")"; !strings.Contains(s.all(), want) {
		t.Fatalf("banner lacks %q:\n%s", want, s.all())
	}
	c := s.client(false)
	ctx := context.Background()
	msg := []byte("signed in the token")

	rsaKey, err := c.CreateKey(ctx, "hsm-rsa", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatalf("CreateKey(RSA-HSM 2048) = %v", err)
	}
	if *rsaKey.Key.Kty != azkeys.KeyTypeRSAHSM {
		t.Errorf("kty = %s, want RSA-HSM", *rsaKey.Key.Kty)
	}
	rsaPub := &rsa.PublicKey{N: new(big.Int).SetBytes(rsaKey.Key.N), E: int(new(big.Int).SetBytes(rsaKey.Key.E).Int64())}
	if rsaPub.N.BitLen() != 2048 {
		t.Errorf("modulus = %d bits, want 2048", rsaPub.N.BitLen())
	}
	rsaVersion := rsaKey.Key.KID.Version()
	signRSA := func(c *azkeys.Client, version string) {
		t.Helper()
		for _, alg := range []azkeys.SignatureAlgorithm{azkeys.SignatureAlgorithmRS256, azkeys.SignatureAlgorithmRS384, azkeys.SignatureAlgorithmRS512, azkeys.SignatureAlgorithmPS256, azkeys.SignatureAlgorithmPS384, azkeys.SignatureAlgorithmPS512} {
			d := hashFor(alg, msg)
			r, err := c.Sign(ctx, "hsm-rsa", version, azkeys.SignParameters{Algorithm: to.Ptr(alg), Value: d}, nil)
			if err != nil {
				t.Fatalf("Sign(%s) = %v", alg, err)
			}
			h := map[int]crypto.Hash{32: crypto.SHA256, 48: crypto.SHA384, 64: crypto.SHA512}[len(d)]
			if strings.HasPrefix(string(alg), "PS") {
				err = rsa.VerifyPSS(rsaPub, h, d, r.Result, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			} else {
				err = rsa.VerifyPKCS1v15(rsaPub, h, d, r.Result)
			}
			if err != nil {
				t.Errorf("%s signature from the token does not verify with Go: %v", alg, err)
			}
		}
	}
	signRSA(c, rsaVersion)

	// Ciphertexts made locally with the public key decrypt in the token.
	secretMsg := []byte("encrypted locally")
	for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSAOAEP256, azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSA15} {
		var ct []byte
		switch alg {
		case azkeys.EncryptionAlgorithmRSAOAEP256:
			ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaPub, secretMsg, nil)
		case azkeys.EncryptionAlgorithmRSAOAEP:
			ct, err = rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, rsaPub, secretMsg, nil)
		default:
			ct, err = rsa.EncryptPKCS1v15(rand.Reader, rsaPub, secretMsg)
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Decrypt(ctx, "hsm-rsa", rsaVersion, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: ct}, nil)
		if err != nil || !bytes.Equal(r.Result, secretMsg) {
			t.Errorf("Decrypt(%s of a local ciphertext) = %q, %v; want %q", alg, r.Result, err, secretMsg)
		}
	}

	// EC-HSM on every curve; P-256K where the token supports it.
	for _, tc := range []struct {
		crv   azkeys.CurveName
		alg   azkeys.SignatureAlgorithm
		curve elliptic.Curve
	}{
		{azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256, elliptic.P256()},
		{azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384, elliptic.P384()},
		{azkeys.CurveNameP521, azkeys.SignatureAlgorithmES512, elliptic.P521()},
		{azkeys.CurveNameP256K, azkeys.SignatureAlgorithmES256K, nil},
	} {
		name := "hsm-ec-" + strings.ToLower(strings.ReplaceAll(string(tc.crv), "-", ""))
		k, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(tc.crv)}, nil)
		if tc.crv == azkeys.CurveNameP256K && err != nil {
			wantCode(t, "CreateKey(EC-HSM P-256K) on a token without secp256k1", err, http.StatusBadRequest, "")
			t.Logf("the token does not support P-256K: %v", err)
			continue
		}
		if err != nil {
			t.Fatalf("CreateKey(EC-HSM %s) = %v", tc.crv, err)
		}
		if *k.Key.Kty != azkeys.KeyTypeECHSM {
			t.Errorf("kty = %s, want EC-HSM", *k.Key.Kty)
		}
		d := hashFor(tc.alg, msg)
		r, err := c.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: d}, nil)
		if err != nil {
			t.Fatalf("Sign(%s) = %v", tc.alg, err)
		}
		sig := r.Result
		half := len(sig) / 2
		if tc.curve == nil {
			var pt [65]byte
			pt[0] = 4
			copy(pt[1:33], k.Key.X)
			copy(pt[33:], k.Key.Y)
			pub, err := secp256k1.ParsePubKey(pt[:])
			if err != nil {
				t.Fatal(err)
			}
			var rs, ss secp256k1.ModNScalar
			rs.SetByteSlice(sig[:half])
			ss.SetByteSlice(sig[half:])
			if !secpecdsa.NewSignature(&rs, &ss).Verify(d, pub) {
				t.Errorf("ES256K signature from the token does not verify")
			}
			continue
		}
		pub := &ecdsa.PublicKey{Curve: tc.curve, X: new(big.Int).SetBytes(k.Key.X), Y: new(big.Int).SetBytes(k.Key.Y)}
		if !ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])) {
			t.Errorf("%s signature from the token does not verify with Go", tc.alg)
		}
	}

	// Backup of an HSM key holds it wrapped inside the token by the
	// token's trusted key; restore unwraps it inside the token, and the
	// restored key signs for the original public key.
	backup, err := c.BackupKey(ctx, "hsm-rsa", nil)
	if err != nil {
		t.Fatalf("BackupKey(RSA-HSM) = %v", err)
	}
	if _, err := c.DeleteKey(ctx, "hsm-rsa", nil); err != nil {
		t.Fatalf("DeleteKey(RSA-HSM) = %v", err)
	}
	if _, err := c.PurgeDeletedKey(ctx, "hsm-rsa", nil); err != nil {
		t.Fatalf("PurgeDeletedKey(RSA-HSM) = %v", err)
	}
	restored, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	if err != nil {
		t.Fatalf("RestoreKey(RSA-HSM backup) = %v", err)
	}
	if *restored.Key.Kty != azkeys.KeyTypeRSAHSM || restored.Key.KID.Version() != rsaVersion || !bytes.Equal(restored.Key.N, rsaKey.Key.N) {
		t.Errorf("RestoreKey() = %s version %s, want RSA-HSM version %s with the original modulus", *restored.Key.Kty, restored.Key.KID.Version(), rsaVersion)
	}
	signRSA(c, rsaVersion)

	// The key lives in the token: it signs again after a restart.
	s.stop()
	s = startDev(t, dir, port)
	if !strings.Contains(s.all(), "HSM: SoftHSM2 token keywarden-dev") {
		t.Fatalf("banner after restart lacks the HSM line:\n%s", s.all())
	}
	c = s.client(false)
	signRSA(c, rsaVersion)

	// A standard vault refuses HSM keys.
	a := newAdmin(t, s)
	std := vaultClient(t, s, a, "plain", "standard")
	_, err = std.CreateKey(ctx, "nope", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM)}, nil)
	wantCode(t, "CreateKey(RSA-HSM) in a standard vault", err, http.StatusBadRequest, "")

	// A managedhsm vault: the dev principal needs the Managed HSM roles.
	var principals struct {
		Value []principal `json:"value"`
	}
	a.do("GET", "/principals", nil, &principals, http.StatusOK)
	var devOID string
	for _, p := range principals.Value {
		if p.ClientID == s.env["AZURE_CLIENT_ID"] {
			devOID = p.ObjectID
		}
	}
	hsm := vaultClient(t, s, a, "hsm1", "managedhsm")
	for _, role := range []string{roleHSMCryptoUser, roleHSMCryptoOfficer} {
		a.do("PUT", "/roleAssignments/"+newID(), map[string]any{"principalId": devOID, "roleDefinitionId": role, "scope": "/vaults/hsm1"}, nil, http.StatusCreated)
	}
	k, err := hsm.CreateKey(ctx, "made-hsm", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatalf("CreateKey(RSA) in a managedhsm vault = %v", err)
	}
	if *k.Key.Kty != azkeys.KeyTypeRSAHSM {
		t.Errorf("CreateKey(RSA) in a managedhsm vault made kty %s, want RSA-HSM", *k.Key.Kty)
	}

	// oct-HSM: AES round trips through the wire.
	oct, err := hsm.CreateKey(ctx, "aes", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr[int32](256)}, nil)
	if err != nil {
		t.Fatalf("CreateKey(oct-HSM 256) = %v", err)
	}
	if *oct.Key.Kty != azkeys.KeyTypeOctHSM || oct.Key.K != nil {
		t.Errorf("CreateKey(oct-HSM) = kty %s with k %v, want oct-HSM without material", *oct.Key.Kty, oct.Key.K)
	}
	plain, aad, iv := []byte("sixteen+ bytes of plaintext"), []byte("header"), bytes.Repeat([]byte{7}, 16)
	enc, err := hsm.Encrypt(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: plain, AdditionalAuthenticatedData: aad}, nil)
	if err != nil || len(enc.IV) != 12 || len(enc.AuthenticationTag) != 16 {
		t.Fatalf("Encrypt(A256GCM) = iv %x tag %x, %v; want a 12-byte iv and a 16-byte tag", enc.IV, enc.AuthenticationTag, err)
	}
	dec, err := hsm.Decrypt(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: enc.Result, IV: enc.IV, AdditionalAuthenticatedData: aad, AuthenticationTag: enc.AuthenticationTag}, nil)
	if err != nil || !bytes.Equal(dec.Result, plain) {
		t.Errorf("Decrypt(A256GCM) = %q, %v; want %q", dec.Result, err, plain)
	}
	tag := append([]byte(nil), enc.AuthenticationTag...)
	tag[0] ^= 1
	_, err = hsm.Decrypt(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: enc.Result, IV: enc.IV, AdditionalAuthenticatedData: aad, AuthenticationTag: tag}, nil)
	wantCode(t, "Decrypt(A256GCM) with a wrong tag", err, http.StatusBadRequest, "")
	enc, err = hsm.Encrypt(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256CBCPAD), Value: plain, IV: iv}, nil)
	if err != nil || len(enc.Result) != 32 {
		t.Fatalf("Encrypt(A256CBCPAD) = %x, %v; want 32 bytes", enc.Result, err)
	}
	dec, err = hsm.Decrypt(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256CBCPAD), Value: enc.Result, IV: iv}, nil)
	if err != nil || !bytes.Equal(dec.Result, plain) {
		t.Errorf("Decrypt(A256CBCPAD) = %q, %v; want %q", dec.Result, err, plain)
	}
	cek := bytes.Repeat([]byte{0x42}, 32)
	for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmA256KW, azkeys.EncryptionAlgorithmCKMAESKEYWRAP, azkeys.EncryptionAlgorithmCKMAESKEYWRAPPAD} {
		w, err := hsm.WrapKey(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: cek}, nil)
		if err != nil || len(w.Result) != 40 {
			t.Fatalf("WrapKey(%s) = %x, %v; want 40 bytes", alg, w.Result, err)
		}
		u, err := hsm.UnwrapKey(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: w.Result}, nil)
		if err != nil || !bytes.Equal(u.Result, cek) {
			t.Errorf("UnwrapKey(%s) = %x, %v; want %x", alg, u.Result, err, cek)
		}
	}

	// Interoperability with a known key: GCM and CBC against Go, the key
	// wraps against the vectors of RFC 3394 and RFC 5649.
	importOct := func(name, keyHex string) []byte {
		t.Helper()
		key, _ := hex.DecodeString(keyHex)
		_, err := hsm.ImportKey(ctx, name, azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeOctHSM), K: key}}, nil)
		if err != nil {
			t.Fatalf("ImportKey(%s) = %v", name, err)
		}
		return key
	}
	known := importOct("known", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	block, _ := aes.NewCipher(known)
	gcm, _ := cipher.NewGCM(block)
	enc, err = hsm.Encrypt(ctx, "known", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256GCM), Value: plain, AdditionalAuthenticatedData: aad}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := gcm.Open(nil, enc.IV, append(enc.Result, enc.AuthenticationTag...), aad); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("A256GCM from the token opened with Go = %q, %v", got, err)
	}
	enc, err = hsm.Encrypt(ctx, "known", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256CBCPAD), Value: plain, IV: iv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(enc.Result))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(got, enc.Result)
	if pad := int(got[len(got)-1]); pad < 1 || pad > 16 || !bytes.Equal(got[:len(got)-pad], plain) {
		t.Errorf("A256CBCPAD from the token decrypted with Go = %x, want %q padded", got, plain)
	}
	importOct("rfc3394", "000102030405060708090A0B0C0D0E0F")
	importOct("rfc5649", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	for _, v := range []struct {
		key string
		alg azkeys.EncryptionAlgorithm
		in  string
		out string
	}{
		{"rfc3394", azkeys.EncryptionAlgorithmA128KW, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"rfc3394", azkeys.EncryptionAlgorithmCKMAESKEYWRAP, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"rfc5649", azkeys.EncryptionAlgorithmCKMAESKEYWRAPPAD, "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"rfc5649", azkeys.EncryptionAlgorithmCKMAESKEYWRAPPAD, "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		in, _ := hex.DecodeString(v.in)
		want, _ := hex.DecodeString(v.out)
		w, err := hsm.WrapKey(ctx, v.key, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(v.alg), Value: in}, nil)
		if err != nil || !bytes.Equal(w.Result, want) {
			t.Errorf("WrapKey(%s, %s) = %x, %v; want the RFC's %x", v.key, v.alg, w.Result, err, want)
		}
	}

	// Purge destroys the key's objects in the token.
	conf := filepath.Join(dir, "softhsm", "softhsm2.conf")
	before := tokenObjects(t, module, conf, filepath.Join(dir, "softhsm", "user.pin"), "kw/hsm1/")
	if _, err := hsm.DeleteKey(ctx, "made-hsm", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.PurgeDeletedKey(ctx, "made-hsm", nil); err != nil {
		t.Fatalf("PurgeDeletedKey() = %v", err)
	}
	if after := tokenObjects(t, module, conf, filepath.Join(dir, "softhsm", "user.pin"), "kw/hsm1/"); after != before-2 {
		t.Errorf("objects of vault hsm1 in the token: %d before the purge of an RSA key, %d after; want 2 fewer", before, after)
	}
}

// Managed HSM role ids (Azure's).
const (
	roleHSMCryptoUser    = "21dbd100-6940-42c2-9190-5d6cb909625b"
	roleHSMCryptoOfficer = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
)

// vaultClient creates a vault through the administration API and returns
// an azkeys client for it, as the dev principal.
func vaultClient(t *testing.T, s *server, a *admin, name, sku string) *azkeys.Client {
	t.Helper()
	var v struct {
		URI string `json:"uri"`
	}
	a.do("POST", "/vaults", map[string]any{"name": name, "sku": sku, "retentionDays": 7}, &v, http.StatusCreated)
	if sku == "managedhsm" {
		checkHSMOrigin(t, s, a, name, v.URI)
	}
	hc := s.httpClient()
	c, err := azkeys.NewClient(v.URI, s.credential(hc), &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkHSMOrigin checks that the managed HSM name is served at
// https://{name}.managedhsm.localhost:{port} (uri, from the admin API), not
// under the vaults' suffix, and that a token for the vaults' resource (the
// admin's, audience https://localhost:{port}) is refused there with the
// HSM's own challenge resource, as Managed HSM refuses vault.azure.net
// tokens.
func checkHSMOrigin(t *testing.T, s *server, a *admin, name, uri string) {
	t.Helper()
	_, port, _ := strings.Cut(strings.TrimPrefix(s.env["KEYWARDEN_VAULT_URL"], "https://"), ":")
	if want := "https://" + name + ".managedhsm.localhost:" + port; uri != want {
		t.Errorf("managedhsm vault uri = %s, want %s", uri, want)
	}
	get := func(url, host string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/keys?api-version=7.5", nil)
		if host != "" {
			req.Host = host
		}
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s/keys: %v", url, err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get(uri, "")
	wantResource := `resource="https://managedhsm.localhost:` + port + `"`
	if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasSuffix(h, wantResource) {
		t.Errorf("GET %s/keys with a vault token = %d, challenge %q; want 401 naming %s", uri, resp.StatusCode, h, wantResource)
	}
	// Through the bare origin's address (the certificate has no SAN for
	// this host), with the Host header the vault suffix would give.
	if resp := get(s.env["KEYWARDEN_VAULT_URL"], name+".localhost:"+port); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET https://%s.localhost:%s/keys = %d, want 404: a managed HSM is not served under the vaults' suffix", name, port, resp.StatusCode)
	}
}

// tokenObjects counts the objects of the dev token whose label starts with
// prefix, logged in with the dev user PIN. SoftHSM2 reads SOFTHSM2_CONF
// once per process: this test process only ever uses this one token.
func tokenObjects(t *testing.T, module, conf, pinFile, prefix string) int {
	t.Helper()
	pin, err := os.ReadFile(pinFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		t.Fatal(err)
	}
	m := p11.New(module)
	if m == nil {
		t.Fatalf("cannot load %s", module)
	}
	defer m.Destroy()
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer m.Finalize()
	slots, err := m.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := m.GetTokenInfo(slot)
		if err != nil || info.Label != "keywarden-dev" {
			continue
		}
		sh, err := m.OpenSession(slot, p11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer m.CloseSession(sh)
		if err := m.Login(sh, p11.CKU_USER, strings.TrimSpace(string(pin))); err != nil {
			t.Fatal(err)
		}
		defer m.Logout(sh)
		if err := m.FindObjectsInit(sh, nil); err != nil {
			t.Fatal(err)
		}
		var all []p11.ObjectHandle
		for {
			hs, _, err := m.FindObjects(sh, 64)
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) == 0 {
				break
			}
			all = append(all, hs...)
		}
		m.FindObjectsFinal(sh)
		n := 0
		for _, h := range all {
			attrs, err := m.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
			if err == nil && strings.HasPrefix(string(attrs[0].Value), prefix) {
				n++
			}
		}
		return n
	}
	t.Fatalf("no token keywarden-dev in %s", conf)
	return 0
}
