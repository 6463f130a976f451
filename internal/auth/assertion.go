package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keywarden/keywarden/internal/store"
)

// Client certificate credentials: a principal registers X.509 certificates
// (public parts only) and authenticates at the token endpoint with a JWT
// signed by the certificate's private key (RFC 7523 client assertion), as
// azidentity.ClientCertificateCredential and MSAL send it: PS256 with an
// x5t#S256 header (RS256 with x5t for ADFS-style authorities), optionally
// the chain in x5c, claims aud = token endpoint URL, iss = sub = client id,
// jti, nbf and exp ten minutes later.

const (
	// maxAssertionLen bounds a client assertion (an x5c chain makes it
	// large).
	maxAssertionLen = 16 << 10
	// maxCertificateLen bounds a registered certificate's DER.
	maxCertificateLen = 16 << 10
	// maxJTILen bounds an assertion's jti claim.
	maxJTILen = 256
	// maxAssertionLifetime bounds exp minus nbf (or iat, or now).
	maxAssertionLifetime = time.Hour
	// minRSABits is the smallest RSA key accepted in a certificate.
	minRSABits = 2048
	// defaultMaxJTIs bounds the replay cache: assertions are refused while
	// it holds that many unexpired ids.
	defaultMaxJTIs = 100000
)

// assertionAlgs are the signature algorithms a client assertion may use.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// AddCertificate registers an X.509 certificate (DER) as a client
// credential of a principal and returns the credential: the DER, its SHA-1
// thumbprint (the x5t of assertions) and SHA-256 thumbprint (x5t#S256) in
// upper-case hex, and Expires = the certificate's NotAfter. Only the
// certificate's key is used; its issuer and chain are not checked (as with
// Microsoft Entra ID, registering it is the trust decision). Errors:
// ErrPrincipalNotFound; ErrInvalidArgument for bytes that are not one
// certificate, a certificate expired at now, a key other than RSA (2048 to
// 4096 bits) or ECDSA P-256, a certificate the principal already holds, or
// a principal already holding MaxCertificates certificates; a store error.
func (i *Issuer) AddCertificate(ctx context.Context, now time.Time, clientID string, certDER []byte) (store.CertificateCredential, error) {
	if len(certDER) > maxCertificateLen {
		return store.CertificateCredential{}, invalidArgument("certificate too large")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return store.CertificateCredential{}, invalidArgument("not an X.509 certificate in DER")
	}
	if !now.Before(cert.NotAfter) {
		return store.CertificateCredential{}, invalidArgument("certificate expired at " + cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := checkCertificateKey(cert); err != nil {
		return store.CertificateCredential{}, err
	}
	id, err := newUUID(i.rand)
	if err != nil {
		return store.CertificateCredential{}, err
	}
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	notAfter := cert.NotAfter.UTC()
	cred := store.CertificateCredential{
		ID:               id,
		DER:              slices.Clone(cert.Raw),
		Thumbprint:       strings.ToUpper(hex.EncodeToString(s1[:])),
		ThumbprintSHA256: strings.ToUpper(hex.EncodeToString(s256[:])),
		Expires:          &notAfter,
		Created:          now,
	}
	_, err = i.store.UpdatePrincipal(ctx, clientID, func(p *store.Principal) error {
		switch {
		case len(p.Certificates) >= MaxCertificates:
			return invalidArgument(fmt.Sprintf("principal already holds %d certificates", MaxCertificates))
		case slices.ContainsFunc(p.Certificates, func(c store.CertificateCredential) bool {
			return strings.EqualFold(c.ThumbprintSHA256, cred.ThumbprintSHA256)
		}):
			return invalidArgument("certificate already registered for this principal")
		}
		p.Certificates = append(slices.Clone(p.Certificates), cred)
		return nil
	})
	if err != nil {
		return store.CertificateCredential{}, principalError(clientID, err)
	}
	return cred, nil
}

// checkCertificateKey accepts RSA keys of 2048 to 4096 bits (RS256, PS256)
// and ECDSA P-256 keys (ES256).
func checkCertificateKey(cert *x509.Certificate) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits || n > jose.MaxRSAModulusBits {
			return invalidArgument(fmt.Sprintf("RSA key of %d bits, want %d to %d", n, minRSABits, jose.MaxRSAModulusBits))
		}
		return nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return invalidArgument("ECDSA key on " + k.Curve.Params().Name + ", want P-256 (ES256)")
		}
		return nil
	}
	return invalidArgument(fmt.Sprintf("unsupported certificate key %T, want RSA or ECDSA P-256", cert.PublicKey))
}

