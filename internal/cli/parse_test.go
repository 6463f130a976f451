package cli

import (
	"crypto"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))

func TestParseTime(t *testing.T) {
	nowUTC := testNow.UTC().Truncate(time.Second)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2031-06-01T12:00:00Z", time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2031-06-01T12:00:00.9+02:00", time.Date(2031, 6, 1, 10, 0, 0, 0, time.UTC)},
		{"2031-06-01", time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"90d", nowUTC.Add(90 * 24 * time.Hour)},
		{"+90d", nowUTC.Add(90 * 24 * time.Hour)},
		{"-1d", nowUTC.Add(-24 * time.Hour)},
		{"2w", nowUTC.Add(14 * 24 * time.Hour)},
		{"1y", nowUTC.Add(365 * 24 * time.Hour)},
		{"12h", nowUTC.Add(12 * time.Hour)},
		{"1h30m", nowUTC.Add(90 * time.Minute)},
		{" 30s ", nowUTC.Add(30 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in, testNow)
			if err != nil {
				t.Fatalf("parseTime(%q) error = %v", tt.in, err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("parseTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	for _, in := range []string{"", "soon", "90", "d", "1.5d", "2031-13-01", "90days", "xd"} {
		if got, err := parseTime(in, testNow); err == nil {
			t.Errorf("parseTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want map[string]string
	}{
		{"none", nil, map[string]string{}},
		{"clear", []string{""}, map[string]string{}},
		{"one", []string{"env=prod"}, map[string]string{"env": "prod"}},
		{"repeated", []string{"env=prod", "team=sec"}, map[string]string{"env": "prod", "team": "sec"}},
		{"comma", []string{"env=prod, team=sec"}, map[string]string{"env": "prod", "team": "sec"}},
		{"empty value", []string{"flag="}, map[string]string{"flag": ""}},
		{"equals in value", []string{"expr=a=b"}, map[string]string{"expr": "a=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTags(tt.in)
			if err != nil {
				t.Fatalf("parseTags(%q) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseTags(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	for _, bad := range [][]string{{"novalue"}, {"=v"}, {"a=1", "a=2"}, {"a=1,a=2"}} {
		if got, err := parseTags(bad); err == nil {
			t.Errorf("parseTags(%q) = %v, want an error", bad, got)
		}
	}
}

func TestAzTags(t *testing.T) {
	if got := azTags(nil); got != nil {
		t.Errorf("azTags(nil) = %v, want nil", got)
	}
	got := azTags(map[string]string{"a": "1", "b": "2"})
	if len(got) != 2 || *got["a"] != "1" || *got["b"] != "2" {
		t.Errorf("azTags() = %v, want a=1 b=2", got)
	}
}

func TestParseOps(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []azkeys.KeyOperation
	}{
		{"none", nil, nil},
		{"canonical", []string{"sign", "verify"}, []azkeys.KeyOperation{"sign", "verify"}},
		{"any case", []string{"WRAPKEY", "unwrapkey", "Encrypt"}, []azkeys.KeyOperation{"wrapKey", "unwrapKey", "encrypt"}},
		{"comma and duplicates", []string{"sign, verify,sign", "verify"}, []azkeys.KeyOperation{"sign", "verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := parseOps(tt.in)
			if err != nil {
				t.Fatalf("parseOps(%q) error = %v", tt.in, err)
			}
			var got []azkeys.KeyOperation
			for _, op := range ops {
				got = append(got, *op)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseOps(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if _, err := parseOps([]string{"sign", "launch"}); err == nil {
		t.Errorf("parseOps(launch) error = nil, want an error")
	}
}

func TestMatchFold(t *testing.T) {
	got, err := matchFold("rsa-oaep-256", "algorithm", azkeys.PossibleEncryptionAlgorithmValues())
	if err != nil || got != azkeys.EncryptionAlgorithmRSAOAEP256 {
		t.Errorf("matchFold(rsa-oaep-256) = %q, %v, want RSA-OAEP-256", got, err)
	}
	if got, err := matchFold("ec", "key type", azkeys.PossibleKeyTypeValues()); err != nil || got != azkeys.KeyTypeEC {
		t.Errorf("matchFold(ec) = %q, %v, want EC", got, err)
	}
	if _, err := matchFold("DSA", "key type", azkeys.PossibleKeyTypeValues()); err == nil {
		t.Errorf("matchFold(DSA) error = nil, want an error")
	}
}

func TestHashForSignature(t *testing.T) {
	tests := []struct {
		alg  azkeys.SignatureAlgorithm
		want crypto.Hash
	}{
		{azkeys.SignatureAlgorithmRS256, crypto.SHA256},
		{azkeys.SignatureAlgorithmPS256, crypto.SHA256},
		{azkeys.SignatureAlgorithmES256, crypto.SHA256},
		{azkeys.SignatureAlgorithmES256K, crypto.SHA256},
		{azkeys.SignatureAlgorithmRS384, crypto.SHA384},
		{azkeys.SignatureAlgorithmES384, crypto.SHA384},
		{azkeys.SignatureAlgorithmPS512, crypto.SHA512},
		{azkeys.SignatureAlgorithmES512, crypto.SHA512},
	}
	for _, tt := range tests {
		got, err := hashForSignature(tt.alg)
		if err != nil || got != tt.want {
			t.Errorf("hashForSignature(%s) = %v, %v, want %v", tt.alg, got, err, tt.want)
		}
	}
	// Every algorithm the SDK knows has a hash.
	for _, alg := range azkeys.PossibleSignatureAlgorithmValues() {
		if _, err := hashForSignature(alg); err != nil {
			t.Errorf("hashForSignature(%s) error = %v", alg, err)
		}
	}
	d, err := digest(azkeys.SignatureAlgorithmES384, []byte("abc"))
	if err != nil || len(d) != 48 {
		t.Errorf("digest(ES384) = %d bytes, %v, want 48", len(d), err)
	}
}

func TestBase64URL(t *testing.T) {
	want := []byte{0xfb, 0xff, 0xfe, 0x01}
	for _, in := range []string{"-__-AQ", "-__-AQ==", "+//+AQ==", " -__-AQ\n"} {
		got, err := decodeBase64URL("--value", in)
		if err != nil {
			t.Errorf("decodeBase64URL(%q) error = %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decodeBase64URL(%q) mismatch (-want +got):\n%s", in, diff)
		}
	}
	if got := encodeBase64URL(want); got != "-__-AQ" {
		t.Errorf("encodeBase64URL() = %q, want %q", got, "-__-AQ")
	}
	_, err := decodeBase64URL("--value", "top secret!")
	if err == nil || err.Error() != "--value: not base64url" {
		t.Errorf("decodeBase64URL(invalid) error = %v, want %q", err, "--value: not base64url")
	}
}

func TestCheckKeyName(t *testing.T) {
	for _, ok := range []string{"a", "app-signing-2", "A1"} {
		if err := checkKeyName(ok); err != nil {
			t.Errorf("checkKeyName(%q) error = %v", ok, err)
		}
	}
	long := make([]byte, 128)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a_b", "a/b", "ключ", string(long)} {
		if err := checkKeyName(bad); err == nil {
			t.Errorf("checkKeyName(%q) error = nil, want an error", bad)
		}
	}
}
