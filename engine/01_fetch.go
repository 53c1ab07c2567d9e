package engine

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch: v4-16
//
// Behaviour:
//   - Returns stored batches byte-exact, starting with the batch that
//     contains the fetch offset (clients skip records before it), ending at
//     the high watermark (read_uncommitted) or last stable offset
//     (read_committed; equal without transactions).
//   - Per-partition and response MaxBytes are honoured, except that the
//     first batch of the response is always whole (KIP-74).
//   - OFFSET_OUT_OF_RANGE below the log start offset or above the log end.
//   - Long poll: answered once MinBytes are available or after MaxWaitMillis;
//     any partition error answers at once.
//   - Fetch sessions (KIP-227) are declined: the response carries session id
//     0 and clients keep sending full fetches. A request naming a session id
//     gets FETCH_SESSION_ID_NOT_FOUND.
//   - CurrentLeaderEpoch (v9+) fences: older -> FENCED_LEADER_EPOCH, newer ->
//     UNKNOWN_LEADER_EPOCH.
//
// Version notes: v4 isolation level, LSO; v5 log start offset; v7 sessions;
// v9 current leader epoch; v11 rack / preferred read replica; v12 flexible;
// v13 topic ids (UNKNOWN_TOPIC_ID).

func init() { regKey(1, 4, 16, handleFetch) }

func handleFetch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FetchRequest)
	b.ctr.fetchRequests.Add(1)
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	if req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		return resp, nil
	}
	if req.MaxWaitMillis <= 0 || req.MinBytes <= 0 {
		resp, _, _ := b.fetchOnce(req)
		b.ctr.countServed(&resp.served)
		return resp, nil
	}
	f := newParkedFetch(b, req, c.respond)
	if f.try() {
		return nil, nil // answered
	}
	if testHookBeforePark != nil {
		testHookBeforePark()
	}
	f.park()
	return nil, nil
}

// testHookBeforePark, when a test sets it, runs between a fetch's last look
// and its registration: the window in which an append must not be lost.
// testHookAfterLook runs after a look read the logs, before it decides: a
// change then must make the fetch look again.
var testHookBeforePark, testHookAfterLook func()

// parkedFetch is a long-poll fetch: it is answered once MinBytes are
// available, any partition has an error, or MaxWaitMillis passed.
//
// It has no goroutine of its own. A change of a watched partition runs
// its look on the goroutine that made it: the produce handler after its
// appends (RunWaiters), or a new goroutine for a change made under a
// partition's locks (WakeWaiters); the max wait is a runtime timer
// (time.AfterFunc) whose function answers. One look runs at a time: a
// wake during a look asks for another (again), so no change is missed.
type parkedFetch struct {
	b       *Broker
	req     *kmsg.FetchRequest
	respond func(kmsg.Response)
	replica bool          // a follower's fetch: a moved high watermark answers it
	parts   []watchedPart // the requested partitions this broker holds
	inl     [4]watchedPart
	w       partition.Waiter
	timer   *maxWait // MaxWaitMillis, armed by park

	mu       sync.Mutex
	running  bool // guarded by mu: a goroutine is in run (or park)
	again    bool // guarded by mu: a change came during the look: look again
	expired  bool // guarded by mu: the max wait passed or the broker closes
	answered bool // guarded by mu
}

// watchedPart is one partition a parked fetch watches.
type watchedPart struct {
	p    *partition.Partition
	seen uint64 // its change count before the last look
	hw   int64  // its high watermark after the last look (-1: none yet)
}

// newParkedFetch allocates once for a fetch of up to len(inl) partitions
// (a consumer's usual fetch): the partitions it watches and its Waiter
// live in it (BenchmarkLongPollWake counts the allocations).
func newParkedFetch(b *Broker, req *kmsg.FetchRequest, respond func(kmsg.Response)) *parkedFetch {
	f := &parkedFetch{b: b, req: req, respond: respond, replica: fetcherOf(req).replica >= 0}
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	f.parts = f.inl[:0]
	if n > len(f.inl) {
		f.parts = make([]watchedPart, 0, n)
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if _, p := b.lookupPartition(rt.Topic, fetchTopicID(req, rt), rp.Partition); p != nil {
				f.parts = append(f.parts, watchedPart{p: p, hw: -1})
			}
		}
	}
	f.w.Init(f)
	return f
}

