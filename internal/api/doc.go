// Package api is Keywarden's HTTP layer: the Azure Key Vault keys data plane
// wire format and the built-in OAuth2 authority's endpoints.
//
// It owns vault resolution from the Host header, the 401 bearer challenge,
// api-version acceptance and feature gating, the route table (including the
// empty-version and "//" paths real SDKs send), the JSON and JSON Web Key
// types, base64url and Unix-time encodings, paging with nextLink, and the one
// mapping from domain errors to Azure error bodies (errors.go).
//
// A handler decodes, calls one method of the domain (the Vaults interface,
// which *vault.Service satisfies) and encodes the answer. Domain rules live in
// internal/vault; token issuing and checking live behind TokenAuthority. This
// package must not import internal/store, a key provider or any other
// backend, and nothing below it may import net/http to serve requests.
package api
