package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// sharedServer is one dev server for the tests that need no special start.
func sharedServer(t *testing.T) *server {
	t.Helper()
	return startDev(t, "", 0)
}

func wantCode(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || (code != "" && re.ErrorCode != code) {
		t.Fatalf("%s: err = %v, want HTTP %d %s", what, err, status, code)
	}
}

func hashFor(alg azkeys.SignatureAlgorithm, msg []byte) []byte {
	switch {
	case strings.HasSuffix(string(alg), "384"):
		h := sha512.Sum384(msg)
		return h[:]
	case strings.HasSuffix(string(alg), "512"):
		h := sha512.Sum512(msg)
		return h[:]
	default:
		h := sha256.Sum256(msg)
		return h[:]
	}
}

// TestEveryOperation drives every keys operation through azkeys on the bare
// origin and on the named origin with resource verification on.
func TestEveryOperation(t *testing.T) {
	s := sharedServer(t)
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			c := s.client(named)
			ctx := context.Background()
			prefix := "bare"
			origin := s.env["KEYWARDEN_VAULT_URL"]
			if named {
				prefix, origin = "named", s.env["KEYWARDEN_VAULT_DNS_URL"]
			}

			// Create RSA and EC keys of every size/curve (one 4096).
			rsaKey, err := c.CreateKey(ctx, prefix+"-rsa", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
			if err != nil {
				t.Fatalf("CreateKey(RSA): %v", err)
			}
			kid := string(*rsaKey.Key.KID)
			if !strings.HasPrefix(kid, origin+"/keys/"+prefix+"-rsa/") || len(rsaKey.Key.KID.Version()) != 32 {
				t.Errorf("kid = %s, want %s/keys/%s-rsa/{32 hex}", kid, origin, prefix)
			}
			if *rsaKey.Attributes.RecoveryLevel != "Recoverable+Purgeable" || *rsaKey.Attributes.RecoverableDays != 90 {
				t.Errorf("attributes = %s/%d", *rsaKey.Attributes.RecoveryLevel, *rsaKey.Attributes.RecoverableDays)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(rsaKey.Key.N), E: int(new(big.Int).SetBytes(rsaKey.Key.E).Int64())}
			if pub.N.BitLen() != 2048 {
				t.Errorf("modulus = %d bits, want 2048", pub.N.BitLen())
			}
			curves := []struct {
				crv azkeys.CurveName
				alg azkeys.SignatureAlgorithm
			}{{azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256}, {azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384}, {azkeys.CurveNameP521, azkeys.SignatureAlgorithmES512}, {azkeys.CurveNameP256K, azkeys.SignatureAlgorithmES256K}}
			for _, cv := range curves {
				name := fmt.Sprintf("%s-ec-%s", prefix, strings.ToLower(strings.ReplaceAll(string(cv.crv), "-", "")))
				ec, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(cv.crv)}, nil)
				if err != nil {
					t.Fatalf("CreateKey(EC %s): %v", cv.crv, err)
				}
				digest := hashFor(cv.alg, []byte("message"))
				sig, err := c.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(cv.alg), Value: digest}, nil)
				if err != nil {
					t.Fatalf("Sign(%s): %v", cv.alg, err)
				}
				if cv.crv != azkeys.CurveNameP256K {
					curve := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}[cv.crv]
					epub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(ec.Key.X), Y: new(big.Int).SetBytes(ec.Key.Y)}
					n := len(sig.Result) / 2
					if !ecdsa.Verify(epub, digest, new(big.Int).SetBytes(sig.Result[:n]), new(big.Int).SetBytes(sig.Result[n:])) {
						t.Errorf("ecdsa.Verify(%s signature from the server) = false", cv.alg)
					}
				}
				v, err := c.Verify(ctx, name, "", azkeys.VerifyParameters{Algorithm: to.Ptr(cv.alg), Digest: digest, Signature: sig.Result}, nil)
				if err != nil || !*v.Value {
					t.Errorf("Verify(%s) = %v, %v; want true", cv.alg, v.Value, err)
				}
				sig.Result[3] ^= 1
				v, err = c.Verify(ctx, name, "", azkeys.VerifyParameters{Algorithm: to.Ptr(cv.alg), Digest: digest, Signature: sig.Result}, nil)
				if err != nil || *v.Value {
					t.Errorf("Verify(tampered %s) = %v, %v; want false", cv.alg, v.Value, err)
				}
			}

			// RSA signatures, checked with Go's crypto.
			for _, alg := range []azkeys.SignatureAlgorithm{azkeys.SignatureAlgorithmRS256, azkeys.SignatureAlgorithmRS384, azkeys.SignatureAlgorithmRS512, azkeys.SignatureAlgorithmPS256, azkeys.SignatureAlgorithmPS384, azkeys.SignatureAlgorithmPS512} {
				digest := hashFor(alg, []byte("hello"))
				sig, err := c.Sign(ctx, prefix+"-rsa", rsaKey.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(alg), Value: digest}, nil)
				if err != nil {
					t.Fatalf("Sign(%s): %v", alg, err)
				}
				if err := verifyRSA(pub, alg, digest, sig.Result); err != nil {
					t.Errorf("Go verify of %s signature: %v", alg, err)
				}
				v, err := c.Verify(ctx, prefix+"-rsa", "", azkeys.VerifyParameters{Algorithm: to.Ptr(alg), Digest: digest, Signature: sig.Result}, nil)
				if err != nil || !*v.Value {
					t.Errorf("Verify(%s) = %v, %v", alg, v.Value, err)
				}
			}
			_, err = c.Sign(ctx, prefix+"-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: []byte("short")}, nil)
			wantCode(t, "Sign(short digest)", err, 400, "BadParameter")

			// Encrypt/decrypt and wrap/unwrap with every RSA algorithm.
			for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSA15, azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSAOAEP256} {
				plain := []byte("attack at dawn " + string(alg))
				enc, err := c.Encrypt(ctx, prefix+"-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: plain}, nil)
				if err != nil {
					t.Fatalf("Encrypt(%s): %v", alg, err)
				}
				dec, err := c.Decrypt(ctx, prefix+"-rsa", enc.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: enc.Result}, nil)
				if err != nil || !bytes.Equal(dec.Result, plain) {
					t.Errorf("Decrypt(%s) = %q, %v", alg, dec.Result, err)
				}
				cek := make([]byte, 32)
				rand.Read(cek)
				w, err := c.WrapKey(ctx, prefix+"-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: cek}, nil)
				if err != nil {
					t.Fatalf("WrapKey(%s): %v", alg, err)
				}
				u, err := c.UnwrapKey(ctx, prefix+"-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: w.Result}, nil)
				if err != nil || !bytes.Equal(u.Result, cek) {
					t.Errorf("UnwrapKey(%s) mismatch: %v", alg, err)
				}
			}
			// A ciphertext made locally with the public key decrypts on the server.
			local, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, []byte("local"), nil)
			dec, err := c.Decrypt(ctx, prefix+"-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: local}, nil)
			if err != nil || string(dec.Result) != "local" {
				t.Errorf("Decrypt(local ciphertext) = %q, %v", dec.Result, err)
			}

			// Import a JWK with private members.
			priv, _ := rsa.GenerateKey(rand.Reader, 2048)
			imp, err := c.ImportKey(ctx, prefix+"-imported", azkeys.ImportKeyParameters{Key: rsaJWK(priv)}, nil)
			if err != nil {
				t.Fatalf("ImportKey: %v", err)
			}
			if imp.Key.D != nil || imp.Key.P != nil || !bytes.Equal(imp.Key.N, priv.N.Bytes()) {
				t.Errorf("ImportKey returned private members or a different modulus")
			}
			digest := hashFor(azkeys.SignatureAlgorithmPS256, []byte("imp"))
			sig, err := c.Sign(ctx, prefix+"-imported", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmPS256), Value: digest}, nil)
			if err != nil || verifyRSA(&priv.PublicKey, azkeys.SignatureAlgorithmPS256, digest, sig.Result) != nil {
				t.Errorf("Sign with imported key: %v", err)
			}

			// Get by version and latest; update attributes, key_ops, tags.
			got, err := c.GetKey(ctx, prefix+"-rsa", rsaKey.Key.KID.Version(), nil)
			if err != nil || *got.Key.KID != *rsaKey.Key.KID || *got.Tags["env"] != "test" {
				t.Errorf("GetKey(version) = %v, %v", got.Key, err)
			}
			exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
			up, err := c.UpdateKey(ctx, prefix+"-rsa", "", azkeys.UpdateKeyParameters{
				KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false), Expires: &exp},
				KeyOps:        []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify), to.Ptr(azkeys.KeyOperationDecrypt)},
				Tags:          map[string]*string{"env": to.Ptr("prod")},
			}, nil)
			if err != nil || *up.Attributes.Enabled || !up.Attributes.Expires.Equal(exp) || len(up.Key.KeyOps) != 3 || *up.Tags["env"] != "prod" {
				t.Fatalf("UpdateKey = %+v, %v", up.Attributes, err)
			}
			_, err = c.Sign(ctx, prefix+"-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: hashFor(azkeys.SignatureAlgorithmRS256, nil)}, nil)
			wantCode(t, "Sign(disabled)", err, 403, "Forbidden")
			if _, err := c.UpdateKey(ctx, prefix+"-rsa", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
				t.Fatal(err)
			}
			_, err = c.Encrypt(ctx, prefix+"-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
			wantCode(t, "Encrypt(not in key_ops)", err, 403, "Forbidden")
			_, err = c.GetKey(ctx, prefix+"-missing", "", nil)
			wantCode(t, "GetKey(missing)", err, 404, "KeyNotFound")

			// Rotation policy and rotate.
			pol, err := c.UpdateKeyRotationPolicy(ctx, prefix+"-rsa", azkeys.KeyRotationPolicy{
				Attributes:      &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P90D")},
				LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyAction("rotate"))}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P30D")}}},
			}, nil)
			if err != nil || *pol.Attributes.ExpiryTime != "P90D" || len(pol.LifetimeActions) != 2 {
				t.Fatalf("UpdateKeyRotationPolicy = %+v, %v", pol.KeyRotationPolicy, err)
			}
			gp, err := c.GetKeyRotationPolicy(ctx, prefix+"-rsa", nil)
			if err != nil || *gp.ID != origin+"/keys/"+prefix+"-rsa/rotationpolicy" || *gp.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionRotate {
				t.Errorf("GetKeyRotationPolicy = %+v, %v", gp.KeyRotationPolicy, err)
			}
			rot, err := c.RotateKey(ctx, prefix+"-rsa", nil)
			if err != nil || rot.Key.KID.Version() == rsaKey.Key.KID.Version() || rot.Attributes.Expires == nil {
				t.Fatalf("RotateKey = %v, %v", rot.Key, err)
			}
			if d := time.Until(*rot.Attributes.Expires); d < 89*24*time.Hour || d > 91*24*time.Hour {
				t.Errorf("rotated exp in %v, want about 90 days", d)
			}

			// List keys and versions through the pagers (nextLink).
			var versions int
			for pg := c.NewListKeyPropertiesVersionsPager(prefix+"-rsa", nil); pg.More(); {
				page, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatalf("versions pager: %v", err)
				}
				versions += len(page.Value)
			}
			if versions != 2 {
				t.Errorf("versions = %d, want 2", versions)
			}

			// Backup, delete, deleted views, recover, purge, restore.
			backup, err := c.BackupKey(ctx, prefix+"-rsa", nil)
			if err != nil {
				t.Fatalf("BackupKey: %v", err)
			}
			del, err := c.DeleteKey(ctx, prefix+"-rsa", nil)
			if err != nil || *del.RecoveryID != origin+"/deletedkeys/"+prefix+"-rsa" || del.ScheduledPurgeDate.Sub(*del.DeletedDate) != 90*24*time.Hour {
				t.Fatalf("DeleteKey = %+v, %v", del.DeletedKey, err)
			}
			_, err = c.CreateKey(ctx, prefix+"-rsa", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
			wantCode(t, "CreateKey(deleted name)", err, 409, "Conflict")
			if _, err := c.GetDeletedKey(ctx, prefix+"-rsa", nil); err != nil {
				t.Errorf("GetDeletedKey: %v", err)
			}
			found := false
			for pg := c.NewListDeletedKeyPropertiesPager(nil); pg.More(); {
				page, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatalf("deleted pager: %v", err)
				}
				for _, dk := range page.Value {
					found = found || dk.KID.Name() == prefix+"-rsa"
				}
			}
			if !found {
				t.Errorf("deleted key not listed")
			}
			if rec, err := c.RecoverDeletedKey(ctx, prefix+"-rsa", nil); err != nil || rec.Key.KID.Version() != rot.Key.KID.Version() {
				t.Fatalf("RecoverDeletedKey = %v, %v", rec.Key, err)
			}
			_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
			wantCode(t, "RestoreKey(existing)", err, 409, "Conflict")
			if _, err := c.DeleteKey(ctx, prefix+"-rsa", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PurgeDeletedKey(ctx, prefix+"-rsa", nil); err != nil {
				t.Fatalf("PurgeDeletedKey: %v", err)
			}
			_, err = c.GetDeletedKey(ctx, prefix+"-rsa", nil)
			wantCode(t, "GetDeletedKey(purged)", err, 404, "KeyNotFound")
			tampered := bytes.Clone(backup.Value)
			tampered[len(tampered)/2] ^= 1
			_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: tampered}, nil)
			wantCode(t, "RestoreKey(tampered)", err, 400, "BadParameter")
			res, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
			if err != nil || res.Key.KID.Version() != rot.Key.KID.Version() || !strings.HasPrefix(string(*res.Key.KID), origin) {
				t.Fatalf("RestoreKey = %v, %v", res.Key, err)
			}

			rb, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](64)}, nil)
			if err != nil || len(rb.Value) != 64 {
				t.Errorf("GetRandomBytes = %d bytes, %v", len(rb.Value), err)
			}
		})
	}
	// Nothing secret reaches the server's log: not the client secret, not
	// a plaintext, not the imported private key.
	s.stop()
	logs := s.output()
	for what, v := range map[string]string{
		"client secret": s.env["AZURE_CLIENT_SECRET"],
		"plaintext":     "attack at dawn",
		"plaintext b64": base64.RawURLEncoding.EncodeToString([]byte("attack at dawn RSA-OAEP")),
	} {
		if strings.Contains(logs, v) {
			t.Errorf("server log contains the %s", what)
		}
	}
	if !strings.Contains(logs, "request_id=") {
		t.Errorf("server log has no request lines; the secret check above proves nothing")
	}
}

