package itest

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAckedRecordsSurviveKill9: every record acknowledged with acks=all is
// still there, at the same offset with the same bytes, after the broker is
// killed with SIGKILL and started again on the same data directory.
func TestAckedRecordsSurviveKill9(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	b := StartBroker(t, Options{})
	const topic, n = "kill9-acked", 100_000

	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	offsets := produceSeqs(t, ctx, cl, topic, 0, n)
	for i, o := range offsets {
		if o != int64(i) {
			t.Fatalf("seq %d acknowledged at offset %d, want %d", i, o, i)
		}
	}
	cl.Close()

	before := consumeAll(t, ctx, b.Addr(), topic)
	checkDenseSeqs(t, before, n)
	if t.Failed() {
		t.FailNow()
	}

	b.Kill()
	b.Restart()

	after := consumeAll(t, ctx, b.Addr(), topic)
	if len(after) != len(before) {
		t.Fatalf("after kill -9 and restart: %d records, before: %d", len(after), len(before))
	}
	for i := range before {
		x, y := before[i], after[i]
		if x.Offset != y.Offset || !bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) ||
			!x.Timestamp.Equal(y.Timestamp) {
			t.Fatalf("record %d changed across kill -9: before offset %d key %q ts %v, after offset %d key %q ts %v",
				i, x.Offset, x.Key, x.Timestamp, y.Offset, y.Key, y.Timestamp)
		}
	}
}

// crashStream is the producer side of TestNoLossNoDuplicateAcrossCrashMidStream.
type crashStream struct {
	acked    []int64 // acknowledged offset per seq, -1 until acked
	nAcked   atomic.Int64
	nDone    atomic.Int64
	allDone  chan struct{}
	mu       sync.Mutex
	nErrs    int
	firstErr []string
}

func (s *crashStream) finish(seq int, r *kgo.Record, err error, n int) {
	if err != nil {
		s.mu.Lock()
		s.nErrs++
		if len(s.firstErr) < 5 {
			s.firstErr = append(s.firstErr, fmt.Sprintf("seq %d: %v", seq, err))
		}
		s.mu.Unlock()
	} else {
		s.acked[seq] = r.Offset
		s.nAcked.Add(1)
	}
	if s.nDone.Add(1) == int64(n) {
		close(s.allDone)
	}
}

// TestNoLossNoDuplicateAcrossCrashMidStream: an idempotent acks=all
// producer streams records while the broker is killed with SIGKILL and
// restarted; the client retries through the outage. Afterwards every
// acknowledged record is in the log exactly once, at its acknowledged
// offset, with dense offsets and in produce order.
func TestNoLossNoDuplicateAcrossCrashMidStream(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	b := StartBroker(t, Options{})
	const topic, n = "crash-mid-stream", 100_000
	const killAfterAcks = n * 3 / 10

	cl := newClient(t, b.Addr(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProduceRequestTimeout(30*time.Second),
	)
	s := &crashStream{acked: make([]int64, n), allDone: make(chan struct{})}
	for i := range s.acked {
		s.acked[i] = -1
	}
	go func() {
		for i := 0; i < n; i++ {
			seq := i
			r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte(fmt.Sprint(seq)), Value: seqValue(seq)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) { s.finish(seq, r, err, n) })
		}
	}()

	for s.nAcked.Load() < killAfterAcks {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d acks before the deadline, kill not reached", s.nAcked.Load(), n)
		case <-s.allDone:
			t.Fatalf("stream ended before the kill with %d acks", s.nAcked.Load())
		case <-time.After(time.Millisecond):
		}
	}
	b.Kill()
	ackedAtKill := s.nAcked.Load()
	if ackedAtKill == n {
		t.Fatalf("all %d records were acked before the kill; the crash hit nothing in flight", n)
	}
	t.Logf("killed the broker after %d acks", ackedAtKill)
	b.Restart()

	select {
	case <-s.allDone:
	case <-ctx.Done():
		t.Fatalf("after restart: %d of %d records finished (%d acked) before the deadline",
			s.nDone.Load(), n, s.nAcked.Load())
	}
	s.mu.Lock()
	if s.nErrs > 0 {
		t.Errorf("%d records failed to produce (want 0, the client retries), first: %v", s.nErrs, s.firstErr)
	}
	s.mu.Unlock()

	recs := consumeAll(t, ctx, b.Addr(), topic)
	checkCrashStream(t, recs, s.acked)
}

