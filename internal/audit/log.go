package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keywarden/keywarden/internal/secret"
)

// Defaults of Options.
const (
	DefaultMaxFileBytes       = 100 << 20
	DefaultMaxFileAge         = 24 * time.Hour
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// retryInterval bounds how often a failed file sink is retried.
const retryInterval = time.Second

// Errors.
var (
	// ErrUnavailable is wrapped by Ready and Write errors while records
	// cannot be written durably.
	ErrUnavailable = errors.New("audit: the audit log cannot be written")
	// ErrClosed reports use of a closed Log.
	ErrClosed = errors.New("audit: log closed")
)

// File is an open log file as the file sink uses it. *os.File satisfies
// it; tests inject failing ones.
type File interface {
	io.Writer
	// Sync makes written bytes durable.
	Sync() error
	// Close closes the file.
	Close() error
}

// truncater is the optional capability of a File to drop a partial write.
type truncater interface{ Truncate(size int64) error }

// Sink receives every line the file sink has made durable, in order. It is
// called from one goroutine at a time.
type Sink interface {
	// WriteLines writes one or more complete JSON lines.
	WriteLines(p []byte) error
	// Close releases the sink.
	Close() error
}

// Options configure a Log.
type Options struct {
	// Dir is the audit directory; it is created (mode 0700) if missing.
	// Required.
	Dir string
	// MaxFileBytes and MaxFileAge trigger rotation to a new file. Zero:
	// DefaultMaxFileBytes, DefaultMaxFileAge.
	MaxFileBytes int64
	MaxFileAge   time.Duration
	// CheckpointEvery and CheckpointInterval trigger a checkpoint after so
	// many records or so much time with records. Zero: the defaults.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// MACKey keys the chain (at least 32 bytes; from the root key's
	// DeriveKey("audit-chain")). Required. The Log keeps a copy.
	MACKey secret.Bytes
	// SigningKey signs checkpoints (ECDSA P-256). Required.
	SigningKey *ecdsa.PrivateKey
	// Sinks also receive every durable line (stdout, syslog): best
	// effort, failures are logged and counted. The Log closes them.
	Sinks []Sink
	// Logger receives sink failures and recoveries. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OpenFile opens a log file for appending, creating it with mode 0600.
	// Default: os.OpenFile. Tests inject failing files.
	OpenFile func(path string) (File, error)
}

// chunk is a run of lines for one file; newFile, when set, names a file to
// start before writing them.
type chunk struct {
	newFile string
	lines   []byte
}

// Log is the audit trail writer. It is safe for concurrent use: Write
// calls are chained in the order they take the lock, and one fsync covers
// every record queued while the previous one ran (group commit).
type Log struct {
	opts   Options
	mac    []byte
	signer *ecdsa.PrivateKey
	kid    string
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	seq     uint64
	prev    [chainSize]byte
	digest  hash.Hash // lines since the last checkpoint
	hm      hash.Hash // the chain MAC, reused under mu
	sinceCk int
	lastCk  time.Time
	pending []chunk
	queued  uint64 // generation of the last queued line
	written uint64 // generation of the last line written to the file
	done    uint64 // generation of the last durable (fsynced) line
	// syncWanted asks the next flush to fsync: a durable writer waits.
	syncWanted bool
	// unsynced counts bytes written to the current file since its last
	// fsync; lastSync is when that fsync happened.
	unsynced int64
	lastSync time.Time
	flushing bool
	failed   error   // sticky until a retry succeeds
	retained []chunk // chained lines not written when failed was set
	lastTry  time.Time
	closed   bool
	// fileBytes and fileStart describe the current file including queued
	// lines; lastName is the newest file name used.
	fileBytes int64
	fileStart time.Time
	lastName  string

	// Owned by the flusher (flushing == true).
	f       File
	curPath string
	durable int64

	sinkc      chan []byte
	sinkDone   chan struct{}
	tickStop   chan struct{}
	tickDone   chan struct{}
	records    atomic.Uint64
	sinkErrors atomic.Uint64
	failures   atomic.Uint64
}

// Open opens the audit log in o.Dir: it continues the chain of the newest
// file there (dropping a partial last line left by a crash), starts a new
// file whose first line is an "open" checkpoint, and writes the signing
// key's public JWK to audit-signing-key.jwk. An error means the log cannot
// be written: the server must not start.
func Open(o Options) (*Log, error) {
	if o.Dir == "" || o.SigningKey == nil || o.MACKey.Len() < 32 {
		return nil, errors.New("audit: Open needs Dir, SigningKey and a MACKey of at least 32 bytes")
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxFileAge <= 0 {
		o.MaxFileAge = DefaultMaxFileAge
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OpenFile == nil {
		o.OpenFile = func(path string) (File, error) {
			return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: directory: %w", err)
	}
	jwk, kid, err := PublicJWK(&o.SigningKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(o.Dir, PublicKeyFile), jwk); err != nil {
		return nil, fmt.Errorf("audit: writing %s: %w", PublicKeyFile, err)
	}
	l := &Log{
		opts: o, mac: append([]byte(nil), o.MACKey.Expose()...), signer: o.SigningKey, kid: kid,
		now: o.Now, log: o.Logger, digest: sha256.New(),
		sinkc: make(chan []byte, 1024), sinkDone: make(chan struct{}),
		tickStop: make(chan struct{}), tickDone: make(chan struct{}),
	}
	l.cond = sync.NewCond(&l.mu)
	st, err := resume(o.Dir)
	if err != nil {
		return nil, err
	}
	l.seq, l.prev, l.lastName = st.seq, st.chain, st.lastName
	l.digest.Write(st.since)
	l.sinceCk = st.sinceCount
	l.mu.Lock()
	now := l.now()
	err = l.startFileLocked(now, ReasonOpen)
	if err == nil {
		err = l.waitLocked(l.queued)
	}
	l.mu.Unlock()
	if err != nil {
		l.closeFile()
		return nil, err
	}
	go l.runSinks()
	go l.tick()
	return l, nil
}

// KeyID returns the signing key's id, as checkpoints name it.
func (l *Log) KeyID() string { return l.kid }

// Ready reports whether records can be written; after a failure it retries
// the file sink (at most once per second). Errors wrap ErrUnavailable or
// are ErrClosed.
func (l *Log) Ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil && !l.recoverLocked() {
		return fmt.Errorf("%w: %v", ErrUnavailable, l.failed)
	}
	return nil
}

// Write chains r and returns once it is durably written (fsync). An error
// (wrapping ErrUnavailable, or ErrClosed) means the record is not in the
// log: the request it describes must be refused.
func (l *Log) Write(ctx context.Context, r Record) error {
	return l.write(ctx, r, true)
}

// Append chains r and returns once it is written to the file, without
// waiting for an fsync: the record survives a crash of the process (it is
// in the kernel's page cache) and is fsynced within SyncInterval, or sooner
// by the next Write. It suits requests that changed nothing stored
// (reads, cryptographic operations, refusals). Errors are as Write's.
func (l *Log) Append(ctx context.Context, r Record) error {
	return l.write(ctx, r, false)
}

// SyncInterval bounds how long a record written by Append may wait for
// its fsync.
const SyncInterval = 100 * time.Millisecond

func (l *Log) write(ctx context.Context, r Record, durable bool) error {
	// Encode outside the lock; only the sequence number and the chain are
	// added under it.
	pre, err := json.Marshal(newEvent(r))
	if err != nil {
		return fmt.Errorf("audit: encoding record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil && !l.recoverLocked() {
		return fmt.Errorf("%w: %v", ErrUnavailable, l.failed)
	}
	now := l.now()
	if l.fileBytes >= l.opts.MaxFileBytes || now.Sub(l.fileStart) >= l.opts.MaxFileAge {
		if err := l.startFileLocked(now, ReasonRotate); err != nil {
			return err
		}
	}
	if err := l.appendEncodedLocked(pre); err != nil {
		return err
	}
	l.records.Add(1)
	if l.sinceCk >= l.opts.CheckpointEvery {
		if err := l.checkpointLocked(now, ReasonPeriodic); err != nil {
			return err
		}
	}
	if !durable {
		return l.waitWrittenLocked(l.queued)
	}
	return l.waitLocked(l.queued)
}

// waitWrittenLocked returns once generation gen is written to the file
// (not necessarily fsynced), flushing when no one else is.
func (l *Log) waitWrittenLocked(gen uint64) error {
	for {
		if l.written >= gen {
			return nil
		}
		if l.failed != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, l.failed)
		}
		if !l.flushing {
			l.flushLocked()
			continue
		}
		l.cond.Wait()
	}
}

// Stats are counters of a Log.
type Stats struct {
	// Records is the number of request records written.
	Records uint64
	// Failures counts failed writes of the file sink.
	Failures uint64
	// SinkErrors counts failed or dropped writes of the other sinks.
	SinkErrors uint64
}

// Stats returns the Log's counters.
func (l *Log) Stats() Stats {
	return Stats{Records: l.records.Load(), Failures: l.failures.Load(), SinkErrors: l.sinkErrors.Load()}
}

// Close writes a "close" checkpoint, closes the file and the sinks. It is
// safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	close(l.tickStop)
	l.mu.Unlock()
	<-l.tickDone
	l.mu.Lock()
	var err error
	if l.failed == nil || l.recoverLocked() {
		if err = l.checkpointLocked(l.now(), ReasonClose); err == nil {
			err = l.waitLocked(l.queued)
		}
	} else {
		err = fmt.Errorf("%w: %v (%d chained records were not written)", ErrUnavailable, l.failed, countLines(l.retained))
	}
	for l.flushing {
		l.cond.Wait()
	}
	l.closed = true
	l.mu.Unlock()
	if cerr := l.closeFile(); cerr != nil && err == nil {
		err = cerr
	}
	close(l.sinkc)
	<-l.sinkDone
	clear(l.mac)
	return err
}

// closeFile closes the current file; only without a running flusher.
func (l *Log) closeFile() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// appendLocked chains e as the next line of the log.
func (l *Log) appendLocked(e *Event) error {
	e.Seq = l.seq + 1
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encoding record: %w", err)
	}
	if e.Checkpoint != nil {
		sig, err := signLine(l.signer, line)
		if err != nil {
			return err
		}
		line = appendField(line, signatureField, sig)
	}
	return l.chainLocked(line, e.Seq, e.Checkpoint != nil)
}

