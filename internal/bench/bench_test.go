package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunCountsFixedLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op := func(context.Context) error {
			time.Sleep(time.Millisecond)
			return nil
		}
		got, err := Run(t.Context(), op, 4, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		// In the synctest bubble time is exact: 4 goroutines × 200 ops of 1ms.
		want := Result{Ops: 800, Elapsed: 200 * time.Millisecond, OpsPerSec: 4000, P50: time.Millisecond, P99: time.Millisecond}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Run() mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestRunPercentiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		// Latencies cycle 1..100ms, so p50 = 50ms and p99 = 99ms.
		op := func(context.Context) error {
			i := n.Add(1)
			time.Sleep(time.Duration((i-1)%100+1) * time.Millisecond)
			return nil
		}
		got, err := Run(t.Context(), op, 1, 5050*time.Millisecond)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		if got.Ops != 100 {
			t.Errorf("Run().Ops = %d, want 100", got.Ops)
		}
		if got.P50 != 50*time.Millisecond || got.P99 != 99*time.Millisecond {
			t.Errorf("Run() p50, p99 = %v, %v, want 50ms, 99ms", got.P50, got.P99)
		}
		if got.P50 > got.P99 {
			t.Errorf("Run() p50 %v > p99 %v", got.P50, got.P99)
		}
	})
}

func TestRunFinishesInFlightOps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An op of 150ms started at 150ms finishes at 300ms: it counts, and
		// it is not cancelled by the 200ms duration.
		op := func(ctx context.Context) error {
			time.Sleep(150 * time.Millisecond)
			return ctx.Err()
		}
		got, err := Run(t.Context(), op, 2, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		if got.Ops != 4 || got.Elapsed != 300*time.Millisecond {
			t.Errorf("Run() ops, elapsed = %d, %v, want 4, 300ms", got.Ops, got.Elapsed)
		}
	})
}

func TestRunStopsOnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var n atomic.Int64
		op := func(context.Context) error {
			time.Sleep(time.Millisecond)
			if n.Add(1) == 10 {
				return boom
			}
			return nil
		}
		start := time.Now()
		_, err := Run(t.Context(), op, 4, time.Hour)
		if !errors.Is(err, boom) {
			t.Errorf("Run() error = %v, want %v", err, boom)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Run() took %v after an error, want it to stop early", d)
		}
	})
}

func TestRunCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		op := func(context.Context) error {
			time.Sleep(time.Millisecond)
			return nil
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := Run(ctx, op, 2, time.Hour)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run() error = %v, want %v", err, context.Canceled)
		}
	})
}

func TestRunArguments(t *testing.T) {
	op := func(context.Context) error { return nil }
	tests := []struct {
		name        string
		concurrency int
		duration    time.Duration
	}{
		{"zero concurrency", 0, time.Second},
		{"zero duration", 1, 0},
		{"negative duration", 1, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), op, tt.concurrency, tt.duration); err == nil {
				t.Errorf("Run(%d, %v) error = nil, want an error", tt.concurrency, tt.duration)
			}
		})
	}
}

func TestRunTinyDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op := func(context.Context) error {
			time.Sleep(time.Millisecond)
			return nil
		}
		// A 1ns duration still lets each goroutine start one op.
		got, err := Run(t.Context(), op, 3, time.Nanosecond)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		if got.Ops != 3 {
			t.Errorf("Run().Ops = %d, want 3", got.Ops)
		}
	})
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"p100", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

// TestRawOps runs every raw primitive for real, briefly, on real time.
func TestRawOps(t *testing.T) {
	for _, p := range Primitives() {
		t.Run(string(p), func(t *testing.T) {
			op, err := NewRawOp(p, rand.Reader)
			if err != nil {
				t.Fatalf("NewRawOp(%s) error = %v", p, err)
			}
			start := time.Now()
			got, err := Run(t.Context(), op, 2, 100*time.Millisecond)
			if err != nil {
				t.Fatalf("Run(%s) error = %v", p, err)
			}
			if got.Ops < 1 || got.OpsPerSec <= 0 || got.P50 > got.P99 {
				t.Errorf("Run(%s) = %+v, want ops > 0 and p50 <= p99", p, got)
			}
			if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
				t.Errorf("Run(%s) took %v, want about 100ms", p, d)
			}
		})
	}
}

func TestParsePrimitive(t *testing.T) {
	for _, s := range []string{"rs256", "PS256", "Es256", "rsa-oaep-256"} {
		if _, err := ParsePrimitive(s); err != nil {
			t.Errorf("ParsePrimitive(%q) error = %v", s, err)
		}
	}
	if _, err := ParsePrimitive("RS512"); err == nil {
		t.Errorf("ParsePrimitive(%q) error = nil, want an error", "RS512")
	}
}
