package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// decode reads the JSON body into v. An empty body is refused when
// required and otherwise leaves v as it is. Messages never quote the body:
// it may hold key material. The read buffer is cleared afterwards.
func (rq *request) decode(v any, required bool) error {
	body, err := io.ReadAll(rq.r.Body)
	defer clear(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badParameter("The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return badParameter("The request body is required.")
		}
		return nil
	}
	return decodeJSON(body, v)
}

// decodeJSON unmarshals body into v, turning decoding errors into
// BadParameter refusals that name at most a property and an offset.
func decodeJSON(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var he *httpError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &te):
		if te.Field != "" {
			return badParameter("Property %s has invalid value.", truncate(te.Field, 64))
		}
		return badParameter("The request body has an invalid value.")
	case errors.As(err, &se):
		return badParameter("The request body is not valid JSON (offset %d).", se.Offset)
	}
	return badParameter("The request body is not valid JSON.")
}

// Paging limits: Azure serves at most 25 items a page.
const maxPageSize = 25

// page returns the listing's continuation marker ($skiptoken, base64url of
// the domain's opaque marker) and page size (maxresults, 1..25, default 25).
func (rq *request) page() (marker string, limit int, err error) {
	limit = maxPageSize
	if rq.query.has("maxresults") {
		raw := rq.query.get("maxresults")
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPageSize {
			return "", 0, badParameter("The value of maxresults (%s) is invalid; it must be an integer between 1 and 25.", truncate(raw, 16))
		}
		limit = n
	}
	if tok := rq.query.get("$skiptoken"); tok != "" {
		b, err := decodeBase64URL([]byte(tok))
		if err != nil || len(b) == 0 {
			return "", 0, badParameter("The $skiptoken query parameter is invalid.")
		}
		marker = string(b)
	}
	return marker, limit, nil
}

// nextLink returns the absolute URL of the next page on the request's
// origin, carrying the request's api-version, the continuation and the page
// size; "" when next is empty (the last page).
func (rq *request) nextLink(path, next string, limit int) string {
	if next == "" {
		return ""
	}
	return rq.origin + path + "?api-version=" + url.QueryEscape(rq.apiRaw) +
		"&$skiptoken=" + base64.RawURLEncoding.EncodeToString([]byte(next)) +
		"&maxresults=" + strconv.Itoa(limit)
}
