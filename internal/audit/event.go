// Package audit owns Keywarden's audit trail: one record per request in the
// shape of Azure Key Vault's AuditEvent, written as JSON lines, hash-chained
// and periodically checkpointed so that an auditor can prove the log was not
// edited.
//
// # Format
//
// Every line is one JSON object. Request records have category "AuditEvent"
// and the fields of Azure's diagnostic log (time with 7 fractional digits,
// resourceId, operationName, operationVersion, resultType, resultSignature,
// durationMs, callerIpAddress, correlationId, identity, properties) plus two
// of Keywarden's own: "seq", which counts records from 1 without gaps across
// files and restarts, and "chain", always the last field:
//
//	chain = hex(HMAC-SHA256(K, previous chain || line without its chain field))
//
// where K is derived from the root key (seal.RootKey.DeriveKey("audit-chain"))
// and the previous chain of the first record ever is 32 zero bytes. The line
// "without its chain field" is the line with `,"chain":"…"` cut out, byte for
// byte: verification never re-encodes JSON.
//
// Checkpoints are records of category "Checkpoint": written when a log opens
// (the first line of every file), when it rotates to a new file, every
// Options.CheckpointEvery records, every Options.CheckpointInterval and at
// Close. A checkpoint holds the previous record's chain, the number of lines
// since the previous checkpoint and their SHA-256 digest, and an ECDSA P-256
// signature (field "signature", just before "chain") by the audit signing key
// over the checkpoint line without its signature and chain. The signing key's
// public half is published as a JWK (GET /audit/v1/keys, and the file
// audit-signing-key.jwk in the audit directory), so a holder of the public key
// alone can check every record a checkpoint covers; a holder of the root key
// can check every record.
//
// # Failure
//
// The file sink fails closed: Write returns an error when its record is not
// durably written (fsync), and the Log then refuses further records (Ready
// fails) until a retry, at most once per second, succeeds. Records that were
// chained but not written stay in memory and are written first on recovery,
// so the chain has no hole. The stdout and syslog sinks are best effort:
// their failures are logged and counted (Stats), never refused.
//
// This package imports internal/store (the sealed signing key), internal/secret
// and the standard library; it knows nothing of HTTP or the wire format of
// the keys API.
package audit

import (
	"cmp"
	"strconv"
	"time"
)

// Categories of records.
const (
	// CategoryAuditEvent is the category of request records, as Azure names it.
	CategoryAuditEvent = "AuditEvent"
	// CategoryCheckpoint is the category of signed checkpoints.
	CategoryCheckpoint = "Checkpoint"
	// CategoryAlert marks a record of an alert raised by the alert engine.
	CategoryAlert = "Alert"
)

// OperationCheckpoint is the operationName of checkpoints.
const OperationCheckpoint = "AuditCheckpoint"

// Checkpoint reasons.
const (
	ReasonOpen     = "open"
	ReasonRotate   = "rotate"
	ReasonPeriodic = "periodic"
	ReasonClose    = "close"
	ReasonRecover  = "recover"
)

// Record is one request as the audit trail records it. It must never hold
// key material, plaintext, ciphertext, digests, signatures, tokens or client
// secrets: only names, ids, codes and sizes.
type Record struct {
	// Time is when the request arrived.
	Time time.Time
	// RequestID is the server's x-ms-request-id; CorrelationID the client's
	// x-ms-client-request-id.
	RequestID, CorrelationID string
	// OperationName is Azure's name (KeyCreate, KeySign, Authentication,
	// VaultPut…); OperationVersion the api-version sent.
	OperationName, OperationVersion string
	// Method and RequestURI are the HTTP method and the URL without any
	// query parameter but api-version and maxresults.
	Method, RequestURI string
	// Vault, Key, Version and Algorithm are what the request named.
	Vault, Key, Version, Algorithm string
	// Status is the HTTP status answered; ResultType "Success" or
	// "Failure"; ResultSignature the status text ("OK", "Forbidden"…).
	Status                      int
	ResultType, ResultSignature string
	// ErrorCode and InnerCode are the Azure error codes of a refusal.
	ErrorCode, InnerCode string
	// Duration is the server time spent.
	Duration time.Duration
	// CallerIP is the client address.
	CallerIP string
	// ObjectID, AppID, TenantID and Issuer identify the caller.
	ObjectID, AppID, TenantID, Issuer string
	// AssignmentID is the role assignment that granted the request.
	AssignmentID string
	// UserAgent is the client's User-Agent.
	UserAgent string
	// ID is the object id (kid) the request returned.
	ID string
	// Description is free text: the summary of an alert record.
	Description string
	// Category is the record's category; empty means CategoryAuditEvent
	// (alerts use CategoryAlert).
	Category string
}

