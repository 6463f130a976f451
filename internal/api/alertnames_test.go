package api

import (
	"slices"
	"testing"

	"github.com/keywarden/keywarden/internal/alerts"
)

// TestAlertOperationsExist checks that every operation name the alert
// engine watches by default is one this server writes in its audit
// records: a misspelt name would silently never raise its alert.
func TestAlertOperationsExist(t *testing.T) {
	s, _ := newTestServer(t)
	var names []string
	for _, rt := range s.routes {
		names = append(names, rt.op)
	}
	for _, rt := range s.admin.routes {
		names = append(names, adminOperation(rt.method, rt.pattern))
	}
	for _, op := range append(alerts.DefaultChangeOperations(), alerts.DefaultDeletionOperations()...) {
		if !slices.Contains(names, op) {
			t.Errorf("the alert engine watches %q, which no route writes (names: %v)", op, names)
		}
	}
}
