package vault_test

import (
	"crypto/rand"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/keys"
	"github.com/keywarden/keywarden/internal/keys/software"
	"github.com/keywarden/keywarden/internal/seal"
	"github.com/keywarden/keywarden/internal/store/embedded"
	"github.com/keywarden/keywarden/internal/vault"
)

// newAdminEnv returns an env without vaults whose Service reports created
// vaults to the returned function.
func newAdminEnv(t *testing.T) (*env, func() []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keywarden.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("embedded.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := seal.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var created []string
	svc := vault.New(vault.Options{
		Store:    db,
		Material: root.Derive("material"),
		Backup:   root.Derive("backup"),
		Software: software.New(rand.Reader),
		OnVaultCreated: func(name string) {
			mu.Lock()
			created = append(created, name)
			mu.Unlock()
		},
	})
	e := &env{svc: svc, path: path, ctx: t.Context()}
	return e, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(created)
	}
}

func mustRules(t *testing.T, action string, rules ...string) *vault.NetworkRules {
	t.Helper()
	n, err := vault.ParseNetworkRules(action, rules)
	if err != nil {
		t.Fatalf("ParseNetworkRules(%q, %q): %v", action, rules, err)
	}
	return n
}

func TestCreateVault(t *testing.T) {
	e, created := newAdminEnv(t)
	v, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "payments", SKU: vault.Standard,
		Network: mustRules(t, "deny", "10.0.0.0/8"), KeyPolicy: vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{"p-256"}}})
	if err != nil {
		t.Fatalf("CreateVault: %v", err)
	}
	want := vault.Vault{Name: "payments", SKU: vault.Standard, RetentionDays: 90, Created: t0,
		Network:   &vault.NetworkRules{DefaultAction: "Deny", IPRules: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		KeyPolicy: vault.KeyPolicy{MinRSASize: 3072, AllowedCurves: []keys.Curve{keys.P256}}}
	opts := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if d := cmp.Diff(want, v, opts); d != "" {
		t.Errorf("CreateVault (-want +got):\n%s", d)
	}
	got, err := e.svc.Vault(e.ctx, "payments")
	if err != nil {
		t.Fatalf("Vault: %v", err)
	}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("Vault after CreateVault (-want +got):\n%s", d)
	}
	if got := created(); !slices.Equal(got, []string{"payments"}) {
		t.Errorf("OnVaultCreated calls = %q, want [payments]", got)
	}

	_, err = e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "payments", SKU: vault.Premium})
	wantErr(t, "CreateVault(existing)", err, vault.ErrConflict, "VaultAlreadyExists")

	bad := []struct {
		name string
		v    vault.Vault
	}{
		{"short name", vault.Vault{Name: "ab", SKU: vault.Standard}},
		{"upper case", vault.Vault{Name: "Payments", SKU: vault.Standard}},
		{"long name", vault.Vault{Name: strings.Repeat("a", 25), SKU: vault.Standard}},
		{"trailing dash", vault.Vault{Name: "abc-", SKU: vault.Standard}},
		{"bad sku", vault.Vault{Name: "abc", SKU: "gold"}},
		{"no sku", vault.Vault{Name: "abc"}},
		{"retention 6", vault.Vault{Name: "abc", SKU: vault.Standard, RetentionDays: 6}},
		{"retention 91", vault.Vault{Name: "abc", SKU: vault.Standard, RetentionDays: 91}},
		{"bad action", vault.Vault{Name: "abc", SKU: vault.Standard, Network: &vault.NetworkRules{DefaultAction: "Maybe"}}},
		{"invalid prefix", vault.Vault{Name: "abc", SKU: vault.Standard, Network: &vault.NetworkRules{DefaultAction: "Deny", IPRules: []netip.Prefix{{}}}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.CreateVault(e.ctx, t0, tt.v)
			wantErr(t, "CreateVault", err, vault.ErrInvalid, "")
		})
	}
	if got := created(); len(got) != 1 {
		t.Errorf("OnVaultCreated calls = %q after refusals, want only [payments]", got)
	}
	for _, days := range []int{7, 90} {
		v, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "r" + strings.Repeat("x", days%5+2), SKU: vault.ManagedHSM, RetentionDays: days})
		if err != nil || v.RetentionDays != days {
			t.Errorf("CreateVault(retention %d) = %d, %v", days, v.RetentionDays, err)
		}
	}
}

