package logbuf

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) snapshot() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.writes
}

func TestBatchesAndFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &countingWriter{}
		w := New(out, 100*time.Millisecond, 1<<20)
		var want bytes.Buffer
		for i := range 100 {
			line := fmt.Sprintf("line %d\n", i)
			want.WriteString(line)
			w.Write([]byte(line))
		}
		if got, n := out.snapshot(); got != "" || n != 0 {
			t.Fatalf("before the interval: %d writes, want 0", n)
		}
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if got, n := out.snapshot(); got != want.String() || n != 1 {
			t.Errorf("after the interval: %d writes, output ok=%v; want 1 write of all lines", n, got == want.String())
		}
		w.Write([]byte("last\n"))
		w.Close()
		if got, _ := out.snapshot(); !bytes.HasSuffix([]byte(got), []byte("last\n")) {
			t.Errorf("Close did not flush: %q", got)
		}
	})
}

func TestFlushesWhenFull(t *testing.T) {
	out := &countingWriter{}
	w := New(out, time.Hour, 10)
	defer w.Close()
	w.Write([]byte("0123456789ab"))
	if got, n := out.snapshot(); got != "0123456789ab" || n != 1 {
		t.Errorf("full buffer: got %q in %d writes, want an immediate flush", got, n)
	}
}
