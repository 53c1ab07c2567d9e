package replicate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/internal/kwire"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchVersion is the Fetch version followers send: topic ids (v13),
// ReplicaState with the broker epoch (v15, KIP-903), LastFetchedEpoch and
// DivergingEpoch (v12).
const fetchVersion = 15

// fetcher replicates the partitions one leader leads to this broker.
type fetcher struct {
	m      *Manager
	leader int32

	mu      sync.Mutex
	parts   map[tpKey]*partState
	changed chan struct{} // cap 1: the partition set changed
	// interrupt cancels the follower fetch in flight (nil when none);
	// add calls it when a partition joins, so that the partition does not
	// wait out the long poll (up to replica.fetch.wait.max.ms) of a fetch
	// that does not carry it: the first acks=-1 produce on a new leader
	// waits for exactly this follower. interrupted says it did.
	interrupt   context.CancelFunc
	interrupted bool

	// cycle is held while a response is applied (and its syncs awaited),
	// so that Set, taking it after a removal, knows the removed partition
	// is not being written.
	cycle sync.Mutex

	bytesRead atomic.Int64
	quit      chan struct{}
	done      chan struct{}
	cancel    context.CancelFunc
	ctx       context.Context
}

// partState is one followed partition. Guarded by fetcher.mu.
type partState struct {
	t          Target
	delayUntil time.Time // backing off after an error
	leadErrs   int       // leadership errors in a row (backoff doubles from leadershipBackoff)
	// leadErrsSet mirrors leadErrs != 0, read without the lock: an answer
	// without an error resets leadErrs only when there is something to
	// reset (no lock per partition per fetch in the common case).
	leadErrsSet atomic.Bool
	hdrs        []wal.BatchHeader
	observed    int64 // an observed partition's next offset (whole-node mode)
}

func newFetcher(m *Manager, leader int32) *fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{m: m, leader: leader, parts: map[tpKey]*partState{}, changed: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go f.run()
	return f
}

// add sets the fetcher's targets in ts (new ones, or a new epoch for an
// existing one, which resets its backoff).
func (f *fetcher) add(ts map[tpKey]Target) {
	f.mu.Lock()
	joined := false
	for k, t := range ts {
		st := f.parts[k]
		if st == nil || st.t.LeaderEpoch != t.LeaderEpoch || st.t.Replica != t.Replica {
			f.parts[k] = &partState{t: t}
			joined = joined || t.Replica != nil
		}
	}
	if joined && f.interrupt != nil {
		f.interrupted = true
		f.interrupt()
	}
	f.mu.Unlock()
	f.kick()
}

// retain drops every partition not in keep (or whose epoch changed: add
// puts it back fresh) and waits until no response is being applied to
// them. It returns how many partitions are left.
func (f *fetcher) retain(keep map[tpKey]Target) int {
	f.mu.Lock()
	removed := false
	for k, st := range f.parts {
		if t, ok := keep[k]; !ok || t.LeaderEpoch != st.t.LeaderEpoch || t.Replica != st.t.Replica {
			delete(f.parts, k)
			removed = true
		}
	}
	n := len(f.parts)
	f.mu.Unlock()
	if removed {
		f.cycle.Lock() // barrier: a cycle that started before the removal has ended
		f.cycle.Unlock()
		f.kick()
	}
	return n
}

// count is how many partitions the fetcher follows (observed ones aside).
func (f *fetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, st := range f.parts {
		if st.t.Replica != nil {
			n++
		}
	}
	return n
}

func (f *fetcher) kick() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// stop ends the fetcher and waits for it.
func (f *fetcher) stop() {
	close(f.quit)
	f.cancel()
	<-f.done
}

// run is the fetcher goroutine: fetch, apply, sync, repeat.
func (f *fetcher) run() {
	defer close(f.done)
	var c *kwire.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	backoff := f.m.opts.Backoff
	// failed drops the connection after err and backs off; false once
	// stopped.
	failed := func(what string, err error) bool {
		if c != nil {
			c.Close()
			c = nil
		}
		f.m.stats.errors.Add(1)
		f.m.log.Debug(what, "leader", f.leader, "err", err)
		if !f.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, time.Second)
		return true
	}
	for {
		req, reqParts, wait := f.request()
		obs, obsParts := f.observeRequest(req == nil)
		if req == nil && obs == nil {
			if !f.sleep(wait) {
				return
			}
			continue
		}
		if c == nil {
			var err error
			if c, err = f.dial(); err != nil {
				if !failed("connect to leader", err) {
					return
				}
				continue
			}
		}
		if req != nil {
			resp, interrupted, err := f.exchangeInterruptible(c, req)
			if interrupted {
				// A partition joined: fetch again at once, with it. The
				// connection is mid-response: start a new one.
				c.Close()
				c = nil
				continue
			}
			if err != nil {
				if !failed("fetch from leader", err) {
					return
				}
				continue
			}
			backoff = f.m.opts.Backoff
			f.m.stats.fetches.Add(1)
			f.apply(c, resp, reqParts)
		}
		if obs != nil {
			resp, err := f.exchange(c, obs)
			if err != nil {
				if !failed("observe from leader", err) {
					return
				}
				continue
			}
			if !f.observe(resp, obsParts) && req == nil && !f.sleep(f.m.opts.Backoff) {
				return // only errors, and nothing else to fetch: back off
			}
		}
	}
}