// TestListPaging creates more than a page of keys and walks the pager.
func TestListPaging(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := context.Background()
	for i := range 30 {
		if _, err := c.CreateKey(ctx, fmt.Sprintf("page-%02d", i), azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	seen, pages := map[string]bool{}, 0
	for pg := c.NewListKeyPropertiesPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("pager: %v", err)
		}
		pages++
		if len(page.Value) > 25 {
			t.Errorf("page of %d items, want at most 25", len(page.Value))
		}
		for _, k := range page.Value {
			seen[k.KID.Name()] = true
			if k.KID.Version() != "" {
				t.Errorf("list kid %s carries a version", *k.KID)
			}
		}
	}
	if len(seen) != 30 || pages < 2 {
		t.Errorf("pager saw %d keys in %d pages, want 30 in at least 2", len(seen), pages)
	}
}

// TestChallenge checks the 401 challenge for a request without a token.
func TestChallenge(t *testing.T) {
	s := sharedServer(t)
	hc := s.httpClient()
	for _, tt := range []struct{ url, resource string }{
		{s.env["KEYWARDEN_VAULT_URL"], ""},
		{s.env["KEYWARDEN_VAULT_DNS_URL"], fmt.Sprintf("https://localhost:%d", s.port)},
	} {
		req, _ := http.NewRequest("POST", tt.url+"/keys/x/create?api-version=7.5", nil)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header.Get("WWW-Authenticate")
		wantAuth := fmt.Sprintf(`Bearer authorization="https://127.0.0.1:%d/%s"`, s.port, s.env["AZURE_TENANT_ID"])
		if resp.StatusCode != 401 || !strings.HasPrefix(h, `Bearer authorization="https://`) || !strings.Contains(h, "/"+s.env["AZURE_TENANT_ID"]+`", resource="https://`) {
			t.Errorf("%s: status %d challenge %q, want 401 like %s", tt.url, resp.StatusCode, h, wantAuth)
		}
		if tt.resource != "" && !strings.HasSuffix(h, `resource="`+tt.resource+`"`) {
			t.Errorf("%s: challenge %q, want resource %s", tt.url, h, tt.resource)
		}
	}
}

