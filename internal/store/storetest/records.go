package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/store"
)

func testVaults(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("other"))
		update(t, s, func(tx store.Tx) error {
			_, err := tx.Vault("missing")
			wantNotFound(t, `Vault("missing")`, err)
			wantNotFound(t, `DeleteVault("missing")`, tx.DeleteVault("missing"))
			_, err = tx.Vault("OTHER")
			wantNotFound(t, `Vault("OTHER")`, err)
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name  string
			vault store.Vault
		}{
			{"Full", newVault("full")},
			{"Minimal", store.Vault{Name: "minimal"}},
			{"NetworkAllowNoRules", store.Vault{Name: "allow", Network: &store.NetworkRules{DefaultAction: "Allow"}}},
			{"NetworkEmpty", store.Vault{Name: "empty-rules", Network: &store.NetworkRules{}}},
			{"NetworkIPv6", store.Vault{Name: "ipv6", Network: &store.NetworkRules{
				DefaultAction: "Deny",
				IPRules:       []string{"fe80::1", "2001:db8:abcd:12::/64"},
			}}},
			{"KeyPolicyBinary", store.Vault{Name: "policy", KeyPolicy: []byte{0, 1, 2, 0xfe, 0xff}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, tt.vault)
				var got store.Vault
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Vault(tt.vault.Name)
					return err
				})
				if diff := cmp.Diff(tt.vault, got, cmpOpts...); diff != "" {
					t.Errorf("Vault(%q) mismatch (-want +got):\n%s", tt.vault.Name, diff)
				}
			})
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, open)
		v := newVault("v")
		put(t, s, v)
		v.SKU, v.RetentionDays, v.PurgeProtection = "standard", 7, false
		v.Network.DefaultAction, v.Network.IPRules = "Allow", []string{"192.0.2.1"}
		v.KeyPolicy = []byte(`{}`)
		put(t, s, v)
		var got store.Vault
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Vault("v")
			return err
		})
		if diff := cmp.Diff(v, got, cmpOpts...); diff != "" {
			t.Errorf("Vault(%q) after replace mismatch (-want +got):\n%s", "v", diff)
		}
	})

	t.Run("ListOrder", func(t *testing.T) {
		s := newStore(t, open)
		var got []store.Vault
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Vaults()
			return err
		})
		if len(got) != 0 {
			t.Errorf("Vaults() on an empty store = %v, want none", got)
		}
		put(t, s, newVault("c-1"), newVault("a"), newVault("b"), newVault("c0"))
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Vaults()
			return err
		})
		want := []store.Vault{newVault("a"), newVault("b"), newVault("c-1"), newVault("c0")}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("Vaults() mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ReplaceClearsOptional", func(t *testing.T) {
		s := newStore(t, open)
		v := newVault("v")
		put(t, s, v)
		v.Network, v.KeyPolicy = nil, nil
		put(t, s, v)
		var got store.Vault
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Vault("v")
			return err
		})
		if got.Network != nil || got.KeyPolicy != nil {
			t.Errorf("Vault(%q) after replace without network and key policy = Network %+v, KeyPolicy %q, want nil, nil", "v", got.Network, got.KeyPolicy)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newVault("w"))
		update(t, s, func(tx store.Tx) error { return tx.DeleteVault("v") })
		var got []store.Vault
		view(t, s, func(tx store.Tx) (err error) {
			_, err = tx.Vault("v")
			wantNotFound(t, `Vault("v") after DeleteVault`, err)
			got, err = tx.Vaults()
			return err
		})
		if diff := cmp.Diff([]store.Vault{newVault("w")}, got, cmpOpts...); diff != "" {
			t.Errorf("Vaults() after DeleteVault mismatch (-want +got):\n%s", diff)
		}
		update(t, s, func(tx store.Tx) error {
			wantNotFound(t, `DeleteVault("v") twice`, tx.DeleteVault("v"))
			return nil
		})
	})
}

