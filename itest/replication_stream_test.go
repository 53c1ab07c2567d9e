package itest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The records of the replication tests: values that carry (producer,
// seq) (streamcheck.Value), a book of what the brokers acknowledged, and
// streamcheck's checker of what a reader read against it.

// ackBook records what the broker acknowledged: (producer, seq) ->
// partition and offset, and the produce errors. Safe for concurrent use.
type ackBook struct {
	mu       sync.Mutex
	acked    map[streamcheck.Key]streamcheck.Placed
	nAcked   atomic.Int64
	nErrs    int
	firstErr []string
	inFlight sync.WaitGroup
}

func newAckBook() *ackBook { return &ackBook{acked: map[streamcheck.Key]streamcheck.Placed{}} }

// produce sends (producer, seq) to partition asynchronously and books the
// outcome.
func (a *ackBook) produce(ctx context.Context, cl *kgo.Client, topic string, partition int32, producer, seq int) {
	a.inFlight.Add(1)
	r := &kgo.Record{Topic: topic, Partition: partition, Value: streamcheck.Value(producer, seq)}
	cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		defer a.inFlight.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		if err != nil {
			a.nErrs++
			if len(a.firstErr) < 5 {
				a.firstErr = append(a.firstErr, fmt.Sprintf("producer %d seq %d: %v", producer, seq, err))
			}
			return
		}
		a.acked[streamcheck.Key{Producer: producer, Seq: seq}] = streamcheck.Placed{Partition: r.Partition, Offset: r.Offset}
		a.nAcked.Add(1)
	})
}

// wait waits for every produce's outcome, failing the test at ctx's end
// or on any produce error (the clients retry until they succeed).
func (a *ackBook) wait(t testing.TB, ctx context.Context) {
	t.Helper()
	done := make(chan struct{})
	go func() { a.inFlight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("only %d records acknowledged before the deadline", a.nAcked.Load())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nErrs > 0 {
		t.Fatalf("%d records failed to produce, first: %v", a.nErrs, a.firstErr)
	}
}

// snapshot copies the acknowledged set.
func (a *ackBook) snapshot() map[streamcheck.Key]streamcheck.Placed {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[streamcheck.Key]streamcheck.Placed, len(a.acked))
	for k, v := range a.acked {
		out[k] = v
	}
	return out
}

// waitAcked waits until at least n records are acknowledged.
func (a *ackBook) waitAcked(t testing.TB, ctx context.Context, n int64, what string) {
	t.Helper()
	for a.nAcked.Load() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d records acknowledged, want %d", what, a.nAcked.Load(), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkStream fails the test with every problem streamcheck.Check finds
// in a read of the whole topic.
func checkStream(t testing.TB, reader string, recs []streamcheck.Rec, acked map[streamcheck.Key]streamcheck.Placed, ends map[int32]int64) {
	t.Helper()
	for _, p := range streamcheck.Check(recs, acked, ends).Problems() {
		t.Errorf("%s: %s", reader, p)
	}
}