func TestUpdateVault(t *testing.T) {
	e, _ := newAdminEnv(t)
	if _, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "dev", SKU: vault.Premium, RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	// Cache the record so that the updates below must invalidate it.
	if _, err := e.svc.Vault(e.ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		p    vault.VaultUpdate
		kind error // nil: accepted
		want func(vault.Vault) bool
	}{
		{"empty update", vault.VaultUpdate{}, nil, func(v vault.Vault) bool { return v.RetentionDays == 30 && !v.PurgeProtection }},
		{"same retention", vault.VaultUpdate{RetentionDays: ptrTo(30)}, nil, func(v vault.Vault) bool { return v.RetentionDays == 30 }},
		{"other retention", vault.VaultUpdate{RetentionDays: ptrTo(60)}, vault.ErrInvalid, nil},
		{"purge protection stays off", vault.VaultUpdate{PurgeProtection: ptrTo(false)}, nil, func(v vault.Vault) bool { return !v.PurgeProtection }},
		{"purge protection on", vault.VaultUpdate{PurgeProtection: ptrTo(true)}, nil, func(v vault.Vault) bool { return v.PurgeProtection }},
		{"purge protection off refused", vault.VaultUpdate{PurgeProtection: ptrTo(false)}, vault.ErrInvalid, nil},
		{"purge protection on again", vault.VaultUpdate{PurgeProtection: ptrTo(true)}, nil, func(v vault.Vault) bool { return v.PurgeProtection }},
		{"network rules", vault.VaultUpdate{Network: mustRules(t, "Deny", "192.0.2.7", "2001:db8::/32")}, nil, func(v vault.Vault) bool {
			return v.Network != nil && v.Network.DefaultAction == "Deny" && len(v.Network.IPRules) == 2 &&
				v.Network.Allows(netip.MustParseAddr("192.0.2.7")) && !v.Network.Allows(netip.MustParseAddr("192.0.2.8"))
		}},
		{"bad network rules", vault.VaultUpdate{Network: &vault.NetworkRules{DefaultAction: ""}}, vault.ErrInvalid, nil},
		{"network kept", vault.VaultUpdate{}, nil, func(v vault.Vault) bool { return v.Network != nil && len(v.Network.IPRules) == 2 }},
		{"key policy", vault.VaultUpdate{KeyPolicy: &vault.KeyPolicy{RequireExpiry: true}}, nil, func(v vault.Vault) bool { return v.KeyPolicy.RequireExpiry }},
		{"bad key policy", vault.VaultUpdate{KeyPolicy: &vault.KeyPolicy{MinRSASize: 1024}}, vault.ErrInvalid, nil},
		{"key policy kept", vault.VaultUpdate{}, nil, func(v vault.Vault) bool { return v.KeyPolicy.RequireExpiry }},
		{"key policy removed", vault.VaultUpdate{KeyPolicy: &vault.KeyPolicy{}}, nil, func(v vault.Vault) bool { return v.KeyPolicy.IsZero() }},
		{"allow all", vault.VaultUpdate{Network: mustRules(t, "Allow")}, nil, func(v vault.Vault) bool {
			return v.Network.Allows(netip.MustParseAddr("198.51.100.1"))
		}},
	}
	for _, st := range steps {
		got, err := e.svc.UpdateVault(e.ctx, t0, "dev", st.p)
		if st.kind != nil {
			wantErr(t, "UpdateVault("+st.name+")", err, st.kind, "")
			continue
		}
		if err != nil {
			t.Fatalf("UpdateVault(%s): %v", st.name, err)
		}
		read, err := e.svc.Vault(e.ctx, "dev")
		if err != nil {
			t.Fatal(err)
		}
		if !st.want(got) || !st.want(read) {
			t.Errorf("UpdateVault(%s) = %+v, Vault = %+v; not the wanted state", st.name, got, read)
		}
	}
	// Key versions reflect the vault's settings as they are now.
	kv := e.create(t, "k1", ecSpec())
	if kv.RecoveryLevel != "CustomizedRecoverable" || kv.RecoverableDays != 30 {
		t.Errorf("recovery = %s/%d, want CustomizedRecoverable/30", kv.RecoveryLevel, kv.RecoverableDays)
	}
	_, err := e.svc.UpdateVault(e.ctx, t0, "nope", vault.VaultUpdate{})
	wantErr(t, "UpdateVault(missing)", err, vault.ErrNotFound, "VaultNotFound")
}

