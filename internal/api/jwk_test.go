package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/secret"
	"github.com/keywarden/keywarden/internal/vault"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey returns one RSA-2048 key shared by the tests.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func b64(b []byte) string    { return base64.RawURLEncoding.EncodeToString(b) }
func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) } // padded, standard alphabet

// rsaImportJSON is an ImportKey body for k; dp/dq/qi in padded standard
// base64 to exercise lenient decoding.
func rsaImportJSON(k *rsa.PrivateKey) string {
	return `{"key":{"kty":"RSA","key_ops":["sign","verify"],` +
		`"n":"` + b64(k.N.Bytes()) + `","e":"AQAB","d":"` + b64(k.D.Bytes()) + `",` +
		`"p":"` + b64(k.Primes[0].Bytes()) + `","q":"` + b64(k.Primes[1].Bytes()) + `",` +
		`"dp":"` + stdB64(k.Precomputed.Dp.Bytes()) + `","dq":"` + stdB64(k.Precomputed.Dq.Bytes()) + `","qi":"` + stdB64(k.Precomputed.Qinv.Bytes()) + `"}}`
}

func TestImportRSARoundTrip(t *testing.T) {
	orig := testRSAKey(t)
	var in KeyImportParameters
	if err := decodeJSON([]byte(rsaImportJSON(orig)), &in); err != nil {
		t.Fatalf("decodeJSON(RSA import) = %v", err)
	}
	spec, priv, err := in.Key.privateKey(false)
	if err != nil {
		t.Fatalf("privateKey() = %v", err)
	}
	if want := (keys.Spec{Type: keys.RSA, Protection: keys.Software}); spec != want {
		t.Errorf("privateKey() spec = %+v, want %+v", spec, want)
	}
	got, ok := priv.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("privateKey() = %T, want *rsa.PrivateKey", priv)
	}
	if got.N.Cmp(orig.N) != 0 || got.E != orig.E || got.D.Cmp(orig.D) != 0 ||
		got.Primes[0].Cmp(orig.Primes[0]) != 0 || got.Primes[1].Cmp(orig.Primes[1]) != 0 ||
		got.Precomputed.Qinv.Cmp(orig.Precomputed.Qinv) != 0 {
		t.Fatal("privateKey() does not reproduce the RSA key")
	}
	if err := got.Validate(); err != nil {
		t.Errorf("imported key Validate() = %v", err)
	}

	// Public part back out: n and e as the client sent them.
	jwk := publicJWK("kid", vault.KeyVersion{Spec: spec, Public: &got.PublicKey, Ops: []vault.Operation{vault.OpSign}})
	b, _ := json.Marshal(jwk)
	want := `{"kid":"kid","kty":"RSA","key_ops":["sign"],"n":"` + b64(orig.N.Bytes()) + `","e":"AQAB"}`
	if string(b) != want {
		t.Errorf("publicJWK() = %s, want %s", b, want)
	}
}

