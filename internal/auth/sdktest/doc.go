// Package sdktest holds end-to-end tests of the built-in token issuer
// (package auth) through the api package's real authority endpoints and the
// unmodified Azure SDK credentials. It has no non-test code; it is a
// separate package so that package auth's own tests build without the HTTP
// layer.
package sdktest
