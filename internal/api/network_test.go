package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/vault"
)

// rules returns network rules denying all but the given prefixes.
func rules(t *testing.T, allow ...string) *vault.NetworkRules {
	t.Helper()
	n, err := vault.ParseNetworkRules(vault.NetworkDeny, allow)
	if err != nil {
		t.Fatalf("ParseNetworkRules(%q) = %v", allow, err)
	}
	return n
}

func TestNetworkRules(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string // nil: no rules
		proxies []string
		host    string
		target  string
		peer    string
		xff     []string
		token   string
		status  int
		shown   string // client address in the refusal
	}{
		{name: "no rules", peer: "192.0.2.1:1234", status: 200},
		{name: "allowed loopback", allow: []string{"127.0.0.1"}, peer: "127.0.0.1:5555", status: 200},
		{name: "refused", allow: []string{"127.0.0.1"}, peer: "192.0.2.1:1234", status: 403, shown: "192.0.2.1"},
		{name: "refused before authentication", allow: []string{"10.0.0.0/8"}, peer: "127.0.0.1:1", token: "-", status: 403, shown: "127.0.0.1"},
		{name: "allowed then authenticated", allow: []string{"127.0.0.0/8"}, peer: "127.0.0.1:1", token: "-", status: 401},
		{name: "deny with no rules refuses all", allow: []string{}, peer: "127.0.0.1:1", status: 403, shown: "127.0.0.1"},
		{name: "bare origin default vault", allow: []string{"10.0.0.0/8"}, host: bareHost, peer: "127.0.0.1:1", status: 403, shown: "127.0.0.1"},
		{name: "ipv6 allowed", allow: []string{"::1"}, peer: "[::1]:443", status: 200},
		{name: "ipv6 prefix", allow: []string{"2001:db8::/32"}, peer: "[2001:db8:1::7]:443", status: 200},
		{name: "ipv6 refused", allow: []string{"2001:db8::/32"}, peer: "[2001:db9::1]:443", status: 403, shown: "2001:db9::1"},
		{name: "ipv4-mapped peer", allow: []string{"192.0.2.0/24"}, peer: "[::ffff:192.0.2.9]:443", status: 200},
		{name: "ipv6 zone ignored", allow: []string{"fe80::1"}, peer: "[fe80::1%eth0]:443", status: 200},
		{name: "untrusted peer's XFF ignored", allow: []string{"127.0.0.1"}, peer: "192.0.2.1:1", xff: []string{"127.0.0.1"}, status: 403, shown: "192.0.2.1"},
		{name: "no proxies configured: XFF ignored", allow: []string{"203.0.113.9"}, peer: "10.0.0.1:1", xff: []string{"203.0.113.9"}, status: 403, shown: "10.0.0.1"},
		{name: "trusted proxy forwards client", allow: []string{"203.0.113.9"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"203.0.113.9"}, status: 200},
		{name: "trusted proxy chain", allow: []string{"203.0.113.9"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"203.0.113.9, 10.1.1.1", "10.2.2.2"}, status: 200},
		{name: "spoofed left-most entry", allow: []string{"127.0.0.1"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"127.0.0.1, 198.51.100.7"}, status: 403, shown: "198.51.100.7"},
		{name: "trusted proxy's own address", allow: []string{"10.0.0.1"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", status: 200},
		{name: "all hops trusted", allow: []string{"10.9.9.9"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"10.9.9.9,10.1.1.1"}, status: 200},
		{name: "ipv6 hop with port", allow: []string{"2001:db8::5"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"[2001:db8::5]:4711"}, status: 200},
		{name: "garbage hop refused", allow: []string{"0.0.0.0/0"}, proxies: []string{"10.0.0.0/8"}, peer: "10.0.0.1:1", xff: []string{"not-an-ip"}, status: 403, shown: "unknown"},
		{name: "healthz not subject", allow: []string{"10.0.0.0/8"}, target: "/healthz", peer: "127.0.0.1:1", token: "-", status: 200},
		{name: "authority not subject", allow: []string{"10.0.0.0/8"}, host: bareHost, target: "/" + testTenant + "/v2.0/.well-known/openid-configuration", peer: "127.0.0.1:1", token: "-", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newServerWith(t, func(c *Config, _ *Deps) {
				for _, p := range tt.proxies {
					c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
				}
			})
			if tt.allow != nil {
				f.network["dev"] = rules(t, tt.allow...)
			}
			host, target, token := tt.host, tt.target, tt.token
			if host == "" {
				host = namedHost
			}
			if target == "" {
				target = "/keys/k1?api-version=7.5"
			}
			switch token {
			case "":
				token = namedToken
			case "-":
				token = ""
			}
			w := doFrom(s, "GET", host, target, token, tt.peer, tt.xff)
			if w.Code != tt.status {
				t.Fatalf("GET %s from %s (XFF %q) = %d %s, want %d", target, tt.peer, tt.xff, w.Code, w.Body, tt.status)
			}
			if tt.status != 403 {
				return
			}
			want := `{"error":{"code":"Forbidden","message":"Client address (` + tt.shown +
				`) is not authorized and caller is not a trusted service","innererror":{"code":"ForbiddenByFirewall"}}}`
			if got := w.Body.String(); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if f.last().Method != "" {
				t.Errorf("domain called for a refused address: %+v", f.last())
			}
		})
	}
}

// doFrom is do with the TCP peer address and X-Forwarded-For headers set.
func doFrom(s http.Handler, method, host, target, token, peer string, xff []string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://"+host+"/", nil)
	req.Host = host
	path, rawQuery, _ := strings.Cut(target, "?")
	req.URL.RawQuery = rawQuery
	if err := setRawPath(req, path); err != nil {
		panic(err)
	}
	req.RemoteAddr = peer
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

// TestNetworkRulesOverTCP checks the rules against the real peer address of
// a connection from 127.0.0.1, with allow-lists that include and exclude
// it.
func TestNetworkRulesOverTCP(t *testing.T) {
	tests := []struct {
		name   string
		allow  []string
		status int
	}{
		{"includes 127.0.0.1", []string{"127.0.0.1"}, 200},
		{"includes 127.0.0.0/8", []string{"192.0.2.0/24", "127.0.0.0/8"}, 200},
		{"excludes it", []string{"192.0.2.0/24", "2001:db8::/32"}, 403},
		{"excludes it, only ::1", []string{"::1"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t)
			f.network["dev"] = rules(t, tt.allow...)
			ts := httptest.NewServer(s)
			defer ts.Close()
			req, err := http.NewRequest("GET", ts.URL+"/keys/k1?api-version=7.5", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = namedHost
			req.Header.Set("Authorization", "Bearer "+namedToken)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("GET from 127.0.0.1 = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == 403 && !strings.Contains(string(body), "Client address (127.0.0.1) is not authorized") {
				t.Errorf("body = %s, want the firewall refusal naming 127.0.0.1", body)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"192.0.2.1:80", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1 ", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[fe80::1%eth0]:1", "fe80::1"},
		{"unknown", ""},
		{"", ""},
		{"192.0.2.1:80:90", ""},
	}
	for _, tt := range tests {
		a, ok := parseAddr(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("parseAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
