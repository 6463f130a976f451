package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/secret"
)

// testEnv holds the keys of a test log.
type testEnv struct {
	dir  string
	mac  secret.Bytes
	sign *ecdsa.PrivateKey
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{dir: t.TempDir(), mac: secret.New(bytes.Repeat([]byte{9}, 32)), sign: k}
}

func (e *testEnv) open(t testing.TB, mod func(*Options)) *Log {
	t.Helper()
	o := Options{Dir: e.dir, MACKey: e.mac, SigningKey: e.sign}
	if mod != nil {
		mod(&o)
	}
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func (e *testEnv) verify(t testing.TB) (VerifyResult, error) {
	t.Helper()
	files, err := LogFiles(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	return Verify(files, VerifyOptions{MACKey: e.mac, PublicKeys: []*ecdsa.PublicKey{&e.sign.PublicKey}})
}

func rec(i int) Record {
	return Record{Time: time.Unix(1700000000, int64(i)*1000).UTC(), RequestID: fmt.Sprintf("req-%d", i), OperationName: "KeySign",
		OperationVersion: "7.5", Method: "POST", RequestURI: "https://dev.localhost/keys/k1/sign?api-version=7.5",
		Vault: "dev", Key: "k1", Algorithm: "ES256", Status: 200, ResultType: "Success", ResultSignature: "OK",
		Duration: 3 * time.Millisecond, CallerIP: "127.0.0.1", ObjectID: "oid-1", AppID: "app-1", TenantID: "t", Issuer: "https://iss"}
}

func writeN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Write(context.Background(), rec(i)); err != nil {
			t.Fatalf("Write(%d): %v", i, err)
		}
	}
}

func TestLogRoundTripRotationAndRestart(t *testing.T) {
	e := newEnv(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }
	l := e.open(t, func(o *Options) { o.MaxFileBytes = 4096; o.CheckpointEvery = 7; o.Now = now })
	writeN(t, l, 0, 50)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	files, _ := LogFiles(e.dir)
	if len(files) < 3 {
		t.Fatalf("%d files after 50 records of ~400 bytes with MaxFileBytes 4096, want rotation", len(files))
	}
	// A restart continues the chain in a new file.
	l = e.open(t, func(o *Options) { o.Now = now })
	writeN(t, l, 50, 5)
	l.Close()
	res, err := e.verify(t)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Records != 55 || res.FirstSeq != 1 || !res.EndsWithClose || res.Uncovered != 0 {
		t.Errorf("Verify = %+v, want 55 records from seq 1 ending with a close checkpoint", res)
	}
	// Every file starts with a checkpoint.
	files, _ = LogFiles(e.dir)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.HasPrefix(b, []byte(`{"time":`)) || !bytes.Contains(bytes.SplitN(b, []byte("\n"), 2)[0], []byte(`"category":"Checkpoint"`)) {
			t.Errorf("%s does not start with a checkpoint", filepath.Base(f))
		}
	}
	// The public key alone verifies too, and the JWK file holds it.
	keys, err := LoadPublicKeys(filepath.Join(e.dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(files, VerifyOptions{PublicKeys: keys}); err != nil {
		t.Errorf("Verify with the public key only: %v", err)
	}
	// The MAC key alone verifies too.
	if _, err := Verify(files, VerifyOptions{MACKey: e.mac}); err != nil {
		t.Errorf("Verify with the MAC key only: %v", err)
	}
	// A later file alone verifies from its opening checkpoint.
	if res, err := Verify(files[len(files)-1:], VerifyOptions{MACKey: e.mac}); err != nil || res.FirstSeq == 1 {
		t.Errorf("Verify(last file) = %+v, %v", res, err)
	}
}

func TestRecordShape(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, nil)
	writeN(t, l, 0, 1)
	l.Close()
	files, _ := LogFiles(e.dir)
	b, _ := os.ReadFile(files[0])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want open checkpoint, record, close checkpoint", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": "2023-11-14T22:13:20.0000000Z", "seq": 2.0, "resourceId": "/vaults/dev", "operationName": "KeySign",
		"operationVersion": "7.5", "category": "AuditEvent", "resultType": "Success", "resultSignature": "OK",
		"durationMs": "3", "callerIpAddress": "127.0.0.1",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	claims := m["identity"].(map[string]any)["claim"].(map[string]any)
	if claims[ClaimObjectID] != "oid-1" || claims[ClaimAppID] != "app-1" {
		t.Errorf("identity = %v", claims)
	}
	props := m["properties"].(map[string]any)
	if props["httpStatusCode"] != 200.0 || props["algorithm"] != "ES256" || props["key"] != "k1" {
		t.Errorf("properties = %v", props)
	}
	if !strings.HasSuffix(lines[1], `"}`) || !strings.Contains(lines[1][len(lines[1])-80:], `,"chain":"`) {
		t.Errorf("chain is not the last field: %s", lines[1])
	}
}