// Claim URIs of the identity block, as Azure writes them.
const (
	ClaimObjectID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	ClaimAppID    = "appid"
	ClaimTenantID = "http://schemas.microsoft.com/identity/claims/tenantid"
	ClaimIssuer   = "iss"
)

// Event is one line of the audit log as JSON. Field order is the order of
// the line; Signature and Chain are always last.
type Event struct {
	Time             string `json:"time"`
	Seq              uint64 `json:"seq"`
	ResourceID       string `json:"resourceId,omitempty"`
	OperationName    string `json:"operationName"`
	OperationVersion string `json:"operationVersion,omitempty"`
	Category         string `json:"category"`
	ResultType       string `json:"resultType,omitempty"`
	ResultSignature  string `json:"resultSignature,omitempty"`
	// ResultDescription is free text (an alert's summary).
	ResultDescription string      `json:"resultDescription,omitempty"`
	DurationMs        string      `json:"durationMs,omitempty"`
	CallerIPAddress   string      `json:"callerIpAddress,omitempty"`
	CorrelationID     string      `json:"correlationId,omitempty"`
	Identity          *Identity   `json:"identity,omitempty"`
	Properties        *Properties `json:"properties,omitempty"`
	Checkpoint        *Checkpoint `json:"checkpoint,omitempty"`
	// Signature is a checkpoint's base64url ECDSA P-256 signature (r||s).
	Signature string `json:"signature,omitempty"`
	// Chain is the hex HMAC-SHA256 chain value of the line.
	Chain string `json:"chain,omitempty"`
}

// Identity is the caller's claims.
type Identity struct {
	Claim map[string]string `json:"claim"`
}

// Properties are the request's details.
type Properties struct {
	ClientInfo     string `json:"clientInfo,omitempty"`
	RequestURI     string `json:"requestUri,omitempty"`
	Method         string `json:"method,omitempty"`
	ID             string `json:"id,omitempty"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	RequestID      string `json:"requestId,omitempty"`
	Vault          string `json:"vault,omitempty"`
	Key            string `json:"key,omitempty"`
	Version        string `json:"version,omitempty"`
	Algorithm      string `json:"algorithm,omitempty"`
	AssignmentID   string `json:"assignmentId,omitempty"`
	ErrorCode      string `json:"errorCode,omitempty"`
	InnerErrorCode string `json:"innerErrorCode,omitempty"`
}

// Checkpoint is the body of a checkpoint record.
type Checkpoint struct {
	// Reason is open, rotate, periodic, close or recover.
	Reason string `json:"reason"`
	// PrevChain is the chain value of the record before this one (hex; 64
	// zeros before the first record).
	PrevChain string `json:"prevChain"`
	// Records is the number of lines since the previous checkpoint, and
	// Digest the hex SHA-256 of those lines, newlines included.
	Records int    `json:"records"`
	Digest  string `json:"digest"`
	// KeyID is the signing key's id (its JWK thumbprint).
	KeyID string `json:"kid"`
}

// TimeFormat is Azure's audit time format: UTC with 7 fractional digits.
const TimeFormat = "2006-01-02T15:04:05.0000000Z"

// newEvent converts a request record into its line (without seq, chain).
func newEvent(r Record) *Event {
	e := &Event{
		Time:              r.Time.UTC().Format(TimeFormat),
		OperationName:     r.OperationName,
		OperationVersion:  r.OperationVersion,
		Category:          cmp.Or(r.Category, CategoryAuditEvent),
		ResultType:        r.ResultType,
		ResultSignature:   r.ResultSignature,
		ResultDescription: r.Description,
		DurationMs:        strconv.FormatInt(r.Duration.Milliseconds(), 10),
		CallerIPAddress:   r.CallerIP,
		CorrelationID:     r.CorrelationID,
		Properties: &Properties{
			ClientInfo: r.UserAgent, RequestURI: r.RequestURI, Method: r.Method, ID: r.ID,
			HTTPStatusCode: r.Status, RequestID: r.RequestID,
			Vault: r.Vault, Key: r.Key, Version: r.Version, Algorithm: r.Algorithm,
			AssignmentID: r.AssignmentID, ErrorCode: r.ErrorCode, InnerErrorCode: r.InnerCode,
		},
	}
	if r.Vault != "" {
		e.ResourceID = "/vaults/" + r.Vault
	}
	if r.ObjectID != "" || r.AppID != "" || r.TenantID != "" || r.Issuer != "" {
		c := map[string]string{}
		for k, v := range map[string]string{ClaimObjectID: r.ObjectID, ClaimAppID: r.AppID, ClaimTenantID: r.TenantID, ClaimIssuer: r.Issuer} {
			if v != "" {
				c[k] = v
			}
		}
		e.Identity = &Identity{Claim: c}
	}
	return e
}
