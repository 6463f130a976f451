package keywrap_test

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/internal/keys/keywrap"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goBlocks returns Go's AES block operation under key as BlockFuncs.
func goBlocks(t testing.TB, key []byte) (enc, dec keywrap.BlockFunc) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return keywrap.Cipher(b)
}

// rfc3394Vectors are RFC 3394 §4.1 to §4.6.
var rfc3394Vectors = []struct{ name, kek, data, wrapped string }{
	{"4.1 128-bit data, 128-bit KEK", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
	{"4.2 128-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
	{"4.3 128-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
	{"4.4 192-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
	{"4.5 192-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
	{"4.6 256-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
}

// rfc5649Vectors are RFC 5649 §6.
var rfc5649Vectors = []struct{ name, kek, data, wrapped string }{
	{"20 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
	{"7 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
}

func TestKeyWrapVectors(t *testing.T) {
	for _, v := range rfc3394Vectors {
		t.Run("RFC 3394 "+v.name, func(t *testing.T) {
			enc, dec := goBlocks(t, unhex(t, v.kek))
			data, want := unhex(t, v.data), unhex(t, v.wrapped)
			if got, err := keywrap.Wrap(enc, data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("Wrap() = %x, %v, want %x", got, err, want)
			}
			if got, err := keywrap.Unwrap(dec, want); err != nil || !bytes.Equal(got, data) {
				t.Errorf("Unwrap() = %x, %v, want %x", got, err, data)
			}
			for i := range want {
				bad := bytes.Clone(want)
				bad[i] ^= 1
				if got, err := keywrap.Unwrap(dec, bad); !errors.Is(err, keywrap.ErrUnwrap) {
					t.Fatalf("Unwrap(byte %d flipped) = %x, %v, want ErrUnwrap", i, got, err)
				}
			}
		})
	}
	for _, v := range rfc5649Vectors {
		t.Run("RFC 5649 "+v.name, func(t *testing.T) {
			enc, dec := goBlocks(t, unhex(t, v.kek))
			data, want := unhex(t, v.data), unhex(t, v.wrapped)
			if got, err := keywrap.WrapPad(enc, data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("WrapPad() = %x, %v, want %x", got, err, want)
			}
			if got, err := keywrap.UnwrapPad(dec, want); err != nil || !bytes.Equal(got, data) {
				t.Errorf("UnwrapPad() = %x, %v, want %x", got, err, data)
			}
			for i := range want {
				bad := bytes.Clone(want)
				bad[i] ^= 0x80
				if got, err := keywrap.UnwrapPad(dec, bad); !errors.Is(err, keywrap.ErrUnwrap) {
					t.Fatalf("UnwrapPad(byte %d flipped) = %x, %v, want ErrUnwrap", i, got, err)
				}
			}
		})
	}
}

func TestKeyWrapPadRoundTrip(t *testing.T) {
	enc, dec := goBlocks(t, unhex(t, rfc5649Vectors[0].kek))
	for n := 1; n <= 70; n++ {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		c, err := keywrap.WrapPad(enc, data)
		if err != nil || len(c) != (n+7)/8*8+8 {
			t.Fatalf("WrapPad(%d bytes) = %d bytes, %v", n, len(c), err)
		}
		if got, err := keywrap.UnwrapPad(dec, c); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("UnwrapPad(keywrap.WrapPad(%d bytes)) = %x, %v, want %x", n, got, err, data)
		}
	}
	// A wrap whose MLI claims more bytes than were padded, or non-zero
	// padding, must fail: wrap a crafted block with the right AIV.
	for _, tc := range []struct {
		name string
		aiv  string
		p    string
	}{
		{"mli too large", "A65959A600000009", "0102030405060708"},
		{"mli too small", "A65959A600000000", "0102030405060708"},
		{"non-zero padding", "A65959A600000007", "0102030405060708"},
		{"wrong constant", "A65959A700000008", "0102030405060708"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := enc(append(unhex(t, tc.aiv), unhex(t, tc.p)...))
			if got, err := keywrap.UnwrapPad(dec, c); !errors.Is(err, keywrap.ErrUnwrap) {
				t.Errorf("UnwrapPad() = %x, %v, want ErrUnwrap", got, err)
			}
		})
	}
}

func TestKeyWrapRefusesShortInput(t *testing.T) {
	enc, dec := goBlocks(t, unhex(t, rfc3394Vectors[0].kek))
	for _, n := range []int{0, 8, 12, 17} {
		if _, err := keywrap.Wrap(enc, make([]byte, n)); err == nil {
			t.Errorf("Wrap(%d bytes) = nil error, want an error", n)
		}
	}
	for _, n := range []int{0, 16, 23} {
		if _, err := keywrap.Unwrap(dec, make([]byte, n)); !errors.Is(err, keywrap.ErrUnwrap) {
			t.Errorf("Unwrap(%d bytes) = %v, want ErrUnwrap", n, err)
		}
	}
	if _, err := keywrap.WrapPad(enc, nil); err == nil {
		t.Error("WrapPad(nil) = nil error, want an error")
	}
}
