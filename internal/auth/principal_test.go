package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/store"
)

func TestCreatePrincipalArguments(t *testing.T) {
	i := newEnv(t).issuer(t)
	past, future := testNow.Add(-time.Second), testNow.Add(24*time.Hour)
	tests := []struct {
		name    string
		pname   string
		expires *time.Time
		wantErr error
	}{
		{"no expiry", "billing", nil, nil},
		{"future expiry", "billing", &future, nil},
		{"unicode name", "Zahlungsverkehr äöü", nil, nil},
		{"expiry now", "billing", &testNow, ErrInvalidArgument},
		{"past expiry", "billing", &past, ErrInvalidArgument},
		{"empty name", "", nil, ErrInvalidArgument},
		{"long name", strings.Repeat("n", maxNameLen+1), nil, ErrInvalidArgument},
		{"control character", "bill\ning", nil, ErrInvalidArgument},
		{"not UTF-8", "bill\xffing", nil, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cs, err := i.CreatePrincipal(context.Background(), testNow, tt.pname, tt.expires)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("CreatePrincipal(%q, %v) = %v, want %v", tt.pname, tt.expires, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if cs.IsZero() || p.Name != tt.pname || len(p.Secrets) != 1 {
				t.Errorf("CreatePrincipal() = %+v, want name %q with one secret", p, tt.pname)
			}
			if got := p.Secrets[0].Expires; (got == nil) != (tt.expires == nil) || got != nil && !got.Equal(*tt.expires) {
				t.Errorf("CreatePrincipal() secret expires %v, want %v", got, tt.expires)
			}
		})
	}
}

func TestPrincipalsAndPrincipal(t *testing.T) {
	ctx := context.Background()
	i := newEnv(t).issuer(t)
	if ps, err := i.Principals(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("Principals(empty store) = %v, %v; want none", ps, err)
	}
	a, _ := createPrincipal(t, i)
	b, _ := createPrincipal(t, i)
	ps, err := i.Principals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ClientID)
	}
	want := []string{a.ClientID, b.ClientID}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Principals() client ids (-want +got):\n%s", diff)
	}
	got, err := i.Principal(ctx, a.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("Principal() (-created +got):\n%s", diff)
	}
	if _, err := i.Principal(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("Principal(unknown) = %v, want %v", err, ErrPrincipalNotFound)
	}
}

// TestDisableAndDeleteStopTokensAtOnce checks that the tokens a principal
// holds, cached or not, are refused as soon as SetDisabled or
// DeletePrincipal returns — with the default five-minute cache.
func TestDisableAndDeleteStopTokensAtOnce(t *testing.T) {
	ctx := context.Background()
	i := newEnv(t).issuer(t)
	p, cs := createPrincipal(t, i)
	other, _ := createPrincipal(t, i)
	cached := issue(t, i, p, testNow)
	uncached := issue(t, i, p, testNow.Add(time.Second))
	otherTok := issue(t, i, other, testNow)
	for _, tok := range []string{cached, otherTok} {
		if _, err := verify(i, testNow, tok); err != nil {
			t.Fatal(err)
		}
	}

	got, err := i.SetDisabled(ctx, testNow, p.ClientID, true)
	if err != nil || !got.Disabled {
		t.Fatalf("SetDisabled(true) = %+v, %v; want disabled", got, err)
	}
	for name, tok := range map[string]string{"cached": cached, "uncached": uncached} {
		if _, err := verify(i, testNow, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%s token of disabled principal) = %v, want %v", name, err, ErrInvalidToken)
		}
	}
	if _, err := i.Authenticate(ctx, testNow, p.ClientID, string(cs.Expose())); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("Authenticate(disabled) = %v, want %v", err, ErrInvalidClient)
	}
	if _, err := verify(i, testNow, otherTok); err != nil {
		t.Errorf("Verify(other principal's token) = %v, want nil", err)
	}

	if got, err := i.SetDisabled(ctx, testNow, p.ClientID, false); err != nil || got.Disabled {
		t.Fatalf("SetDisabled(false) = %+v, %v; want enabled", got, err)
	}
	if _, err := verify(i, testNow, cached); err != nil {
		t.Errorf("Verify(token after re-enabling) = %v, want nil", err)
	}

	if err := i.DeletePrincipal(ctx, p.ClientID); err != nil {
		t.Fatalf("DeletePrincipal() = %v", err)
	}
	if _, err := verify(i, testNow, cached); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(cached token of deleted principal) = %v, want %v", err, ErrInvalidToken)
	}
	if _, err := i.Principal(ctx, p.ClientID); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("Principal(deleted) = %v, want %v", err, ErrPrincipalNotFound)
	}
	if err := i.DeletePrincipal(ctx, p.ClientID); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("DeletePrincipal(again) = %v, want %v", err, ErrPrincipalNotFound)
	}
	if _, err := i.SetDisabled(ctx, testNow, p.ClientID, true); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("SetDisabled(deleted) = %v, want %v", err, ErrPrincipalNotFound)
	}
}

