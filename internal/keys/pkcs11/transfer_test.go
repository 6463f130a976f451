//go:build cgo

package pkcs11_test

import (
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/byok"
	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/keywrap"
	"github.com/keywarden/keywarden/internal/keys/pkcs11"
	"github.com/keywarden/keywarden/internal/keys/pkcs11/softhsmtest"
)

// transferKEK returns an HSM RSA key-exchange key (unwrap only, as the
// vault generates them) and its public key.
func transferKEK(t *testing.T, bits int) (keys.Material, *rsa.PublicKey) {
	t.Helper()
	m, _ := generated(t, keys.Spec{Type: keys.RSA, Size: bits, Owner: "byok", UnwrapOnly: true})
	return m, m.Public.(*rsa.PublicKey)
}

// wrapFor packages key for kek and returns the blob's ciphertext.
func wrapFor(t *testing.T, kek *rsa.PublicKey, key any) []byte {
	t.Helper()
	blob, err := byok.Package(rand.Reader, kek, key, "https://byok.vault.test/keys/kek/00", "test")
	if err != nil {
		t.Fatalf("byok.Package() = %v", err)
	}
	b, err := byok.Parse(blob)
	if err != nil {
		t.Fatalf("byok.Parse(Package()) = %v", err)
	}
	return b.Ciphertext
}

// tokenObjects counts the objects the test token holds.
func tokenObjects(t *testing.T, p *pkcs11.Provider) int {
	t.Helper()
	n := 0
	err := pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
		if err := m.FindObjectsInit(sh, nil); err != nil {
			return err
		}
		defer m.FindObjectsFinal(sh)
		for {
			hs, _, err := m.FindObjects(sh, 64)
			if err != nil {
				return err
			}
			if len(hs) == 0 {
				return nil
			}
			n += len(hs)
		}
	})
	if err != nil {
		t.Fatalf("count token objects: %v", err)
	}
	return n
}

func TestImportTransfer(t *testing.T) {
	p := provider(t)
	kekM, kek := transferKEK(t, 2048)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa3072, _ := rsa.GenerateKey(rand.Reader, 3072)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	tests := []struct {
		name string
		typ  keys.Type
		key  crypto.Signer
		alg  keys.SignatureAlgorithm
	}{
		{"RSA-2048", keys.RSA, rsaKey, keys.PS256},
		{"RSA-3072", keys.RSA, rsa3072, keys.RS384},
		{"EC P-256", keys.EC, p256, keys.ES256},
		{"EC P-384", keys.EC, p384, keys.ES384},
		{"EC P-521", keys.EC, p521, keys.ES512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := p.ImportTransfer(ctx, keys.Spec{Type: tt.typ, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, tt.key))
			if err != nil {
				t.Fatalf("ImportTransfer() = %v", err)
			}
			t.Cleanup(func() { _ = p.Destroy(ctx, m) })
			want, err := publicOf(tt.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if eq, ok := m.Public.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(want) {
				t.Fatalf("ImportTransfer().Public = %v, want the packaged key's public key", m.Public)
			}
			k, err := p.Load(ctx, m)
			if err != nil {
				t.Fatalf("Load() = %v", err)
			}
			checkTransferredAttributes(t, p, k)
			d := digest(tt.alg)
			sig, err := k.Sign(ctx, tt.alg, d)
			if err != nil {
				t.Fatalf("Sign(%s) = %v", tt.alg, err)
			}
			if err := verifyWithGo(want, tt.alg, d, sig); err != nil {
				t.Errorf("verify with the original public key: %v", err)
			}
		})
	}
	t.Run("oct-256", func(t *testing.T) {
		aesKey := make([]byte, 32)
		_, _ = rand.Read(aesKey)
		m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.Oct, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, aesKey))
		if err != nil {
			t.Fatalf("ImportTransfer() = %v", err)
		}
		t.Cleanup(func() { _ = p.Destroy(ctx, m) })
		if m.Spec.Size != 256 {
			t.Errorf("ImportTransfer().Spec.Size = %d, want 256", m.Spec.Size)
		}
		k, err := p.Load(ctx, m)
		if err != nil {
			t.Fatalf("Load() = %v", err)
		}
		in := []byte("0123456789abcdef0123456789abcdef")
		out, err := k.Encrypt(ctx, keys.CipherInput{Algorithm: keys.A256KW, Value: in})
		if err != nil {
			t.Fatalf("Encrypt(A256KW) = %v", err)
		}
		b, _ := aes.NewCipher(aesKey)
		_, dec := keywrap.Cipher(b)
		if got, err := keywrap.Unwrap(dec, out.Value); err != nil || string(got) != string(in) {
			t.Errorf("unwrap in Go with the original key = %q, %v, want %q", got, err, in)
		}
	})
}

