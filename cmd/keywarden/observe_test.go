package main

import (
	"testing"

	"github.com/keywarden/keywarden/internal/api"
)

func TestChangesState(t *testing.T) {
	tests := []struct {
		method, op string
		status     int
		want       bool
	}{
		{"POST", "KeyCreate", 200, true},
		{"DELETE", "KeyPurge", 204, true},
		{"PATCH", "KeyUpdate", 200, true},
		{"PUT", "RoleAssignmentPut", 201, true},
		{"POST", "KeySign", 200, false},
		{"POST", "KeyDecrypt", 200, false},
		{"POST", "Authentication", 200, false},
		{"GET", "KeyGet", 200, false},
		{"POST", "KeyCreate", 403, false},
		{"DELETE", "KeyDelete", 404, false},
	}
	for _, tt := range tests {
		got := changesState(api.RequestInfo{Method: tt.method, OperationName: tt.op, Status: tt.status})
		if got != tt.want {
			t.Errorf("changesState(%s %s %d) = %v, want %v", tt.method, tt.op, tt.status, got, tt.want)
		}
	}
}

func TestKeyTypeOf(t *testing.T) {
	for alg, want := range map[string]string{"": "", "RS256": "RSA", "PS512": "RSA", "RSA-OAEP-256": "RSA", "RSA1_5": "RSA", "ES256K": "EC", "A256GCM": "oct", "CKM_AES_KEY_WRAP": "oct"} {
		if got := keyTypeOf(alg); got != want {
			t.Errorf("keyTypeOf(%q) = %q, want %q", alg, got, want)
		}
	}
}