func ptrTo[T any](v T) *T { return &v }

func TestDeleteVault(t *testing.T) {
	e, _ := newAdminEnv(t)
	for _, name := range []string{"dev", "empty"} {
		if _, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: name, SKU: vault.Premium, RetentionDays: 7}); err != nil {
			t.Fatal(err)
		}
	}
	e.create(t, "k1", ecSpec())
	wantErr(t, "DeleteVault(active key)", e.svc.DeleteVault(e.ctx, "dev"), vault.ErrConflict, "VaultNotEmpty")
	if _, err := e.svc.DeleteKey(e.ctx, t0, "dev", "k1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteVault(soft-deleted key)", e.svc.DeleteVault(e.ctx, "dev"), vault.ErrConflict, "VaultNotEmpty")
	if err := e.svc.PurgeKey(e.ctx, t0, "dev", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteVault(e.ctx, "dev"); err != nil {
		t.Fatalf("DeleteVault(emptied) = %v", err)
	}
	_, err := e.svc.Vault(e.ctx, "dev")
	wantErr(t, "Vault(deleted)", err, vault.ErrNotFound, "VaultNotFound")
	_, err = e.svc.CreateKey(e.ctx, t0, "dev", "k2", ecSpec())
	wantErr(t, "CreateKey(deleted vault)", err, vault.ErrNotFound, "VaultNotFound")
	wantErr(t, "DeleteVault(again)", e.svc.DeleteVault(e.ctx, "dev"), vault.ErrNotFound, "VaultNotFound")
	vs, err := e.svc.Vaults(e.ctx)
	if err != nil || len(vs) != 1 || vs[0].Name != "empty" {
		t.Errorf("Vaults = %v, %v; want [empty]", vs, err)
	}
	// The name is free again.
	if _, err := e.svc.CreateVault(e.ctx, t0, vault.Vault{Name: "dev", SKU: vault.Standard}); err != nil {
		t.Errorf("CreateVault(reused name) = %v", err)
	}
}

