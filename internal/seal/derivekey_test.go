package seal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
)

func TestDeriveKeyMatchesHKDF(t *testing.T) {
	k := testKey(t, 7)
	got := k.DeriveKey("audit-chain", 32)
	want, err := hkdf.Key(sha256.New, bytes.Repeat([]byte{7}, KeySize), nil, "keywarden/audit-chain", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Expose(), want) {
		t.Errorf("DeriveKey(audit-chain, 32) = %x, want %x", got.Expose(), want)
	}
	if other := k.DeriveKey("other", 32); bytes.Equal(other.Expose(), got.Expose()) {
		t.Error("DeriveKey gives the same key for two purposes")
	}
	if again := k.DeriveKey("audit-chain", 32); !again.Equal(got) {
		t.Error("DeriveKey is not deterministic")
	}
	if n := k.DeriveKey("audit-chain", 64).Len(); n != 64 {
		t.Errorf("DeriveKey(audit-chain, 64) has %d bytes", n)
	}
}

func TestDeriveKeyPanicsOnBadLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("DeriveKey(x, 0) did not panic")
		}
	}()
	testKey(t, 1).DeriveKey("x", 0)
}
