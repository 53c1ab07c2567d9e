package partition

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeClock is a settable clock for lag decisions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// leaderHarness is a partition led by broker 1 with followers 2 and 3, a
// fake clock and a recorder of proposed ISR changes.
type leaderHarness struct {
	t        *testing.T
	p        *Partition
	clock    *fakeClock
	mu       sync.Mutex
	proposed []ISRChange
}

func newLeaderHarness(t *testing.T, isr []int32) *leaderHarness {
	t.Helper()
	l, err := wal.Open(memfs.New(), "/p", wal.Options{PreallocateBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	h := &leaderHarness{t: t, clock: &fakeClock{now: time.Unix(1000, 0)}}
	h.p = New("t", 0, l, nil)
	h.p.SetSettings(Settings{Self: 1, LagTimeMax: 10 * time.Second, Now: h.clock.Now,
		ProposeISR: func(_ *Partition, c ISRChange, done func(error)) {
			h.mu.Lock()
			h.proposed = append(h.proposed, c)
			h.mu.Unlock()
			done(nil)
		}})
	h.lead(0, 0, isr)
	return h
}

// lead applies a leadership by broker 1 with replicas 1, 2, 3.
func (h *leaderHarness) lead(epoch, partitionEpoch int32, isr []int32) {
	h.t.Helper()
	if err := h.p.SetLeadership(Leadership{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: partitionEpoch,
		Replicas: []int32{1, 2, 3}, ISR: isr}); err != nil {
		h.t.Fatal(err)
	}
}

// produce appends n one-record batches and returns the LEO.
func (h *leaderHarness) produce(n int) int64 {
	h.t.Helper()
	for range n {
		b := testBatch()
		hdr, _ := wal.ParseBatchHeader(b)
		if _, _, err := h.p.AppendProduced(hdr, b, 0); err != nil {
			h.t.Fatal(err)
		}
	}
	return h.p.Log().LogEndOffset()
}

func (h *leaderHarness) lastProposal() (ISRChange, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.proposed) == 0 {
		return ISRChange{}, false
	}
	return h.proposed[len(h.proposed)-1], true
}

// testBatch is one valid uncompressed v2 batch of one empty record.
func testBatch() []byte {
	rec := recordBytes()
	b := make([]byte, wal.BatchHeaderSize, wal.BatchHeaderSize+len(rec))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(wal.BatchHeaderSize-12+len(rec)))
	b[16] = 2
	be.PutUint64(b[27:], 1) // base timestamp
	be.PutUint64(b[35:], 1) // max timestamp
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], ^uint16(0))
	be.PutUint32(b[53:], ^uint32(0))
	be.PutUint32(b[57:], 1)
	b = append(b, rec...)
	be.PutUint32(b[17:], wal.CRC32C(b[21:]))
	return b
}