// tamper rewrites the lines of the log's only file.
func tamper(t *testing.T, dir string, fn func(lines []string) []string) {
	t.Helper()
	files, _ := LogFiles(dir)
	path := files[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines = fn(lines)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name     string
		fn       func(lines []string) []string
		kind     string
		line     int
		pubKind  string // kind reported with the public key only; "" = same
		pubCatch bool   // whether the public key alone detects it
	}{
		{"edit", func(ls []string) []string {
			ls[5] = strings.Replace(ls[5], `"resultType":"Success"`, `"resultType":"Failure"`, 1)
			return ls
		}, TamperEdited, 6, TamperEdited, true},
		{"edit chain", func(ls []string) []string {
			// Change the chain's last hex digit (to another one).
			last := ls[5][len(ls[5])-3]
			repl := "0"
			if last == '0' {
				repl = "1"
			}
			ls[5] = ls[5][:len(ls[5])-3] + repl + `"}`
			return ls
		}, TamperEdited, 6, TamperEdited, true},
		{"remove", func(ls []string) []string { return append(ls[:4:4], ls[5:]...) }, TamperRemoved, 5, TamperRemoved, true},
		{"insert copy", func(ls []string) []string {
			return append(ls[:4:4], append([]string{ls[2]}, ls[4:]...)...)
		}, TamperInserted, 5, TamperInserted, true},
		{"insert forged", func(ls []string) []string {
			var e map[string]any
			json.Unmarshal([]byte(ls[3]), &e)
			forged := strings.Replace(ls[3], fmt.Sprintf(`"seq":%v`, e["seq"]), fmt.Sprintf(`"seq":%v`, e["seq"].(float64)+1), 1)
			return append(ls[:4:4], append([]string{forged}, ls[4:]...)...)
		}, TamperEdited, 5, TamperInserted, true},
		{"reorder", func(ls []string) []string { ls[3], ls[4] = ls[4], ls[3]; return ls }, TamperRemoved, 4, TamperRemoved, true},
		{"truncate with checkpoint", func(ls []string) []string { return ls[:len(ls)-3] }, "", 0, "", false},
		{"forge checkpoint signature", func(ls []string) []string {
			i := len(ls) - 1
			j := strings.Index(ls[i], `"signature":"`) + len(`"signature":"`)
			b := []byte(ls[i])
			if b[j] == 'A' {
				b[j] = 'B'
			} else {
				b[j] = 'A'
			}
			ls[i] = string(b)
			return ls
		}, TamperEdited, 0, TamperSignature, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(t, func(o *Options) { o.CheckpointEvery = 1000 })
			writeN(t, l, 0, 10)
			l.Close()
			tamper(t, e.dir, tc.fn)
			files, _ := LogFiles(e.dir)
			res, err := Verify(files, VerifyOptions{MACKey: e.mac})
			if tc.kind == "" {
				// Cutting the tail with its close checkpoint leaves a
				// valid prefix: only the missing close checkpoint shows.
				if err != nil || res.EndsWithClose {
					t.Errorf("Verify = %+v, %v; want intact but not ending with a close checkpoint", res, err)
				}
				return
			}
			var te *TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v, want a TamperError", err)
			}
			if te.Kind != tc.kind || tc.line != 0 && te.Line != tc.line {
				t.Errorf("Verify (chain) = %v, want %s at line %d", te, tc.kind, tc.line)
			}
			_, err = Verify(files, VerifyOptions{PublicKeys: []*ecdsa.PublicKey{&e.sign.PublicKey}})
			if !errors.As(err, &te) {
				t.Fatalf("Verify (public key) = %v, want a TamperError", err)
			}
			if te.Kind != tc.pubKind {
				t.Errorf("Verify (public key) = %v, want %s", te, tc.pubKind)
			}
		})
	}
}

