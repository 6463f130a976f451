package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLastUsedAttribute checks that a version's last use is sent as the
// integer attribute lastUsed (a Keywarden extension) in key bundles and
// listing items, omitted when unknown, and ignored in requests.
func TestLastUsedAttribute(t *testing.T) {
	s, f := newTestServer(t)
	used := time.Date(2023, 11, 14, 22, 14, 0, 0, time.UTC)
	f.kv.LastUsed = &used
	tests := []struct{ name, method, target, body string }{
		{"key bundle", "GET", "/keys/k1?api-version=7.5", ""},
		{"key bundle 7.2", "GET", "/keys/k1?api-version=7.2", ""},
		{"key list", "GET", "/keys?api-version=7.5", ""},
		{"versions list", "GET", "/keys/k1/versions?api-version=7.5", ""},
		{"update ignores lastUsed", "PATCH", "/keys/k1/?api-version=7.5", `{"attributes":{"lastUsed":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(s, tt.method, namedHost, tt.target, namedToken, tt.body)
			if w.Code != 200 {
				t.Fatalf("%s %s = %d %s, want 200", tt.method, tt.target, w.Code, w.Body)
			}
			if want := `"lastUsed":1700000040`; !strings.Contains(w.Body.String(), want) {
				t.Errorf("%s %s body = %s, want it to hold %s", tt.method, tt.target, w.Body, want)
			}
			var doc struct {
				Attributes map[string]any `json:"attributes"`
				Value      []struct {
					Attributes map[string]any `json:"attributes"`
				} `json:"value"`
			}
			d := json.NewDecoder(w.Body)
			d.UseNumber()
			if err := d.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			attrs := doc.Attributes
			if attrs == nil && len(doc.Value) > 0 {
				attrs = doc.Value[0].Attributes
			}
			if n, ok := attrs["lastUsed"].(json.Number); !ok || n.String() != "1700000040" {
				t.Errorf("attributes.lastUsed = %#v, want the integer 1700000040", attrs["lastUsed"])
			}
		})
	}

	f.kv.LastUsed = nil
	w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "")
	if strings.Contains(w.Body.String(), "lastUsed") {
		t.Errorf("GET of a never used version = %s, want no lastUsed", w.Body)
	}
}