func TestParseNetworkRules(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		rules   []string
		want    []string // canonical prefixes
		wantAct string
		bad     string // the entry the error must name
	}{
		{name: "empty allow", action: "Allow", wantAct: "Allow"},
		{name: "case", action: "deny", rules: []string{"10.0.0.0/8"}, want: []string{"10.0.0.0/8"}, wantAct: "Deny"},
		{name: "bare v4", action: "Deny", rules: []string{"192.0.2.7"}, want: []string{"192.0.2.7/32"}, wantAct: "Deny"},
		{name: "bare v6", action: "Deny", rules: []string{"2001:db8::1"}, want: []string{"2001:db8::1/128"}, wantAct: "Deny"},
		{name: "v6 cidr", action: "Deny", rules: []string{"2001:db8::/32"}, want: []string{"2001:db8::/32"}, wantAct: "Deny"},
		{name: "masked", action: "Deny", rules: []string{"10.1.2.3/8", " 2001:db8::5/64 "}, want: []string{"10.0.0.0/8", "2001:db8::/64"}, wantAct: "Deny"},
		{name: "mapped", action: "Deny", rules: []string{"::ffff:192.0.2.7", "::ffff:10.0.0.0/104"}, want: []string{"192.0.2.7/32", "10.0.0.0/8"}, wantAct: "Deny"},
		{name: "duplicates", action: "Deny", rules: []string{"10.0.0.1/8", "10.0.0.0/8"}, want: []string{"10.0.0.0/8"}, wantAct: "Deny"},
		{name: "bad action", action: "Block", bad: "Block"},
		{name: "empty action", action: "", bad: `""`},
		{name: "garbage", action: "Deny", rules: []string{"10.0.0.0/8", "not-an-ip"}, bad: "not-an-ip"},
		{name: "prefix too long", action: "Deny", rules: []string{"10.0.0.0/33"}, bad: "10.0.0.0/33"},
		{name: "v6 prefix too long", action: "Deny", rules: []string{"2001:db8::/129"}, bad: "2001:db8::/129"},
		{name: "zone", action: "Deny", rules: []string{"fe80::1%eth0"}, bad: "fe80::1%eth0"},
		{name: "hostname", action: "Deny", rules: []string{"example.com"}, bad: "example.com"},
		{name: "empty entry", action: "Deny", rules: []string{""}, bad: `""`},
		{name: "range", action: "Deny", rules: []string{"10.0.0.1-10.0.0.9"}, bad: "10.0.0.1-10.0.0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := vault.ParseNetworkRules(tt.action, tt.rules)
			if tt.bad != "" {
				wantErr(t, "ParseNetworkRules", err, vault.ErrInvalid, "")
				if !strings.Contains(err.Error(), tt.bad) {
					t.Errorf("ParseNetworkRules error %q does not name %s", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNetworkRules(%q, %q) = %v", tt.action, tt.rules, err)
			}
			var got []string
			for _, p := range n.IPRules {
				got = append(got, p.String())
			}
			if n.DefaultAction != tt.wantAct || !slices.Equal(got, tt.want) {
				t.Errorf("ParseNetworkRules(%q, %q) = %s %q, want %s %q", tt.action, tt.rules, n.DefaultAction, got, tt.wantAct, tt.want)
			}
		})
	}
	many := make([]string, vault.MaxIPRules+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}).String()
	}
	_, err := vault.ParseNetworkRules("Deny", many)
	wantErr(t, "ParseNetworkRules(too many)", err, vault.ErrInvalid, "")
}

func TestNetworkRulesAllows(t *testing.T) {
	deny := mustRules(t, "Deny", "127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::1")
	allow := mustRules(t, "Allow", "10.0.0.0/8")
	empty := mustRules(t, "Deny")
	tests := []struct {
		rules *vault.NetworkRules
		name  string
		addr  string
		want  bool
	}{
		{nil, "nil rules", "198.51.100.1", true},
		{nil, "nil rules v6", "2001:db8::1", true},
		{allow, "allow default", "198.51.100.1", true},
		{allow, "allow default v6", "2001:db9::1", true},
		{empty, "deny nothing listed", "127.0.0.1", false},
		{deny, "listed address", "127.0.0.1", true},
		{deny, "next address", "127.0.0.2", false},
		{deny, "in v4 prefix", "10.200.3.4", true},
		{deny, "outside v4 prefix", "11.0.0.1", false},
		{deny, "in v6 prefix", "2001:db8:ffff::7", true},
		{deny, "outside v6 prefix", "2001:db9::1", false},
		{deny, "v6 loopback", "::1", true},
		{deny, "mapped loopback", "::ffff:127.0.0.1", true},
		{deny, "mapped in prefix", "::ffff:10.1.1.1", true},
		{deny, "mapped outside", "::ffff:11.1.1.1", false},
		{deny, "zone ignored", "2001:db8::1%eth0", true},
		{deny, "v4-compatible is not mapped", "::10.1.1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := tt.rules.Allows(a); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if deny.Allows(netip.Addr{}) {
		t.Errorf("Allows(zero Addr) = true under Deny, want false")
	}
}
