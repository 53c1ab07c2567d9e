package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The load the failover scenarios (failover_test.go) run through their
// faults, and its book of acknowledgements: idempotent acks=-1 franz-go
// producers writing the replication tests' pair values (producer, seq),
// seq s going to partition s % parts, each ack recorded with where it
// landed and when (the timing is what the ackBook of the replication
// tests does not keep).

// foAck is where and when a record was acknowledged.
type foAck struct {
	partition     int32
	offset        int64
	sentAt, ackAt time.Time
}

// foLoadOpts shape a load.
type foLoadOpts struct {
	producers int         // default 2
	perSecond int         // records per second per producer, default 2000
	inflight  int         // records handed to a client and not yet finished, per producer; default 4000
	extra     []kgo.Opt   // more client options (e.g. shorter request timeouts)
	from      []string    // seed brokers; default every node
	onError   func(error) // optional, called for every failed record
}

// foLoad runs the producers and keeps the book. Its methods are safe for
// concurrent use.
type foLoad struct {
	topic string
	parts int

	mu       sync.Mutex
	acks     map[streamcheck.Key]foAck
	sent     []int // per producer: records handed to the client
	nFails   int
	fails    []string // the first few failures
	dataLoss atomic.Int64

	perTick  atomic.Int64 // records per producer per 10 ms tick
	stop     chan struct{}
	wg       sync.WaitGroup // producer goroutines
	pending  sync.WaitGroup // records not yet finished
	clients  []*kgo.Client
	stopOnce sync.Once
}

// startFoLoad starts o.producers producers writing to topic's parts
// partitions until stop. They refresh metadata every 100 ms at most and
// retry after 20 ms, as a latency-minded client would (franz-go's
// defaults, 5 s and 100 ms+, would measure the client, not the broker),
// and stop on detected data loss (an OUT_OF_ORDER_SEQUENCE_NUMBER then
// surfaces as the record's error instead of a silent producer-id reset).
// They retry an EOF on a connection's first response (AlwaysRetryEOF):
// franz-go otherwise takes it for a SASL or TLS mismatch and fails the
// records for good, and a broker killed with a request unanswered on a
// new connection closes it just so. In one CI run a producer's first
// InitProducerID was pending on the leader when the test killed it, and
// its first 60 records failed with "broker closed the connection
// immediately after a request was issued". Retrying is safe: the
// producers are idempotent.
func startFoLoad(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, parts int, o foLoadOpts) *foLoad {
	t.Helper()
	if o.producers == 0 {
		o.producers = 2
	}
	if o.perSecond == 0 {
		o.perSecond = 2000
	}
	if o.inflight == 0 {
		o.inflight = 4000
	}
	if o.from == nil {
		o.from = c.Addrs()
	}
	l := &foLoad{topic: topic, parts: parts, acks: map[streamcheck.Key]foAck{}, sent: make([]int, o.producers), stop: make(chan struct{})}
	l.setRate(o.perSecond)
	for p := range o.producers {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(o.from...), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(100 * time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.AlwaysRetryEOF(),
			kgo.StopProducerOnDataLossDetected(),
			kgo.ProducerOnDataLossDetected(func(string, int32) { l.dataLoss.Add(1) }),
			kgo.ClientID(fmt.Sprintf("fo-producer-%d", p)),
		}, o.extra...)
		if os.Getenv("CHRONIK_FAILOVER_KGO_LOG") == "1" {
			opts = append(opts, kgo.WithLogger(foClientLog(t, c, topic, p)))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatalf("producer %d: %v", p, err)
		}
		l.clients = append(l.clients, cl)
		l.wg.Add(1)
		go l.produce(ctx, cl, p, o)
	}
	t.Cleanup(l.close)
	return l
}

// foClientLog logs producer p's client at info level into the cluster
// directory (CHRONIK_FAILOVER_KGO_LOG=1, for diagnosis).
func foClientLog(t *testing.T, c *testbed.Cluster, topic string, p int) kgo.Logger {
	f, err := os.OpenFile(filepath.Join(filepath.Dir(c.ConfigPath), "kgo-"+topic+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	prefix := fmt.Sprintf("producer %d ", p)
	return kgo.BasicLogger(f, kgo.LogLevelInfo, func() string { return time.Now().Format("15:04:05.000 ") + prefix })
}

// setRate sets how many records a second each producer sends.
func (l *foLoad) setRate(perSecond int) { l.perTick.Store(int64(max(1, perSecond/100))) }

// produce is producer p's goroutine: the load's rate, in ticks of 10 ms,
// never more than o.inflight records unfinished.
func (l *foLoad) produce(ctx context.Context, cl *kgo.Client, p int, o foLoadOpts) {
	defer l.wg.Done()
	slots := make(chan struct{}, o.inflight)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range l.perTick.Load() {
			select {
			case slots <- struct{}{}:
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			}
			l.send(ctx, cl, streamcheck.Key{Producer: p, Seq: seq}, slots, o.onError)
			seq++
		}
	}
}

// send hands one record to the client and books its outcome.
func (l *foLoad) send(ctx context.Context, cl *kgo.Client, k streamcheck.Key, slots chan struct{}, onError func(error)) {
	l.mu.Lock()
	l.sent[k.Producer] = k.Seq + 1
	l.mu.Unlock()
	l.pending.Add(1)
	part := int32(k.Seq % l.parts)
	sentAt := time.Now()
	r := &kgo.Record{Partition: part, Value: streamcheck.Value(k.Producer, k.Seq)}
	cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		defer l.pending.Done()
		defer func() { <-slots }()
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.nFails++
			if len(l.fails) < 5 {
				l.fails = append(l.fails, fmt.Sprintf("producer %d seq %d (partition %d): %v", k.Producer, k.Seq, part, err))
			}
			if onError != nil {
				onError(err)
			}
			return
		}
		l.acks[k] = foAck{partition: r.Partition, offset: r.Offset, sentAt: sentAt, ackAt: time.Now()}
	})
}

