package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
)

const testVersion = "0123456789abcdef0123456789abcdef"

func TestWireBodies(t *testing.T) {
	kid := "https://dev.localhost:8443/keys/k1/" + testVersion
	attrs75 := `"attributes":{"enabled":true,"created":1700000000,"updated":1700000100,"recoverableDays":90,"recoveryLevel":"Recoverable+Purgeable","exportable":false}`
	tests := []struct {
		name, method, target, body string
		status                     int
		want                       string
	}{
		{"key bundle", "GET", "/keys/k1?api-version=7.5", "", 200,
			`{"key":{"kid":"` + kid + `","kty":"RSA","key_ops":["sign","verify"],"n":"xQECAw","e":"AQAB"},` + attrs75 + `}`},
		{"key bundle before 7.3", "GET", "/keys/k1?api-version=7.2", "", 200,
			`{"key":{"kid":"` + kid + `","kty":"RSA","key_ops":["sign","verify"],"n":"xQECAw","e":"AQAB"},"attributes":{"enabled":true,"created":1700000000,"updated":1700000100,"recoverableDays":90,"recoveryLevel":"Recoverable+Purgeable"}}`},
		{"deleted key bundle", "DELETE", "/keys/k1?api-version=7.5", "", 200,
			`{"key":{"kid":"` + kid + `","kty":"RSA","key_ops":["sign","verify"],"n":"xQECAw","e":"AQAB"},` + attrs75 +
				`,"recoveryId":"https://dev.localhost:8443/deletedkeys/k1","deletedDate":1700000200,"scheduledPurgeDate":1707776200}`},
		{"deleted list", "GET", "/deletedkeys?api-version=7.5", "", 200,
			`{"value":[{"kid":"https://dev.localhost:8443/keys/k1",` + attrs75 +
				`,"recoveryId":"https://dev.localhost:8443/deletedkeys/k1","deletedDate":1700000200,"scheduledPurgeDate":1707776200}]}`},
		{"key list base kid", "GET", "/keys?api-version=7.5", "", 200,
			`{"value":[{"kid":"https://dev.localhost:8443/keys/k1",` + attrs75 + `}]}`},
		{"versions list versioned kid", "GET", "/keys/k1/versions?api-version=7.5", "", 200,
			`{"value":[{"kid":"` + kid + `",` + attrs75 + `}]}`},
		{"sign", "POST", "/keys/k1//sign?api-version=7.5", `{"alg":"RS256","value":"AAAA"}`, 200,
			`{"kid":"` + kid + `","value":"c2ln"}`},
		{"decrypt", "POST", "/keys/k1//decrypt?api-version=7.5", `{"alg":"RSA-OAEP","value":"AAAA"}`, 200,
			`{"kid":"` + kid + `","value":"cHQ"}`},
		{"verify false is 200", "POST", "/keys/k1//verify?api-version=7.5", `{"alg":"RS256","digest":"AAAA","value":"AAAA"}`, 200,
			`{"value":false}`},
		{"backup without padding", "POST", "/keys/k1/backup?api-version=7.5", "", 200,
			`{"value":"YmxvYv_-"}`},
		{"rng", "POST", "/rng?api-version=7.5", `{"count":2}`, 200,
			`{"value":"AAA"}`},
		{"default rotation policy", "GET", "/keys/k1/rotationpolicy?api-version=7.5", "", 200,
			`{"id":"https://dev.localhost:8443/keys/k1/rotationpolicy","lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Notify"}}],"attributes":{}}`},
		{"set rotation policy", "PUT", "/keys/k1/rotationpolicy?api-version=7.5",
			`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"rotate"}}],"attributes":{"expiryTime":"P2Y"}}`, 200,
			`{"id":"https://dev.localhost:8443/keys/k1/rotationpolicy","lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y","created":1700000500,"updated":1700000500}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			w := do(s, tt.method, namedHost, tt.target, namedToken, tt.body)
			if w.Code != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.target, w.Code, w.Body, tt.status)
			}
			if diff := cmp.Diff(tt.want, w.Body.String()); diff != "" {
				t.Errorf("%s %s body (-want +got):\n%s", tt.method, tt.target, diff)
			}
			if strings.Contains(w.Body.String(), "null") || strings.Contains(w.Body.String(), "=") {
				t.Errorf("%s %s body %s holds null or padding", tt.method, tt.target, w.Body)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	s, f := newTestServer(t)
	f.next = "k1\x00marker"
	w := do(s, "GET", namedHost, "/keys?api-version=7.6-preview.2", namedToken, "")
	var page KeyListResult
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatalf("GET /keys body %s: %v", w.Body, err)
	}
	want := "https://dev.localhost:8443/keys?api-version=7.6-preview.2&$skiptoken=azEAbWFya2Vy&maxresults=25"
	if page.NextLink != want {
		t.Fatalf("GET /keys nextLink = %s, want %s", page.NextLink, want)
	}

	// Follow it as the Go pager does: re-encoded query, $ escaped.
	u, err := url.Parse(page.NextLink)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = u.Query().Encode()
	if !strings.Contains(u.RawQuery, "%24skiptoken") {
		t.Fatalf("re-encoded query %s does not escape $", u.RawQuery)
	}
	f.next = ""
	w = do(s, "GET", u.Host, u.Path+"?"+u.RawQuery, namedToken, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET nextLink = %d %s", w.Code, w.Body)
	}
	if got := f.last(); got.Marker != "k1\x00marker" || got.Limit != 25 {
		t.Errorf("following nextLink called %+v, want marker k1\\x00marker, limit 25", got)
	}
	if strings.Contains(w.Body.String(), "nextLink") {
		t.Errorf("last page %s has a nextLink", w.Body)
	}

	// maxresults is carried; versions and deleted listings have their own paths.
	f.next = "v"
	for target, want := range map[string]string{
		"/keys/k1/versions?api-version=7.5&maxresults=5": "https://dev.localhost:8443/keys/k1/versions?api-version=7.5&$skiptoken=dg&maxresults=5",
		"/deletedkeys?api-version=7.5&maxresults=1":      "https://dev.localhost:8443/deletedkeys?api-version=7.5&$skiptoken=dg&maxresults=1",
	} {
		w := do(s, "GET", namedHost, target, namedToken, "")
		var page struct{ NextLink string }
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		if page.NextLink != want {
			t.Errorf("GET %s nextLink = %s, want %s", target, page.NextLink, want)
		}
	}

	for _, target := range []string{"/keys?api-version=7.5&maxresults=0", "/keys?api-version=7.5&maxresults=26", "/keys?api-version=7.5&maxresults=x", "/keys?api-version=7.5&$skiptoken=!!"} {
		if w := do(s, "GET", namedHost, target, namedToken, ""); w.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", target, w.Code)
		}
	}
}

func TestKidFollowsOrigin(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, "GET", bareHost, "/keys/k1?api-version=7.5", bareToken, "")
	var b KeyBundle
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if want := "https://127.0.0.1:8443/keys/k1/" + testVersion; b.Key.KID != want {
		t.Errorf("bare-origin kid = %s, want %s", b.Key.KID, want)
	}
}

func TestKeyTypeMapping(t *testing.T) {
	tests := []struct {
		kty  string
		typ  keys.Type
		prot keys.Protection
	}{
		{"RSA", keys.RSA, keys.Software}, {"RSA-HSM", keys.RSA, keys.HSM}, {"EC", keys.EC, keys.Software},
		{"EC-HSM", keys.EC, keys.HSM}, {"oct", keys.Oct, keys.Software}, {"oct-HSM", keys.Oct, keys.HSM},
	}
	for _, tt := range tests {
		typ, prot, err := parseKeyType(tt.kty)
		if err != nil || typ != tt.typ || prot != tt.prot {
			t.Errorf("parseKeyType(%q) = %v, %v, %v, want %v, %v", tt.kty, typ, prot, err, tt.typ, tt.prot)
		}
		if got := keyType(keys.Spec{Type: typ, Protection: prot}); got != tt.kty {
			t.Errorf("keyType(%v, %v) = %q, want %q", typ, prot, got, tt.kty)
		}
	}
	for _, bad := range []string{"", "DSA", "-HSM", "RSA-HSMX"} {
		if _, _, err := parseKeyType(bad); err == nil {
			t.Errorf("parseKeyType(%q) = nil error, want one", bad)
		}
	}
}