func TestVerifyDetectsTruncationBeforeNextFile(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, func(o *Options) { o.MaxFileBytes = 3000 })
	writeN(t, l, 0, 30)
	l.Close()
	files, _ := LogFiles(e.dir)
	if len(files) < 2 {
		t.Fatal("no rotation")
	}
	b, _ := os.ReadFile(files[0])
	lines := bytes.SplitAfter(b, []byte("\n"))
	os.WriteFile(files[0], bytes.Join(lines[:len(lines)-3], nil), 0o600)
	for _, o := range []VerifyOptions{{MACKey: e.mac}, {PublicKeys: []*ecdsa.PublicKey{&e.sign.PublicKey}}} {
		_, err := Verify(files, o)
		var te *TamperError
		if !errors.As(err, &te) || te.File != files[1] || te.Kind != TamperRemoved {
			t.Errorf("Verify = %v, want records removed, named at the start of %s", err, filepath.Base(files[1]))
		}
	}
}

// flakyFile fails every Write and Sync while broken is set.
type flakyFile struct {
	*os.File
	broken *atomic.Bool
}

func (f flakyFile) Write(p []byte) (int, error) {
	if f.broken.Load() {
		return 0, errors.New("injected write failure")
	}
	return f.File.Write(p)
}

func (f flakyFile) Sync() error {
	if f.broken.Load() {
		return errors.New("injected sync failure")
	}
	return f.File.Sync()
}

func TestFailClosedAndRecover(t *testing.T) {
	e := newEnv(t)
	var broken atomic.Bool
	var mu sync.Mutex
	clock := time.Unix(1700000000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	l := e.open(t, func(o *Options) {
		o.Now = now
		o.OpenFile = func(path string) (File, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return nil, err
			}
			return flakyFile{f, &broken}, nil
		}
	})
	defer l.Close()
	writeN(t, l, 0, 3)
	broken.Store(true)
	if err := l.Write(context.Background(), rec(3)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Write on a failing sink = %v, want ErrUnavailable", err)
	}
	if err := l.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready after a failure = %v, want ErrUnavailable", err)
	}
	broken.Store(false)
	if err := l.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready within a second of the failure = %v, want still unavailable", err)
	}
	advance(2 * time.Second)
	if err := l.Ready(); err != nil {
		t.Fatalf("Ready after the sink recovered = %v", err)
	}
	writeN(t, l, 4, 3)
	l.Close()
	res, err := e.verify(t)
	if err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	// The failed record was kept and written first on recovery.
	if res.Records != 7 {
		t.Errorf("Verify = %d records, want 7 (the refused one is kept)", res.Records)
	}
}

func TestOpenFailsOnFullDevice(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	e := newEnv(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Symlink("/dev/full", filepath.Join(e.dir, fileName(at))); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: e.dir, MACKey: e.mac, SigningKey: e.sign, Now: func() time.Time { return at }})
	if err == nil {
		t.Fatal("Open with its log file on /dev/full succeeded")
	}
}