// try reads every partition once and answers if the fetch is satisfied:
// MinBytes of records, an error or divergence, or (for a follower) a high
// watermark that moved since its previous look, so followers learn the
// leader's high watermark within a round trip. The change counts are read
// before the look, so a change after it is seen by park.
func (f *parkedFetch) try() bool {
	hwMoved := false
	for i := range f.parts {
		wp := &f.parts[i]
		wp.seen = wp.p.ChangeCount()
		hwMoved = hwMoved || wp.hw >= 0 && wp.p.HighWatermark() != wp.hw
	}
	resp, n, answerNow := f.b.fetchOnce(f.req)
	for i := range f.parts {
		f.parts[i].hw = f.parts[i].p.HighWatermark()
	}
	if testHookAfterLook != nil {
		testHookAfterLook()
	}
	if answerNow || n >= int(f.req.MinBytes) || f.replica && hwMoved {
		f.answer(resp)
		return true
	}
	resp.ReleaseBody()
	return false
}

// park registers the fetch on its partitions, arms the max wait and
// enrolls it for the broker's close. Registration comes first, then the
// check that nothing changed since the last look (Watch's count): a
// change between the two is never lost. park holds the running role, so
// wakes during it ask for a look that park then runs.
func (f *parkedFetch) park() {
	f.running = true // nobody else knows f yet
	stale := false
	for _, wp := range f.parts {
		if wp.p.Watch(&f.w) != wp.seen {
			stale = true
		}
	}
	f.timer = armMaxWait(f, time.Duration(f.req.MaxWaitMillis)*time.Millisecond)
	closing := !f.b.parkFetch(f)
	f.mu.Lock()
	f.again = f.again || stale
	f.expired = f.expired || closing
	if !f.again && !f.expired {
		f.running = false
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.run()
}

// Wake is the fetch's partition.Waker: a watched partition changed.
func (f *parkedFetch) Wake(inline bool) {
	if !f.claim(false) {
		return
	}
	if inline {
		f.run()
	} else {
		go f.run()
	}
}

// expire answers with what there is: the max wait passed (the timer's
// goroutine) or the broker closes.
func (f *parkedFetch) expire() {
	if f.claim(true) {
		f.run()
	}
}

// claim records a reason to look; it reports whether the caller must run
// the look (no one else is running it, and the fetch is unanswered).
func (f *parkedFetch) claim(expire bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answered {
		return false
	}
	f.expired = f.expired || expire
	if f.running {
		f.again = true
		return false
	}
	f.running = true
	return true
}

// run looks until the fetch is answered or no reason to look is left.
// Called by the one goroutine that holds the running role.
func (f *parkedFetch) run() {
	for {
		f.mu.Lock()
		expired := f.expired
		f.again = false
		f.mu.Unlock()
		done := expired
		if expired {
			resp, _, _ := f.b.fetchOnce(f.req)
			f.answer(resp)
		} else {
			done = f.try()
		}
		f.mu.Lock()
		if done {
			f.answered, f.running = true, false
			f.mu.Unlock()
			f.unpark()
			return
		}
		if !f.again && !f.expired {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
}

// unpark undoes park once the fetch is answered.
func (f *parkedFetch) unpark() {
	f.timer.disarm()
	for _, wp := range f.parts {
		wp.p.Unwatch(&f.w)
	}
	f.b.unparkFetch(f)
}

// maxWait is a parked fetch's MaxWaitMillis timer. Its runtime timer is
// reused by later fetches (maxWaits) once stopped before it fired: a
// consumer at a low rate parks at every fetch, and a new timer per park
// (time.AfterFunc: the timer and its function) was two of the long poll's
// allocations.
type maxWait struct {
	t *time.Timer
	f atomic.Pointer[parkedFetch] // the fetch it expires; nil once disarmed
}

var maxWaits sync.Pool // *maxWait, stopped and disarmed

// armMaxWait calls f.expire after d, unless disarmed first.
func armMaxWait(f *parkedFetch, d time.Duration) *maxWait {
	m, _ := maxWaits.Get().(*maxWait)
	if m == nil {
		m = &maxWait{}
	}
	m.f.Store(f) // before the timer can run
	if m.t == nil {
		m.t = time.AfterFunc(d, m.fire)
	} else {
		m.t.Reset(d)
	}
	return m
}

func (m *maxWait) fire() {
	if f := m.f.Load(); f != nil {
		f.expire()
	}
}

// disarm stops m; a timer stopped before its function ran goes back to
// the pool, one that fired (or is firing) is left to the GC, since its
// function may still be about to read m.f.
func (m *maxWait) disarm() {
	if m.t.Stop() {
		m.f.Store(nil)
		maxWaits.Put(m)
	}
}

// parkFetch enrolls f to be answered when the broker drains or closes;
// false when it is draining (or closing) already.
func (b *Broker) parkFetch(f *parkedFetch) bool {
	b.parkMu.Lock()
	defer b.parkMu.Unlock()
	if b.draining {
		return false
	}
	b.parked[f] = struct{}{}
	return true
}

func (b *Broker) unparkFetch(f *parkedFetch) {
	b.parkMu.Lock()
	delete(b.parked, f)
	b.parkMu.Unlock()
}

// Drain answers every parked long-poll fetch now with what there is, and
// every later fetch at once instead of parking it: the server calls it when
// it starts to stop, before it waits for every request read to be
// answered, so that a stop does not wait out the clients' fetch max wait
// (kgo's is 5 s) — as Kafka's shutdown does not wait for its fetch
// purgatory. Close calls it too. Idempotent.
func (b *Broker) Drain() {
	b.parkMu.Lock()
	b.draining = true
	fs := slices.Collect(maps.Keys(b.parked))
	b.parkMu.Unlock()
	for _, f := range fs {
		f.expire()
	}
}

// answer sends resp, counting what it serves.
func (f *parkedFetch) answer(resp *fetchResponse) {
	f.b.ctr.countServed(&resp.served)
	f.respond(resp)
}

func fetchTopicID(req *kmsg.FetchRequest, rt kmsg.FetchRequestTopic) [16]byte {
	if req.Version >= 13 {
		return rt.TopicID
	}
	return [16]byte{}
}

// fetchOnce reads every requested partition once. It returns the response
// (encoded; records borrowed from the logs until ReleaseBody), the record
// bytes in it, and whether any partition has an error.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest) (*fetchResponse, int, bool) {
	resp := newFetchResponse(req.Version, len(req.Topics))
	remaining := int64(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1<<31 - 1
	}
	from := fetcherOf(req)
	total, answerNow := 0, false
	for i := range req.Topics {
		rt := &req.Topics[i]
		id := fetchTopicID(req, *rt)
		resp.beginTopic(rt.Topic, rt.TopicID, len(rt.Partitions))
		for j := range rt.Partitions {
			v := resp.nextView()
			sp := b.fetchPartition(req, from, rt.Topic, id, &rt.Partitions[j], v, remaining, total == 0)
			n := int(v.Len)
			resp.addPartition(sp, n > 0)
			total += n
			remaining -= int64(n)
			// A preferred read replica is answered at once, as Kafka does:
			// the client moves to it.
			answerNow = answerNow || sp.errCode != 0 || sp.diverging || sp.preferred >= 0
			resp.served.add(sp, n)
		}
		resp.endTopic()
	}
	resp.finish()
	b.debugFetchCost(total, from.replica >= 0)
	resp.served.replica = from.replica
	return resp, total, answerNow
}

// fetcher is who sends a Fetch: a consumer (replica -1), or a follower
// replica with its broker epoch.
type fetcher struct {
	replica     int32
	brokerEpoch int64
}

// fetcherOf reads the replica identity: ReplicaState (v15+, KIP-903) or
// ReplicaID (v4-14).
func fetcherOf(req *kmsg.FetchRequest) fetcher {
	if req.Version >= 15 {
		return fetcher{replica: req.ReplicaState.ID, brokerEpoch: req.ReplicaState.Epoch}
	}
	return fetcher{replica: req.ReplicaID, brokerEpoch: -1}
}

// fetchPartition answers one partition, reading its records into v (left
// empty on error or when nothing fits). first says no records are in the
// response yet, so an oversize first batch may be returned whole (KIP-74).
// Consumers read below the high watermark; a follower reads to the log
// end, and its fetch offset is its log end offset, which the leader
// records (everything below it is on that follower's disk).
func (b *Broker) fetchPartition(req *kmsg.FetchRequest, from fetcher, name string, id [16]byte, rp *kmsg.FetchRequestTopicPartition, v *wal.View, remaining int64, first bool) fetchPart {
	sp := fetchPart{partition: rp.Partition, hw: -1, lastStable: -1, logStart: -1, preferred: -1}
	_, p, kerrv := b.partitionFor(name, id, rp.Partition)
	consumer := from.replica < 0
	switch {
	case kerrv != nil:
		sp.errCode = kerrv.Code
		return sp
	case p.Log().Failed():
		// Offline here after a disk failure (storage.go): neither
		// consumers nor followers read it, so the high watermark cannot
		// move past what this broker can no longer make durable.
		sp.errCode = kerr.KafkaStorageError.Code
		return sp
	case !p.IsLeader() && !(consumer && req.Version >= 11 && p.Role() == partition.RoleFollower):
		// Followers serve consumers that may read from them (Kafka:
		// fetchOnlyLeader unless the Fetch is v11+, KIP-392).
		sp.errCode = kerr.NotLeaderForPartition.Code
		return sp
	case req.Version >= 9:
		if e := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch); e != nil {
			sp.errCode = e.Code
			return sp
		}
	}
	l := p.Log()
	sp.logStart = l.LogStartOffset()
	if consumer && req.Version >= 11 && p.IsLeader() {
		if r := b.preferredReadReplica(p, req.Rack, rp.FetchOffset); r >= 0 {
			hw := p.HighWatermark()
			sp.hw, sp.lastStable, sp.preferred = hw, hw, r
			return sp
		}
	}
	if rp.FetchOffset < sp.logStart || rp.FetchOffset > l.LogEndOffset() {
		sp.hw, sp.lastStable = p.HighWatermark(), p.HighWatermark()
		sp.errCode = kerr.OffsetOutOfRange.Code
		return sp
	}
	limit := p.HighWatermark() // a follower's: the leader's, bounded by its LEO
	if !consumer {
		if !b.followerFetch(p, from, rp, &sp) {
			return sp
		}
		limit = l.LogEndOffset()
	}
	hw := p.HighWatermark()
	sp.hw, sp.lastStable = hw, hw
	sp.fromFollower = consumer && !p.IsLeader()
	b.readRecords(p, rp.FetchOffset, min(int64(rp.PartitionMaxBytes), remaining), limit, first, v, &sp)
	return sp
}

// followerFetch checks a follower's fetch against the leader's epochs
// and records its offset. A follower whose last fetched epoch disagrees
// with this leader's history gets DivergingEpoch and no records (KIP-595
// style truncation, the fetch form of OffsetForLeaderEpoch); a fetcher
// that is not a replica gets NOT_LEADER_OR_FOLLOWER. It reports whether to
// read records.
func (b *Broker) followerFetch(p *partition.Partition, from fetcher, rp *kmsg.FetchRequestTopicPartition, sp *fetchPart) bool {
	sp.hw, sp.lastStable = p.HighWatermark(), p.HighWatermark()
	if rp.LastFetchedEpoch >= 0 {
		epoch, end := p.Log().EndOffsetForEpoch(rp.LastFetchedEpoch)
		switch {
		case epoch < 0 || end < 0:
			sp.errCode = kerr.OffsetOutOfRange.Code
			return false
		case epoch < rp.LastFetchedEpoch || end < rp.FetchOffset:
			sp.diverging, sp.divergingEpoch, sp.divergingEnd = true, epoch, end
			return false
		}
	}
	if !p.UpdateFollower(from.replica, from.brokerEpoch, rp.FetchOffset, rp.LogStartOffset) {
		sp.errCode = kerr.NotLeaderForPartition.Code
		return false
	}
	return true
}

// readRecords reads whole batches from offset below limit into v, at most
// maxBytes unless first (KIP-74), setting sp's error on failure.
func (b *Broker) readRecords(p *partition.Partition, offset, maxBytes, limit int64, first bool, v *wal.View, sp *fetchPart) {
	if maxBytes <= 0 && !first {
		return
	}
	err := p.Log().ReadView(offset, int32(max(maxBytes, 0)), limit, v)
	switch {
	case errors.Is(err, wal.ErrOffsetOutOfRange):
		v.Release()
		sp.errCode = kerr.OffsetOutOfRange.Code
	case errors.Is(err, wal.ErrClosed), errors.Is(err, wal.ErrTruncated):
		// Shutdown, topic deletion or a truncation closed the log under
		// this read; the client should look up the partition again.
		v.Release()
		sp.errCode = kerr.NotLeaderForPartition.Code
	case err != nil:
		v.Release()
		b.log.Error("fetch read failed", "partition", p.String(), "offset", offset, "err", err)
		sp.errCode = kerr.KafkaStorageError.Code
	case v.Len > maxBytes && !first:
		v.Release() // an oversize batch goes out only as the response's first
	}
}
