package itest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
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
// offset, with dense offsets and in produce order. It runs
// CHRONIK_CRASH_ROUNDS rounds (default 3; `make crash-soak` runs many),
// each on a new topic of the same broker, killing at a different point of
// the stream; the previous round's topic is checked again after each
// restart, and every topic at the end.
func TestNoLossNoDuplicateAcrossCrashMidStream(t *testing.T) {
	rounds := 3
	if v := os.Getenv("CHRONIK_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHRONIK_CRASH_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	ctx := testContext(t, time.Duration(rounds)*time.Minute+2*time.Minute)
	// Recovery points and producer snapshots every 50 ms, however little
	// a partition grew (min.bytes 0): the kills land between checkpoints,
	// so each restart recovers from a point and a snapshot and replays
	// only the tail (issue 15).
	b := StartBroker(t, Options{Config: map[string]string{"log.flush.offset.checkpoint.interval.ms": "50",
		"log.flush.offset.checkpoint.min.bytes": "0"}})
	const n = 100_000 // issue 2: 100,000 records of 100 B with a kill -9 mid-stream
	acked := make([][]int64, rounds)
	hits := 0 // rounds whose kill caught records in flight
	for round := range rounds {
		topic := fmt.Sprintf("crash-mid-stream-%d", round)
		killAfterAcks := int64(n * (1 + (round*37)%12) / 20) // 5%..60% of the stream
		var hit bool
		acked[round], hit = crashMidStream(t, ctx, b, topic, n, killAfterAcks)
		if hit {
			hits++
		}
		for r := max(round-1, 0); r <= round; r++ { // this round's and the last one's topic
			recs := consumeAll(t, ctx, b.Addr(), fmt.Sprintf("crash-mid-stream-%d", r))
			checkCrashStream(t, recs, acked[r])
		}
		if t.Failed() {
			t.Fatalf("round %d of %d failed", round+1, rounds)
		}
	}
	for r := range rounds { // every topic after the last restart
		checkCrashStream(t, consumeAll(t, ctx, b.Addr(), fmt.Sprintf("crash-mid-stream-%d", r)), acked[r])
	}
	// Acks arrive thousands at a time, so a kill may land after the last
	// one; most rounds must still catch records in flight.
	if hits*2 < rounds || hits == 0 {
		t.Fatalf("only %d of %d kills caught records in flight", hits, rounds)
	}
}

// crashMidStream streams n records to topic, kills the broker once
// killAfterAcks are acknowledged, restarts it, waits for the stream to end
// and returns the acknowledged offset of each seq (-1 if not acked) and
// whether records were in flight at the kill.
func crashMidStream(t *testing.T, ctx context.Context, b *Broker, topic string, n int, killAfterAcks int64) ([]int64, bool) {
	t.Helper()
	cl := newClient(t, b.Addr(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProduceRequestTimeout(30*time.Second),
	)
	defer cl.Close()
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

wait:
	for s.nAcked.Load() < killAfterAcks {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d acks before the deadline, kill not reached", s.nAcked.Load(), n)
		case <-s.allDone:
			break wait // acked in one go: the kill catches nothing in flight
		case <-time.After(time.Millisecond):
		}
	}
	b.Kill()
	ackedAtKill := s.nAcked.Load()
	t.Logf("%s: killed the broker after %d of %d acks", topic, ackedAtKill, n)
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
	return s.acked, ackedAtKill < int64(n)
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
	return streamcheck.Report(nDup, dups, lost, moved, gaps, reorders, foreign), nDup
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
