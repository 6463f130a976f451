package auth

import (
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashFormat(t *testing.T) {
	secret := []byte("client-secret")
	h, err := hashSecret(rand.Reader, secret, defaultArgon2())
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) {
		t.Errorf("hashSecret() = %q, want match for %s", h, phc)
	}
	p, salt, sum, err := parseHash(h)
	if err != nil {
		t.Fatalf("parseHash(hashSecret()) error = %v", err)
	}
	if diff := cmp.Diff(defaultArgon2(), p, cmp.AllowUnexported(argon2Params{})); diff != "" {
		t.Errorf("parseHash() params mismatch (-want +got):\n%s", diff)
	}
	if len(salt) != saltLen || len(sum) != hashLen {
		t.Errorf("parseHash() salt %d bytes, hash %d bytes; want %d, %d", len(salt), len(sum), saltLen, hashLen)
	}
	if h2, _ := hashSecret(rand.Reader, secret, defaultArgon2()); h2 == h {
		t.Error("hashSecret() twice gave the same encoding, want fresh salts")
	}
}

func TestVerifySecret(t *testing.T) {
	// Small parameters keep the table fast; the format is the same.
	params := argon2Params{memory: 64, time: 1, threads: 1}
	secret := []byte("client-secret")
	h, err := hashSecret(rand.Reader, secret, params)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(h, "$") // "", argon2id, v=19, m=..., salt, hash
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	join := func(p ...string) string { return strings.Join(p, "$") }

	tests := []struct {
		name    string
		encoded string
		secret  string
		want    bool
		wantErr bool
	}{
		{name: "right secret", encoded: h, secret: "client-secret", want: true},
		{name: "wrong secret", encoded: h, secret: "client-secreT"},
		{name: "empty secret", encoded: h, secret: ""},
		{name: "tampered hash", encoded: join(parts[0], parts[1], parts[2], parts[3], parts[4], flip(parts[5])), secret: "client-secret"},
		{name: "tampered salt", encoded: join(parts[0], parts[1], parts[2], parts[3], flip(parts[4]), parts[5]), secret: "client-secret"},
		{name: "tampered time", encoded: join(parts[0], parts[1], parts[2], "m=64,t=2,p=1", parts[4], parts[5]), secret: "client-secret"},
		{name: "tampered memory", encoded: join(parts[0], parts[1], parts[2], "m=72,t=1,p=1", parts[4], parts[5]), secret: "client-secret"},
		{name: "argon2i", encoded: join(parts[0], "argon2i", parts[2], parts[3], parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "version 16", encoded: join(parts[0], parts[1], "v=16", parts[3], parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "huge memory", encoded: join(parts[0], parts[1], parts[2], "m=4194304,t=1,p=1", parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "huge time", encoded: join(parts[0], parts[1], parts[2], "m=64,t=1000,p=1", parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "zero lanes", encoded: join(parts[0], parts[1], parts[2], "m=64,t=1,p=0", parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "leading zero", encoded: join(parts[0], parts[1], parts[2], "m=064,t=1,p=1", parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "reordered params", encoded: join(parts[0], parts[1], parts[2], "t=1,m=64,p=1", parts[4], parts[5]), secret: "client-secret", wantErr: true},
		{name: "padded base64", encoded: h + "=", secret: "client-secret", wantErr: true},
		{name: "truncated hash", encoded: join(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5][:10]), secret: "client-secret", wantErr: true},
		{name: "extra field", encoded: h + "$x", secret: "client-secret", wantErr: true},
		{name: "empty", encoded: "", secret: "client-secret", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifySecret(tt.encoded, []byte(tt.secret))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("verifySecret(%q) = %v, %v; want %v, error %v", tt.encoded, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errHashFormat) {
				t.Errorf("verifySecret() error = %v, want %v", err, errHashFormat)
			}
		})
	}
}

func FuzzParseHash(f *testing.F) {
	h, _ := hashSecret(rand.Reader, []byte("x"), argon2Params{memory: 64, time: 1, threads: 1})
	f.Add(h)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, sum, err := parseHash(s)
		if err != nil {
			return
		}
		if got := encodeHash(p, salt, sum); got != s {
			t.Fatalf("encodeHash(parseHash(%q)) = %q, want round trip", s, got)
		}
		if p.memory > maxMemory || p.time > maxTime || p.threads > maxThreads {
			t.Fatalf("parseHash(%q) accepted out-of-range parameters %+v", s, p)
		}
	})
}
