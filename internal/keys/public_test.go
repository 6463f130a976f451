package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/google/go-cmp/cmp"
)

// nistRSA2048 is the first [mod = 2048] SHA-256 vector of the NIST CAVP
// FIPS 186-3 RSA signature verification file for PKCS#1 v1.5
// (SigVer15_186-3.rsp, "Result = P"), transcribed from the copy in
// github.com/ZeroPass/ack tests/include/ack/tests/rsa_test.hpp. Its public
// exponent is not 65537, which also exercises arbitrary exponents.
var nistRSA2048 = struct {
	n, msg, sig, badMsg, badSig string
	e                           int
}{
	n: "c47abacc2a84d56f3614d92fd62ed36ddde459664b9301dcd1d61781cfcc026bcb2399bee7e75681a80b7bf500e2d08ceae1c42ec0b707927f2b2fe92ae852" +
		"087d25f1d260cc74905ee5f9b254ed05494a9fe06732c3680992dd6f0dc634568d11542a705f83ae96d2a49763d5fbb24398edf3702bc94bc168190166492b86" +
		"71de874bb9cecb058c6c8344aa8c93754d6effcd44a41ed7de0a9dcd9144437f212b18881d042d331a4618a9e630ef9bb66305e4fdf8f0391b3b2313fe549f01" +
		"89ff968b92f33c266a4bc2cffc897d1937eeb9e406f5d0eaa7a14782e76af3fce98f54ed237b4a04a4159a5f6250a296a902880204e61d891c4da29f2d65f34cbb",
	e: 0x49d2a1,
	msg: "95123c8d1b236540b86976a11cea31f8bd4e6c54c235147d20ce722b03a6ad756fbd918c27df8ea9ce3104444c0bbe877305bc02e35535a02a58dcda306e632a" +
		"d30b3dc3ce0ba97fdf46ec192965dd9cd7f4a71b02b8cba3d442646eeec4af590824ca98d74fbca934d0b6867aa1991f3040b707e806de6e66b5934f05509bea",
	sig: "51265d96f11ab338762891cb29bf3f1d2b3305107063f5f3245af376dfcc7027d39365de70a31db05e9e10eb6148cb7f6425f0c93c4fb0e2291adbd22c77656a" +
		"fc196858a11e1c670d9eeb592613e69eb4f3aa501730743ac4464486c7ae68fd509e896f63884e9424f69c1c5397959f1e52a368667a598a1fc90125273d9341" +
		"295d2f8e1cc4969bf228c860e07a3546be2eeda1cde48ee94d062801fe666e4a7ae8cb9cd79262c017b081af874ff00453ca43e34efdb43fffb0bb42a4e2d32a" +
		"5e5cc9e8546a221fe930250e5f5333e0efe58ffebf19369a3b8ae5a67f6a048bc9ef915bda25160729b508667ada84a0c27e7e26cf2abca413e5e4693f4a9405",
	// The next vector of the same group, "Result = F".
	badMsg: "f89fd2f6c45a8b5066a651410b8e534bfec0d9a36f3e2b887457afd44dd651d1ec79274db5a455f182572fceea5e9e39c3c7c5d9e599e4fe31c37c34d253b4" +
		"19c3e8fb6b916aef6563f87d4c37224a456e5952698ba3d01b38945d998a795bd285d69478e3131f55117284e27b441f16095dca7ce9c5b68890b09a2bfbb010a5",
	badSig: "ba48538708512d45c0edcac57a9b4fb637e9721f72003c60f13f5c9a36c968cef9be8f54665418141c3d9ecc02a5bf952cfc055fb51e18705e9d8850f4e1f5" +
		"a344af550de84ffd0805e27e557f6aa50d2645314c64c1c71aa6bb44faf8f29ca6578e2441d4510e36052f46551df341b2dcf43f761f08b946ca0b7081dadbb8" +
		"8e955e820fd7f657c4dd9f4554d167dd7c9a487ed41ced2b40068098deedc951060faf7e15b1f0f80ae67ff2ee28a238d80bf72dd71c8d95c79bc156114ece8e" +
		"c837573a4b66898d45b45a5eacd0b0e41447d8fa08a367f437645e50c9920b88a16bc0880147acfb9a79de9e351b3fa00b3f4e9f182f45553dffca55e393c5eab6",
}