func verifyRSA(pub *rsa.PublicKey, alg azkeys.SignatureAlgorithm, digest, sig []byte) error {
	h := map[string]int{"256": 5, "384": 6, "512": 7}[string(alg)[2:]]
	hash := []cryptoHash{0, 0, 0, 0, 0, sha256Hash, sha384Hash, sha512Hash}[h]
	if strings.HasPrefix(string(alg), "PS") {
		return rsa.VerifyPSS(pub, hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	return rsa.VerifyPKCS1v15(pub, hash, digest, sig)
}

func rsaJWK(k *rsa.PrivateKey) *azkeys.JSONWebKey {
	k.Precompute()
	return &azkeys.JSONWebKey{
		Kty: to.Ptr(azkeys.KeyTypeRSA),
		N:   k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes(), D: k.D.Bytes(),
		P: k.Primes[0].Bytes(), Q: k.Primes[1].Bytes(),
		DP: k.Precomputed.Dp.Bytes(), DQ: k.Precomputed.Dq.Bytes(), QI: k.Precomputed.Qinv.Bytes(),
	}
}

func ecJWK() *azkeys.JSONWebKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	return &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP256), X: pad(k.X.Bytes()), Y: pad(k.Y.Bytes()), D: pad(k.D.Bytes())}
}
