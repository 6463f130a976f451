package cli

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/bench"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func render(t *testing.T, format outputFormat, doc any, table func(io.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (printer{w: &buf, format: format}).print(doc, table); err != nil {
		t.Fatalf("print() error = %v", err)
	}
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }

func testTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

const testVault = "https://dev.localhost:8443"

func testRSABundle() azkeys.KeyBundle {
	n := append([]byte{0xc3}, bytes.Repeat([]byte{0x5a}, 255)...)
	kid := azkeys.ID(testVault + "/keys/app-signing/0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	return azkeys.KeyBundle{
		Key: &azkeys.JSONWebKey{
			KID:    &kid,
			Kty:    ptr(azkeys.KeyTypeRSA),
			N:      n,
			E:      []byte{1, 0, 1},
			KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign), ptr(azkeys.KeyOperationVerify)},
		},
		Attributes: &azkeys.KeyAttributes{
			Enabled:         ptr(true),
			Created:         testTime("2030-01-02T03:04:05+01:00"),
			Updated:         testTime("2030-01-02T02:04:05Z"),
			Expires:         testTime("2030-04-02T00:00:00Z"),
			RecoveryLevel:   ptr("Recoverable+Purgeable"),
			RecoverableDays: ptr(int32(90)),
		},
		Tags: map[string]*string{"team": ptr("payments"), "env": ptr("prod")},
	}
}

func testECBundle() azkeys.KeyBundle {
	kid := azkeys.ID(testVault + "/keys/edge-ec/aa11")
	return azkeys.KeyBundle{
		Key: &azkeys.JSONWebKey{
			KID: &kid,
			Kty: ptr(azkeys.KeyTypeEC),
			Crv: ptr(azkeys.CurveNameP256),
			X:   bytes.Repeat([]byte{0x01}, 32),
			Y:   bytes.Repeat([]byte{0xfe}, 32),
		},
		Attributes: &azkeys.KeyAttributes{
			Enabled:   ptr(false),
			NotBefore: testTime("2030-01-01T00:00:00Z"),
			Created:   testTime("2030-01-01T00:00:00Z"),
		},
	}
}

func TestKeyOutput(t *testing.T) {
	keys := []keyDoc{newKeyDoc(testRSABundle()), newKeyDoc(testECBundle())}
	if got := keys[0].KeySize; got != 2048 {
		t.Errorf("KeySize = %d, want 2048", got)
	}
	golden(t, "key.txt", render(t, formatTable, nil, keyTable(keys...)))
	golden(t, "key-rsa.json", render(t, formatJSON, keys[0], nil))
	golden(t, "key-ec.json", render(t, formatJSON, keys[1], nil))
}

func TestShowOutput(t *testing.T) {
	used := newKeyDoc(testRSABundle())
	used.LastUsed = testTime("2030-03-01T12:34:00Z")
	golden(t, "show.txt", render(t, formatTable, nil, showTable(used)))
	golden(t, "show-never-used.txt", render(t, formatTable, nil, showTable(newKeyDoc(testECBundle()))))
	golden(t, "show.json", render(t, formatJSON, used, nil))
}