// sleep waits d (or until the partition set changes); false once stopped.
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.quit:
		return false
	case <-f.changed:
	case <-t.C:
	}
	return true
}

func (f *fetcher) dial() (*kwire.Conn, error) {
	addr, ok := f.m.opts.LeaderAddr(f.leader)
	if !ok {
		return nil, fmt.Errorf("no replication address for broker %d", f.leader)
	}
	return kwire.Dial(f.ctx, addr, f.m.opts.DialTimeout, "chronik-replica-"+strconv.Itoa(int(f.m.opts.Self)))
}

// request builds the next Fetch over every partition not backing off. It
// returns nil and how long to wait when there is none.
func (f *fetcher) request() (*kmsg.FetchRequest, map[tpKey]Target, time.Duration) {
	o := f.m.opts
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = o.Self
	req.ReplicaState.ID, req.ReplicaState.Epoch = o.Self, o.BrokerEpoch()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(o.MaxWait/time.Millisecond), o.MinBytes, o.ResponseMaxBytes
	req.SessionEpoch = -1
	byTopic := map[[16]byte]int{}
	sent := map[tpKey]Target{}
	wait := time.Hour
	for k, st := range f.parts {
		if st.t.Replica == nil {
			continue // observed: observeRequest
		}
		if d := st.delayUntil.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		l := st.t.Replica.Log()
		if l.Failed() {
			// Its disk failed: the LEO may hold records whose fsync
			// failed, and reporting it as the fetch offset would tell
			// the leader they are durable here (the broker is leaving
			// the ISR; it fetches this partition again after a restart).
			continue
		}
		i := topicIndex(req, byTopic, st.t)
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = k.partition
		rp.CurrentLeaderEpoch = st.t.LeaderEpoch
		rp.FetchOffset = l.LogEndOffset()
		rp.LastFetchedEpoch = -1
		if e, ok := l.LatestEpoch(); ok {
			rp.LastFetchedEpoch = e
		}
		rp.LogStartOffset = l.LogStartOffset()
		rp.PartitionMaxBytes = o.PartitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		sent[k] = st.t
	}
	if len(sent) == 0 {
		return nil, nil, wait
	}
	if wait < o.MaxWait {
		// A partition backing off must not wait out this long poll: it may
		// be the one every acks=-1 produce of a new leader waits for, and
		// nothing may come to end the poll early (the producers' requests
		// are stuck on that partition).
		req.MaxWaitMillis = int32(wait / time.Millisecond)
	}
	return req, sent, 0
}

// exchangeInterruptible is exchange for a follower fetch that add may
// interrupt while the leader has not begun to answer (a response under
// way is read whole and applied: its records are not read twice);
// interrupted reports that it did (and the exchange failed).
func (f *fetcher) exchangeInterruptible(c *kwire.Conn, req *kmsg.FetchRequest) (_ *kmsg.FetchResponse, interrupted bool, _ error) {
	soft, cancel := context.WithCancel(f.ctx)
	defer cancel()
	f.mu.Lock()
	f.interrupt, f.interrupted = cancel, false
	f.mu.Unlock()
	resp, err := f.exchangeCtx(f.ctx, soft, c, req)
	f.mu.Lock()
	f.interrupt, interrupted = nil, f.interrupted
	f.mu.Unlock()
	return resp, interrupted && err != nil && f.ctx.Err() == nil, err
}

// exchange sends req and reads its response.
func (f *fetcher) exchange(c *kwire.Conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	return f.exchangeCtx(f.ctx, context.Background(), c, req)
}

