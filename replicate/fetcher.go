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
	hdrs       []wal.BatchHeader
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
	for k, t := range ts {
		st := f.parts[k]
		if st == nil || st.t.LeaderEpoch != t.LeaderEpoch || st.t.Replica != t.Replica {
			f.parts[k] = &partState{t: t}
		}
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

func (f *fetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
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
	for {
		req, reqParts, wait := f.request()
		if req == nil {
			if !f.sleep(wait) {
				return
			}
			continue
		}
		if c == nil {
			var err error
			if c, err = f.dial(); err != nil {
				f.m.stats.errors.Add(1)
				f.m.log.Debug("connect to leader", "leader", f.leader, "err", err)
				if !f.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
		}
		resp, err := f.exchange(c, req)
		if err != nil {
			c.Close()
			c = nil
			f.m.stats.errors.Add(1)
			f.m.log.Debug("fetch from leader", "leader", f.leader, "err", err)
			if !f.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = f.m.opts.Backoff
		f.m.stats.fetches.Add(1)
		f.apply(c, resp, reqParts)
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
		if d := st.delayUntil.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		i, ok := byTopic[k.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[k.topic] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = st.t.Topic, k.topic
			req.Topics = append(req.Topics, rt)
		}
		l := st.t.Replica.Log()
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
	return req, sent, 0
}

// exchange sends req and reads its response.
func (f *fetcher) exchange(c *kwire.Conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	deadline := time.Now().Add(f.m.opts.MaxWait + 10*time.Second)
	resp := kmsg.NewPtrFetchResponse()
	n, err := c.RoundTrip(f.ctx, req, resp, deadline)
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
			if !ok || !f.current(k, t) {
				continue // moved or removed since the request
			}
			appended, err := f.applyPartition(c, t, rp)
			if err != nil {
				f.m.stats.errors.Add(1)
				f.backoff(k, t, err)
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

// current reports whether k is still followed at t's epoch.
func (f *fetcher) current(k tpKey, t Target) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.parts[k]
	return st != nil && st.t.LeaderEpoch == t.LeaderEpoch && st.t.Replica == t.Replica
}

// backoff delays the next fetch of k after an error.
func (f *fetcher) backoff(k tpKey, t Target, err error) {
	f.mu.Lock()
	if st := f.parts[k]; st != nil && st.t.LeaderEpoch == t.LeaderEpoch {
		st.delayUntil = time.Now().Add(f.m.opts.Backoff)
	}
	f.mu.Unlock()
	level := f.m.log.Debug
	if !errors.Is(err, errRetriable) {
		level = f.m.log.Warn
	}
	level("replica fetch", "partition", t.Replica.String(), "leader", f.leader, "err", err)
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