func TestImportEC(t *testing.T) {
	tests := []struct {
		crv  keys.Curve
		size int
		gen  elliptic.Curve // nil: synthetic values (P-256K is not in crypto/elliptic)
	}{
		{keys.P256, 32, elliptic.P256()},
		{keys.P384, 48, elliptic.P384()},
		{keys.P521, 66, elliptic.P521()},
		{keys.P256K, 32, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.crv), func(t *testing.T) {
			x, y, d := make([]byte, tt.size), make([]byte, tt.size), make([]byte, tt.size)
			if tt.gen != nil {
				k, err := ecdsa.GenerateKey(tt.gen, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := k.Bytes()
				d = raw
				pub, _ := k.PublicKey.Bytes() // 0x04 || X || Y
				x, y = pub[1:1+tt.size], pub[1+tt.size:]
			} else {
				rand.Read(x)
				rand.Read(y)
				rand.Read(d)
			}
			x[0], d[0] = 0, 0 // clients may send minimal big-endian bytes
			body := `{"key":{"kty":"EC-HSM","crv":"` + string(tt.crv) + `","x":"` + b64(x[1:]) + `","y":"` + b64(y) + `","d":"` + stdB64(d[1:]) + `"}}`
			var in KeyImportParameters
			if err := decodeJSON([]byte(body), &in); err != nil {
				t.Fatalf("decodeJSON(EC import) = %v", err)
			}
			spec, priv, err := in.Key.privateKey(false)
			if err != nil {
				t.Fatalf("privateKey() = %v", err)
			}
			if want := (keys.Spec{Type: keys.EC, Curve: tt.crv, Protection: keys.HSM}); spec != want {
				t.Errorf("privateKey() spec = %+v, want %+v", spec, want)
			}
			got := priv.(*keys.ECPrivateKey)
			if !bytes.Equal(got.Public.X, x) || !bytes.Equal(got.Public.Y, y) || !bytes.Equal(got.D.Expose(), d) || got.Public.Curve != tt.crv {
				t.Errorf("privateKey() = X %x Y %x, want X %x Y %x (left-padded to %d)", got.Public.X, got.Public.Y, x, y, tt.size)
			}

			jwk := publicJWK("kid", vault.KeyVersion{Spec: spec, Public: &got.Public})
			b, _ := json.Marshal(jwk)
			want := `{"kid":"kid","kty":"EC-HSM","crv":"` + string(tt.crv) + `","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
			if string(b) != want {
				t.Errorf("publicJWK() = %s, want %s", b, want)
			}

			long := `{"kty":"EC","crv":"` + string(tt.crv) + `","x":"` + b64(append([]byte{1}, x...)) + `","y":"` + b64(y) + `","d":"` + b64(d) + `"}`
			var k JSONWebKey
			if err := json.Unmarshal([]byte(long), &k); err != nil {
				t.Fatal(err)
			}
			if _, _, err := k.privateKey(false); err == nil {
				t.Errorf("privateKey(x of %d bytes) = nil error, want one", tt.size+1)
			}
		})
	}
}

func TestImportOctAndRefusals(t *testing.T) {
	var k JSONWebKey
	if err := json.Unmarshal([]byte(`{"kty":"oct","k":"AAECAwQFBgcICQoLDA0ODw"}`), &k); err != nil {
		t.Fatal(err)
	}
	spec, priv, err := k.privateKey(true)
	if err != nil {
		t.Fatalf("privateKey(oct) = %v", err)
	}
	if spec.Protection != keys.HSM {
		t.Errorf("privateKey(oct, Hsm=true) protection = %v, want hsm", spec.Protection)
	}
	if sb := priv.(secret.Bytes); !bytes.Equal(sb.Expose(), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
		t.Errorf("privateKey(oct) = %x", sb.Expose())
	}

	tests := []struct {
		name, jwk string
		status    int
	}{
		{"rsa without d", `{"kty":"RSA","n":"AQAB","e":"AQAB"}`, 400},
		{"rsa without primes", `{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}`, 400},
		{"rsa huge e", `{"kty":"RSA","n":"AQAB","e":"AQABAQAB","d":"AQAB","p":"AQ","q":"AQ"}`, 400},
		{"ec without d", `{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}`, 400},
		{"ec bad curve", `{"kty":"EC","crv":"P-192","x":"AQAB","y":"AQAB","d":"AQ"}`, 400},
		{"oct without k", `{"kty":"oct"}`, 400},
		{"no kty", `{"k":"AQAB"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k JSONWebKey
			if err := json.Unmarshal([]byte(tt.jwk), &k); err != nil {
				t.Fatal(err)
			}
			_, _, err := k.privateKey(false)
			var he *httpError
			if !errors.As(err, &he) || he.status != tt.status {
				t.Errorf("privateKey(%s) = %v, want status %d", tt.jwk, err, tt.status)
			}
		})
	}
}

func TestImportThroughHTTP(t *testing.T) {
	s, f := newTestServer(t)
	w := do(s, http.MethodPut, namedHost, "/keys/imp?api-version=7.5", namedToken, rsaImportJSON(testRSAKey(t)))
	if w.Code != http.StatusOK {
		t.Fatalf("PUT /keys/imp = %d %s", w.Code, w.Body)
	}
	if got := f.last(); got.Method != "ImportKey" || got.Name != "imp" {
		t.Errorf("PUT /keys/imp called %+v, want ImportKey imp", got)
	}
}

func TestJSONWebKeyRedacts(t *testing.T) {
	k := JSONWebKey{KTY: "oct", K: []byte("super-secret-key")}
	var sb strings.Builder
	for _, s := range []string{k.String(), k.GoString(), k.LogValue().String()} {
		sb.WriteString(s)
	}
	if strings.Contains(sb.String(), "super") || strings.Contains(sb.String(), b64([]byte("super-secret-key"))) {
		t.Errorf("JSONWebKey printing leaks k: %s", sb.String())
	}
}

func TestBase64URLLenient(t *testing.T) {
	tests := []struct {
		in   string // JSON value
		want []byte
		ok   bool
	}{
		{`"AQAB"`, []byte{1, 0, 1}, true},
		{`"-_8"`, []byte{0xfb, 0xff}, true},
		{`"+/8"`, []byte{0xfb, 0xff}, true},
		{`"+/8="`, []byte{0xfb, 0xff}, true},
		{`"-_8="`, []byte{0xfb, 0xff}, true},
		{`"\u002b\/8"`, []byte{0xfb, 0xff}, true},
		{`"AQ=="`, []byte{1}, true},
		{`""`, []byte{}, true},
		{`null`, nil, true},
		{`"A"`, nil, false},
		{`"!!"`, nil, false},
		{`"AQ=B"`, nil, false},
		{`12`, nil, false},
		{`"AQ`, nil, false},
	}
	for _, tt := range tests {
		var b Base64URL
		err := b.UnmarshalJSON([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("UnmarshalJSON(%s) error = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (!bytes.Equal(b, tt.want) || (b == nil) != (tt.want == nil)) {
			t.Errorf("UnmarshalJSON(%s) = %#v, want %#v", tt.in, b, tt.want)
		}
	}
	for in, want := range map[string]string{"": `""`, "\xfb\xff": `"-_8"`, "\x01": `"AQ"`} {
		got, _ := Base64URL(in).MarshalJSON()
		if string(got) != want {
			t.Errorf("MarshalJSON(%x) = %s, want %s", in, got, want)
		}
	}
	// A nil value inside a struct without omitempty is "", never null.
	got, _ := json.Marshal(KeyOperationResult{})
	if diff := cmp.Diff(`{"value":""}`, string(got)); diff != "" {
		t.Errorf("json.Marshal(KeyOperationResult{}) (-want +got):\n%s", diff)
	}
}

func TestUnixTime(t *testing.T) {
	tests := []struct {
		in   string
		want UnixTime
		ok   bool
	}{
		{"1700000000", 1700000000, true},
		{"1700000000.9", 1700000000, true},
		{"1.7e9", 1700000000, true},
		{"-5", -5, true},
		{`"1700000000"`, 0, false},
		{"1e300", 0, false},
		{"true", 0, false},
	}
	for _, tt := range tests {
		var u UnixTime
		err := u.UnmarshalJSON([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && u != tt.want) {
			t.Errorf("UnmarshalJSON(%s) = %d, %v, want %d ok %v", tt.in, u, err, tt.want, tt.ok)
		}
	}
	b, _ := json.Marshal(KeyAttributes{Created: unixTimeOf(testTime())})
	if string(b) != `{"created":1700000000}` {
		t.Errorf("json.Marshal(created) = %s, want integer seconds", b)
	}
}

func testTime() time.Time { return time.Unix(1700000000, 0) }