// chainLocked adds the chain field to an encoded record with sequence
// number seq and queues it.
func (l *Log) chainLocked(line []byte, seq uint64, checkpoint bool) error {
	if l.hm == nil {
		l.hm = hmac.New(sha256.New, l.mac)
	}
	l.hm.Reset()
	l.hm.Write(l.prev[:])
	l.hm.Write(line)
	var c [chainSize]byte
	l.hm.Sum(c[:0])
	l.seq, l.prev = seq, c
	// Queue the line with its chain field (as appendField writes it)
	// straight into the pending buffer.
	if len(l.pending) == 0 {
		l.pending = append(l.pending, chunk{})
	}
	last := &l.pending[len(l.pending)-1]
	start := len(last.lines)
	last.lines = append(last.lines, line[:len(line)-1]...)
	last.lines = append(last.lines, chainField...)
	last.lines = hex.AppendEncode(last.lines, c[:])
	last.lines = append(last.lines, '"', '}', '\n')
	full := last.lines[start:]
	if checkpoint {
		l.digest.Reset()
		l.sinceCk = 0
	} else {
		l.digest.Write(full)
		l.sinceCk++
	}
	l.fileBytes += int64(len(full))
	l.queued++
	return nil
}

// seqPlaceholder is how an encoded Event with Seq 0 shows its sequence
// number; appendEncodedLocked replaces it with the real one.
var seqPlaceholder = []byte(`,"seq":0,`)

