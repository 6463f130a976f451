package api

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/vault"
)

// FuzzBase64URL checks that any bytes survive encode→decode, and that any
// string the lenient decoder accepts re-encodes to one it decodes the same.
func FuzzBase64URL(f *testing.F) {
	for _, s := range []string{"", "AQAB", "-_8", "+/8=", "AQ==", "A", "!!", "\\u002b", "AQ=B"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		enc, err := Base64URL(data).MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%x) = %v", data, err)
		}
		if bytes.ContainsAny(enc, "=+/") {
			t.Fatalf("MarshalJSON(%x) = %s, has padding or the standard alphabet", data, enc)
		}
		var back Base64URL
		if err := back.UnmarshalJSON(enc); err != nil || !bytes.Equal(back, data) {
			t.Fatalf("UnmarshalJSON(MarshalJSON(%x)) = %x, %v", data, back, err)
		}

		dec, err := decodeBase64URL(data)
		if err != nil {
			return
		}
		enc2, _ := Base64URL(dec).MarshalJSON()
		var again Base64URL
		if err := again.UnmarshalJSON(enc2); err != nil || !bytes.Equal(again, dec) {
			t.Fatalf("decode(%q) = %x does not round-trip: %x, %v", data, dec, again, err)
		}
	})
}

// FuzzImportJWK feeds ImportKey bodies to the JWK parser: no panics, and a
// key it accepts shows the same public members when encoded back.
func FuzzImportJWK(f *testing.F) {
	f.Add([]byte(rsaImportJSON(testRSAKey(f))))
	f.Add([]byte(`{"key":{"kty":"EC","crv":"P-521","x":"AQ","y":"AQ","d":"AQ"}}`))
	f.Add([]byte(`{"key":{"kty":"EC","crv":"P-256K","x":"AQAB","y":"AQAB","d":"AQAB"},"Hsm":true}`))
	f.Add([]byte(`{"key":{"kty":"oct-HSM","k":"AAECAwQFBgcICQoLDA0ODw"}}`))
	f.Add([]byte(`{"key":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","p":"AQ","q":"AQ"}}`))
	f.Add([]byte(`{"key":{"kty":"RSA-HSM","key_hsm":"eyJ9"}}`))
	f.Add([]byte(`{"key":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in KeyImportParameters
		if decodeJSON(body, &in) != nil || in.Key == nil {
			return
		}
		spec, priv, err := in.Key.privateKey(false)
		if err != nil {
			return
		}
		kv := vault.KeyVersion{Spec: spec}
		switch p := priv.(type) {
		case *rsa.PrivateKey:
			kv.Public = &p.PublicKey
		case *keys.ECPrivateKey:
			kv.Public = &p.Public
			if n := curveSize(p.Public.Curve); len(p.Public.X) != n || len(p.Public.Y) != n || p.D.Len() != n {
				t.Fatalf("EC members not padded to %d: %d %d %d", n, len(p.Public.X), len(p.Public.Y), p.D.Len())
			}
		}
		out, err := json.Marshal(publicJWK("kid", kv))
		if err != nil {
			t.Fatalf("json.Marshal(publicJWK) = %v", err)
		}
		var back JSONWebKey
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("json.Unmarshal(%s) = %v", out, err)
		}
		if len(back.D)+len(back.P)+len(back.Q)+len(back.K) != 0 {
			t.Fatalf("publicJWK leaks private members: %s", out)
		}
		if p, ok := priv.(*rsa.PrivateKey); ok && !bytes.Equal(back.N, p.N.Bytes()) {
			t.Fatalf("publicJWK n = %x, want %x", back.N, p.N.Bytes())
		}
	})
}

// FuzzRequestBodies feeds every request body type: no panics, and a body
// that decodes re-encodes to one that decodes to the same value.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"kty":"RSA","key_size":2048,"key_ops":["sign"],"attributes":{"enabled":true,"nbf":1,"exp":2.5},"tags":{"a":"b"}}`,
		`{"kty":"EC","crv":"P-256","release_policy":{"data":"e30","immutable":true}}`,
		`{"alg":"RSA-OAEP","value":"AQAB","iv":"","aad":"AQ==","tag":"+/8"}`,
		`{"alg":"ES256","digest":"AQAB","value":"AQAB"}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y"}}`,
		`{"count":16}`, `{"value":"YmxvYg"}`, `{}`, `[]`, `null`, `{"key_ops":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newV := range []func() any{
			func() any { return new(KeyCreateParameters) },
			func() any { return new(KeyImportParameters) },
			func() any { return new(KeyUpdateParameters) },
			func() any { return new(KeyOperationsParameters) },
			func() any { return new(KeySignParameters) },
			func() any { return new(KeyVerifyParameters) },
			func() any { return new(KeyRotationPolicy) },
			func() any { return new(KeyRestoreParameters) },
			func() any { return new(GetRandomBytesRequest) },
		} {
			v := newV()
			if err := decodeJSON(body, v); err != nil {
				if _, ok := err.(*httpError); !ok {
					t.Fatalf("decodeJSON(%T) error %T is not a refusal", v, err)
				}
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("json.Marshal(%T) = %v", v, err)
			}
			w := newV()
			if err := decodeJSON(enc, w); err != nil {
				t.Fatalf("decodeJSON(json.Marshal(%T)) = %v for %s", v, err, enc)
			}
			if diff := cmp.Diff(v, w, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("%T does not round-trip (-first +second):\n%s", v, diff)
			}
		}
	})
}