func testKeys(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newKey("v", "exists"))
		update(t, s, func(tx store.Tx) error {
			for _, c := range []struct{ vault, name string }{
				{"v", "missing"},
				{"missing", "exists"},
				{"w", "exists"},
			} {
				_, err := tx.Key(c.vault, c.name)
				wantNotFound(t, "Key("+c.vault+", "+c.name+")", err)
				wantNotFound(t, "DeleteKey("+c.vault+", "+c.name+")", tx.DeleteKey(c.vault, c.name))
			}
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		withPolicy := newKey("v", "Rotated")
		withPolicy.RotationPolicy = &store.RotationPolicy{
			Actions: []store.LifetimeAction{
				{Type: "Rotate", TimeAfterCreate: "P90D"},
				{Type: "Notify", TimeBeforeExpiry: "P30D"},
			},
			ExpiryTime: "P1Y",
			Created:    at(1),
			Updated:    at(4),
		}
		deletedWithPolicy := withPolicy
		deletedWithPolicy.Name = "RotatedAndDeleted"
		deletedWithPolicy.Deleted = &store.Deletion{Date: at(6), ScheduledPurge: at(7)}
		tests := []struct {
			name string
			key  store.Key
		}{
			{"Minimal", store.Key{Vault: "v", Name: "minimal"}},
			{"Active", newKey("v", "Active")},
			{"SoftDeleted", deletedKey("v", "SoftDeleted")},
			{"RotationPolicy", withPolicy},
			{"SoftDeletedRotationPolicy", deletedWithPolicy},
			{"EmptyPolicy", store.Key{Vault: "v", Name: "EmptyPolicy", RotationPolicy: &store.RotationPolicy{}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, newVault("v"), tt.key)
				var got store.Key
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Key(tt.key.Vault, tt.key.Name)
					return err
				})
				if diff := cmp.Diff(tt.key, got, cmpOpts...); diff != "" {
					t.Errorf("Key(%q, %q) mismatch (-want +got):\n%s", tt.key.Vault, tt.key.Name, diff)
				}
			})
		}
	})

	t.Run("CaseInsensitive", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newKey("v", "MyKey"))
		for _, name := range []string{"MyKey", "mykey", "MYKEY", "mYkEy"} {
			var got store.Key
			view(t, s, func(tx store.Tx) (err error) {
				got, err = tx.Key("v", name)
				return err
			})
			if got.Name != "MyKey" {
				t.Errorf("Key(%q, %q).Name = %q, want %q", "v", name, got.Name, "MyKey")
			}
		}

		// A put under another case replaces the key, name and all.
		put(t, s, newKey("v", "MYKEY"))
		var keys []store.Key
		view(t, s, func(tx store.Tx) (err error) {
			keys, err = tx.Keys("v", false, store.Page{})
			return err
		})
		if diff := cmp.Diff([]string{"MYKEY"}, keyNames(keys)); diff != "" {
			t.Errorf("Keys(%q) after PutKey(%q) mismatch (-want +got):\n%s", "v", "MYKEY", diff)
		}

		update(t, s, func(tx store.Tx) error { return tx.DeleteKey("v", "myKey") })
		view(t, s, func(tx store.Tx) error {
			_, err := tx.Key("v", "MYKEY")
			wantNotFound(t, `Key("v", "MYKEY") after DeleteKey("v", "myKey")`, err)
			return nil
		})
	})

	t.Run("ListOrder", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"))
		// Ordered by the bytes of Fold(name): '-' < '0' < '9' < 'a', whatever
		// a collation would say.
		for _, name := range []string{"Zeta", "alpha", "Beta", "a-1", "a0", "A9", "alpha-2"} {
			put(t, s, newKey("v", name))
		}
		var got []store.Key
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Keys("v", false, store.Page{})
			return err
		})
		want := []string{"a-1", "a0", "A9", "alpha", "alpha-2", "Beta", "Zeta"}
		if diff := cmp.Diff(want, keyNames(got)); diff != "" {
			t.Errorf("Keys(%q, false, {}) mismatch (-want +got):\n%s", "v", diff)
		}
		for _, k := range got {
			if diff := cmp.Diff(newKey("v", k.Name), k, cmpOpts...); diff != "" {
				t.Errorf("Keys(%q, false, {}) record %q mismatch (-want +got):\n%s", "v", k.Name, diff)
			}
		}
	})

	t.Run("Paging", func(t *testing.T) {
		s := newStore(t, open)
		// Active k1, k3, k4, k6; soft-deleted K2, k5.
		put(t, s, newVault("v"),
			newKey("v", "k1"), deletedKey("v", "K2"), newKey("v", "k3"),
			newKey("v", "K4"), deletedKey("v", "k5"), newKey("v", "k6"))
		tests := []struct {
			name    string
			deleted bool
			page    store.Page
			want    []string
		}{
			{"All", false, store.Page{}, []string{"k1", "k3", "K4", "k6"}},
			{"AllDeleted", true, store.Page{}, []string{"K2", "k5"}},
			{"FirstPage", false, store.Page{Limit: 2}, []string{"k1", "k3"}},
			{"AfterSkipsDeleted", false, store.Page{After: "k1", Limit: 2}, []string{"k3", "K4"}},
			{"AfterFoldedName", false, store.Page{After: "k4"}, []string{"k6"}},
			{"AfterMissingName", false, store.Page{After: "k35", Limit: 5}, []string{"K4", "k6"}},
			{"LastPage", false, store.Page{After: "k4", Limit: 2}, []string{"k6"}},
			{"PastEnd", false, store.Page{After: "k6"}, nil},
			{"LimitAboveCount", false, store.Page{Limit: 100}, []string{"k1", "k3", "K4", "k6"}},
			{"DeletedAfter", true, store.Page{After: "k2"}, []string{"k5"}},
			{"DeletedLimit", true, store.Page{Limit: 1}, []string{"K2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got []store.Key
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Keys("v", tt.deleted, tt.page)
					return err
				})
				if diff := cmp.Diff(tt.want, keyNames(got), cmpOpts...); diff != "" {
					t.Errorf("Keys(%q, %v, %+v) mismatch (-want +got):\n%s", "v", tt.deleted, tt.page, diff)
				}
			})
		}

		t.Run("Walk", func(t *testing.T) {
			var walked []string
			p := store.Page{Limit: 1}
			for range 10 {
				var page []store.Key
				view(t, s, func(tx store.Tx) (err error) {
					page, err = tx.Keys("v", false, p)
					return err
				})
				if len(page) == 0 {
					break
				}
				if len(page) > p.Limit {
					t.Fatalf("Keys(%q, false, %+v) returned %d keys, want at most %d", "v", p, len(page), p.Limit)
				}
				walked = append(walked, keyNames(page)...)
				p.After = store.Fold(page[len(page)-1].Name)
			}
			if diff := cmp.Diff([]string{"k1", "k3", "K4", "k6"}, walked); diff != "" {
				t.Errorf("walking Keys(%q, false) with Limit 1 mismatch (-want +got):\n%s", "v", diff)
			}
		})
	})

	t.Run("DeleteKeyRemovesVersions", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"),
			newKey("v", "Doomed"), newVersion("v", "Doomed", "a1"), newVersion("v", "Doomed", "b2"),
			newKey("v", "Doomed2"), newVersion("v", "Doomed2", "a1"))
		update(t, s, func(tx store.Tx) error { return tx.DeleteKey("v", "doomed") })
		var versions, others []store.Version
		view(t, s, func(tx store.Tx) (err error) {
			_, err = tx.Key("v", "Doomed")
			wantNotFound(t, `Key("v", "Doomed") after DeleteKey`, err)
			for _, id := range []string{"a1", "b2"} {
				_, err = tx.Version("v", "Doomed", id)
				wantNotFound(t, `Version("v", "Doomed", "`+id+`") after DeleteKey`, err)
			}
			if versions, err = tx.Versions("v", "Doomed", store.Page{}); err != nil {
				return err
			}
			others, err = tx.Versions("v", "Doomed2", store.Page{})
			return err
		})
		if len(versions) != 0 {
			t.Errorf("Versions(%q, %q) after DeleteKey = %v, want none", "v", "Doomed", versionIDs(versions))
		}
		if diff := cmp.Diff([]string{"a1"}, versionIDs(others)); diff != "" {
			t.Errorf("Versions(%q, %q) after deleting %q mismatch (-want +got):\n%s", "v", "Doomed2", "Doomed", diff)
		}

		// A key created again under the purged name starts without versions.
		put(t, s, newKey("v", "Doomed"))
		view(t, s, func(tx store.Tx) (err error) {
			versions, err = tx.Versions("v", "Doomed", store.Page{})
			return err
		})
		if len(versions) != 0 {
			t.Errorf("Versions(%q, %q) of a recreated key = %v, want none", "v", "Doomed", versionIDs(versions))
		}
	})

	t.Run("VaultIsolation", func(t *testing.T) {
		s := newStore(t, open)
		// "v" is a prefix of "v1": a backend matching prefixes would mix them.
		one, two := newKey("v", "Shared"), newKey("v1", "shared")
		one.Current, two.Current = "aaaa", "bbbb"
		v1, v2 := newVersion("v", "Shared", "id"), newVersion("v1", "shared", "id")
		v2.Type, v2.Size, v2.Curve = "EC", 0, "P-256"
		put(t, s, newVault("v"), newVault("v1"), one, two, v1, v2, newKey("v1", "only-in-v1"))

		tests := []struct {
			vault   string
			key     store.Key
			version store.Version
			names   []string
		}{
			{"v", one, v1, []string{"Shared"}},
			{"v1", two, v2, []string{"only-in-v1", "shared"}},
		}
		for _, tt := range tests {
			var (
				gotKey     store.Key
				gotVersion store.Version
				keys       []store.Key
				versions   []store.Version
			)
			view(t, s, func(tx store.Tx) (err error) {
				if gotKey, err = tx.Key(tt.vault, "SHARED"); err != nil {
					return err
				}
				if gotVersion, err = tx.Version(tt.vault, "shared", "id"); err != nil {
					return err
				}
				if keys, err = tx.Keys(tt.vault, false, store.Page{}); err != nil {
					return err
				}
				versions, err = tx.Versions(tt.vault, "shared", store.Page{})
				return err
			})
			if diff := cmp.Diff(tt.key, gotKey, cmpOpts...); diff != "" {
				t.Errorf("Key(%q, %q) mismatch (-want +got):\n%s", tt.vault, "SHARED", diff)
			}
			if diff := cmp.Diff(tt.version, gotVersion, cmpOpts...); diff != "" {
				t.Errorf("Version(%q, %q, %q) mismatch (-want +got):\n%s", tt.vault, "shared", "id", diff)
			}
			if diff := cmp.Diff(tt.names, keyNames(keys)); diff != "" {
				t.Errorf("Keys(%q) mismatch (-want +got):\n%s", tt.vault, diff)
			}
			if diff := cmp.Diff([]store.Version{tt.version}, versions, cmpOpts...); diff != "" {
				t.Errorf("Versions(%q, %q) mismatch (-want +got):\n%s", tt.vault, "shared", diff)
			}
		}

		update(t, s, func(tx store.Tx) error { return tx.DeleteKey("v", "shared") })
		var gotKey store.Key
		var gotVersion store.Version
		view(t, s, func(tx store.Tx) (err error) {
			if gotKey, err = tx.Key("v1", "shared"); err != nil {
				return err
			}
			gotVersion, err = tx.Version("v1", "shared", "id")
			return err
		})
		if diff := cmp.Diff(two, gotKey, cmpOpts...); diff != "" {
			t.Errorf("Key(%q, %q) after DeleteKey(%q, %q) mismatch (-want +got):\n%s", "v1", "shared", "v", "shared", diff)
		}
		if diff := cmp.Diff(v2, gotVersion, cmpOpts...); diff != "" {
			t.Errorf("Version(%q, %q, %q) after DeleteKey(%q, %q) mismatch (-want +got):\n%s", "v1", "shared", "id", "v", "shared", diff)
		}
	})

	t.Run("EmptyListings", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"))
		var active, deleted []store.Key
		view(t, s, func(tx store.Tx) (err error) {
			if active, err = tx.Keys("v", false, store.Page{}); err != nil {
				return err
			}
			deleted, err = tx.Keys("missing", true, store.Page{})
			return err
		})
		if len(active) != 0 {
			t.Errorf("Keys(%q, false) of an empty vault = %v, want none", "v", keyNames(active))
		}
		if len(deleted) != 0 {
			t.Errorf("Keys(%q, true) of a missing vault = %v, want none", "missing", keyNames(deleted))
		}
	})
}