func TestLastUsed(t *testing.T) {
	resp := func(body string) *http.Response {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body))}
	}
	tests := []struct {
		name string
		resp *http.Response
		want *time.Time
	}{
		{"no response", nil, nil},
		{"integer", resp(`{"key":{},"attributes":{"enabled":true,"lastUsed":1893456060}}`), testTime("2030-01-01T00:01:00Z")},
		{"fraction", resp(`{"attributes":{"lastUsed":1893456060.5}}`), testTime("2030-01-01T00:01:00Z")},
		{"absent", resp(`{"attributes":{"enabled":true}}`), nil},
		{"not a number", resp(`{"attributes":{"lastUsed":"yesterday"}}`), nil},
		{"not JSON", resp(`<html>`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lastUsed(tt.resp)
			if (got == nil) != (tt.want == nil) || got != nil && !got.Equal(*tt.want) {
				t.Errorf("lastUsed() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListOutput(t *testing.T) {
	items := []*azkeys.KeyProperties{
		{
			KID:        ptr(azkeys.ID(testVault + "/keys/app-signing")),
			Attributes: &azkeys.KeyAttributes{Enabled: ptr(true), Created: testTime("2030-01-02T03:04:05Z"), Updated: testTime("2030-01-03T03:04:05Z")},
			Tags:       map[string]*string{"env": ptr("prod")},
		},
		{
			KID:        ptr(azkeys.ID(testVault + "/keys/edge-ec")),
			Attributes: &azkeys.KeyAttributes{Enabled: ptr(false), Created: testTime("2030-01-01T00:00:00Z"), Expires: testTime("2031-01-01T00:00:00Z")},
			Managed:    ptr(true),
		},
	}
	var keys []keyDoc
	for _, it := range items {
		keys = append(keys, newKeyItemDoc(it))
	}
	golden(t, "list.txt", render(t, formatTable, nil, listTable(keys)))
	golden(t, "list.json", render(t, formatJSON, keyListDoc{Keys: keys}, nil))
	golden(t, "list-empty.json", render(t, formatJSON, keyListDoc{Keys: []keyDoc{}}, nil))
}

func TestVersionsOutput(t *testing.T) {
	items := []*azkeys.KeyProperties{
		{KID: ptr(azkeys.ID(testVault + "/keys/app-signing/v1")), Attributes: &azkeys.KeyAttributes{Enabled: ptr(false), Created: testTime("2030-01-01T00:00:00Z")}},
		{KID: ptr(azkeys.ID(testVault + "/keys/app-signing/v2")), Attributes: &azkeys.KeyAttributes{Enabled: ptr(true), Created: testTime("2030-02-01T00:00:00Z"), NotBefore: testTime("2030-02-02T00:00:00Z")}},
	}
	var keys []keyDoc
	for _, it := range items {
		keys = append(keys, newKeyItemDoc(it))
	}
	golden(t, "versions.txt", render(t, formatTable, nil, versionsTable(keys)))
	golden(t, "versions.json", render(t, formatJSON, keyListDoc{Keys: keys}, nil))
}

func TestDeletedOutput(t *testing.T) {
	b := testECBundle()
	d := newDeletedKeyDoc(azkeys.DeletedKey{
		Key: b.Key, Attributes: b.Attributes,
		RecoveryID:         ptr(testVault + "/deletedkeys/edge-ec"),
		DeletedDate:        testTime("2030-03-01T00:00:00Z"),
		ScheduledPurgeDate: testTime("2030-05-30T00:00:00Z"),
	})
	item := newDeletedKeyItemDoc(&azkeys.DeletedKeyProperties{
		KID:                ptr(azkeys.ID(testVault + "/keys/old")),
		Attributes:         &azkeys.KeyAttributes{Enabled: ptr(true)},
		RecoveryID:         ptr(testVault + "/deletedkeys/old"),
		DeletedDate:        testTime("2030-03-02T00:00:00Z"),
		ScheduledPurgeDate: testTime("2030-05-31T00:00:00Z"),
	})
	golden(t, "deleted.txt", render(t, formatTable, nil, deletedTable(d, item)))
	golden(t, "deleted.json", render(t, formatJSON, d, nil))
}

func TestOperationOutput(t *testing.T) {
	op := opDoc{KID: testVault + "/keys/kek/v1", Algorithm: "RSA-OAEP-256", Value: encodeBase64URL([]byte{0xfb, 0xff, 0xfe}), Bytes: 3}
	toFile := opDoc{KID: testVault + "/keys/kek/v1", Algorithm: "RS256", File: "sig.bin", Bytes: 256}
	v := verifyDoc{Name: "kek", Algorithm: "ES256", Valid: true}
	var out bytes.Buffer
	out.Write(render(t, formatTable, nil, opTable(op)))
	out.Write(render(t, formatTable, nil, opTable(toFile)))
	out.Write(render(t, formatTable, nil, verifyTable(v)))
	out.Write(render(t, formatTable, nil, fileTable(fileDoc{Name: "kek", File: "kek.backup", Bytes: 1234})))
	out.Write(render(t, formatTable, nil, purgeTable(purgeDoc{Name: "kek", Purged: true})))
	golden(t, "operations.txt", out.Bytes())
	out.Reset()
	out.Write(render(t, formatJSON, op, nil))
	out.Write(render(t, formatJSON, toFile, nil))
	out.Write(render(t, formatJSON, v, nil))
	out.Write(render(t, formatJSON, fileDoc{Name: "kek", File: "kek.backup", Bytes: 1234}, nil))
	out.Write(render(t, formatJSON, purgeDoc{Name: "kek", Purged: true}, nil))
	golden(t, "operations.json", out.Bytes())
}

func TestBenchOutput(t *testing.T) {
	doc := benchDoc{Concurrency: 16, Duration: "10s", Results: []benchResult{
		newBenchResult(bench.RS256,
			bench.Result{Ops: 20000, OpsPerSec: 2000, P50: 7500 * time.Microsecond, P99: 21 * time.Millisecond},
			bench.Result{Ops: 80000, OpsPerSec: 8000, P50: 1900 * time.Microsecond, P99: 2500 * time.Microsecond}),
		newBenchResult(bench.ES256,
			bench.Result{Ops: 50000, OpsPerSec: 5000, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond},
			bench.Result{}),
	}}
	if got := doc.Results[0].Ratio; got != 0.25 {
		t.Errorf("ratio = %v, want 0.25", got)
	}
	golden(t, "bench.txt", render(t, formatTable, nil, benchTable(doc)))
	golden(t, "bench.json", render(t, formatJSON, doc, nil))
}

func TestParseOutput(t *testing.T) {
	for _, ok := range []string{"table", "json"} {
		if _, err := parseOutput(ok); err != nil {
			t.Errorf("parseOutput(%q) error = %v", ok, err)
		}
	}
	if _, err := parseOutput("yaml"); err == nil {
		t.Errorf("parseOutput(yaml) error = nil, want an error")
	}
}

func TestBitLen(t *testing.T) {
	tests := []struct {
		in   []byte
		want int
	}{
		{nil, 0},
		{[]byte{0, 0}, 0},
		{[]byte{1}, 1},
		{[]byte{0, 0x80, 0}, 16},
		{[]byte{0x7f, 0}, 15},
	}
	for _, tt := range tests {
		if got := bitLen(tt.in); got != tt.want {
			t.Errorf("bitLen(%x) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
