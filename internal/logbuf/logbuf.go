// Package logbuf batches log output: writes land in memory and reach the
// underlying writer when the buffer fills, at every flush interval, and on
// Close. A server that logs one line per request thus makes one write
// system call per batch instead of one per request.
//
// Operational logs only: lines written in the last interval before a crash
// may be lost. The audit trail, which must not lose records, does not use
// this package.
package logbuf

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// Writer is a batching io.Writer, safe for concurrent use. Each Write is
// kept whole (slog handlers write one record per call).
type Writer struct {
	out   io.Writer
	limit int

	mu  sync.Mutex
	buf bytes.Buffer

	stop chan struct{}
	done chan struct{}
}

// New returns a Writer that flushes to out every interval and whenever more
// than limit bytes are buffered. Close it to flush and stop its goroutine.
func New(out io.Writer, interval time.Duration, limit int) *Writer {
	w := &Writer{out: out, limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			w.Flush()
			return
		}
	}
}

// Write buffers p, flushing first if the buffer is full.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.buf.Len() >= w.limit {
		return len(p), w.flushLocked()
	}
	return len(p), nil
}

// Flush writes out everything buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.buf.Len() == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf.Bytes())
	w.buf.Reset()
	return err
}

// Close flushes and stops the background flusher. It must be called once.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	return nil
}
