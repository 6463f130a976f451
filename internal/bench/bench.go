// Package bench measures the throughput and latency of an operation run by
// N concurrent goroutines for a fixed duration, and builds the raw Go crypto
// operations that the `keywarden bench` command compares a server against.
//
// It knows nothing of HTTP, the Azure wire format or the vault: an operation
// is any func(ctx) error. It imports nothing from Keywarden.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Op is one unit of work to measure. It must be safe to call from several
// goroutines at once.
type Op func(ctx context.Context) error

// Result is the outcome of one Run.
type Result struct {
	// Ops is the number of operations that completed without error.
	Ops int64
	// Elapsed is the wall time from the start of the run until the last
	// goroutine finished its last operation.
	Elapsed time.Duration
	// OpsPerSec is Ops divided by Elapsed in seconds.
	OpsPerSec float64
	// P50 and P99 are the 50th and 99th percentile latencies of a single
	// operation (nearest rank). P50 <= P99 always holds.
	P50, P99 time.Duration
}

// ErrNoOps is returned by Run when no operation completed in the duration.
var ErrNoOps = errors.New("bench: no operation completed")

// Run calls op from concurrency goroutines, each in a loop, until duration has
// passed since the start, and reports the completed operations, ops/s and the
// p50/p99 latencies. A goroutine starts no new operation once the duration has
// passed; operations in flight are allowed to finish, and count.
//
// Operations receive ctx itself, not a deadline derived from duration, so an
// operation that is in flight when the time is up is not cancelled. Run stops
// at the first error an operation returns and returns it; it returns
// ctx.Err() when ctx is cancelled, and ErrNoOps when nothing completed.
// Every goroutine it starts has returned when Run returns.
func Run(ctx context.Context, op Op, concurrency int, duration time.Duration) (Result, error) {
	if concurrency < 1 {
		return Result{}, fmt.Errorf("bench: concurrency %d, want at least 1", concurrency)
	}
	if duration <= 0 {
		return Result{}, fmt.Errorf("bench: duration %v, want more than 0", duration)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	latencies := make([][]time.Duration, concurrency)
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				if err := op(ctx); err != nil {
					cancel(err)
					break
				}
				mine = append(mine, time.Since(t0))
			}
			latencies[i] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}

	all := slices.Concat(latencies...)
	if len(all) == 0 {
		return Result{}, ErrNoOps
	}
	slices.Sort(all)
	r := Result{
		Ops:     int64(len(all)),
		Elapsed: elapsed,
		P50:     Percentile(all, 50),
		P99:     Percentile(all, 99),
	}
	if elapsed > 0 {
		r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
	}
	return r, nil
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 when sorted is empty. sorted must be in
// ascending order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// Nearest rank: the smallest value with at least p% of values <= it.
	rank := int(math.Ceil(float64(n) * p / 100))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