// AuthenticateAssertion checks a JWT client assertion (RFC 7523, client
// assertion type urn:ietf:params:oauth:client-assertion-type:jwt-bearer)
// and returns the principal with client id clientID. The assertion must be
// signed with RS256, PS256 or ES256 by the key of one of the principal's
// registered, unexpired certificates — the one its x5t or x5t#S256 header
// names, or any when it names none —, carry iss = sub = clientID, an aud
// equal to tokenEndpoint (the token endpoint URL as the client used it), a
// jti not seen before, exp (and nbf or iat if present) valid at now with 60
// s leeway, and a lifetime of at most an hour; the principal must be
// enabled. Used jtis are remembered until the assertion expires, by this
// node only; a node that remembers too many refuses further assertions
// until some expire. Errors: ErrInvalidClient wrapping the reason (never
// the assertion); a store failure is returned as such.
func (i *Issuer) AuthenticateAssertion(ctx context.Context, now time.Time, clientID, assertion, tokenEndpoint string) (store.Principal, error) {
	switch {
	case clientID == "" || len(clientID) > maxClientIDLen:
		return store.Principal{}, invalidClient("malformed client id")
	case assertion == "" || len(assertion) > maxAssertionLen:
		return store.Principal{}, invalidClient("missing or oversized client assertion")
	case tokenEndpoint == "":
		return store.Principal{}, errors.New("auth: AuthenticateAssertion: no token endpoint")
	case now.IsZero():
		return store.Principal{}, errors.New("auth: AuthenticateAssertion: zero time")
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return store.Principal{}, invalidClient("malformed client assertion or algorithm other than RS256, PS256, ES256")
	}
	if len(tok.Headers) != 1 {
		return store.Principal{}, invalidClient("client assertion with several signatures")
	}
	h := tok.Headers[0]

	p, err := i.store.Principal(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Principal{}, invalidClient("unknown client " + clientID)
	case err != nil:
		return store.Principal{}, fmt.Errorf("auth: authenticating client: %w", err)
	}
	candidates, err := assertionCandidates(h, p.Certificates)
	if err != nil {
		return store.Principal{}, invalidClient(err.Error() + " (client " + clientID + ")")
	}

	// Of the refusals of several candidates, report the one that got
	// furthest: key type, then signature, then validity.
	var claims jwt.Claims
	found := false
	reason, rank := "client "+clientID+" has no certificate", 0
	refuse := func(r int, format string, args ...any) {
		if r >= rank {
			reason, rank = fmt.Sprintf(format, args...), r
		}
	}
	for n := range candidates {
		c := &candidates[n]
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			refuse(1, "unusable stored certificate %s of client %s", c.ID, clientID)
			continue
		}
		if !keyFitsAlg(cert.PublicKey, h.Algorithm) {
			refuse(1, "algorithm %s does not fit the key of certificate %s of client %s", h.Algorithm, c.ID, clientID)
			continue
		}
		claims = jwt.Claims{}
		if err := tok.Claims(cert.PublicKey, &claims); err != nil {
			refuse(2, "bad signature or claims for certificate %s of client %s", c.ID, clientID)
			continue
		}
		if (c.Expires != nil && !now.Before(*c.Expires)) || !now.Before(cert.NotAfter) {
			refuse(3, "expired certificate %s of client %s", c.ID, clientID)
			continue
		}
		if now.Add(leeway).Before(cert.NotBefore) {
			refuse(3, "certificate %s of client %s not valid yet", c.ID, clientID)
			continue
		}
		found = true
		break
	}
	if !found {
		return store.Principal{}, invalidClient(reason)
	}

	if err := checkAssertionClaims(claims, now, clientID, tokenEndpoint); err != nil {
		return store.Principal{}, invalidClient(err.Error() + " (client " + clientID + ")")
	}
	if p.Disabled {
		return store.Principal{}, invalidClient("disabled client " + clientID)
	}
	// Last, so that refused assertions leave no trace in the cache.
	if err := i.jtis.use(clientID, claims.ID, claims.Expiry.Time().Add(leeway), now); err != nil {
		return store.Principal{}, invalidClient(err.Error() + " (client " + clientID + ")")
	}
	return p, nil
}