func TestImportTransferRefusals(t *testing.T) {
	p := provider(t)
	kekM, kek := transferKEK(t, 2048)
	otherM, other := transferKEK(t, 3072)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := wrapFor(t, kek, rsaKey)
	flip := func(i int) []byte {
		c := append([]byte(nil), good...)
		c[(i+len(c))%len(c)] ^= 1
		return c
	}
	tests := []struct {
		name    string
		typ     keys.Type
		kek     keys.Material
		wrapped []byte
		want    string // in the message
	}{
		{"wrong KEK", keys.RSA, otherM, good, "not wrapped for this key-exchange key"},
		{"blob for another KEK", keys.RSA, kekM, wrapFor(t, other, rsaKey), "not wrapped for this key-exchange key"},
		{"too short", keys.RSA, kekM, good[:200], "does not have the shape"},
		{"altered RSA-OAEP block", keys.RSA, kekM, flip(10), "not wrapped for this key-exchange key"},
		{"altered key wrap", keys.RSA, kekM, flip(-1), "integrity check"},
		{"altered key wrap start", keys.RSA, kekM, flip(256), "integrity check"},
		{"truncated", keys.RSA, kekM, good[:len(good)-8], "integrity check"},
		{"RSA blob as EC", keys.EC, kekM, good, "is not an EC key"},
		{"RSA blob as oct", keys.Oct, kekM, good, "not 128, 192 or 256 bits"},
		{"RSA-1024", keys.RSA, kekM, wrapFor(t, kek, small), "1024 bits"},
		{"KEK is not RSA", keys.RSA, mustGenerated(t, keys.Spec{Type: keys.EC, Curve: keys.P256, Owner: "byok"}), good, "must be an RSA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tokenObjects(t, p)
			m, err := p.ImportTransfer(ctx, keys.Spec{Type: tt.typ, Protection: keys.HSM, Owner: "byok-in"}, tt.kek, tt.wrapped)
			if err == nil {
				_ = p.Destroy(ctx, m)
				t.Fatalf("ImportTransfer() = nil error, want an *keys.InputError")
			}
			if !inputError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ImportTransfer() = %v, want an *keys.InputError saying %q", err, tt.want)
			}
			if after := tokenObjects(t, p); after != before {
				t.Errorf("token holds %d objects after the refused import, want %d as before", after, before)
			}
		})
	}
}

// boolAttr is a boolean attribute and the value a test wants.
type boolAttr struct {
	typ  uint
	name string
	want bool
}