// checkCrashStream fails the test with every problem crashStreamProblems
// finds in recs.
func checkCrashStream(t *testing.T, recs []*kgo.Record, acked []int64) {
	t.Helper()
	problems, nDup := crashStreamProblems(recs, acked)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("read %d records, %d duplicates", len(recs), nDup)
}

// crashStreamProblems checks that recs (partition 0 read from offset 0)
// hold every acknowledged seq (acked[seq] >= 0) exactly once at its
// acknowledged offset, with dense offsets, in seq order, and no duplicate
// of any seq. It returns one line per kind of problem, and the number of
// duplicate records.
func crashStreamProblems(recs []*kgo.Record, acked []int64) (problems []string, nDup int) {
	count := make([]int, len(acked))
	var dups, gaps, reorders, foreign []string
	prevSeq := -1
	for i, r := range recs {
		if r.Offset != int64(i) && len(gaps) < 5 {
			gaps = append(gaps, fmt.Sprintf("record %d has offset %d", i, r.Offset))
		}
		seq, err := parseSeq(r.Value)
		if err == nil && seq >= len(acked) {
			err = fmt.Errorf("seq %d was never produced", seq)
		}
		if err != nil {
			if len(foreign) < 5 {
				foreign = append(foreign, fmt.Sprintf("offset %d: %v", r.Offset, err))
			}
			continue
		}
		count[seq]++
		if count[seq] > 1 {
			nDup++
			if len(dups) < 5 {
				dups = append(dups, fmt.Sprintf("seq %d again at offset %d", seq, r.Offset))
			}
		}
		if seq <= prevSeq && len(reorders) < 5 {
			reorders = append(reorders, fmt.Sprintf("seq %d at offset %d after seq %d", seq, r.Offset, prevSeq))
		}
		prevSeq = seq
	}
	var lost, moved []string
	for seq, c := range count {
		switch {
		case acked[seq] < 0:
		case c == 0:
			if len(lost) < 5 {
				lost = append(lost, fmt.Sprintf("seq %d (acked at offset %d)", seq, acked[seq]))
			}
		case len(moved) >= 5:
		case acked[seq] >= int64(len(recs)):
			moved = append(moved, fmt.Sprintf("seq %d acked at offset %d, beyond the %d records read", seq, acked[seq], len(recs)))
		default:
			if got, _ := parseSeq(recs[acked[seq]].Value); got != seq {
				moved = append(moved, fmt.Sprintf("seq %d acked at offset %d, which holds seq %d", seq, acked[seq], got))
			}
		}
	}
	report := func(what string, examples []string) {
		if len(examples) > 0 {
			problems = append(problems, fmt.Sprintf("%s, e.g. %v", what, examples))
		}
	}
	report(fmt.Sprintf("%d duplicate records", nDup), dups)
	report("acknowledged records lost", lost)
	report("records not at their acknowledged offsets", moved)
	report("offsets not dense", gaps)
	report("records out of produce order", reorders)
	report("records that are not of this stream", foreign)
	return problems, nDup
}

// TestGracefulShutdownAndRestart: SIGTERM makes the broker exit 0; after a
// restart every acknowledged record is there and producing continues at the
// next offset.
func TestGracefulShutdownAndRestart(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{})
	const topic, n = "graceful-restart", 1000

	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSeqs(t, ctx, cl, topic, 0, n)
	cl.Close()

	b.Stop()
	b.Restart()

	checkDenseSeqs(t, consumeAll(t, ctx, b.Addr(), topic), n)

	cl = newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if offs := produceSeqs(t, ctx, cl, topic, n, 1); offs[0] != n {
		t.Errorf("first produce after restart got offset %d, want %d", offs[0], n)
	}
	checkDenseSeqs(t, consumeAll(t, ctx, b.Addr(), topic), n+1)
}
