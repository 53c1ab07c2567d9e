package replicate

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batch returns a record batch header (and bodyLen bytes of body) for
// base..base+count-1; only the fields the fetcher reads are set.
func batch(base int64, count int32, bodyLen int) []byte {
	b := make([]byte, wal.BatchHeaderSize+bodyLen)
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12)) // batchLength: after the offset and length
	b[16] = 2                                            // magic
	binary.BigEndian.PutUint32(b[23:], uint32(count-1))  // lastOffsetDelta
	binary.BigEndian.PutUint32(b[57:], uint32(count))    // record count
	return b
}

func TestWholeBatchesCutsAPartialTail(t *testing.T) {
	a, b := batch(0, 3, 40), batch(3, 2, 100)
	full := append(append([]byte{}, a...), b...)
	for _, tc := range []struct {
		name string
		in   []byte
		want int
	}{
		{"two whole", full, len(full)},
		{"second cut inside its body", full[:len(a)+wal.BatchHeaderSize+10], len(a)},
		{"second cut inside its header", full[:len(a)+20], len(a)},
		{"first cut", full[:len(a)-1], 0},
		{"empty", nil, 0},
	} {
		if got := len(wholeBatches(tc.in)); got != tc.want {
			t.Errorf("%s: %d bytes kept, want %d", tc.name, got, tc.want)
		}
	}
}

// observedFetcher is a fetcher (no goroutine) holding one observed
// partition at offset from.
func observedFetcher(from int64) (*fetcher, tpKey, Target) {
	m := NewManager(Options{Self: 2, WholeNode: true})
	tg := Target{Topic: "t", TopicID: [16]byte{7}, Partition: 1, Leader: 1, LeaderEpoch: 3}
	f := &fetcher{m: m, leader: 1, parts: map[tpKey]*partState{tg.key(): {t: tg, observed: from}}, changed: make(chan struct{}, 1)}
	return f, tg.key(), tg
}

func observedResponse(code int16, logStart int64, records []byte) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.TopicID = [16]byte{7}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.ErrorCode, rp.LogStartOffset, rp.RecordBatches = 1, code, logStart, records
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// Whole-node mode: an observed partition moves past the whole batches it
// was sent (not past a partial tail), restarts at the leader's log start
// after OFFSET_OUT_OF_RANGE, stays put on other errors, and its bytes are
// counted as observed.
func TestObserveAdvancesPastWholeBatches(t *testing.T) {
	f, k, tg := observedFetcher(10)
	recs := append(batch(10, 5, 30), batch(15, 5, 30)...)
	partial := batch(20, 5, 30)
	sent := map[tpKey]Target{k: tg}
	if !f.observe(observedResponse(0, 0, append(recs, partial[:50]...)), sent) {
		t.Fatal("an answer without an error was not reported")
	}
	if got := f.parts[k].observed; got != 20 {
		t.Fatalf("after batches 10..19 and a partial tail: next offset %d, want 20", got)
	}
	if got := f.m.Stats().ObservedBytes; got != int64(len(recs)) {
		t.Fatalf("observed bytes %d, want %d", got, len(recs))
	}
	if f.observe(observedResponse(kerr.NotLeaderForPartition.Code, 0, nil), sent) {
		t.Fatal("an error-only answer was reported as progress")
	}
	if got := f.parts[k].observed; got != 20 {
		t.Fatalf("after NOT_LEADER_OR_FOLLOWER: next offset %d, want 20", got)
	}
	f.observe(observedResponse(kerr.OffsetOutOfRange.Code, 500, nil), sent)
	if got := f.parts[k].observed; got != 500 {
		t.Fatalf("after OFFSET_OUT_OF_RANGE with log start 500: next offset %d, want 500", got)
	}
	f.observe(observedResponse(0, 0, nil), sent)
	if got := f.parts[k].observed; got != 500 {
		t.Fatalf("after an empty answer: next offset %d, want 500", got)
	}
}

// Observed partitions go into their own consumer request (replica -1),
// never into the follower's, and only in whole-node mode.
func TestObservedPartitionsAreFetchedAsAConsumer(t *testing.T) {
	f, _, _ := observedFetcher(42)
	if req, _, _ := f.request(); req != nil {
		t.Fatalf("the follower request carries an observed partition: %+v", req.Topics)
	}
	req, sent := f.observeRequest(true)
	if req == nil || len(sent) != 1 || req.ReplicaID != -1 || req.ReplicaState.ID != -1 {
		t.Fatalf("observe request: %+v", req)
	}
	if p := req.Topics[0].Partitions[0]; p.FetchOffset != 42 || p.CurrentLeaderEpoch != 3 {
		t.Fatalf("observed partition sent at offset %d epoch %d, want 42 and 3", p.FetchOffset, p.CurrentLeaderEpoch)
	}
	if req.MaxWaitMillis <= 0 {
		t.Fatal("alone, the observe request does not long-poll")
	}
	if req, _ := f.observeRequest(false); req.MaxWaitMillis != 0 {
		t.Fatalf("after a follower fetch the observe request waits %d ms", req.MaxWaitMillis)
	}
	f.m.opts.WholeNode = false
	if req, _ := f.observeRequest(true); req != nil {
		t.Fatal("observe request built with whole-node mode off")
	}
	if f.count() != 0 {
		t.Fatalf("an observed partition counted as followed: %d", f.count())
	}
}

// A partition backing off shortens the long poll of the fetches sent
// meanwhile to its delay, and leadership errors back off from a few
// milliseconds, doubling, reset by an answer without an error.
func TestBackoffBoundsTheLongPollAndLeadershipErrorsRetrySoon(t *testing.T) {
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	a, b := memTarget(t, fsys, 0), memTarget(t, fsys, 1)
	m := NewManager(Options{Self: 2, MaxWait: 500 * time.Millisecond, Backoff: time.Second})
	f := &fetcher{m: m, leader: 1, parts: map[tpKey]*partState{a.key(): {t: a}, b.key(): {t: b}}, changed: make(chan struct{}, 1)}
	if req, _, _ := f.request(); req.MaxWaitMillis != 500 {
		t.Fatalf("max wait %d with nothing backing off, want 500", req.MaxWaitMillis)
	}
	var delays []time.Duration
	for range 3 {
		before := time.Now()
		f.backoff(b.key(), b, kerr.NotLeaderForPartition)
		delays = append(delays, f.parts[b.key()].delayUntil.Sub(before))
	}
	if delays[0] > 10*time.Millisecond || delays[1] < delays[0] || delays[2] < 2*delays[0] {
		t.Fatalf("leadership backoffs %v, want 5 ms doubling", delays)
	}
	req, sent, _ := f.request()
	if _, ok := sent[b.key()]; ok || req.MaxWaitMillis > 20 {
		t.Fatalf("with partition 1 backing off ~20 ms: sent %v, max wait %d ms", sent, req.MaxWaitMillis)
	}
	f.parts[b.key()].fetched(f)
	f.backoff(b.key(), b, kerr.UnknownLeaderEpoch)
	if d := time.Until(f.parts[b.key()].delayUntil); d > 10*time.Millisecond {
		t.Fatalf("after an answer without an error the next leadership backoff is %v, want ~5 ms", d)
	}
	f.backoff(a.key(), a, kerr.KafkaStorageError)
	if d := time.Until(f.parts[a.key()].delayUntil); d < 900*time.Millisecond {
		t.Fatalf("another error backs off %v, want replica.fetch.backoff.ms (1 s)", d)
	}
}