func testVersions(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newKey("v", "k"), newVersion("v", "k", "id"))
		view(t, s, func(tx store.Tx) error {
			for _, c := range []struct{ vault, name, id string }{
				{"v", "k", "missing"},
				{"v", "k", "ID"},
				{"v", "missing", "id"},
				{"missing", "k", "id"},
			} {
				_, err := tx.Version(c.vault, c.name, c.id)
				wantNotFound(t, "Version("+c.vault+", "+c.name+", "+c.id+")", err)
			}
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		ec := newVersion("v", "K", "ec")
		ec.Type, ec.Protection, ec.Size, ec.Curve = "EC-HSM", "hsm", 0, "P-256K"
		ec.Public = append([]byte{0x04}, bytes.Repeat([]byte{0xab}, 64)...)
		ec.ReleasePolicy = nil
		tests := []struct {
			name    string
			version store.Version
		}{
			{"Minimal", store.Version{Vault: "v", Name: "K", ID: "minimal"}},
			{"RSA", newVersion("v", "K", "rsa")},
			{"EC", ec},
			{"Oct", store.Version{
				Vault: "v", Name: "K", ID: "oct", Type: "oct-HSM", Protection: "hsm", Size: 256,
				SealedPrivate: bytes.Repeat([]byte{0, 1, 2, 0xff}, 64),
				Enabled:       false,
				Ops:           []string{"encrypt", "decrypt"},
				Created:       at(0),
				Updated:       at(0),
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, newVault("v"), newKey("v", "K"), tt.version)
				var got store.Version
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Version("v", "K", tt.version.ID)
					return err
				})
				if diff := cmp.Diff(tt.version, got, cmpOpts...); diff != "" {
					t.Errorf("Version(%q, %q, %q) mismatch (-want +got):\n%s", "v", "K", tt.version.ID, diff)
				}
			})
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, open)
		v := newVersion("v", "K", "id")
		put(t, s, newVault("v"), newKey("v", "K"), v)
		v.Enabled, v.Tags, v.Expires, v.Updated = false, map[string]string{"x": "y"}, nil, at(9)
		put(t, s, v)
		var got []store.Version
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Versions("v", "K", store.Page{})
			return err
		})
		if diff := cmp.Diff([]store.Version{v}, got, cmpOpts...); diff != "" {
			t.Errorf("Versions(%q, %q) after replace mismatch (-want +got):\n%s", "v", "K", diff)
		}
	})

	t.Run("CaseInsensitive", func(t *testing.T) {
		s := newStore(t, open)
		v := newVersion("v", "MyKey", "id")
		put(t, s, newVault("v"), newKey("v", "MyKey"), v)
		for _, name := range []string{"MyKey", "mykey", "MYKEY"} {
			var got store.Version
			var list []store.Version
			view(t, s, func(tx store.Tx) (err error) {
				if got, err = tx.Version("v", name, "id"); err != nil {
					return err
				}
				list, err = tx.Versions("v", name, store.Page{})
				return err
			})
			if diff := cmp.Diff(v, got, cmpOpts...); diff != "" {
				t.Errorf("Version(%q, %q, %q) mismatch (-want +got):\n%s", "v", name, "id", diff)
			}
			if diff := cmp.Diff([]store.Version{v}, list, cmpOpts...); diff != "" {
				t.Errorf("Versions(%q, %q) mismatch (-want +got):\n%s", "v", name, diff)
			}
		}
	})

	t.Run("Paging", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newKey("v", "k"), newKey("v", "k1"), newVersion("v", "k1", "00"))
		// Ordered by the bytes of ID. Key "k1" shares the prefix "k" and
		// must not leak into the listing of "k".
		for _, id := range []string{"ff", "0a", "a1", "10", "b", "a10"} {
			put(t, s, newVersion("v", "k", id))
		}
		all := []string{"0a", "10", "a1", "a10", "b", "ff"}
		tests := []struct {
			name string
			page store.Page
			want []string
		}{
			{"All", store.Page{}, all},
			{"FirstPage", store.Page{Limit: 2}, []string{"0a", "10"}},
			{"After", store.Page{After: "10", Limit: 2}, []string{"a1", "a10"}},
			{"AfterPrefix", store.Page{After: "a1"}, []string{"a10", "b", "ff"}},
			{"AfterMissingID", store.Page{After: "a5"}, []string{"b", "ff"}},
			{"LastPage", store.Page{After: "b", Limit: 2}, []string{"ff"}},
			{"PastEnd", store.Page{After: "ff"}, nil},
			{"LimitAboveCount", store.Page{Limit: 7}, all},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got []store.Version
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Versions("v", "k", tt.page)
					return err
				})
				if diff := cmp.Diff(tt.want, versionIDs(got), cmpOpts...); diff != "" {
					t.Errorf("Versions(%q, %q, %+v) mismatch (-want +got):\n%s", "v", "k", tt.page, diff)
				}
			})
		}
	})

	t.Run("EmptyListings", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newVault("v"), newKey("v", "k"))
		for _, c := range []struct{ vault, name string }{{"v", "k"}, {"v", "missing"}, {"missing", "k"}} {
			var got []store.Version
			view(t, s, func(tx store.Tx) (err error) {
				got, err = tx.Versions(c.vault, c.name, store.Page{})
				return err
			})
			if len(got) != 0 {
				t.Errorf("Versions(%q, %q) = %v, want none", c.vault, c.name, versionIDs(got))
			}
		}
	})
}