func TestAddSecretAndRemoveCredential(t *testing.T) {
	ctx := context.Background()
	i := newEnv(t).issuer(t)
	p, first := createPrincipal(t, i)
	exp := testNow.Add(time.Hour)
	cred, second, err := i.AddSecret(ctx, testNow, p.ClientID, &exp)
	if err != nil {
		t.Fatalf("AddSecret() = %v", err)
	}
	if !uuidV4.MatchString(cred.ID) || cred.Expires == nil || !cred.Expires.Equal(exp) || !cred.Created.Equal(testNow) {
		t.Errorf("AddSecret() = %+v, want a UUID id, expiry %v, created %v", cred, exp, testNow)
	}
	if strings.Contains(cred.Hash, string(second.Expose())) {
		t.Error("AddSecret() credential holds the plaintext secret")
	}
	for name, cs := range map[string]string{"first": string(first.Expose()), "second": string(second.Expose())} {
		if _, err := i.Authenticate(ctx, testNow, p.ClientID, cs); err != nil {
			t.Errorf("Authenticate(%s secret) = %v, want nil", name, err)
		}
	}
	if _, err := i.Authenticate(ctx, exp, p.ClientID, string(second.Expose())); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("Authenticate(second secret at its expiry) = %v, want %v", err, ErrInvalidClient)
	}

	if err := i.RemoveCredential(ctx, p.ClientID, p.Secrets[0].ID); err != nil {
		t.Fatalf("RemoveCredential(first) = %v", err)
	}
	if _, err := i.Authenticate(ctx, testNow, p.ClientID, string(first.Expose())); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("Authenticate(removed secret) = %v, want %v", err, ErrInvalidClient)
	}
	if _, err := i.Authenticate(ctx, testNow, p.ClientID, string(second.Expose())); err != nil {
		t.Errorf("Authenticate(remaining secret) = %v, want nil", err)
	}
	got, err := i.Principal(ctx, p.ClientID)
	if err != nil || len(got.Secrets) != 1 || got.Secrets[0].ID != cred.ID {
		t.Errorf("Principal() after removal = %+v, %v; want only credential %s", got.Secrets, err, cred.ID)
	}

	if err := i.RemoveCredential(ctx, p.ClientID, "nope"); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("RemoveCredential(unknown credential) = %v, want %v", err, ErrCredentialNotFound)
	}
	if err := i.RemoveCredential(ctx, "nope", cred.ID); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("RemoveCredential(unknown principal) = %v, want %v", err, ErrPrincipalNotFound)
	}
	if _, _, err := i.AddSecret(ctx, testNow, "nope", nil); !errors.Is(err, ErrPrincipalNotFound) {
		t.Errorf("AddSecret(unknown principal) = %v, want %v", err, ErrPrincipalNotFound)
	}
	if _, _, err := i.AddSecret(ctx, testNow, p.ClientID, &testNow); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("AddSecret(expiry now) = %v, want %v", err, ErrInvalidArgument)
	}

	for n := 1; n < MaxSecrets; n++ {
		if _, _, err := i.AddSecret(ctx, testNow, p.ClientID, nil); err != nil {
			t.Fatalf("AddSecret(#%d) = %v", n+1, err)
		}
	}
	if _, _, err := i.AddSecret(ctx, testNow, p.ClientID, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("AddSecret(beyond MaxSecrets) = %v, want %v", err, ErrInvalidArgument)
	}
}

// TestDeletePrincipalVerifierUncached checks that Verify reads the
// principal when a token is not cached: deleting it through the store
// directly (another node) refuses its uncached tokens.
func TestDeletePrincipalVerifierUncached(t *testing.T) {
	e := newEnv(t)
	i := e.issuer(t, func(o *IssuerOptions) { o.CacheSize = -1 })
	p, _ := createPrincipal(t, i)
	tok := issue(t, i, p, testNow)
	if _, err := verify(i, testNow, tok); err != nil {
		t.Fatal(err)
	}
	e.update(t, p.ClientID, func(p *store.Principal) { p.Disabled = true })
	if _, err := verify(i, testNow, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(after another node disabled the principal) = %v, want %v", err, ErrInvalidToken)
	}
}