// exchangeCtx sends req and reads its response; cancelling soft stops it
// only until the response begins (kwire.RoundTripUnlessAnswering).
func (f *fetcher) exchangeCtx(ctx, soft context.Context, c *kwire.Conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	deadline := time.Now().Add(f.m.opts.MaxWait + 10*time.Second)
	resp := kmsg.NewPtrFetchResponse()
	n, err := c.RoundTripUnlessAnswering(ctx, soft, req, resp, deadline)
	f.bytesRead.Add(int64(n))
	f.m.stats.bytesRead.Add(int64(n))
	if err != nil {
		return nil, err
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp, nil
}

// apply writes a response into the partitions still followed at the
// epoch they were fetched at, then makes the appended records durable
// before the next fetch reports them.
func (f *fetcher) apply(c *kwire.Conn, resp *kmsg.FetchResponse, sent map[tpKey]Target) {
	f.cycle.Lock()
	defer f.cycle.Unlock()
	var touched []*wal.Log
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := tpKey{rt.TopicID, rp.Partition}
			t, ok := sent[k]
			if !ok {
				continue
			}
			st := f.current(k, t)
			if st == nil {
				continue // moved or removed since the request
			}
			appended, err := f.applyPartition(c, t, rp)
			if err != nil {
				f.m.stats.errors.Add(1)
				f.backoff(k, t, err)
			} else if rp.ErrorCode == 0 {
				st.fetched(f)
			}
			if appended {
				touched = append(touched, t.Replica.Log())
			}
		}
	}
	if f.m.opts.Fsync {
		f.syncAll(touched)
	}
}

// current returns k's state if k is still followed at t's epoch, else nil.
func (f *fetcher) current(k tpKey, t Target) *partState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.parts[k]; st != nil && st.t.LeaderEpoch == t.LeaderEpoch && st.t.Replica == t.Replica {
		return st
	}
	return nil
}

// backoff delays the next fetch of k after an error: replica.fetch.backoff.ms,
// or, after UNKNOWN_LEADER_EPOCH or NOT_LEADER_OR_FOLLOWER, a few
// milliseconds doubling with each such error in a row up to it: this
// follower applied a leadership change before its leader did; the leader
// applies the same metadata entry moments later, and every acks=-1 produce
// of the partition waits for this follower meanwhile.
func (f *fetcher) backoff(k tpKey, t Target, err error) {
	leadership := errors.Is(err, kerr.UnknownLeaderEpoch) || errors.Is(err, kerr.NotLeaderForPartition)
	f.mu.Lock()
	if st := f.parts[k]; st != nil && st.t.LeaderEpoch == t.LeaderEpoch {
		d := f.m.opts.Backoff
		if leadership {
			d = min(d, leadershipBackoff<<min(st.leadErrs, 10))
			st.leadErrs++
			st.leadErrsSet.Store(true)
		}
		st.delayUntil = time.Now().Add(d)
	}
	f.mu.Unlock()
	level := f.m.log.Debug
	if !errors.Is(err, errRetriable) {
		level = f.m.log.Warn
	}
	level("replica fetch", "partition", t.Replica.String(), "leader", f.leader, "err", err)
}

// leadershipBackoff is the first retry delay after UNKNOWN_LEADER_EPOCH or
// NOT_LEADER_OR_FOLLOWER.
const leadershipBackoff = 5 * time.Millisecond

// fetched notes that st was answered without an error.
func (st *partState) fetched(f *fetcher) {
	if !st.leadErrsSet.Load() {
		return
	}
	f.mu.Lock()
	st.leadErrs = 0
	st.leadErrsSet.Store(false)
	f.mu.Unlock()
}

// errRetriable marks errors the next fetch is expected to get past
// (leadership moving, metadata propagating).
var errRetriable = errors.New("retriable")