func testPrincipals(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newPrincipal("exists"))
		update(t, s, func(tx store.Tx) error {
			_, err := tx.Principal("missing")
			wantNotFound(t, `Principal("missing")`, err)
			wantNotFound(t, `DeletePrincipal("missing")`, tx.DeletePrincipal("missing"))
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name string
			p    store.Principal
		}{
			{"Minimal", store.Principal{ClientID: "minimal"}},
			{"Full", newPrincipal("1b4c6f0e-8d1a-4a55-9a3e-0f6a1c2b3d4e")},
			{"Disabled", store.Principal{ClientID: "disabled", Name: "Off", Disabled: true, Created: at(3)}},
			{"CertificatesOnly", store.Principal{ClientID: "certs", Certificates: []store.CertificateCredential{
				{ID: "only", DER: []byte{0x30, 0x00}, ThumbprintSHA256: "ab", Created: at(4)},
			}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				put(t, s, tt.p)
				var got store.Principal
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Principal(tt.p.ClientID)
					return err
				})
				if diff := cmp.Diff(tt.p, got, cmpOpts...); diff != "" {
					t.Errorf("Principal(%q) mismatch (-want +got):\n%s", tt.p.ClientID, diff)
				}
			})
		}
	})

	t.Run("ReplaceCredentials", func(t *testing.T) {
		s := newStore(t, open)
		p := newPrincipal("p")
		put(t, s, p)
		p.Certificates = p.Certificates[1:]
		p.Secrets = nil
		p.Disabled = true
		put(t, s, p)
		var got store.Principal
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Principal("p")
			return err
		})
		if diff := cmp.Diff(p, got, cmpOpts...); diff != "" {
			t.Errorf("Principal(%q) after replace mismatch (-want +got):\n%s", "p", diff)
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		s := newStore(t, open)
		put(t, s, newPrincipal("c"), newPrincipal("a"), newPrincipal("b"))
		var got []store.Principal
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Principals()
			return err
		})
		want := []store.Principal{newPrincipal("a"), newPrincipal("b"), newPrincipal("c")}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("Principals() mismatch (-want +got):\n%s", diff)
		}

		update(t, s, func(tx store.Tx) error { return tx.DeletePrincipal("b") })
		view(t, s, func(tx store.Tx) (err error) {
			_, err = tx.Principal("b")
			wantNotFound(t, `Principal("b") after DeletePrincipal`, err)
			got, err = tx.Principals()
			return err
		})
		want = []store.Principal{newPrincipal("a"), newPrincipal("c")}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("Principals() after DeletePrincipal(%q) mismatch (-want +got):\n%s", "b", diff)
		}
	})
}

