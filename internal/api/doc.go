// Package api is Keywarden's HTTP layer: the Azure Key Vault keys data plane
// wire format and the built-in OAuth2 authority's endpoints.
//
// It owns vault resolution from the Host header, the 401 bearer challenge,
// api-version acceptance and feature gating, the route table (including the
// empty-version and "//" paths real SDKs send), the JSON and JSON Web Key
// types, base64url and Unix-time encodings, paging with nextLink, and the one
// mapping from domain errors to Azure error bodies (errors.go).
//
// Every vault request passes, in order: vault resolution, the vault's
// network rules (network.go), the per-vault request limit (throttle.go),
// authentication, the per-principal limit, route matching, authorization of
// the route's data action at its resource scope (access.go, through the
// Authorizer), api-version, and only then body parsing and the domain call,
// so that a denied caller learns nothing about keys. Managed HSM vaults also
// serve the local role definition and assignment API (hsmrbac.go).
//
// A handler decodes, calls one method of the domain (the Vaults interface,
// which *vault.Service satisfies) and encodes the answer. Domain rules live in
// internal/vault; token issuing and checking live behind TokenAuthority. This
// package must not import internal/store, a key provider or any other
// backend, and nothing below it may import net/http to serve requests.
package api
