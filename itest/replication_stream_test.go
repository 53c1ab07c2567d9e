package itest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The records of the replication tests: values that carry (producer,
// seq), a book of what the brokers acknowledged, and a checker of what a
// reader read against it.

// pairValueSize is the size of the values pairValue makes.
const pairValueSize = 100

// pairValue is a pairValueSize-byte value carrying (producer, seq), with
// padding derived from both so that a torn or mixed-up value is detected.
func pairValue(producer, seq int) []byte {
	v := make([]byte, pairValueSize)
	n := copy(v, fmt.Sprintf("p=%04d s=%010d|", producer, seq))
	for i := n; i < len(v); i++ {
		v[i] = 'a' + byte((producer*7+seq+i)%26)
	}
	return v
}

// parsePair returns the (producer, seq) of a value made by pairValue, or
// an error if the value is not exactly what pairValue would have made.
func parsePair(v []byte) (pairKey, error) {
	var k pairKey
	if len(v) != pairValueSize || !bytes.HasPrefix(v, []byte("p=")) {
		return k, fmt.Errorf("value %.24q (%d bytes) is not a pair value", v, len(v))
	}
	p, err1 := strconv.Atoi(string(v[2:6]))
	s, err2 := strconv.Atoi(string(v[9:19]))
	if err := errors.Join(err1, err2); err != nil {
		return k, fmt.Errorf("value %.24q: %w", v, err)
	}
	k.producer, k.seq = p, s
	if !bytes.Equal(pairValue(k.producer, k.seq), v) {
		return k, fmt.Errorf("value of producer %d seq %d has corrupt padding", k.producer, k.seq)
	}
	return k, nil
}

type pairKey struct{ producer, seq int }

// placed is where a record was acknowledged (or read).
type placed struct {
	partition int32
	offset    int64
}

// ackBook records what the broker acknowledged: (producer, seq) ->
// partition and offset, and the produce errors. Safe for concurrent use.
type ackBook struct {
	mu       sync.Mutex
	acked    map[pairKey]placed
	nAcked   atomic.Int64
	nErrs    int
	firstErr []string
	inFlight sync.WaitGroup
}

func newAckBook() *ackBook { return &ackBook{acked: map[pairKey]placed{}} }

// produce sends (producer, seq) to partition asynchronously and books the
// outcome.
func (a *ackBook) produce(ctx context.Context, cl *kgo.Client, topic string, partition int32, producer, seq int) {
	a.inFlight.Add(1)
	r := &kgo.Record{Topic: topic, Partition: partition, Value: pairValue(producer, seq)}
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
		a.acked[pairKey{producer, seq}] = placed{r.Partition, r.Offset}
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
func (a *ackBook) snapshot() map[pairKey]placed {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[pairKey]placed, len(a.acked))
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

// readRec is one record as some reader (franz-go, kcat, librdkafka,
// kafkajs) returned it.
type readRec struct {
	partition int32
	offset    int64
	value     []byte
}

// streamProblems checks records read from every partition of a topic
// from its start (recs in read order) against what was acknowledged:
// offsets dense from 0 up to ends[p] (when ends is not nil), every
// acknowledged record present exactly once at its acknowledged partition
// and offset, nothing else but pair values of producers in the book (a
// record not acknowledged may be there, once), and each producer's
// records in seq order within a partition. It returns one line per kind
// of problem.
func streamProblems(recs []readRec, acked map[pairKey]placed, ends map[int32]int64) []string {
	var gaps, dups, foreign, reorders, lost, moved []string
	add := func(l *[]string, format string, args ...any) {
		if len(*l) < 5 {
			*l = append(*l, fmt.Sprintf(format, args...))
		}
	}
	next := map[int32]int64{}    // next offset expected per partition
	seen := map[pairKey]placed{} // where each record was read
	last := map[[2]int]int{}     // (producer, partition) -> last seq
	producers := map[int]bool{}
	for k := range acked {
		producers[k.producer] = true
	}
	nDup := 0
	for _, r := range recs {
		if r.offset != next[r.partition] {
			add(&gaps, "partition %d: offset %d after %d", r.partition, r.offset, next[r.partition]-1)
		}
		next[r.partition] = r.offset + 1
		k, err := parsePair(r.value)
		if err == nil && !producers[k.producer] {
			err = fmt.Errorf("producer %d wrote nothing acknowledged", k.producer)
		}
		if err != nil {
			add(&foreign, "partition %d offset %d: %v", r.partition, r.offset, err)
			continue
		}
		if prev, dup := seen[k]; dup {
			nDup++
			add(&dups, "producer %d seq %d at %d/%d and %d/%d", k.producer, k.seq, prev.partition, prev.offset, r.partition, r.offset)
			continue
		}
		seen[k] = placed{r.partition, r.offset}
		pp := [2]int{k.producer, int(r.partition)}
		if s, ok := last[pp]; ok && k.seq <= s {
			add(&reorders, "partition %d offset %d: producer %d seq %d after seq %d", r.partition, r.offset, k.producer, k.seq, s)
		}
		last[pp] = k.seq
	}
	for p, end := range ends {
		if next[p] != end {
			add(&gaps, "partition %d read up to offset %d, its end is %d", p, next[p], end)
		}
	}
	for k, at := range acked {
		got, ok := seen[k]
		switch {
		case !ok:
			add(&lost, "producer %d seq %d (acknowledged at %d/%d)", k.producer, k.seq, at.partition, at.offset)
		case got != at:
			add(&moved, "producer %d seq %d acknowledged at %d/%d, read at %d/%d", k.producer, k.seq, at.partition, at.offset, got.partition, got.offset)
		}
	}
	return streamReport(nDup, dups, lost, moved, gaps, reorders, foreign)
}

// checkStream fails the test with every problem streamProblems finds.
func checkStream(t testing.TB, reader string, recs []readRec, acked map[pairKey]placed, ends map[int32]int64) {
	t.Helper()
	for _, p := range streamProblems(recs, acked, ends) {
		t.Errorf("%s: %s", reader, p)
	}
}
