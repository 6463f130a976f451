package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Query selects request records; empty fields match everything.
type Query struct {
	// Vault and Key match the record's vault and key (key names
	// case-insensitively).
	Vault, Key string
	// Principal matches the caller's object id or app (client) id.
	Principal string
	// Operation matches operationName case-insensitively (KeySign).
	Operation string
	// Result matches resultType (Success, Failure), resultSignature
	// (Forbidden) or the status code (403), case-insensitively.
	Result string
	// Since and Until bound the record time (inclusive, exclusive).
	Since, Until time.Time
}

// Match reports whether e matches q. Checkpoints never match.
func (q Query) Match(e *Event) bool {
	if e.Category != CategoryAuditEvent {
		return false
	}
	p := e.Properties
	if p == nil {
		p = &Properties{}
	}
	var claims map[string]string
	if e.Identity != nil {
		claims = e.Identity.Claim
	}
	switch {
	case q.Vault != "" && !strings.EqualFold(q.Vault, p.Vault):
		return false
	case q.Key != "" && !strings.EqualFold(q.Key, p.Key):
		return false
	case q.Principal != "" && !strings.EqualFold(q.Principal, claims[ClaimObjectID]) && !strings.EqualFold(q.Principal, claims[ClaimAppID]):
		return false
	case q.Operation != "" && !strings.EqualFold(q.Operation, e.OperationName):
		return false
	case q.Result != "" && !strings.EqualFold(q.Result, e.ResultType) && !strings.EqualFold(q.Result, e.ResultSignature) && q.Result != strconv.Itoa(p.HTTPStatusCode):
		return false
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		t, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			return false
		}
		if !q.Since.IsZero() && t.Before(q.Since) || !q.Until.IsZero() && !t.Before(q.Until) {
			return false
		}
	}
	return true
}

// Search calls fn with every request record of files matching q, in order.
// Unreadable lines are skipped: verify, not search, judges integrity.
func Search(files []string, q Query, fn func(*Event) error) error {
	for _, path := range files {
		_, _, err := eachLine(path, func(line []byte, _ int) error {
			var e Event
			if json.Unmarshal(line, &e) != nil || !q.Match(&e) {
				return nil
			}
			return fn(&e)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TableWriter prints events as a table with a header.
type TableWriter struct {
	tw     *tabwriter.Writer
	header bool
}

// NewTableWriter returns a TableWriter on w; call Flush at the end.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Write prints one event.
func (t *TableWriter) Write(e *Event) error {
	if !t.header {
		t.header = true
		fmt.Fprintln(t.tw, "TIME\tSEQ\tOPERATION\tRESULT\tSTATUS\tVAULT\tKEY\tPRINCIPAL\tCALLER IP\tREQUEST ID")
	}
	p := e.Properties
	if p == nil {
		p = &Properties{}
	}
	principal := ""
	if e.Identity != nil {
		principal = e.Identity.Claim[ClaimObjectID]
		if principal == "" {
			principal = e.Identity.Claim[ClaimAppID]
		}
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Seq, e.OperationName, e.ResultType,
		p.HTTPStatusCode, dash(p.Vault), dash(p.Key), dash(principal), dash(e.CallerIPAddress), p.RequestID)
	return err
}

// Flush writes the table out.
func (t *TableWriter) Flush() error { return t.tw.Flush() }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