// recordBytes is one record: attributes 0, deltas 0, null key, null
// value, no headers (zig-zag varints).
func recordBytes() []byte {
	body := []byte{0, 0, 0, 1, 1, 0} // attrs, tsDelta, offDelta, key -1, value -1, headers 0
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func TestHighWatermarkIsTheSmallestLEOOverTheISR(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(5)
	if hw := h.p.HighWatermark(); hw != 0 {
		t.Fatalf("HW before any follower fetched: %d, want 0", hw)
	}
	h.p.UpdateFollower(2, 1, leo)
	if hw := h.p.HighWatermark(); hw != 0 {
		t.Fatalf("HW with follower 3 unknown: %d, want 0", hw)
	}
	h.p.UpdateFollower(3, 1, 3)
	if hw := h.p.HighWatermark(); hw != 3 {
		t.Fatalf("HW = %d, want min(5, 5, 3) = 3", hw)
	}
	h.p.UpdateFollower(3, 1, 2) // a follower that truncated: the HW never goes back
	if hw := h.p.HighWatermark(); hw != 3 {
		t.Fatalf("HW went back to %d", hw)
	}
}

func TestAwaitCommitWaitsForEveryISRMember(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(2)
	got := make(chan *kerr.Error, 1)
	h.p.AwaitCommit(leo, 2, true, func(e *kerr.Error) { got <- e })
	h.p.UpdateFollower(2, 1, leo)
	select {
	case e := <-got:
		t.Fatalf("answered (%v) before follower 3 had the records", e)
	case <-time.After(50 * time.Millisecond):
	}
	h.p.UpdateFollower(3, 1, leo)
	select {
	case e := <-got:
		if e != nil {
			t.Fatalf("commit: %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not answered once every ISR member had the records")
	}
}

func TestISRShrinkBelowMinISRFailsWaitingAppends(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(1)
	got := make(chan *kerr.Error, 1)
	h.p.AwaitCommit(leo, 2, true, func(e *kerr.Error) { got <- e })
	time.Sleep(20 * time.Millisecond) // the sync is done; it waits for the HW
	h.lead(0, 1, []int32{1})          // both followers dropped: sole, HW = LEO
	select {
	case e := <-got:
		if e != kerr.NotEnoughReplicasAfterAppend {
			t.Fatalf("ISR shrunk to 1 under min.insync 2: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting append not answered after the ISR shrank")
	}
	b := testBatch()
	hdr, _ := wal.ParseBatchHeader(b)
	if _, _, err := h.p.AppendProduced(hdr, b, 2); err != kerr.NotEnoughReplicas {
		t.Fatalf("append with ISR 1 < min.insync 2: %v, want NOT_ENOUGH_REPLICAS", err)
	}
}

func TestLosingLeadershipFailsWaitersAndRefusesProduce(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2})
	leo := h.produce(1)
	got := make(chan *kerr.Error, 1)
	h.p.AwaitCommit(leo, 1, true, func(e *kerr.Error) { got <- e })
	time.Sleep(20 * time.Millisecond)
	if err := h.p.SetLeadership(Leadership{Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if e := <-got; e != kerr.NotLeaderForPartition {
		t.Fatalf("waiter after the leader moved: %v, want NOT_LEADER_OR_FOLLOWER", e)
	}
	b := testBatch()
	hdr, _ := wal.ParseBatchHeader(b)
	if _, _, err := h.p.AppendProduced(hdr, b, 0); err != kerr.NotLeaderForPartition {
		t.Fatalf("produce on a follower: %v", err)
	}
	if h.p.UpdateFollower(3, 1, 0) {
		t.Fatal("a follower accepted a follower's fetch")
	}
}

func TestACaughtUpFollowerJoinsTheISR(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2})
	leo := h.produce(3)
	h.p.UpdateFollower(2, 1, leo)
	h.p.UpdateFollower(3, 1, 1) // behind: no change yet
	if _, ok := h.lastProposal(); ok {
		t.Fatal("proposed an expansion for a follower behind the HW")
	}
	h.p.UpdateFollower(3, 1, leo)
	c, ok := h.lastProposal()
	if !ok || !slices.Equal(c.ISR, []int32{1, 2, 3}) || c.PartitionEpoch != 0 {
		t.Fatalf("expansion: %+v %v, want ISR [1 2 3] on partition epoch 0", c, ok)
	}
	// Committed: the metadata brings the new ISR.
	h.lead(0, 1, []int32{1, 2, 3})
	if n := h.p.ISRSize(); n != 3 {
		t.Fatalf("ISR size %d", n)
	}
}

func TestALaggingFollowerLeavesTheISR(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(2)
	h.p.UpdateFollower(2, 1, leo)
	h.p.UpdateFollower(3, 1, leo)
	h.clock.Advance(5 * time.Second)
	leo = h.produce(2)
	h.p.UpdateFollower(2, 1, leo) // 2 keeps up, 3 stops fetching
	h.clock.Advance(6 * time.Second)
	h.p.UpdateFollower(2, 1, leo)
	if !h.p.CheckISR() {
		t.Fatal("no shrink proposed for a follower 11 s behind (lag max 10 s)")
	}
	c, _ := h.lastProposal()
	if !slices.Equal(c.ISR, []int32{1, 2}) {
		t.Fatalf("shrink: ISR %v, want [1 2]", c.ISR)
	}
}

func TestBecomingLeaderRecordsTheEpochStart(t *testing.T) {
	h := newLeaderHarness(t, []int32{1})
	leo := h.produce(4)
	h.lead(3, 1, []int32{1})
	if e, end := h.p.Log().EndOffsetForEpoch(0); e != 0 || end != leo {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d) after epoch 3 began at %d", e, end, leo)
	}
	if s := h.p.LeaderEpochStart(); s != leo {
		t.Fatalf("epoch start %d, want %d", s, leo)
	}
	b := testBatch()
	hdr, _ := wal.ParseBatchHeader(b)
	base, _, err := h.p.AppendProduced(hdr, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got int32 = -1
	h.p.Log().ScanBatches(base, func(hh wal.BatchHeader) bool { got = hh.PartitionLeaderEpoch; return false })
	if got != 3 {
		t.Fatalf("first batch of the new epoch stamped %d, want 3", got)
	}
}

// A follower the controller took out of the ISR (fenced: its broker died)
// must not hold the high watermark back as a caught-up would-be member:
// the appends waiting on it are answered once the ISR no longer holds it.
func TestAFollowerLeavingTheISRStopsHoldingTheHighWatermark(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(2)
	h.p.UpdateFollower(2, 1, leo)
	h.p.UpdateFollower(3, 1, leo) // 3 caught up now, then its broker dies
	leo = h.produce(2)
	h.p.UpdateFollower(2, 1, leo)
	got := make(chan *kerr.Error, 1)
	h.p.AwaitCommit(leo, 2, true, func(e *kerr.Error) { got <- e })
	time.Sleep(20 * time.Millisecond)
	h.lead(0, 1, []int32{1, 2}) // fenced: out of the ISR
	select {
	case e := <-got:
		if e != nil {
			t.Fatalf("commit: %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("append still waiting on follower 3 after it left the ISR (HW %d, LEO %d)", h.p.HighWatermark(), leo)
	}
}

// TestAFencedFollowerDoesNotHoldTheHighWatermark: a follower whose broker
// the controller fenced (and so removed from the ISR) no longer counts
// towards the high watermark, and a fenced broker that keeps fetching (cut
// off from the controller only, or a zombie) neither holds it back once it
// has caught up again nor asks to rejoin (Kafka: isReplicaIsrEligible).
// Without the eligibility check it held acks=-1 produces for up to
// replica.lag.time.max.ms and proposed an expansion the controller refuses
// on every fetch.
func TestAFencedFollowerDoesNotHoldTheHighWatermark(t *testing.T) {
	h := newLeaderHarness(t, []int32{1, 2, 3})
	leo := h.produce(2)
	h.p.UpdateFollower(2, 1, leo)
	h.p.UpdateFollower(3, 1, leo) // 3 caught up, then its broker stops
	leo = h.produce(2)
	got := make(chan *kerr.Error, 1)
	h.p.AwaitCommit(leo, 2, true, func(e *kerr.Error) { got <- e })
	h.p.UpdateFollower(2, 1, leo)
	h.clock.Advance(2 * time.Second) // the session timeout, well within the 10 s lag max
	if err := h.p.SetLeadership(Leadership{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1,
		Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Ineligible: []int32{3}}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e != nil {
			t.Fatalf("commit: %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("acks=-1 still waiting with HW %d after the fenced follower left the ISR, LEO %d", h.p.HighWatermark(), leo)
	}
	// Fetching again while fenced (a zombie) neither holds the HW nor asks
	// to rejoin: the controller would refuse it.
	leo = h.produce(1)
	h.p.UpdateFollower(3, 1, leo-1)
	h.p.UpdateFollower(2, 1, leo)
	if hw := h.p.HighWatermark(); hw != leo {
		t.Fatalf("HW %d with the fenced follower behind, want the ISR's %d", hw, leo)
	}
	h.p.UpdateFollower(3, 1, leo)
	if c, ok := h.lastProposal(); ok {
		t.Fatalf("proposed %+v for a fenced follower", c)
	}
	// Unfenced, it rejoins.
	h.lead(0, 1, []int32{1, 2})
	h.p.UpdateFollower(3, 1, leo)
	if c, ok := h.lastProposal(); !ok || !slices.Equal(c.ISR, []int32{1, 2, 3}) {
		t.Fatalf("no expansion for the unfenced, caught-up follower: %+v %v", c, ok)
	}
}