// wycheproofK1 is a valid vector ("signature malleability": S is in the
// upper half of the order) and invalid variants from Wycheproof
// testvectors/ecdsa_secp256k1_sha256_p1363_test.json (generator 0.8r12),
// first test group; message "123400" (hex 313233343030), digest SHA-256.
var wycheproofK1 = struct {
	x, y string
	sigs []struct {
		name, r, s string
		valid      bool
	}
}{
	x: "b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6f",
	y: "f0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9",
	sigs: []struct {
		name, r, s string
		valid      bool
	}{
		{"signature malleability (high S)",
			"813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365",
			"900e75ad233fcc908509dbff5922647db37c21f4afd3203ae8dc4ae7794b0f87", true},
		{"modified r",
			"7ec10863310565a908457fa0f1b87a79bc4fcf10b9e0e4320ac021c106b31ddc",
			"6ff18a52dcc0336f7af62400a6dd9b810732baf1ff758000d6f613a556eb31ba", false},
		{"modified s",
			"813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365",
			"900e75ad233fcc908509dbff5922647ef8cd450e008a7fff2909ec5aa914ce46", false},
		{"r=0 s=0",
			"0000000000000000000000000000000000000000000000000000000000000000",
			"0000000000000000000000000000000000000000000000000000000000000000", false},
		{"r=0 s=n",
			"0000000000000000000000000000000000000000000000000000000000000000",
			"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", false},
		{"r=1 s=n-1",
			"0000000000000000000000000000000000000000000000000000000000000001",
			"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", false},
		{"r=n s=1",
			"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
			"0000000000000000000000000000000000000000000000000000000000000001", false},
		{"r=p s=1",
			"fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f",
			"0000000000000000000000000000000000000000000000000000000000000001", false},
	},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nistRSAPublic(t testing.TB) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).SetBytes(unhex(t, nistRSA2048.n)), E: nistRSA2048.e}
}

func TestVerifyPublicNISTRSA(t *testing.T) {
	pub := nistRSAPublic(t)
	digest := sha256.Sum256(unhex(t, nistRSA2048.msg))
	badDigest := sha256.Sum256(unhex(t, nistRSA2048.badMsg))
	sig := unhex(t, nistRSA2048.sig)
	flipped := bytes.Clone(sig)
	flipped[100] ^= 0x10
	tests := []struct {
		name   string
		alg    SignatureAlgorithm
		digest []byte
		sig    []byte
		want   bool
	}{
		{"valid", RS256, digest[:], sig, true},
		{"NIST Result=F", RS256, badDigest[:], unhex(t, nistRSA2048.badSig), false},
		{"signature of another message", RS256, badDigest[:], sig, false},
		{"flipped bit", RS256, digest[:], flipped, false},
		{"truncated", RS256, digest[:], sig[:255], false},
		{"empty", RS256, digest[:], nil, false},
		{"as PS256", PS256, digest[:], sig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPublic(pub, tt.alg, tt.digest, tt.sig)
			if err != nil || got != tt.want {
				t.Errorf("VerifyPublic(%s) = %v, %v; want %v, nil", tt.alg, got, err, tt.want)
			}
		})
	}
}

func TestVerifyPublicWycheproofSecp256k1(t *testing.T) {
	pub := &ECPublicKey{Curve: P256K, X: unhex(t, wycheproofK1.x), Y: unhex(t, wycheproofK1.y)}
	digest := sha256.Sum256([]byte("123400"))
	for _, v := range wycheproofK1.sigs {
		t.Run(v.name, func(t *testing.T) {
			sig := append(unhex(t, v.r), unhex(t, v.s)...)
			got, err := VerifyPublic(pub, ES256K, digest[:], sig)
			if err != nil || got != v.valid {
				t.Errorf("VerifyPublic(ES256K) = %v, %v; want %v, nil", got, err, v.valid)
			}
		})
	}
	t.Run("low-S form of the valid signature", func(t *testing.T) {
		var s secp256k1.ModNScalar
		s.SetByteSlice(unhex(t, wycheproofK1.sigs[0].s))
		s.Negate()
		b := s.Bytes()
		sig := append(unhex(t, wycheproofK1.sigs[0].r), b[:]...)
		if got, err := VerifyPublic(pub, ES256K, digest[:], sig); err != nil || !got {
			t.Errorf("VerifyPublic(ES256K, low S) = %v, %v; want true, nil", got, err)
		}
	})
}

func TestVerifyPublicErrors(t *testing.T) {
	rsaPub := nistRSAPublic(t)
	ec, err := ecdsa.GenerateKey(EllipticCurve(P256), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := NewECPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		alg     SignatureAlgorithm
		digest  int
		wantErr string
	}{
		{"short digest", rsaPub, RS256, 10, "Invalid length of 'digest': 10 bytes. RS256 requires 32 bytes, encoded with base64url."},
		{"EC alg on RSA", rsaPub, ES256, 32, "Algorithm ES256 is not valid for an RSA key"},
		{"wrong curve", ecPub, ES384, 48, "Algorithm ES384 is not valid for a key on curve P-256"},
		{"wrong curve ecdsa", &ec.PublicKey, ES256K, 32, "Algorithm ES256K is not valid for a key on curve P-256"},
		{"RSA alg on EC", ecPub, PS256, 32, "Algorithm PS256 is not valid for an EC key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyPublic(tt.pub, tt.alg, make([]byte, tt.digest), make([]byte, 64))
			checkInputError(t, "VerifyPublic", err, tt.wantErr)
		})
	}
	if _, err := VerifyPublic("not a key", RS256, make([]byte, 32), nil); err == nil {
		t.Errorf("VerifyPublic(string) = nil error, want error")
	}
}