// checkBoolAttrs checks boolean attributes of k's private object, then
// runs more (nil: none) in the same session.
func checkBoolAttrs(t *testing.T, p *pkcs11.Provider, k keys.Key, attrs []boolAttr, more func(m pkcs11.Module, sh p11.SessionHandle, priv p11.ObjectHandle)) {
	t.Helper()
	priv, _, err := pkcs11.Handles(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	err = pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
		for _, a := range attrs {
			got, err := m.GetAttributeValue(sh, priv, []*p11.Attribute{p11.NewAttribute(a.typ, nil)})
			if err != nil {
				return err
			}
			if v := len(got[0].Value) == 1 && got[0].Value[0] == 1; v != a.want {
				t.Errorf("%v: private object %s = %v, want %v", k, a.name, v, a.want)
			}
		}
		if more != nil {
			more(m, sh, priv)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkTransferredAttributes checks that an imported key's private object
// has the attribute policy of generated keys: a sensitive token object,
// extractable only under a trusted key, that cannot derive.
func checkTransferredAttributes(t *testing.T, p *pkcs11.Provider, k keys.Key) {
	t.Helper()
	checkBoolAttrs(t, p, k, []boolAttr{
		{p11.CKA_TOKEN, "CKA_TOKEN", true},
		{p11.CKA_SENSITIVE, "CKA_SENSITIVE", true},
		{p11.CKA_WRAP_WITH_TRUSTED, "CKA_WRAP_WITH_TRUSTED", true},
		{p11.CKA_DERIVE, "CKA_DERIVE", false},
	}, nil)
}

func mustGenerated(t *testing.T, spec keys.Spec) keys.Material {
	m, _ := generated(t, spec)
	return m
}

// publicOf converts a Go public key to the keys form.
func publicOf(pub crypto.PublicKey) (crypto.PublicKey, error) {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		return keys.NewECPublicKey(k)
	}
	return pub, nil
}

// TestUnwrapOnlyKEK checks the private object of a key-exchange key: it
// unwraps, and nothing else, so no decrypt of a blob's RSA-OAEP block can
// reveal its ephemeral AES key; other RSA keys keep decrypt and sign.
func TestUnwrapOnlyKEK(t *testing.T) {
	p := provider(t)
	kekM, kekPub := transferKEK(t, 2048)
	_, plain := generated(t, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "byok"})
	kek, err := p.Load(ctx, kekM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		k    keys.Key
		want map[uint]bool
	}{
		{"KEK", kek, map[uint]bool{p11.CKA_UNWRAP: true, p11.CKA_DECRYPT: false, p11.CKA_SIGN: false, p11.CKA_DERIVE: false}},
		{"other RSA key", plain, map[uint]bool{p11.CKA_UNWRAP: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: true, p11.CKA_DERIVE: false}},
	} {
		priv, _, err := pkcs11.Handles(ctx, tt.k)
		if err != nil {
			t.Fatal(err)
		}
		err = pkcs11.WithSession(ctx, p, func(m pkcs11.Module, sh p11.SessionHandle) error {
			for typ, want := range tt.want {
				attrs, err := m.GetAttributeValue(sh, priv, []*p11.Attribute{p11.NewAttribute(typ, nil)})
				if err != nil {
					return err
				}
				if got := len(attrs[0].Value) == 1 && attrs[0].Value[0] == 1; got != want {
					t.Errorf("%s: private object attribute %#x = %v, want %v", tt.name, typ, got, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	checkUnwrapOnly(t, p, kek)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	blob := wrapFor(t, kekPub, rsaKey)
	if out, err := kek.Decrypt(ctx, keys.CipherInput{Algorithm: keys.RSAOAEP, Value: blob[:256]}); err == nil {
		out.Clear()
		t.Errorf("KEK Decrypt(RSA-OAEP of the blob's head) succeeded, want a refusal")
	}
	if _, err := kek.Sign(ctx, keys.RS256, make([]byte, 32)); err == nil {
		t.Errorf("KEK Sign() succeeded, want a refusal")
	}
	m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "byok-in"}, kekM, blob)
	if err != nil {
		t.Fatalf("ImportTransfer(under the unwrap-only KEK) = %v", err)
	}
	_ = p.Destroy(ctx, m)
}

// checkUnwrapOnly checks that k's private object can only unwrap and
// cannot be given decrypt or sign.
func checkUnwrapOnly(t *testing.T, p *pkcs11.Provider, k keys.Key) {
	t.Helper()
	checkBoolAttrs(t, p, k, []boolAttr{
		{p11.CKA_UNWRAP, "CKA_UNWRAP", true},
		{p11.CKA_DECRYPT, "CKA_DECRYPT", false},
		{p11.CKA_SIGN, "CKA_SIGN", false},
		{p11.CKA_DERIVE, "CKA_DERIVE", false},
		{p11.CKA_MODIFIABLE, "CKA_MODIFIABLE", false},
	}, func(m pkcs11.Module, sh p11.SessionHandle, priv p11.ObjectHandle) {
		for _, typ := range []uint{p11.CKA_DECRYPT, p11.CKA_SIGN} {
			if err := m.SetAttributeValue(sh, priv, []*p11.Attribute{p11.NewAttribute(typ, true)}); err == nil {
				t.Errorf("%v: C_SetAttributeValue(%#x, true) on the private object succeeded, want a refusal", k, typ)
			}
		}
	})
}

// TestImportTransferRefusesDecryptingKEK checks that a key-exchange key
// whose private object can decrypt or sign (made before KEKs were
// unwrap-only) is refused, with a message saying to create a new one.
func TestImportTransferRefusesDecryptingKEK(t *testing.T) {
	p := provider(t)
	old, _ := generated(t, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "byok"})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	before := tokenObjects(t, p)
	m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "byok-in"}, old, wrapFor(t, old.Public.(*rsa.PublicKey), rsaKey))
	if err == nil {
		_ = p.Destroy(ctx, m)
		t.Fatal("ImportTransfer(under a KEK that can decrypt and sign) succeeded, want a refusal")
	}
	if !inputError(err) || !strings.Contains(err.Error(), "create a new key-exchange key") {
		t.Errorf("ImportTransfer(under a KEK that can decrypt and sign) = %v, want an *keys.InputError saying to create a new key-exchange key", err)
	}
	if after := tokenObjects(t, p); after != before {
		t.Errorf("token holds %d objects after the refused import, want %d as before", after, before)
	}
}

// ecPKCS8 returns a PKCS#8 P-256 private key with scalar d, which need not
// be valid: crypto/x509 cannot marshal the malformed ones.
func ecPKCS8(t *testing.T, d *big.Int) []byte {
	t.Helper()
	type ecPrivateKey struct {
		Version    int
		PrivateKey []byte
	}
	type algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.ObjectIdentifier
	}
	type pkcs8 struct {
		Version    int
		Algo       algorithm
		PrivateKey []byte
	}
	inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: d.FillBytes(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(pkcs8{Algo: algorithm{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}}, PrivateKey: inner})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// rsaPKCS8 returns a PKCS#8 RSA private key with modulus n, public
// exponent 65537, private exponent d and primes p and q (the CRT values
// from them, or zero), which need not be consistent: crypto/x509 cannot
// marshal the malformed ones.
func rsaPKCS8(t *testing.T, n, d, p, q *big.Int) []byte {
	t.Helper()
	type rsaPrivateKey struct {
		Version                     int
		N, E, D, P, Q, Dp, Dq, Qinv *big.Int
	}
	type algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue
	}
	type pkcs8 struct {
		Version    int
		Algo       algorithm
		PrivateKey []byte
	}
	zero := big.NewInt(0)
	dp, dq, qinv := zero, zero, zero
	if p.Sign() > 0 && q.Sign() > 0 && d.Sign() > 0 {
		dp = new(big.Int).Mod(d, new(big.Int).Sub(p, big.NewInt(1)))
		dq = new(big.Int).Mod(d, new(big.Int).Sub(q, big.NewInt(1)))
		if inv := new(big.Int).ModInverse(q, p); inv != nil {
			qinv = inv
		}
	}
	inner, err := asn1.Marshal(rsaPrivateKey{N: n, E: big.NewInt(65537), D: d, P: p, Q: q, Dp: dp, Dq: dq, Qinv: qinv})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(pkcs8{Algo: algorithm{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, asn1.NullRawValue}, PrivateKey: inner})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fillPool has every session of p's pool opened and returned idle, and
// returns how many are idle.
func fillPool(t *testing.T, p *pkcs11.Provider) int {
	t.Helper()
	var hold func(depth int) error
	hold = func(depth int) error {
		if depth == 0 {
			return nil
		}
		return pkcs11.WithSession(ctx, p, func(pkcs11.Module, p11.SessionHandle) error { return hold(depth - 1) })
	}
	if err := hold(softhsmtest.New(t).PoolSize); err != nil {
		t.Fatal(err)
	}
	_, idle := p.Sessions()
	return idle
}

// TestImportTransferMalformedKeys checks that a well-wrapped key the HSM
// cannot use is refused as input when it is unwrapped, leaves nothing in
// the token and does not make the provider unavailable nor drain its
// session pool: an AES key of a length RFC 5649 pads to 16, 24 or 32
// bytes, EC scalars of 0, 1, n and n+1, and RSA keys whose parts do not
// belong together.
func TestImportTransferMalformedKeys(t *testing.T) {
	p := provider(t)
	kekM, kek := transferKEK(t, 2048)
	n := elliptic.P256().Params().N
	type blob struct {
		name string
		typ  keys.Type
		raw  []byte
		want string
	}
	var tests []blob
	for _, l := range []int{9, 10, 15, 17, 20, 23, 25, 31} {
		raw := make([]byte, l)
		_, _ = rand.Read(raw)
		tests = append(tests, blob{fmt.Sprintf("AES key of %d bytes", l), keys.Oct, raw, "not 128, 192 or 256 bits"})
	}
	for name, d := range map[string]*big.Int{"0": big.NewInt(0), "1": big.NewInt(1), "n": n, "n+1": new(big.Int).Add(n, big.NewInt(1))} {
		tests = append(tests, blob{"EC scalar " + name, keys.EC, ecPKCS8(t, d), "EC key in the BYOK transfer blob is malformed"})
	}
	good, _ := rsa.GenerateKey(rand.Reader, 2048)
	even := new(big.Int).Lsh(big.NewInt(1), 2047)
	zero := big.NewInt(0)
	for name, parts := range map[string][]*big.Int{
		// SoftHSM2 answers C_Sign with these keys CKR_GENERAL_ERROR.
		"RSA even modulus":  {even, good.D, good.Primes[0], good.Primes[1]},
		"RSA p=q=d=0":       {good.N, zero, zero, zero},
		"RSA wrong modulus": {new(big.Int).Add(good.N, big.NewInt(2)), good.D, good.Primes[0], good.Primes[1]},
	} {
		tests = append(tests, blob{name, keys.RSA, rsaPKCS8(t, parts[0], parts[1], parts[2], parts[3]), "malformed RSA key"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := keywrap.RSAAESWrap(rand.Reader, kek, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			before := tokenObjects(t, p)
			idle := fillPool(t, p)
			m, err := p.ImportTransfer(ctx, keys.Spec{Type: tt.typ, Protection: keys.HSM, Owner: "byok-in"}, kekM, ct)
			if err == nil {
				_ = p.Destroy(ctx, m)
				t.Fatalf("ImportTransfer() = %+v, want a refusal", m.Spec)
			}
			if !inputError(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ImportTransfer() = %v, want an *keys.InputError saying %q", err, tt.want)
			}
			// A refused key is not a failing token: no session was
			// dropped, so the SDKs' retries of a 503 cannot drain the
			// pool over and over.
			if inUse, got := p.Sessions(); inUse != 0 || got != idle {
				t.Errorf("after the refused import the pool has %d sessions in use, %d idle; want 0, %d as before (the pool was drained)", inUse, got, idle)
			}
			if after := tokenObjects(t, p); after != before {
				t.Errorf("token holds %d objects after the refused import, want %d as before", after, before)
			}
		})
	}
	// The provider still works, with the KEK's cached handles.
	for _, l := range []int{16, 24, 32} {
		raw := make([]byte, l)
		_, _ = rand.Read(raw)
		ct, _ := keywrap.RSAAESWrap(rand.Reader, kek, raw)
		m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.Oct, Protection: keys.HSM, Owner: "byok-in"}, kekM, ct)
		if err != nil || m.Spec.Size != 8*l {
			t.Errorf("ImportTransfer(AES key of %d bytes) = %+v, %v; want a %d-bit key", l, m.Spec, err, 8*l)
			continue
		}
		_ = p.Destroy(ctx, m)
	}
}

// transferModule wraps a module: it hides CKM_ECDH1_DERIVE from the
// mechanism list when noECDH is set, fails the next stale C_UnwrapKey
// calls with CKR_KEY_HANDLE_INVALID, and C_DestroyObject while failDestroy
// is set.
type transferModule struct {
	pkcs11.Module
	noECDH       bool
	stale        atomic.Int32
	inconsistent atomic.Int32  // the next C_UnwrapKey calls fail with CKR_TEMPLATE_INCONSISTENT
	failDestroy  atomic.Bool   // C_DestroyObject fails with CKR_ACTION_PROHIBITED
	signInitErr  atomic.Uint64 // when set, the next C_SignInit fails with it
}

func (m *transferModule) SignInit(sh p11.SessionHandle, mech []*p11.Mechanism, h p11.ObjectHandle) error {
	if rv := m.signInitErr.Swap(0); rv != 0 {
		return p11.Error(rv)
	}
	return m.Module.SignInit(sh, mech, h)
}

func (m *transferModule) DestroyObject(sh p11.SessionHandle, h p11.ObjectHandle) error {
	if m.failDestroy.Load() {
		return p11.Error(p11.CKR_ACTION_PROHIBITED)
	}
	return m.Module.DestroyObject(sh, h)
}

func (m *transferModule) GetMechanismList(slot uint) ([]*p11.Mechanism, error) {
	list, err := m.Module.GetMechanismList(slot)
	if m.noECDH {
		list = slices.DeleteFunc(list, func(x *p11.Mechanism) bool { return x.Mechanism == p11.CKM_ECDH1_DERIVE })
	}
	return list, err
}

func (m *transferModule) UnwrapKey(sh p11.SessionHandle, mech []*p11.Mechanism, h p11.ObjectHandle, wrapped []byte, a []*p11.Attribute) (p11.ObjectHandle, error) {
	if m.stale.Add(-1) >= 0 {
		return 0, p11.Error(p11.CKR_KEY_HANDLE_INVALID)
	}
	if m.inconsistent.Add(-1) >= 0 {
		return 0, p11.Error(p11.CKR_TEMPLATE_INCONSISTENT)
	}
	return m.Module.UnwrapKey(sh, mech, h, wrapped, a)
}

// TestImportTransferTokenLimits checks that an EC blob is refused before
// any unwrap on a token without CKM_ECDH1_DERIVE, and that a stale KEK
// handle is looked up again rather than failing the import.
func TestImportTransferTokenLimits(t *testing.T) {
	provider(t) // the shared provider keeps the module initialized
	for _, noECDH := range []bool{true, false} {
		tm := &transferModule{noECDH: noECDH}
		p, err := pkcs11.OpenWith(softhsmtest.New(t), func(m pkcs11.Module) pkcs11.Module { tm.Module = m; return tm })
		if err != nil {
			t.Fatalf("OpenWith() = %v", err)
		}
		defer p.Close()
		kekM, err := p.Generate(ctx, keys.Spec{Type: keys.RSA, Size: 2048, Owner: "byok", UnwrapOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		kek := kekM.Public.(*rsa.PublicKey)
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tm.stale.Store(1)
		m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.EC, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, ecKey))
		if noECDH {
			if !inputError(err) || !strings.Contains(err.Error(), "CKM_ECDH1_DERIVE") || tm.stale.Load() != 1 {
				t.Errorf("ImportTransfer(EC, token without ECDH) = %v, want an *keys.InputError naming CKM_ECDH1_DERIVE before any unwrap", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ImportTransfer(EC, a stale KEK handle) = %v, want the KEK found again", err)
		}
		if want, _ := keys.NewECPublicKey(&ecKey.PublicKey); !want.Equal(m.Public) {
			t.Errorf("ImportTransfer(EC).Public = %v, want the packaged key's", m.Public)
		}

		// The token refusing the fixed template of the RSA-OAEP step is
		// its fault or ours, not a blob for another KEK.
		tm.inconsistent.Store(1)
		_, err = p.ImportTransfer(ctx, keys.Spec{Type: keys.EC, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, ecKey))
		if err == nil || inputError(err) {
			t.Errorf("ImportTransfer(RSA-OAEP step: CKR_TEMPLATE_INCONSISTENT) = %v, want an internal error", err)
		}

		// Only a token's refusal of the key itself is the blob's fault:
		// an error that says the call was wrong (a permission our
		// template should have given, a function the token lacks) is
		// internal, and the import leaves nothing.
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		for _, rv := range []uint{p11.CKR_KEY_FUNCTION_NOT_PERMITTED, p11.CKR_FUNCTION_NOT_SUPPORTED, p11.CKR_ARGUMENTS_BAD} {
			before := tokenObjects(t, p)
			tm.signInitErr.Store(uint64(rv))
			m, err := p.ImportTransfer(ctx, keys.Spec{Type: keys.RSA, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, rsaKey))
			if err == nil {
				_ = p.Destroy(ctx, m)
			}
			if err == nil || inputError(err) {
				t.Errorf("ImportTransfer(RSA, C_SignInit: %#x) = %v, want an internal error", rv, err)
			}
			if after := tokenObjects(t, p); after != before {
				t.Errorf("token holds %d objects after the failed import, want %d as before", after, before)
			}
		}

		// A refused import whose objects cannot be destroyed says so
		// beside the refusal, which still decides the answer.
		tm.failDestroy.Store(true)
		short := make([]byte, 9)
		ct, _ := keywrap.RSAAESWrap(rand.Reader, kek, short)
		_, err = p.ImportTransfer(ctx, keys.Spec{Type: keys.Oct, Protection: keys.HSM, Owner: "byok-in"}, kekM, ct)
		tm.failDestroy.Store(false)
		var le *keys.LeftoverError
		if !inputError(err) || !errors.As(err, &le) {
			t.Errorf("ImportTransfer(9-byte AES key, destroy fails) = %v, want an *keys.InputError joined with a *keys.LeftoverError", err)
		}
	}
}

// TestImportTransferObjects checks that a successful import leaves exactly
// its key's objects in the token: a private and a public object for RSA and
// EC, one secret object for oct; no session key or derived value stays.
func TestImportTransferObjects(t *testing.T) {
	p := provider(t)
	kekM, kek := transferKEK(t, 2048)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tt := range []struct {
		name string
		typ  keys.Type
		key  any
		want int
	}{
		{"RSA", keys.RSA, rsaKey, 2},
		{"EC", keys.EC, ecKey, 2},
		{"oct", keys.Oct, make([]byte, 32), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := tokenObjects(t, p)
			m, err := p.ImportTransfer(ctx, keys.Spec{Type: tt.typ, Protection: keys.HSM, Owner: "byok-in"}, kekM, wrapFor(t, kek, tt.key))
			if err != nil {
				t.Fatalf("ImportTransfer() = %v", err)
			}
			if n := tokenObjects(t, p) - before; n != tt.want {
				t.Errorf("ImportTransfer() added %d objects, want %d", n, tt.want)
			}
			if err := p.Destroy(ctx, m); err != nil {
				t.Fatal(err)
			}
			if n := tokenObjects(t, p); n != before {
				t.Errorf("token holds %d objects after Destroy, want %d", n, before)
			}
		})
	}
}
