package audit

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"path/filepath"

	"github.com/keywarden/keywarden/internal/secret"
)

// VerifyOptions say what Verify checks with. At least one is required.
type VerifyOptions struct {
	// MACKey recomputes every record's chain value (the root key's
	// DeriveKey("audit-chain")): it proves every record.
	MACKey secret.Bytes
	// PublicKeys check checkpoint signatures and, through their digests,
	// every record a checkpoint covers.
	PublicKeys []*ecdsa.PublicKey
}

// VerifyResult describes a log Verify found intact.
type VerifyResult struct {
	// Files, Records and Checkpoints count what was read.
	Files, Records, Checkpoints int
	// FirstSeq and LastSeq bound the records read.
	FirstSeq, LastSeq uint64
	// Uncovered is the number of records after the last checkpoint: the
	// public key alone cannot prove them (the chain can).
	Uncovered int
	// EndsWithClose reports whether the last record is a "close"
	// checkpoint: a log of a stopped server that ends otherwise was
	// truncated or the server crashed.
	EndsWithClose bool
	// Notes are remarks that are not failures.
	Notes []string
}

// Tampering kinds of TamperError.
const (
	TamperEdited    = "edited"
	TamperRemoved   = "removed"
	TamperInserted  = "inserted or reordered"
	TamperSignature = "signature mismatch"
	TamperMalformed = "malformed"
	TamperTruncated = "truncated"
)

// TamperError names the first record where a log is not intact.
type TamperError struct {
	// File and Line locate the record; Seq is its seq when readable.
	File string
	Line int
	Seq  uint64
	// Kind is one of the Tamper* constants; Detail explains.
	Kind   string
	Detail string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("%s:%d (seq %d): %s: %s", e.File, e.Line, e.Seq, e.Kind, e.Detail)
}

// Verify proves the log files (in chain order) intact, or returns a
// *TamperError naming the first record edited, removed, inserted or
// reordered. Other errors are I/O failures.
func Verify(files []string, o VerifyOptions) (VerifyResult, error) {
	var res VerifyResult
	if o.MACKey.IsZero() && len(o.PublicKeys) == 0 {
		return res, errors.New("audit: verify needs the root key (chain) or the audit public key (signatures)")
	}
	v := &verifier{o: o, res: &res, digest: sha256.New()}
	for i, path := range files {
		res.Files++
		_, partial, err := eachLine(path, func(line []byte, n int) error { return v.line(path, n, line) })
		if err != nil {
			return res, err
		}
		if len(partial) > 0 {
			if i < len(files)-1 {
				return res, &TamperError{File: path, Line: v.lines + 1, Seq: v.next, Kind: TamperTruncated, Detail: "the file ends in a partial record, and more files follow"}
			}
			res.Notes = append(res.Notes, fmt.Sprintf("%s ends in a partial record (a write in progress, or a crash; the server drops it when it restarts)", filepath.Base(path)))
		}
		v.lines = 0
	}
	if !v.started {
		return res, errors.New("audit: the files hold no records")
	}
	res.Uncovered = v.count
	res.LastSeq = v.next - 1
	return res, nil
}

// verifier is the state of one Verify.
type verifier struct {
	o       VerifyOptions
	res     *VerifyResult
	started bool
	next    uint64          // expected seq
	prev    [chainSize]byte // chain value of the previous line
	digest  hash.Hash       // lines since the last checkpoint
	count   int
	trusted bool // the first checkpoint's digest cannot be checked
	lines   int
}

// line checks one line.
func (v *verifier) line(path string, n int, line []byte) error {
	v.lines = n
	fail := func(seq uint64, kind, format string, args ...any) error {
		return &TamperError{File: path, Line: n, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	rest, chainHex, ok := cutField(line, chainField)
	if !ok {
		return fail(v.next, TamperMalformed, "the record does not end with its chain field (edited or truncated)")
	}
	chain, err := parseChain(chainHex)
	if err != nil {
		return fail(v.next, TamperMalformed, "bad chain value: %v", err)
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return fail(v.next, TamperMalformed, "not a JSON record: %v", err)
	}
	cp := e.Checkpoint
	if cp != nil && e.Category != CategoryCheckpoint || cp == nil && e.Category == CategoryCheckpoint {
		return fail(e.Seq, TamperEdited, "category and checkpoint body disagree")
	}
	first := !v.started
	if first {
		v.started = true
		v.res.FirstSeq = e.Seq
		switch {
		case e.Seq == 1:
		case cp != nil:
			p, err := parseChain(cp.PrevChain)
			if err != nil {
				return fail(e.Seq, TamperMalformed, "bad prevChain: %v", err)
			}
			v.prev = p
			v.trusted = true
			v.res.Notes = append(v.res.Notes, fmt.Sprintf("the files start at seq %d: earlier records were not given, and the chain is checked from that checkpoint on", e.Seq))
		default:
			return fail(e.Seq, TamperRemoved, "the log starts at seq %d with a request record: its beginning is missing", e.Seq)
		}
	} else {
		switch {
		case e.Seq > v.next:
			return fail(e.Seq, TamperRemoved, "seq %d expected, seq %d found: records were removed (or reordered)", v.next, e.Seq)
		case e.Seq < v.next:
			return fail(e.Seq, TamperInserted, "seq %d follows seq %d", e.Seq, v.next-1)
		}
	}
	if !v.o.MACKey.IsZero() {
		want := mac(v.o.MACKey.Expose(), v.prev, rest)
		if !hmac.Equal(want[:], chain[:]) {
			return fail(e.Seq, TamperEdited, "chain mismatch: the record was edited, or inserted, or a record before it was removed")
		}
	}
	if cp != nil {
		v.res.Checkpoints++
		if len(v.o.PublicKeys) > 0 {
			unsigned, sig, ok := cutField(rest, signatureField)
			if !ok || !verifyAny(v.o.PublicKeys, unsigned, sig) {
				return fail(e.Seq, TamperSignature, "the checkpoint's signature does not verify with the audit public key")
			}
		}
		if !(first && v.trusted) {
			switch {
			case cp.PrevChain != hex.EncodeToString(v.prev[:]):
				return fail(e.Seq, TamperRemoved, "the checkpoint does not follow the record before it (prevChain mismatch): records removed or reordered before it")
			case cp.Records != v.count || cp.Digest != hex.EncodeToString(v.digest.Sum(nil)):
				return fail(e.Seq, TamperEdited, "the %d records before this checkpoint do not match its digest (it covers %d): one of them was edited, removed or inserted", v.count, cp.Records)
			}
		}
		v.digest.Reset()
		v.count = 0
		v.res.EndsWithClose = cp.Reason == ReasonClose
	} else {
		v.res.Records++
		v.digest.Write(line)
		v.digest.Write([]byte{'\n'})
		v.count++
		v.res.EndsWithClose = false
	}
	v.prev = chain
	v.next = e.Seq + 1
	return nil
}

// verifyAny reports whether one of keys verifies sig over line.
func verifyAny(keys []*ecdsa.PublicKey, line []byte, sig string) bool {
	for _, k := range keys {
		if verifyLine(k, line, sig) {
			return true
		}
	}
	return false
}
