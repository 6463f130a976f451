package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keywarden/keywarden/internal/vault"
)

// TestAzureSDK drives the unmodified azkeys and azidentity clients through
// this layer over TLS, with the fakes behind it: challenge, discovery, token,
// and that the SDK parses every answer (kids, times, paging, errors). It
// asserts wire shapes only; the real domain is tested end to end elsewhere.
func TestAzureSDK(t *testing.T) {
	f := newFakeVaults()
	f.next = "page-2"
	var s *Server
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
	ts.StartTLS()
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s = New(Config{TenantID: testTenant, Port: p, DefaultVault: "dev", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(1700000500, 0) }}, Deps{Vaults: f, Tokens: fakeTokens{}, Authorizer: AllowAll})

	// Every name resolves to the test server, as /etc/hosts would.
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
	ctx := context.Background()
	for _, origin := range []struct {
		url    string
		verify bool
	}{
		{"https://127.0.0.1:" + port, false},
		{"https://dev.localhost:" + port, true},
	} {
		t.Run(origin.url, func(t *testing.T) {
			c, err := azkeys.NewClient(origin.url, cred, &azkeys.ClientOptions{
				ClientOptions:                        azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}},
				DisableChallengeResourceVerification: !origin.verify,
			})
			if err != nil {
				t.Fatal(err)
			}
			created, err := c.CreateKey(ctx, "k1", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
			if err != nil {
				t.Fatalf("CreateKey() = %v", err)
			}
			kid := created.Key.KID
			if !strings.HasPrefix(string(*kid), origin.url+"/keys/") || kid.Name() != "k1" || kid.Version() != testVersion {
				t.Errorf("CreateKey() kid = %s, want %s/keys/k1/%s", *kid, origin.url, testVersion)
			}
			if got := created.Attributes.Created; got == nil || !got.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("CreateKey() created = %v, want 1700000000", got)
			}
			if !bytes.Equal(created.Key.E, []byte{1, 0, 1}) || *created.Attributes.RecoveryLevel != "Recoverable+Purgeable" {
				t.Errorf("CreateKey() e = %x, recoveryLevel %v", created.Key.E, *created.Attributes.RecoveryLevel)
			}

			if _, err := c.GetKey(ctx, "k1", "", nil); err != nil {
				t.Errorf("GetKey(latest) = %v", err)
			}
			if _, err := c.UpdateKey(ctx, "k1", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
				t.Errorf("UpdateKey() = %v", err)
			}
			sig, err := c.Sign(ctx, "k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
			if err != nil || string(sig.Result) != "sig" {
				t.Errorf("Sign() = %q, %v, want sig", sig.Result, err)
			}
			ver, err := c.Verify(ctx, "k1", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: make([]byte, 32), Signature: []byte("x")}, nil)
			if err != nil || ver.Value == nil || *ver.Value {
				t.Errorf("Verify(bad) = %v, %v, want false", ver.Value, err)
			}
			dec, err := c.Decrypt(ctx, "k1", testVersion, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("ct")}, nil)
			if err != nil || string(dec.Result) != "pt" {
				t.Errorf("Decrypt() = %q, %v, want pt", dec.Result, err)
			}
			if _, err := c.WrapKey(ctx, "k1", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("k")}, nil); err != nil {
				t.Errorf("WrapKey() = %v", err)
			}

			n := 0
			for pager := c.NewListKeyPropertiesPager(nil); pager.More(); {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListKeyProperties page = %v", err)
				}
				for _, k := range page.Value {
					if k.KID.Version() != "" || k.KID.Name() != "k1" {
						t.Errorf("listed kid = %s, want the base id of k1", *k.KID)
					}
					n++
				}
			}
			if n != 2 {
				t.Errorf("ListKeyProperties items = %d, want 2 (two pages)", n)
			}
			for pager := c.NewListKeyPropertiesVersionsPager("k1", nil); pager.More(); {
				if _, err := pager.NextPage(ctx); err != nil {
					t.Fatalf("ListKeyPropertiesVersions page = %v", err)
				}
			}
			for pager := c.NewListDeletedKeyPropertiesPager(nil); pager.More(); {
				if _, err := pager.NextPage(ctx); err != nil {
					t.Fatalf("ListDeletedKeyProperties page = %v", err)
				}
			}

			del, err := c.DeleteKey(ctx, "k1", nil)
			if err != nil || *del.RecoveryID != origin.url+"/deletedkeys/k1" || del.ScheduledPurgeDate == nil {
				t.Errorf("DeleteKey() = %+v, %v", del.DeletedKey, err)
			}
			if _, err := c.GetDeletedKey(ctx, "k1", nil); err != nil {
				t.Errorf("GetDeletedKey() = %v", err)
			}
			if _, err := c.RecoverDeletedKey(ctx, "k1", nil); err != nil {
				t.Errorf("RecoverDeletedKey() = %v", err)
			}
			if _, err := c.PurgeDeletedKey(ctx, "k1", nil); err != nil {
				t.Errorf("PurgeDeletedKey() = %v", err)
			}
			b, err := c.BackupKey(ctx, "k1", nil)
			if err != nil {
				t.Fatalf("BackupKey() = %v", err)
			}
			if _, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: b.Value}, nil); err != nil {
				t.Errorf("RestoreKey() = %v", err)
			}
			if _, err := c.RotateKey(ctx, "k1", nil); err != nil {
				t.Errorf("RotateKey() = %v", err)
			}
			pol, err := c.UpdateKeyRotationPolicy(ctx, "k1", azkeys.KeyRotationPolicy{
				LifetimeActions: []*azkeys.LifetimeAction{{Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P90D")}, Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}}},
				Attributes:      &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P2Y")},
			}, nil)
			if err != nil || *pol.ID != origin.url+"/keys/k1/rotationpolicy" || *pol.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionRotate {
				t.Errorf("UpdateKeyRotationPolicy() = %+v, %v", pol.KeyRotationPolicy, err)
			}
			if _, err := c.GetKeyRotationPolicy(ctx, "k1", nil); err != nil {
				t.Errorf("GetKeyRotationPolicy() = %v", err)
			}
			rnd, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr[int32](8)}, nil)
			if err != nil || len(rnd.Value) != 8 {
				t.Errorf("GetRandomBytes(8) = %x, %v", rnd.Value, err)
			}

			f.err = &vault.Error{Kind: vault.ErrForbidden, Code: "KeyOperationForbidden", Msg: "Operation sign is not permitted on this key."}
			_, err = c.Sign(ctx, "k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
			f.err = nil
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "Forbidden" {
				t.Errorf("Sign(forbidden) = %v, want a 403 Forbidden ResponseError", err)
			}
		})
	}
	if n := len(f.calls); n < 40 {
		t.Errorf("domain saw %d calls through the SDK, want at least 40", n)
	}
}