// finish stops the producers and waits (until ctx ends) for every record
// handed to a client to be acknowledged or failed; it fails the test if
// some are still unfinished, or if any failed (every produce error the
// scenarios meet is retriable: the client must get past it).
func (l *foLoad) finish(t *testing.T, ctx context.Context) {
	t.Helper()
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	done := make(chan struct{})
	go func() { l.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("load on %s: records still unfinished at the deadline (%d acknowledged)", l.topic, l.acked())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nFails > 0 {
		t.Errorf("load on %s: %d records failed (want 0: the client retries), first: %v", l.topic, l.nFails, l.fails)
	}
	if n := l.dataLoss.Load(); n > 0 {
		t.Errorf("load on %s: the client detected data loss %d times (OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID)", l.topic, n)
	}
	sent := 0
	for _, n := range l.sent {
		sent += n
	}
	t.Logf("load on %s: %d records sent, %d acknowledged", l.topic, sent, len(l.acks))
}

// close stops everything (test cleanup).
func (l *foLoad) close() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	for _, cl := range l.clients {
		cl.Close()
	}
}

// acked is the number of records acknowledged so far.
func (l *foLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// book returns where each acknowledged record landed.
func (l *foLoad) book() map[streamcheck.Key]streamcheck.Placed {
	l.mu.Lock()
	defer l.mu.Unlock()
	acked := make(map[streamcheck.Key]streamcheck.Placed, len(l.acks))
	for k, a := range l.acks {
		acked[k] = streamcheck.Placed{Partition: a.partition, Offset: a.offset}
	}
	return acked
}

// ackTimes returns the acknowledgement times on partition p of the
// records sent at or after since, sorted.
func (l *foLoad) ackTimes(p int32, since time.Time) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts []time.Time
	for _, a := range l.acks {
		if a.partition == p && !a.sentAt.Before(since) {
			ts = append(ts, a.ackAt)
		}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

// ackTimesBetween returns the acknowledgement times on partition p that
// fall within [from, to].
func (l *foLoad) ackTimesBetween(p int32, from, to time.Time) []time.Time {
	var in []time.Time
	for _, at := range l.ackTimes(p, time.Time{}) {
		if !at.Before(from) && !at.After(to) {
			in = append(in, at)
		}
	}
	return in
}

// firstAckAfter is how long after at the first record sent at or after at
// to partition p was acknowledged; false if none was yet.
func (l *foLoad) firstAckAfter(p int32, at time.Time) (time.Duration, bool) {
	ts := l.ackTimes(p, at)
	if len(ts) == 0 {
		return 0, false
	}
	return ts[0].Sub(at), true
}

// waitAcked waits until n records are acknowledged.
func (l *foLoad) waitAcked(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for l.acked() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("load on %s: %d of %d records acknowledged at the deadline", l.topic, l.acked(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitAcksAfter waits until every partition in ps has an acknowledgement
// of a record sent at or after at, and returns the longest wait.
func (l *foLoad) waitAcksAfter(t *testing.T, ctx context.Context, ps []int32, at time.Time, what string) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, p := range ps {
		for {
			d, ok := l.firstAckAfter(p, at)
			if ok {
				worst = max(worst, d)
				break
			}
			if err := l.stopped(); err != nil {
				t.Fatalf("%s: waiting for an acknowledgement on %s-%d: %v", what, l.topic, p, err)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: no acknowledgement on %s-%d of a record sent after %s (%d acknowledged in all)",
					what, l.topic, p, at.Format("15:04:05.000"), l.acked())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return worst
}

// stopped reports why the load cannot go on: the client detected data
// loss (its producer stops then), or records failed.
func (l *foLoad) stopped() error {
	if n := l.dataLoss.Load(); n > 0 {
		return fmt.Errorf("the client detected data loss %d times (OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID)", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nFails > 0 {
		return fmt.Errorf("%d records failed, first: %v", l.nFails, l.fails)
	}
	return nil
}

// maxAckGap is the longest time between two consecutive acknowledgements
// on partition p of records sent within [from, to], and when it began.
func (l *foLoad) maxAckGap(p int32, from, to time.Time) (time.Duration, time.Time) {
	var gap time.Duration
	var at time.Time
	ts := l.ackTimes(p, from)
	for i := 1; i < len(ts) && !ts[i].After(to); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, at = d, ts[i-1]
		}
	}
	return gap, at
}