func testBlobs(t *testing.T, open opener) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t, open)
		view(t, s, func(tx store.Tx) error {
			_, err := tx.Blob("missing")
			wantNotFound(t, `Blob("missing")`, err)
			return nil
		})
	})

	t.Run("RoundTrip", func(t *testing.T) {
		large := make([]byte, 256<<10)
		for i := range large {
			large[i] = byte(i * 7)
		}
		tests := []struct {
			name string
			data []byte
		}{
			{"Empty", []byte{}},
			{"Binary", []byte{0, 1, 2, 0xfe, 0xff, 0}},
			{"Large", large},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t, open)
				update(t, s, func(tx store.Tx) error { return tx.PutBlob("blob", tt.data) })
				var got []byte
				view(t, s, func(tx store.Tx) (err error) {
					got, err = tx.Blob("blob")
					return err
				})
				if !bytes.Equal(got, tt.data) {
					t.Errorf("Blob(%q) = %d bytes, want the %d bytes put", "blob", len(got), len(tt.data))
				}
			})
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t, open)
		update(t, s, func(tx store.Tx) error { return tx.PutBlob("b", []byte("first, longer value")) })
		update(t, s, func(tx store.Tx) error { return tx.PutBlob("b", []byte("second")) })
		var got []byte
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Blob("b")
			return err
		})
		if string(got) != "second" {
			t.Errorf("Blob(%q) = %q, want %q", "b", got, "second")
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t, open)
		// The store must copy what it is given and what it returns: a
		// caller reusing a buffer cannot change a stored blob.
		update(t, s, func(tx store.Tx) error {
			buf := []byte("original")
			if err := tx.PutBlob("b", buf); err != nil {
				return err
			}
			copy(buf, "CHANGED!")
			got, err := tx.Blob("b")
			if err != nil {
				return err
			}
			copy(got, "MUTATED!")
			return nil
		})
		var got []byte
		view(t, s, func(tx store.Tx) (err error) {
			b, err := tx.Blob("b")
			copy(b, "mutated!")
			return err
		})
		view(t, s, func(tx store.Tx) (err error) {
			got, err = tx.Blob("b")
			return err
		})
		if string(got) != "original" {
			t.Errorf("Blob(%q) = %q, want %q", "b", got, "original")
		}
	})
}

