package cli

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// parseTime parses an --exp or --nbf value: an RFC 3339 time, a date
// (2006-01-02, midnight UTC), or a duration from now such as 90d, 2w, 1y,
// 12h or 1h30m (an optional sign first; d is 24h, w 7d, y 365d). The result
// is in UTC, truncated to the second as the vault stores it.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(time.Second), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2030-01-02T15:04:05Z), a date (2030-01-02) or a duration (90d, 12h)", s)
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}

// parseDuration parses a Go duration, or a whole number of days (d), weeks
// (w) or 365-day years (y), with an optional leading + or -.
func parseDuration(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}
	if n := len(s); n >= 2 {
		if unit, ok := units[s[n-1]]; ok {
			v, err := strconv.ParseInt(strings.TrimPrefix(s[:n-1], "+"), 10, 32)
			if err != nil {
				return 0, err
			}
			return time.Duration(v) * unit, nil
		}
	}
	return time.ParseDuration(strings.TrimPrefix(s, "+"))
}

// parseTags parses --tags values: each is k=v or a comma-separated list of
// them. An empty value (--tags "") yields an empty, non-nil map, which clears
// the tags on update. Duplicate or empty keys are errors.
func parseTags(items []string) (map[string]string, error) {
	tags := map[string]string{}
	for _, item := range items {
		for pair := range strings.SplitSeq(item, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			k, v, ok := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, fmt.Errorf("tag %q: want key=value", pair)
			}
			if _, dup := tags[k]; dup {
				return nil, fmt.Errorf("tag %q given twice", k)
			}
			tags[k] = strings.TrimSpace(v)
		}
	}
	return tags, nil
}

// azTags converts tags to the SDK's map of pointers.
func azTags(tags map[string]string) map[string]*string {
	if tags == nil {
		return nil
	}
	out := make(map[string]*string, len(tags))
	for k, v := range tags {
		out[k] = &v
	}
	return out
}

// parseOps parses --ops values (comma-separated or repeated), matching the
// JSON Web Key operation names (encrypt, decrypt, sign, verify, wrapKey,
// unwrapKey, import, export) without regard to case. Duplicates are dropped.
func parseOps(items []string) ([]*azkeys.KeyOperation, error) {
	var ops []*azkeys.KeyOperation
	seen := map[azkeys.KeyOperation]bool{}
	for _, item := range items {
		for s := range strings.SplitSeq(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			op, err := matchFold(s, "key operation", azkeys.PossibleKeyOperationValues())
			if err != nil {
				return nil, err
			}
			if !seen[op] {
				seen[op] = true
				ops = append(ops, &op)
			}
		}
	}
	return ops, nil
}

// matchFold returns the value of values equal to s without regard to case.
func matchFold[T ~string](s, what string, values []T) (T, error) {
	for _, v := range values {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	slices.Sort(names)
	return "", fmt.Errorf("unknown %s %q (want one of %s)", what, s, strings.Join(names, ", "))
}

// hashForSignature returns the hash that the signature algorithm alg signs:
// --data files are hashed with it into the digest sent to the vault.
func hashForSignature(alg azkeys.SignatureAlgorithm) (crypto.Hash, error) {
	switch alg {
	case azkeys.SignatureAlgorithmRS256, azkeys.SignatureAlgorithmPS256, azkeys.SignatureAlgorithmES256,
		azkeys.SignatureAlgorithmES256K, azkeys.SignatureAlgorithmHS256:
		return crypto.SHA256, nil
	case azkeys.SignatureAlgorithmRS384, azkeys.SignatureAlgorithmPS384, azkeys.SignatureAlgorithmES384,
		azkeys.SignatureAlgorithmHS384:
		return crypto.SHA384, nil
	case azkeys.SignatureAlgorithmRS512, azkeys.SignatureAlgorithmPS512, azkeys.SignatureAlgorithmES512,
		azkeys.SignatureAlgorithmHS512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("no hash known for signature algorithm %q", alg)
}

// digest hashes data with the hash of alg.
func digest(alg azkeys.SignatureAlgorithm, data []byte) ([]byte, error) {
	h, err := hashForSignature(alg)
	if err != nil {
		return nil, err
	}
	w := h.New()
	w.Write(data)
	return w.Sum(nil), nil
}

// decodeBase64URL decodes base64url, padded or not; the standard alphabet is
// accepted too. The error names what but never echoes the input, which may
// be secret.
func decodeBase64URL(what, s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not base64url", what)
	}
	return b, nil
}

// encodeBase64URL encodes b as unpadded base64url, as JWKs and the Azure wire
// format do.
func encodeBase64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// checkKeyName validates a key name as the vault does: 1 to 127 ASCII letters,
// digits and dashes.
func checkKeyName(name string) error {
	if name == "" || len(name) > 127 {
		return fmt.Errorf("key name %q: want 1 to 127 letters, digits and dashes", name)
	}
	for _, c := range name {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("key name %q: want 1 to 127 letters, digits and dashes", name)
		}
	}
	return nil
}