// appendEncodedLocked chains a request record encoded with Seq 0.
func (l *Log) appendEncodedLocked(pre []byte) error {
	i := bytes.Index(pre, seqPlaceholder)
	if i < 0 {
		return errors.New("audit: encoded record has no sequence number")
	}
	seq := l.seq + 1
	line := make([]byte, 0, len(pre)+24)
	line = append(line, pre[:i]...)
	line = append(line, `,"seq":`...)
	line = strconv.AppendUint(line, seq, 10)
	line = append(line, pre[i+len(seqPlaceholder)-1:]...)
	return l.chainLocked(line, seq, false)
}

// checkpointLocked chains a checkpoint.
func (l *Log) checkpointLocked(now time.Time, reason string) error {
	e := &Event{
		Time: now.UTC().Format(TimeFormat), OperationName: OperationCheckpoint, Category: CategoryCheckpoint,
		Checkpoint: &Checkpoint{Reason: reason, PrevChain: hex.EncodeToString(l.prev[:]), Records: l.sinceCk,
			Digest: hex.EncodeToString(l.digest.Sum(nil)), KeyID: l.kid},
	}
	l.lastCk = now
	return l.appendLocked(e)
}

// startFileLocked queues a new file whose first line is a checkpoint.
func (l *Log) startFileLocked(now time.Time, reason string) error {
	name := fileName(now)
	for t := now; name <= l.lastName; {
		t = t.Add(time.Second)
		name = fileName(t)
	}
	l.lastName = name
	l.pending = append(l.pending, chunk{newFile: filepath.Join(l.opts.Dir, name)})
	l.fileBytes, l.fileStart = 0, now
	return l.checkpointLocked(now, reason)
}