func testTimes(t *testing.T, open opener) {
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	tests := []struct {
		name string
		in   time.Time
	}{
		{"Zero", time.Time{}},
		{"Microseconds", base},
		{"Nanoseconds", time.Date(2025, 3, 14, 15, 9, 26, 123456789, time.UTC)},
		{"OtherZone", time.Date(2025, 3, 14, 20, 39, 26, 999999999, zone)},
		{"Local", time.Date(2024, 2, 29, 23, 59, 59, 500, time.Local)},
		{"Monotonic", time.Now()},
		{"BeforeEpoch", time.Date(1969, 7, 20, 20, 17, 40, 654321987, time.UTC)},
		{"FarFuture", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			v := newVersion("v", "k", "id")
			v.Created, v.Expires, v.LastUsed, v.Provenance.Imported = tt.in, &tt.in, &tt.in, tt.in
			put(t, s, newVault("v"), newKey("v", "k"), v)
			var got store.Version
			view(t, s, func(tx store.Tx) (err error) {
				got, err = tx.Version("v", "k", "id")
				return err
			})
			want := tt.in.UTC().Truncate(time.Microsecond)
			if got.Expires == nil || got.LastUsed == nil || got.Provenance == nil {
				t.Fatalf("Version(...).Expires, LastUsed, Provenance = %v, %v, %v, want %v", got.Expires, got.LastUsed, got.Provenance, want)
			}
			for _, c := range []struct {
				field string
				got   time.Time
			}{
				{"Created", got.Created},
				{"Expires", *got.Expires},
				{"LastUsed", *got.LastUsed},
				{"Provenance.Imported", got.Provenance.Imported},
			} {
				if !c.got.Equal(want) {
					t.Errorf("Version(...).%s = %v, want %v (%v truncated to µs)", c.field, c.got, want, tt.in)
				}
				if c.got.Location() != time.UTC {
					t.Errorf("Version(...).%s.Location() = %v, want UTC", c.field, c.got.Location())
				}
				if c.got.IsZero() != tt.in.IsZero() {
					t.Errorf("Version(...).%s.IsZero() = %v, want %v", c.field, c.got.IsZero(), tt.in.IsZero())
				}
				if c.got != c.got.Round(0) {
					t.Errorf("Version(...).%s has a monotonic clock reading, want none", c.field)
				}
			}
		})
	}
}