func TestVerifyPublicECDSAInterop(t *testing.T) {
	for _, c := range []Curve{P256, P384, P521} {
		t.Run(string(c), func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(EllipticCurve(c), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			alg := map[Curve]SignatureAlgorithm{P256: ES256, P384: ES384, P521: ES512}[c]
			digest := bytes.Repeat([]byte{7}, DigestSize(alg))
			r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
			if err != nil {
				t.Fatal(err)
			}
			size := CurveSize(c)
			sig := make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
			pub, err := NewECPublicKey(&priv.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := VerifyPublic(pub, alg, digest, sig); err != nil || !got {
				t.Errorf("VerifyPublic(%s) = %v, %v; want true, nil", alg, got, err)
			}
			sig[0] ^= 1
			if got, err := VerifyPublic(pub, alg, digest, sig); err != nil || got {
				t.Errorf("VerifyPublic(%s, tampered) = %v, %v; want false, nil", alg, got, err)
			}
			if got, err := VerifyPublic(pub, alg, digest, sig[1:]); err != nil || got {
				t.Errorf("VerifyPublic(%s, short) = %v, %v; want false, nil", alg, got, err)
			}
		})
	}
}

func TestEncryptPublicErrors(t *testing.T) {
	pub := nistRSAPublic(t)
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		alg     EncryptionAlgorithm
		n       int
		wantErr string
	}{
		{"RSA1_5 at limit", pub, RSA15, 245, ""},
		{"RSA1_5 over limit", pub, RSA15, 246, "Invalid length of 'value': 246 bytes. RSA1_5 with a 2048-bit key accepts at most 245 bytes."},
		{"RSA-OAEP at limit", pub, RSAOAEP, 214, ""},
		{"RSA-OAEP over limit", pub, RSAOAEP, 215, "Invalid length of 'value': 215 bytes. RSA-OAEP with a 2048-bit key accepts at most 214 bytes."},
		{"RSA-OAEP-256 at limit", pub, RSAOAEP256, 190, ""},
		{"RSA-OAEP-256 over limit", pub, RSAOAEP256, 191, "Invalid length of 'value': 191 bytes. RSA-OAEP-256 with a 2048-bit key accepts at most 190 bytes."},
		{"EC key", &ECPublicKey{Curve: P256}, RSAOAEP, 1, "Algorithm RSA-OAEP is not valid for an EC key"},
		{"AES alg", pub, "A128GCM", 1, `Unsupported encryption algorithm "A128GCM"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := EncryptPublic(rand.Reader, tt.pub, CipherInput{Algorithm: tt.alg, Value: make([]byte, tt.n)})
			checkInputError(t, "EncryptPublic", err, tt.wantErr)
			if err == nil && len(out.Value) != 256 {
				t.Errorf("EncryptPublic() ciphertext length = %d, want 256", len(out.Value))
			}
		})
	}
}

func TestPublicRoundTrip(t *testing.T) {
	var pubs []struct {
		spec Spec
		pub  crypto.PublicKey
	}
	add := func(spec Spec, pub crypto.PublicKey) {
		pubs = append(pubs, struct {
			spec Spec
			pub  crypto.PublicKey
		}{spec, pub})
	}
	add(Spec{Type: RSA, Size: 2048}, nistRSAPublic(t))
	for _, c := range []Curve{P256, P384, P521} {
		priv, err := ecdsa.GenerateKey(EllipticCurve(c), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := NewECPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		add(Spec{Type: EC, Curve: c}, pub)
	}
	k1, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	k1Pub, err := ParseECPoint(P256K, k1.PubKey().SerializeUncompressed())
	if err != nil {
		t.Fatal(err)
	}
	add(Spec{Type: EC, Curve: P256K}, k1Pub)

	for _, p := range pubs {
		name := string(p.spec.Type) + " " + string(p.spec.Curve)
		t.Run(name, func(t *testing.T) {
			b, err := MarshalPublic(p.pub)
			if err != nil {
				t.Fatalf("MarshalPublic() = %v", err)
			}
			if p.spec.Curve == P256K && (len(b) != 65 || b[0] != 4) {
				t.Errorf("MarshalPublic(P-256K) = %d bytes starting %#x, want 65 starting 0x04", len(b), b[0])
			}
			got, err := ParsePublic(p.spec, b)
			if err != nil {
				t.Fatalf("ParsePublic() = %v", err)
			}
			if diff := cmp.Diff(p.pub, got, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("ParsePublic(MarshalPublic(pub)) mismatch (-want +got):\n%s", diff)
			}
			if ec, ok := got.(*ECPublicKey); ok {
				size := CurveSize(ec.Curve)
				if len(ec.X) != size || len(ec.Y) != size {
					t.Errorf("ParsePublic() coordinates are %d and %d bytes, want %d", len(ec.X), len(ec.Y), size)
				}
			}
		})
	}

	if b, err := MarshalPublic(nil); b != nil || err != nil {
		t.Errorf("MarshalPublic(nil) = %v, %v; want nil, nil", b, err)
	}
	if pub, err := ParsePublic(Spec{Type: Oct, Size: 256}, nil); pub != nil || err != nil {
		t.Errorf("ParsePublic(oct, nil) = %v, %v; want nil, nil", pub, err)
	}
}

func TestParsePublicCorrupt(t *testing.T) {
	rsaDER, err := MarshalPublic(nistRSAPublic(t))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(EllipticCurve(P256), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256DER, err := MarshalPublic(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	offCurve := k1.PubKey().SerializeUncompressed()
	offCurve[64] ^= 1
	tests := []struct {
		name string
		spec Spec
		b    []byte
	}{
		{"garbage RSA", Spec{Type: RSA}, []byte("garbage")},
		{"RSA size mismatch", Spec{Type: RSA, Size: 3072}, rsaDER},
		{"EC bytes as RSA", Spec{Type: RSA}, p256DER},
		{"RSA bytes as EC", Spec{Type: EC, Curve: P256}, rsaDER},
		{"P-256 bytes as P-384", Spec{Type: EC, Curve: P384}, p256DER},
		{"P-256K compressed", Spec{Type: EC, Curve: P256K}, k1.PubKey().SerializeCompressed()},
		{"P-256K off curve", Spec{Type: EC, Curve: P256K}, offCurve},
		{"P-256K empty", Spec{Type: EC, Curve: P256K}, nil},
		{"unknown curve", Spec{Type: EC, Curve: "P-224"}, p256DER},
		{"oct with bytes", Spec{Type: Oct}, []byte{1}},
		{"unknown type", Spec{Type: "OKP"}, []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePublic(tt.spec, tt.b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ParsePublic() = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestECPublicKeyPadding(t *testing.T) {
	// Coordinates given without their leading zero bytes must encode at
	// full length and equal the padded form. (The point is not on the curve;
	// Bytes and Equal do not check that.)
	x := unhex(t, "1d5ed5b79b0a2a8c1ea0a7c2f6a7c2f6a7c2f6a7c2f6a7c2f6a7c2f6a7c2f6")
	short := &ECPublicKey{Curve: P256, X: x, Y: []byte{1}}
	b := short.Bytes()
	if len(b) != 65 || b[0] != 4 || b[1] != 0 || b[64] != 1 {
		t.Errorf("Bytes() = %x, want 04 00... 01", b)
	}
	full := &ECPublicKey{Curve: P256, X: append([]byte{0}, x...), Y: append(make([]byte, 31), 1)}
	if !short.Equal(full) {
		t.Errorf("(%v).Equal(%v) = false, want true", short, full)
	}
	if (&ECPublicKey{Curve: P256, X: make([]byte, 33)}).Bytes() != nil {
		t.Errorf("Bytes() with a 33-byte X = non-nil, want nil")
	}
	if _, err := ParseECPoint(P256, b); err == nil {
		t.Errorf("ParseECPoint(P-256, off-curve point) = nil error, want error")
	}
}

func FuzzParsePublic(f *testing.F) {
	rsaDER, err := MarshalPublic(nistRSAPublic(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("RSA", "", rsaDER)
	k1 := append([]byte{4}, append(unhex(f, wycheproofK1.x), unhex(f, wycheproofK1.y)...)...)
	f.Add("EC", "P-256K", k1)
	f.Add("EC", "P-256", []byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, typ, curve string, b []byte) {
		spec := Spec{Type: Type(typ), Curve: Curve(curve)}
		pub, err := ParsePublic(spec, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParsePublic() = %v, want ErrCorrupt", err)
			}
			return
		}
		if pub == nil {
			return
		}
		again, err := MarshalPublic(pub)
		if err != nil {
			t.Fatalf("MarshalPublic(ParsePublic(b)) = %v", err)
		}
		pub2, err := ParsePublic(spec, again)
		if err != nil {
			t.Fatalf("ParsePublic(MarshalPublic(pub)) = %v", err)
		}
		if spec2, _ := PublicSpec(pub2); spec2.Type != spec.Type {
			t.Fatalf("round trip changed type to %s, want %s", spec2.Type, spec.Type)
		}
	})
}