func TestResumeDropsPartialLine(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, nil)
	writeN(t, l, 0, 3)
	l.Close()
	files, _ := LogFiles(e.dir)
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00.0000000Z","seq":6,"oper`)
	f.Close()
	l = e.open(t, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(time.Hour) } })
	writeN(t, l, 3, 2)
	l.Close()
	if res, err := e.verify(t); err != nil || res.Records != 5 {
		t.Errorf("Verify after a crash mid-line = %+v, %v", res, err)
	}
}

func TestConcurrentWritesChainInOrder(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, func(o *Options) { o.CheckpointEvery = 50 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() { writeN(t, l, g*100, 40) })
	}
	wg.Wait()
	l.Close()
	if res, err := e.verify(t); err != nil || res.Records != 320 {
		t.Errorf("Verify = %+v, %v", res, err)
	}
}

func TestSinksGetTheSameLines(t *testing.T) {
	e := newEnv(t)
	var out syncBuffer
	l := e.open(t, func(o *Options) { o.Sinks = []Sink{WriterSink{W: &out}} })
	writeN(t, l, 0, 4)
	l.Close()
	files, _ := LogFiles(e.dir)
	b, _ := os.ReadFile(files[0])
	if got := out.String(); got != string(b) {
		t.Errorf("stdout sink got\n%s\nfile holds\n%s", got, b)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestSearch(t *testing.T) {
	e := newEnv(t)
	l := e.open(t, nil)
	writeN(t, l, 0, 3)
	r := rec(3)
	r.OperationName, r.Status, r.ResultType, r.ResultSignature, r.Key, r.ObjectID = "KeyDelete", 403, "Failure", "Forbidden", "other", "oid-2"
	l.Write(context.Background(), r)
	l.Close()
	files, _ := LogFiles(e.dir)
	cases := []struct {
		q    Query
		want int
	}{
		{Query{}, 4},
		{Query{Operation: "keysign"}, 3},
		{Query{Result: "Failure"}, 1},
		{Query{Result: "403"}, 1},
		{Query{Principal: "oid-2"}, 1},
		{Query{Principal: "app-1"}, 4},
		{Query{Key: "K1"}, 3},
		{Query{Vault: "nope"}, 0},
		{Query{Since: time.Unix(1700000000, 2500)}, 1},
		{Query{Until: time.Unix(1700000000, 1500)}, 2},
	}
	for _, c := range cases {
		n := 0
		Search(files, c.q, func(*Event) error { n++; return nil })
		if n != c.want {
			t.Errorf("Search(%+v) = %d records, want %d", c.q, n, c.want)
		}
	}
	var tb bytes.Buffer
	tw := NewTableWriter(&tb)
	Search(files, Query{Result: "Forbidden"}, tw.Write)
	tw.Flush()
	if !strings.Contains(tb.String(), "KeyDelete") || !strings.Contains(tb.String(), "OPERATION") {
		t.Errorf("table:\n%s", tb.String())
	}
}

// BenchmarkWriteParallel measures records per second with fsync and group
// commit under concurrent writers.
func BenchmarkWriteParallel(b *testing.B) {
	e := newEnv(b)
	l := e.open(b, nil)
	defer l.Close()
	r := rec(1)
	b.ReportAllocs()
	b.SetParallelism(32) // 32 × GOMAXPROCS concurrent writers, as under HTTP load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Write(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriteSerial measures one writer: one fsync per record.
func BenchmarkWriteSerial(b *testing.B) {
	e := newEnv(b)
	l := e.open(b, nil)
	defer l.Close()
	r := rec(1)
	for b.Loop() {
		if err := l.Write(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// syncCounter counts fsyncs of the audit file.
type syncCounter struct {
	*os.File
	n *atomic.Int64
}

func (f syncCounter) Sync() error { f.n.Add(1); return f.File.Sync() }

// TestAppendDefersTheFsync checks that Append writes without an fsync of
// its own, that Write fsyncs what Append wrote before it, and that the log
// verifies.
func TestAppendDefersTheFsync(t *testing.T) {
	e := newEnv(t)
	var syncs atomic.Int64
	l := e.open(t, func(o *Options) {
		o.OpenFile = func(path string) (File, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return nil, err
			}
			return syncCounter{f, &syncs}, nil
		}
	})
	before := syncs.Load()
	for i := range 20 {
		if err := l.Append(context.Background(), rec(i)); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
	files, _ := LogFiles(e.dir)
	raw, _ := os.ReadFile(files[len(files)-1])
	if !strings.Contains(string(raw), `"req-19"`) {
		t.Errorf("Append returned before its record was written to the file")
	}
	if got := syncs.Load() - before; got > 2 {
		t.Errorf("20 Appends made %d fsyncs, want them deferred (at most the ticker's)", got)
	}
	if err := l.Write(context.Background(), rec(20)); err != nil {
		t.Fatal(err)
	}
	if syncs.Load() == before {
		t.Errorf("Write made no fsync")
	}
	l.Close()
	if _, err := e.verify(t); err != nil {
		t.Errorf("Verify after Appends: %v", err)
	}
}
