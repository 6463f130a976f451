package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestBytesNeverPrints(t *testing.T) {
	s := New([]byte("hunter2-very-secret"))
	type wrapper struct{ S Bytes }
	for name, got := range map[string]string{
		"v":       fmt.Sprintf("%v", s),
		"+v":      fmt.Sprintf("%+v", wrapper{s}),
		"#v":      fmt.Sprintf("%#v", s),
		"s":       fmt.Sprintf("%s", s),
		"d":       fmt.Sprintf("%d", wrapper{s}),
		"x":       fmt.Sprintf("%x", s),
		"wrapped": fmt.Sprint(wrapper{s}),
	} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("%s formatting leaked the secret: %q", name, got)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s)
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("slog leaked the secret: %q", buf.String())
	}
	if _, err := json.Marshal(wrapper{s}); err == nil {
		t.Error("json.Marshal(secret) succeeded, want error")
	}
	if _, err := s.MarshalText(); err == nil {
		t.Error("MarshalText succeeded, want error")
	}
}

func TestBytesEqual(t *testing.T) {
	a, b, c := New([]byte("abc")), New([]byte("abc")), New([]byte("abd"))
	if !a.Equal(b) || a.Equal(c) || a.Equal(Bytes{}) {
		t.Errorf("Equal mismatch: a=b %v a=c %v", a.Equal(b), a.Equal(c))
	}
	raw := []byte("xyz")
	s := New(raw)
	raw[0] = 'q'
	if string(s.Expose()) != "xyz" {
		t.Errorf("New did not copy: %q", s.Expose())
	}
	s.Clear()
	if string(s.Expose()) != "\x00\x00\x00" {
		t.Errorf("Clear left %q", s.Expose())
	}
}
