package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func TestLimiters(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	l := newLimiters(2, 3, DefaultVaultRPS, DefaultVaultBurst)
	for i := range 3 {
		if ok, _ := l.take("a", t0); !ok {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	ok, wait := l.take("a", t0)
	if ok || wait != 500*time.Millisecond {
		t.Errorf("take past the burst = %v, %v, want refused, 500ms", ok, wait)
	}
	if ok, _ := l.take("b", t0); !ok {
		t.Errorf("another key shares a's bucket")
	}
	// A refusal spends nothing: half a second later one token is back.
	if ok, _ := l.take("a", t0.Add(500*time.Millisecond)); !ok {
		t.Errorf("take after refill refused")
	}
	if ok, _ := l.take("a", t0.Add(500*time.Millisecond)); ok {
		t.Errorf("second take after one refill allowed")
	}
}

func TestLimitersDefaults(t *testing.T) {
	tests := []struct {
		name      string
		rps       float64
		burst     int
		wantNil   bool
		wantRPS   float64
		wantBurst int
	}{
		{"zero takes defaults", 0, 0, false, DefaultVaultRPS, DefaultVaultBurst},
		{"negative disables", -1, 10, true, 0, 0},
		{"rate without burst", 5, 0, false, 5, 10},
		{"tiny rate", 0.1, 0, false, 0.1, 1},
		{"both", 7, 3, false, 7, 3},
	}
	for _, tt := range tests {
		l := newLimiters(tt.rps, tt.burst, DefaultVaultRPS, DefaultVaultBurst)
		if (l == nil) != tt.wantNil {
			t.Errorf("%s: newLimiters(%v, %d) = %v, want nil %v", tt.name, tt.rps, tt.burst, l, tt.wantNil)
			continue
		}
		if l != nil && (float64(l.rps) != tt.wantRPS || l.burst != tt.wantBurst) {
			t.Errorf("%s: newLimiters(%v, %d) = %v/%d, want %v/%d", tt.name, tt.rps, tt.burst, l.rps, l.burst, tt.wantRPS, tt.wantBurst)
		}
	}
}

func TestLimitersEvictIdle(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	l := newLimiters(10, 10, DefaultVaultRPS, DefaultVaultBurst) // full again after 1s
	for i := range 1000 {
		l.take("k"+strconv.Itoa(i), t0)
	}
	if n := l.len(); n != 1000 {
		t.Fatalf("len = %d, want 1000", n)
	}
	// A new key after the idle period sweeps the full buckets away.
	l.take("fresh", t0.Add(2*time.Second))
	if n := l.len(); n != 1 {
		t.Errorf("len after idle sweep = %d, want 1", n)
	}
}

func TestLimitersBounded(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	l := newLimiters(0.001, 1, DefaultVaultRPS, DefaultVaultBurst) // never idle within the test
	for i := range maxLimiters + 10 {
		l.take("k"+strconv.Itoa(i), t0)
	}
	if n := l.len(); n > maxLimiters {
		t.Errorf("len = %d, want at most %d", n, maxLimiters)
	}
}

func TestThrottle(t *testing.T) {
	tests := []struct {
		name     string
		throttle Throttle
		requests []string // tokens; "-" sends none
		want     []int
	}{
		{"one address's unauthenticated requests spend its own bucket", Throttle{VaultRPS: 1, VaultBurst: 2, PrincipalRPS: -1},
			[]string{"-", namedToken, namedToken}, []int{401, 200, 429}},
		{"principal limit", Throttle{VaultRPS: -1, PrincipalRPS: 1, PrincipalBurst: 1},
			[]string{"-", namedToken, namedToken + "|oid-2", namedToken}, []int{401, 200, 200, 429}},
		{"defaults are generous", Throttle{}, []string{namedToken, namedToken, namedToken, namedToken}, []int{200, 200, 200, 200}},
		{"disabled", Throttle{VaultRPS: -1, PrincipalRPS: -1}, []string{namedToken, namedToken, namedToken}, []int{200, 200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServerWith(t, func(c *Config, _ *Deps) { c.Throttle = tt.throttle })
			for i, token := range tt.requests {
				if token == "-" {
					token = ""
				}
				w := do(s, "GET", namedHost, "/keys/k1?api-version=7.5", token, "")
				if w.Code != tt.want[i] {
					t.Fatalf("request %d = %d %s, want %d", i, w.Code, w.Body, tt.want[i])
				}
				if w.Code != http.StatusTooManyRequests {
					continue
				}
				if got := errorCode(t, w); got != "Throttled" {
					t.Errorf("429 error.code = %q, want Throttled", got)
				}
				if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("Retry-After = %q, want an integer ≥ 1", w.Header().Get("Retry-After"))
				}
			}
		})
	}
}

// TestThrottleUnauthenticatedFlood checks that a flood of unauthenticated
// requests from one address is throttled without spending the vault's
// budget: an authenticated caller at another address is still served, and
// the vault limit still bounds authenticated callers of every address.
func TestThrottleUnauthenticatedFlood(t *testing.T) {
	s, _ := newServerWith(t, func(c *Config, _ *Deps) { c.Throttle = Throttle{VaultRPS: 1, VaultBurst: 3, PrincipalRPS: -1} })
	from := func(addr string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.RemoteAddr = addr
			s.ServeHTTP(w, r)
		})
	}
	attacker, caller, other := from("198.51.100.7:4000"), from("192.0.2.10:5000"), from("192.0.2.11:5000")
	var codes []int
	for i := 0; i < 6; i++ {
		codes = append(codes, do(attacker, "GET", namedHost, "/keys/k1?api-version=7.5", "", "").Code)
	}
	if want := []int{401, 401, 401, 429, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("flood from one address = %v, want %v", codes, want)
	}
	codes = nil
	for _, h := range []http.Handler{caller, other, caller, other} {
		codes = append(codes, do(h, "GET", namedHost, "/keys/k1?api-version=7.5", namedToken, "").Code)
	}
	// The vault's burst of 3 is spent by authenticated requests only.
	if want := []int{200, 200, 200, 429}; !slices.Equal(codes, want) {
		t.Fatalf("authenticated callers after the flood = %v, want %v", codes, want)
	}
}

// TestThrottleSDKRetries drives the real azkeys client into a vault limit
// of one request a second: the challenge spends the token, the first
// authenticated request is answered 429 with Retry-After, and the SDK's
// retry policy waits and succeeds.
func TestThrottleSDKRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a Retry-After second")
	}
	f := newFakeVaults()
	var throttled atomic.Int32
	var s *Server
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		s.ServeHTTP(rec, r)
		if rec.status == http.StatusTooManyRequests {
			throttled.Add(1)
		}
	}))
	ts.StartTLS()
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s = New(Config{TenantID: testTenant, Port: p, DefaultVault: "dev", Logger: slog.New(slog.DiscardHandler),
		Throttle: Throttle{VaultRPS: 1, VaultBurst: 1, PrincipalRPS: -1}}, Deps{Vaults: f, Tokens: fakeTokens{}, Authorizer: AllowAll})

	var d net.Dialer
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
	cred, err := azidentity.NewClientSecretCredential(testTenant, "app", "s3cret", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://127.0.0.1:" + port + "/"}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azkeys.NewClient("https://dev.localhost:"+port, cred, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := c.GetKey(ctx, "k1", "", nil); err != nil {
		t.Fatalf("GetKey() = %v, want success after retrying", err)
	}
	if n := throttled.Load(); n < 1 {
		t.Errorf("429 answers = %d, want at least 1 (the limit was not reached)", n)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("GetKey() took %v: the client did not wait for Retry-After", el)
	}
}