// assertionCandidates returns the registered certificates an assertion
// header may refer to: those its x5t (SHA-1) or x5t#S256 header names, or
// all of them when it names none.
func assertionCandidates(h jose.Header, certs []store.CertificateCredential) ([]store.CertificateCredential, error) {
	x5t, hasX5t := h.ExtraHeaders["x5t"]
	s256, hasS256 := h.ExtraHeaders["x5t#S256"]
	if !hasX5t && !hasS256 {
		return certs, nil
	}
	var want1, want256 []byte
	if hasX5t {
		b, ok := decodeThumbprint(x5t, sha1.Size)
		if !ok {
			return nil, errors.New("malformed x5t header")
		}
		want1 = b
	}
	if hasS256 {
		b, ok := decodeThumbprint(s256, sha256.Size)
		if !ok {
			return nil, errors.New("malformed x5t#S256 header")
		}
		want256 = b
	}
	var out []store.CertificateCredential
	for _, c := range certs {
		if want1 != nil && !hexEqual(c.Thumbprint, want1) {
			continue
		}
		if want256 != nil && !hexEqual(c.ThumbprintSHA256, want256) {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no registered certificate has the assertion's thumbprint")
	}
	return out, nil
}

// decodeThumbprint decodes an x5t or x5t#S256 header value of n bytes.
// RFC 7515 says base64url; MSAL sends standard base64 with padding, so both
// alphabets are accepted, padded or not.
func decodeThumbprint(v any, n int) ([]byte, bool) {
	s, ok := v.(string)
	if !ok || len(s) > 2*base64.StdEncoding.EncodedLen(n) {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == n {
			return b, true
		}
	}
	return nil, false
}

// hexEqual reports whether the hex string h encodes b.
func hexEqual(h string, b []byte) bool {
	d, err := hex.DecodeString(h)
	return err == nil && slices.Equal(d, b)
}

// keyFitsAlg reports whether a public key may verify signatures of alg:
// RSA for RS* and PS*, ECDSA on the alg's curve for ES*.
func keyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch jose.SignatureAlgorithm(alg) {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return true
		}
	case *ecdsa.PublicKey:
		switch jose.SignatureAlgorithm(alg) {
		case jose.ES256:
			return k.Curve == elliptic.P256()
		case jose.ES384:
			return k.Curve == elliptic.P384()
		case jose.ES512:
			return k.Curve == elliptic.P521()
		}
	}
	return false
}

// checkAssertionClaims checks a verified assertion's claims.
func checkAssertionClaims(c jwt.Claims, now time.Time, clientID, tokenEndpoint string) error {
	switch {
	case c.Issuer != clientID:
		return errors.New("assertion iss is not the client id")
	case c.Subject != clientID:
		return errors.New("assertion sub is not the client id")
	case !c.Audience.Contains(tokenEndpoint):
		return fmt.Errorf("assertion aud %q is not the token endpoint %q", []string(c.Audience), tokenEndpoint)
	case c.Expiry == nil:
		return errors.New("assertion without exp")
	case c.ID == "" || len(c.ID) > maxJTILen:
		return errors.New("assertion without jti, or jti too long")
	}
	switch err := c.ValidateWithLeeway(jwt.Expected{Time: now}, leeway); {
	case errors.Is(err, jwt.ErrExpired):
		return errors.New("assertion expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return errors.New("assertion not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return errors.New("assertion issued in the future (iat)")
	case err != nil:
		return fmt.Errorf("assertion claims: %w", err)
	}
	start := now
	switch {
	case c.NotBefore != nil:
		start = c.NotBefore.Time()
	case c.IssuedAt != nil:
		start = c.IssuedAt.Time()
	}
	if c.Expiry.Time().Sub(start) > maxAssertionLifetime {
		return fmt.Errorf("assertion lifetime longer than %s", maxAssertionLifetime)
	}
	return nil
}

// jtiCache remembers the ids of accepted client assertions until they
// expire, so that each assertion is accepted once. It is safe for
// concurrent use.
type jtiCache struct {
	max  int
	mu   sync.Mutex
	seen map[string]time.Time // client id NUL jti → forget after
}

func newJTICache(max int) *jtiCache {
	return &jtiCache{max: max, seen: make(map[string]time.Time)}
}

// use records jti of clientID until forgetAfter, failing if it is already
// recorded (a replay) or if the cache is full of unexpired ids.
func (c *jtiCache) use(clientID, jti string, forgetAfter, now time.Time) error {
	k := clientID + "\x00" + jti
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.seen[k]; ok && now.Before(t) {
		return errors.New("replayed assertion (jti already used)")
	}
	if len(c.seen) >= c.max {
		for k, t := range c.seen {
			if !now.Before(t) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return errors.New("too many recent assertions to remember")
		}
	}
	c.seen[k] = forgetAfter
	return nil
}