// waitLocked returns once generation gen is durable, flushing when no one
// else is; it fails when gen was lost to a failure.
func (l *Log) waitLocked(gen uint64) error {
	for {
		if l.done >= gen {
			return nil
		}
		if l.failed != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, l.failed)
		}
		l.syncWanted = true
		if !l.flushing {
			l.flushLocked()
			continue
		}
		l.cond.Wait()
	}
}

// flushLocked writes every queued line, with an fsync when a durable
// writer waits: it releases the lock during I/O.
func (l *Log) flushLocked() {
	batch, gen, sync := l.pending, l.queued, l.syncWanted
	l.pending = nil
	l.syncWanted = false
	l.flushing = true
	l.mu.Unlock()
	n, err := l.writeBatch(batch, sync)
	l.mu.Lock()
	l.flushing = false
	if err != nil {
		l.failLocked(batch[n:], err)
	} else {
		l.written = gen
		if sync {
			l.done = gen
			l.lastSync = l.now()
		}
		l.toSinks(batch)
	}
	l.cond.Broadcast()
}

// failLocked marks the log failed, retaining the unwritten lines (lost
// first, then whatever was queued meanwhile) for recovery.
func (l *Log) failLocked(lost []chunk, err error) {
	l.failures.Add(1)
	if l.failed == nil {
		l.log.Error("audit log write failed; refusing requests until it recovers", "err", err)
	}
	l.failed = err
	l.retained = append(append(append([]chunk(nil), lost...), l.retained...), l.pending...)
	l.pending = nil
	l.lastTry = l.now()
}

// recoverLocked retries the file sink once its retry interval has passed,
// writing the retained lines first. It reports whether the log works.
func (l *Log) recoverLocked() bool {
	if l.failed == nil {
		return true
	}
	now := l.now()
	if l.flushing || now.Sub(l.lastTry) < retryInterval {
		return false
	}
	l.lastTry = now
	batch := l.retained
	l.retained = nil
	l.flushing = true
	l.mu.Unlock()
	if len(batch) == 0 || batch[0].newFile == "" {
		if err := l.reopen(); err != nil {
			// Start over in a new file rather than after a partial line.
			l.mu.Lock()
			name := fileName(now)
			for t := now; name <= l.lastName; {
				t = t.Add(time.Second)
				name = fileName(t)
			}
			l.lastName = name
			l.mu.Unlock()
			batch = append([]chunk{{newFile: filepath.Join(l.opts.Dir, name)}}, batch...)
		}
	}
	n, err := l.writeBatch(batch, true)
	l.mu.Lock()
	l.flushing = false
	defer l.cond.Broadcast()
	if err != nil {
		l.failLocked(batch[n:], err)
		return false
	}
	l.log.Info("audit log recovered", "records_written", countLines(batch))
	l.failed = nil
	l.done, l.written = l.queued, l.queued
	l.toSinks(batch)
	return true
}

