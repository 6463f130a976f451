package api

import (
	"net/url"
	"strings"
)

// apiVersion orders the accepted api-version strings; a preview counts as
// its stable version (Azure gates features on ">= '7.3-preview'").
type apiVersion int

// Known api-versions, oldest first.
const (
	v2016_10_01 apiVersion = iota + 1
	v7_0
	v7_1
	v7_2
	v7_3
	v7_4
	v7_5
	v7_6
	v2025_06_01
	v2025_07_01
)

// String returns the version's stable name.
func (v apiVersion) String() string {
	switch v {
	case v2016_10_01:
		return "2016-10-01"
	case v7_0:
		return "7.0"
	case v7_1:
		return "7.1"
	case v7_2:
		return "7.2"
	case v7_3:
		return "7.3"
	case v7_4:
		return "7.4"
	case v7_5:
		return "7.5"
	case v7_6:
		return "7.6"
	case v2025_06_01:
		return "2025-06-01"
	case v2025_07_01:
		return "2025-07-01"
	}
	return "none"
}

// parseAPIVersion accepts, case-insensitively, the versions azkeys and
// @azure/keyvault-keys send: 2016-10-01, 7.0–7.6 with their previews
// (7.x-preview, 7.x-preview.1, 7.6-preview.2) and the date-based
// 2025-06-01[-preview] and 2025-07-01.
func parseAPIVersion(s string) (apiVersion, bool) {
	s = strings.ToLower(s)
	switch s {
	case "2016-10-01":
		return v2016_10_01, true
	case "2025-06-01", "2025-06-01-preview":
		return v2025_06_01, true
	case "2025-07-01":
		return v2025_07_01, true
	}
	if len(s) < 3 || s[0] != '7' || s[1] != '.' || s[2] < '0' || s[2] > '6' {
		return 0, false
	}
	v := v7_0 + apiVersion(s[2]-'0')
	switch s[3:] {
	case "", "-preview", "-preview.1":
		return v, true
	case "-preview.2":
		return v, v == v7_6
	}
	return 0, false
}

// query is a parsed query string whose keys were percent-decoded (clients
// may send "api%2Dversion" or "%24skiptoken") and are matched
// case-insensitively.
type query url.Values

// parseQuery parses raw leniently: malformed pairs are skipped.
func parseQuery(raw string) query {
	v, _ := url.ParseQuery(raw)
	return query(v)
}

// get returns the first value of key, matched case-insensitively.
func (q query) get(key string) string {
	if vs, ok := q[key]; ok && len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range q {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// has reports whether key is present, matched case-insensitively.
func (q query) has(key string) bool {
	if _, ok := q[key]; ok {
		return true
	}
	for k := range q {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