// applyPartition handles one partition's answer: an error, a divergence,
// or records to append. It reports whether it appended anything.
func (f *fetcher) applyPartition(c *kwire.Conn, t Target, rp *kmsg.FetchResponseTopicPartition) (bool, error) {
	r := t.Replica
	switch code := rp.ErrorCode; {
	case code == kerr.OffsetOutOfRange.Code:
		return false, f.outOfRange(c, t)
	case code != 0:
		return false, fmt.Errorf("%w: %w", errRetriable, kerr.ErrorForCode(code))
	case rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0:
		return false, f.truncate(r, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
	}
	appended := false
	if len(rp.RecordBatches) > 0 {
		if err := f.appendRecords(t, rp.RecordBatches); err != nil {
			return false, err
		}
		appended = true
	}
	r.FollowerHighWatermark(rp.HighWatermark)
	if start := rp.LogStartOffset; start > r.Log().LogStartOffset() && start <= r.Log().LogEndOffset() {
		// DeleteRecords and retention on the leader move its log start;
		// the follower follows (Kafka: maybeIncrementLogStartOffset).
		if err := r.Log().DeleteRecordsBefore(start); err != nil {
			return appended, fmt.Errorf("follow the leader's log start %d: %w", start, err)
		}
	}
	return appended, nil
}

// appendRecords appends the whole batches of a response.
func (f *fetcher) appendRecords(t Target, records []byte) error {
	k := t.key()
	f.mu.Lock()
	st := f.parts[k]
	var hdrs []wal.BatchHeader
	if st != nil {
		hdrs = st.hdrs
	}
	f.mu.Unlock()
	hdrs, err := t.Replica.AppendReplicated(wholeBatches(records), hdrs)
	if err != nil {
		return fmt.Errorf("append at %d: %w", t.Replica.Log().LogEndOffset(), err)
	}
	f.mu.Lock()
	if st := f.parts[k]; st != nil {
		st.hdrs = hdrs[:0]
	}
	f.mu.Unlock()
	n := int64(0)
	for _, h := range hdrs {
		n += h.Size()
	}
	f.m.stats.recordBytes.Add(n)
	return nil
}

// wholeBatches cuts a trailing partial batch off records (a leader may
// end a response inside a batch when it hits a size limit; Kafka's
// followers skip such a tail, the next fetch starts at it).
func wholeBatches(records []byte) []byte {
	end := 0
	for end+wal.BatchHeaderSize <= len(records) {
		h, err := wal.ParseBatchHeader(records[end:])
		if err != nil || int64(end)+h.Size() > int64(len(records)) {
			break
		}
		end += int(h.Size())
	}
	return records[:end]
}

// syncAll makes every touched log durable (one group-commit round each,
// run in parallel by the flush pool) and waits for all of them.
func (f *fetcher) syncAll(logs []*wal.Log) {
	if len(logs) == 0 {
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(logs))
	for _, l := range logs {
		l.Sync(l.LogEndOffset(), func(err error) {
			if err != nil && !errors.Is(err, wal.ErrClosed) && !errors.Is(err, wal.ErrTruncated) {
				f.m.stats.errors.Add(1)
				f.m.log.Warn("sync replicated records", "dir", l.Dir(), "err", err)
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// observeRequest builds, in whole-node mode, a consumer Fetch (replica -1)
// of every observed partition: the leader's partitions this broker holds
// no replica of. It long-polls only when alone (nothing followed from this
// leader); after a follower fetch it returns at once.
func (f *fetcher) observeRequest(alone bool) (*kmsg.FetchRequest, map[tpKey]Target) {
	o := f.m.opts
	if !o.WholeNode {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = -1, -1, -1
	req.MinBytes, req.MaxBytes = o.MinBytes, o.ResponseMaxBytes
	if alone {
		req.MaxWaitMillis = int32(o.MaxWait / time.Millisecond)
	}
	req.SessionEpoch = -1
	byTopic := map[[16]byte]int{}
	sent := map[tpKey]Target{}
	for k, st := range f.parts {
		if st.t.Replica != nil {
			continue
		}
		i := topicIndex(req, byTopic, st.t)
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = k.partition, st.t.LeaderEpoch, st.observed
		rp.LastFetchedEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = -1, -1, o.PartitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		sent[k] = st.t
	}
	if len(sent) == 0 {
		return nil, nil
	}
	return req, sent
}

// observe moves each observed partition past the whole batches of its
// answer (the records are dropped), or to the leader's log start when its
// offset fell out of range. It reports whether any partition was answered
// without an error.
func (f *fetcher) observe(resp *kmsg.FetchResponse, sent map[tpKey]Target) bool {
	ok := false
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := tpKey{rt.TopicID, rp.Partition}
			if _, ok := sent[k]; !ok {
				continue
			}
			next, n := int64(-1), int64(0)
			switch {
			case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
				next = max(rp.LogStartOffset, 0)
			case rp.ErrorCode == 0:
				ok = true
				batches := wholeBatches(rp.RecordBatches)
				n = int64(len(batches))
				for len(batches) >= wal.BatchHeaderSize {
					h, err := wal.ParseBatchHeader(batches)
					if err != nil {
						break
					}
					next = h.LastOffset() + 1
					batches = batches[h.Size():]
				}
			}
			f.m.stats.observedBytes.Add(n)
			f.mu.Lock()
			if st := f.parts[k]; st != nil && st.t.Replica == nil && next >= 0 {
				st.observed = next
			}
			f.mu.Unlock()
		}
	}
	return ok
}

// topicIndex is the index of t's topic in req, added when missing.
func topicIndex(req *kmsg.FetchRequest, byTopic map[[16]byte]int, t Target) int {
	i, ok := byTopic[t.TopicID]
	if !ok {
		i = len(req.Topics)
		byTopic[t.TopicID] = i
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		req.Topics = append(req.Topics, rt)
	}
	return i
}