// reopen reopens the current file and drops any partial write past the
// last durable byte.
func (l *Log) reopen() error {
	if l.curPath == "" {
		return errors.New("no current file")
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := l.opts.OpenFile(l.curPath)
	if err != nil {
		return err
	}
	l.f = f
	t, ok := f.(truncater)
	if !ok {
		return nil
	}
	if err := t.Truncate(l.durable); err != nil {
		f.Close()
		l.f = nil
		return err
	}
	return nil
}

// writeBatch writes chunks in order, syncing before leaving a file and at
// the end. n is the index of the first chunk not durably written.
func (l *Log) writeBatch(batch []chunk, sync bool) (n int, err error) {
	written := l.unsynced
	l.unsynced = 0
	for i, c := range batch {
		if c.newFile != "" {
			if l.f != nil {
				if err := l.f.Sync(); err != nil {
					return i, err
				}
				l.durable += written
				written = 0
				l.f.Close()
				l.f = nil
			}
			f, err := l.opts.OpenFile(c.newFile)
			if err != nil {
				return i, err
			}
			if t, ok := f.(truncater); ok {
				// A fresh name; a failed earlier attempt may have left
				// bytes in it. Devices refuse to truncate: no matter.
				t.Truncate(0)
			}
			l.f, l.curPath, l.durable = f, c.newFile, 0
			syncDir(l.opts.Dir)
			n = i
		}
		if len(c.lines) == 0 {
			continue
		}
		if l.f == nil {
			return n, errors.New("audit: no open file")
		}
		if _, err := l.f.Write(c.lines); err != nil {
			return n, err
		}
		written += int64(len(c.lines))
	}
	if l.f != nil && written > 0 {
		if !sync {
			l.unsynced = written
			return len(batch), nil
		}
		if err := l.f.Sync(); err != nil {
			return n, err
		}
		l.durable += written
	}
	return len(batch), nil
}

// toSinks hands durable lines to the other sinks without waiting.
func (l *Log) toSinks(batch []chunk) {
	if len(l.opts.Sinks) == 0 {
		return
	}
	var b []byte
	for _, c := range batch {
		b = append(b, c.lines...)
	}
	if len(b) == 0 {
		return
	}
	select {
	case l.sinkc <- b:
	default:
		l.sinkErrors.Add(1)
	}
}

// runSinks feeds the other sinks until Close.
func (l *Log) runSinks() {
	defer close(l.sinkDone)
	for b := range l.sinkc {
		for _, s := range l.opts.Sinks {
			if err := s.WriteLines(b); err != nil {
				l.sinkErrors.Add(1)
				l.log.Warn("audit sink write failed", "err", err)
			}
		}
	}
	for _, s := range l.opts.Sinks {
		s.Close()
	}
}

// tick writes time-driven checkpoints, rotates by age and retries a failed
// file sink, until Close.
func (l *Log) tick() {
	defer close(l.tickDone)
	period := min(l.opts.CheckpointInterval, retryInterval, SyncInterval)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-l.tickStop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		switch now := l.now(); {
		case l.failed != nil:
			l.recoverLocked()
		case now.Sub(l.fileStart) >= l.opts.MaxFileAge:
			if l.startFileLocked(now, ReasonRotate) == nil {
				l.waitLocked(l.queued)
			}
		case l.sinceCk > 0 && now.Sub(l.lastCk) >= l.opts.CheckpointInterval:
			if l.checkpointLocked(now, ReasonPeriodic) == nil {
				l.waitLocked(l.queued)
			}
		case l.written > l.done && now.Sub(l.lastSync) >= SyncInterval:
			l.waitLocked(l.written)
		}
		l.mu.Unlock()
	}
}

// countLines counts the lines of chunks.
func countLines(cs []chunk) int {
	n := 0
	for _, c := range cs {
		for _, b := range c.lines {
			if b == '\n' {
				n++
			}
		}
	}
	return n
}

// FilePrefix and FileSuffix frame log file names:
// keywarden-audit-YYYYMMDDTHHMMSS.jsonl (UTC).
const (
	FilePrefix = "keywarden-audit-"
	FileSuffix = ".jsonl"
)

// PublicKeyFile is the name of the signing key's public JWK in the audit
// directory.
const PublicKeyFile = "audit-signing-key.jwk"

func fileName(t time.Time) string {
	return FilePrefix + t.UTC().Format("20060102T150405") + FileSuffix
}

// syncDir makes a new directory entry durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeFileAtomic replaces path with data (mode 0644: a public key).
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// PublicKey returns the public half of the checkpoint signing key.
func (l *Log) PublicKey() *ecdsa.PublicKey { return &l.signer.PublicKey }
