package api

import (
	"log/slog"
	"net/http"
	"testing"
)

// BenchmarkSignOverhead measures this layer's cost per sign request (fake
// domain, no crypto, no TLS): the budget the throughput targets
// leave to HTTP handling.
func BenchmarkSignOverhead(b *testing.B) {
	s, _ := newTestServer(b)
	s.log = slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	for b.Loop() {
		w := do(s, http.MethodPost, namedHost, "/keys/k1//sign?api-version=7.5", namedToken, `{"alg":"ES256","value":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}`)
		if w.Code != http.StatusOK {
			b.Fatalf("sign = %d", w.Code)
		}
	}
}
