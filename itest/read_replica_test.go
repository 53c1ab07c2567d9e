package itest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Readable replicas (KIP-392, issue 12): three brokers in racks a, b and
// c with Kafka's RackAwareReplicaSelector; the topic's leaders are brokers
// 1 and 3, broker 2 (rack b) follows every partition. Consumers in rack b
// must read from broker 2 (the brokers' metrics say who served what),
// never past the leader's high watermark, and move to the leader without
// losing or repeating a record when broker 2 is stopped or killed.

const rackSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// rrSessionMs is the broker session of the read-replica cluster: long
// enough that a stopped follower stays in the ISR (holding the high
// watermark) while a scenario looks, short enough to fence it soon after.
const rrSessionMs = 4000

func startRackCluster(t testing.TB) *testbed.Cluster {
	t.Helper()
	return startTestbed(t, testbed.Config{
		Nodes: 3, Racks: []string{"a", "b", "c"}, Admin: true,
		Properties: map[string]string{
			"replica.selector.class":           rackSelector,
			"broker.heartbeat.interval.ms":     "100",
			"broker.session.timeout.ms":        strconv.Itoa(rrSessionMs),
			"replica.lag.time.max.ms":          "20000",
			"auto.leader.rebalance.enable":     "false",
			"group.initial.rebalance.delay.ms": "100",
			"offsets.topic.num.partitions":     "3",
		},
	})
}

// rrAssignment: partition 0 led by 1, partition 1 led by 3; 2 follows both.
var rrAssignment = [][]int32{{1, 2, 3}, {3, 2, 1}}

func TestReadReplicas(t *testing.T) {
	c := startRackCluster(t)
	ctx := testContext(t, 8*time.Minute)
	createAssigned(t, ctx, c.Node(1).KafkaAddr, "rr", rrAssignment)
	waitAllKnow(t, ctx, c, "rr", len(rrAssignment))
	for _, sc := range []struct {
		name string
		run  func(*testing.T, context.Context, *testbed.Cluster)
	}{
		{"FranzGoInRackBReadsFromBroker2", testFranzGoReadsFromItsRack},
		{"LibrdkafkaClientRackReadsFromBroker2", testLibrdkafkaReadsFromItsRack},
		{"FollowerReadsStopAtTheLeadersHighWatermark", testFollowerReadsStopAtTheHighWatermark},
		{"ConsumerMovesToTheLeaderWhenItsFollowerStopsOrDies", testConsumerMovesOffADeadFollower},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, ctx, c) })
	}
}

func testFranzGoReadsFromItsRack(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	const n = 2000
	acked := produceBooked(t, ctx, c, "rr", len(rrAssignment), n)
	before := scrapeAll(t, ctx, c)
	cl := newClient(t, c.Node(1).KafkaAddr, kgo.Rack("b"), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"rr": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
	got := &readLog{}
	for got.count() < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", got.count(), n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("consume %s[%d]: %v", topic, p, err) })
		fs.EachRecord(got.add)
	}
	checkStream(t, "franz-go in rack b", got.records(), acked, endsOf(acked))
	servedByFollower(t, before, scrapeAll(t, ctx, c), n*streamcheck.ValueSize)
}

// servedByFollower checks that broker 2 served at least bytes of records
// to consumers from its follower replicas, and the leaders (1 and 3) none
// from theirs, only preferred-replica answers.
func servedByFollower(t *testing.T, before, after map[int32]map[string]float64, bytes int) {
	t.Helper()
	const fb, lb, pr = `chronik_consumer_fetch_bytes_total{role="follower"}`, `chronik_consumer_fetch_bytes_total{role="leader"}`, "chronik_fetch_preferred_replica_total"
	if d := after[2][fb] - before[2][fb]; d < float64(bytes) {
		t.Errorf("broker 2 (rack b) served %v record bytes from its follower replicas, want >= %d", d, bytes)
	}
	for _, id := range []int32{1, 3} {
		if d := after[id][lb] - before[id][lb]; d != 0 {
			t.Errorf("leader %d served %v record bytes to the rack-b consumer, want 0 (it should send it to broker 2)", id, d)
		}
		if d := after[id][pr] - before[id][pr]; d < 1 {
			t.Errorf("leader %d answered %v fetches with a preferred read replica, want >= 1", id, d)
		}
	}
}

func testLibrdkafkaReadsFromItsRack(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	n := 0
	for p := range rrAssignment {
		n += int(endOffsetAt(t, ctx, c.Node(1).KafkaAddr, "rr", int32(p)))
	}
	before := scrapeAll(t, ctx, c)
	out := run(t, ctx, "", "/usr/bin/python3", "testdata/confluent_rack_consume.py",
		"--bootstrap", c.Node(3).KafkaAddr, "--topic", "rr", "--partitions", strconv.Itoa(len(rrAssignment)),
		"--rack", "b", "--count", strconv.Itoa(n), "--timeout", "90")
	var s struct {
		Records [][3]any `json:"records"`
		Errors  []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("script output is not the JSON summary: %v\n%s", err, out)
	}
	if len(s.Errors) > 0 || len(s.Records) != n {
		t.Fatalf("librdkafka read %d of %d records, errors %v", len(s.Records), n, s.Errors)
	}
	next := map[float64]float64{}
	for _, r := range s.Records {
		p, off := r[0].(float64), r[1].(float64)
		if off != next[p] {
			t.Fatalf("partition %v: offset %v, want %v", p, off, next[p])
		}
		next[p]++
	}
	servedByFollower(t, before, scrapeAll(t, ctx, c), n*streamcheck.ValueSize)
}

// A follower of partition 0 of topic rrhw other than broker 2 (and not
// the controller: a new controller does not wait a whole session for a
// broker it never heard from) is stopped; still in the ISR (its session
// has not run out), it holds the leader's high watermark. acks=1 records
// go on to broker 2, whose consumers must not see any of them until the
// stopped broker is back and the high watermark covers them.
func testFollowerReadsStopAtTheHighWatermark(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	ctrl := controllerOf(t, c.Node(1).KafkaAddr)
	stop, lead := int32(3), int32(1)
	if ctrl == 3 {
		stop, lead = 1, 3
	}
	const topic = "rrhw"
	createAssigned(t, ctx, c.Node(1).KafkaAddr, topic, [][]int32{{lead, 2, stop}})
	waitAllKnow(t, ctx, c, topic, 1)
	leaderAddr := c.Node(lead).KafkaAddr
	const base, extra = 500, 300
	acked := produceBooked(t, ctx, c, topic, 1, base)
	cl := newClient(t, leaderAddr, kgo.Rack("b"), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := &readLog{}
	var hwMu sync.Mutex
	maxHW := int64(-1) // the largest high watermark a fetch answer carried
	poll := func(until func() bool, d time.Duration) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		for !until() {
			fs := cl.PollFetches(pctx)
			if pctx.Err() != nil {
				return
			}
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				if p.Err != nil {
					t.Fatalf("consume: %v", p.Err)
				}
				hwMu.Lock()
				maxHW = max(maxHW, p.HighWatermark)
				hwMu.Unlock()
				p.EachRecord(got.add)
			})
		}
	}
	before := scrape(t, ctx, c, 2)
	poll(func() bool { return got.nextOf(0) >= base }, time.Minute)
	if got.nextOf(0) < base {
		t.Fatalf("read up to %d, want %d", got.nextOf(0), base)
	}
	const fb = `chronik_consumer_fetch_bytes_total{role="follower"}`
	if d := scrape(t, ctx, c, 2)[fb] - before[fb]; d < base*streamcheck.ValueSize {
		t.Fatalf("broker 2 served %v bytes to the rack-b consumer, want >= %d: the check below would not be about a follower", d, base*streamcheck.ValueSize)
	}
	if err := c.Pause(stop); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	continued := false
	defer func() {
		if !continued {
			c.Continue(stop)
		}
	}()
	p1 := newClient(t, leaderAddr, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	book := newAckBook()
	for i := range extra {
		book.produce(ctx, p1, topic, 0, 1, i)
	}
	book.wait(t, ctx)
	// Broker 2 holds the new records (caught up with the leader); the
	// stopped broker does not, so the high watermark stays at base.
	lag := func(id int32) string {
		return fmt.Sprintf(`chronik_replication_lag_records{topic="%s",partition="0",follower="%d",in_isr="true"}`, topic, id)
	}
	for m := scrape(t, ctx, c, lead); m[lag(2)] != 0 || m[lag(stop)] < extra; m = scrape(t, ctx, c, lead) {
		if time.Since(stopped) > rrSessionMs*time.Millisecond/2 {
			t.Fatalf("%v after the stop: broker 2 lags %v records, broker %d %v (want 0 and >= %d)", time.Since(stopped), m[lag(2)], stop, m[lag(stop)], extra)
		}
		time.Sleep(20 * time.Millisecond)
	}
	poll(func() bool { return false }, 500*time.Millisecond)
	if isr := isrOf(t, ctx, leaderAddr, topic, 0); !slices.Contains(isr, stop) || time.Since(stopped) > rrSessionMs*time.Millisecond {
		t.Fatalf("broker %d left the ISR (%v) before the check ended (%v after the stop): the high watermark was free to move", stop, isr, time.Since(stopped))
	}
	if n := got.nextOf(0); n > base {
		t.Fatalf("a consumer of broker 2 read up to offset %d while the leader's high watermark was %d", n-1, base)
	}
	hwMu.Lock()
	seen := maxHW
	hwMu.Unlock()
	if seen > base {
		t.Fatalf("a fetch from broker 2 answered high watermark %d, above the leader's %d", seen, base)
	}
	if err := c.Continue(stop); err != nil {
		t.Fatal(err)
	}
	continued = true
	poll(func() bool { return got.nextOf(0) >= base+extra }, time.Minute)
	if got.nextOf(0) != base+extra {
		t.Fatalf("after broker %d came back, read up to %d, want %d", stop, got.nextOf(0), base+extra)
	}
	all := book.snapshot()
	maps.Copy(all, acked)
	checkStream(t, "franz-go in rack b", got.records(), all, map[int32]int64{0: base + extra})
}

// A rack-b consumer reads from broker 2 under a steady acks=-1 stream.
// Broker 2 is stopped: once its session runs out it is fenced and leaves
// the ISRs (the leader epoch moves), and the consumer goes on from the
// leaders. Broker 2 comes back; a second rack-b consumer reads from it,
// and broker 2 is killed. Each consumer must end up with every acknowledged
// record once, in order.
func testConsumerMovesOffADeadFollower(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	const topic = "rrf"
	createAssigned(t, ctx, c.Node(1).KafkaAddr, topic, rrAssignment)
	waitAllKnow(t, ctx, c, topic, len(rrAssignment))
	book := newAckBook()
	stopProducing := startPacedProducer(t, ctx, c, book, topic)
	consumers := []*rackConsumer{startRackConsumer(t, ctx, c, topic, "b")}

	waitReading := func(rc *rackConsumer, id int32) {
		t.Helper()
		const fb = `chronik_consumer_fetch_bytes_total{role="follower"}`
		start := scrape(t, ctx, c, id)[fb]
		from := rc.log.count()
		waitFor(t, ctx, func() bool { return rc.log.count() > from+200 && scrape(t, ctx, c, id)[fb] > start })
	}
	// waitProgress waits until the consumer reads what was acknowledged
	// by now, and then some: it is consuming again.
	waitProgress := func(rc *rackConsumer, what string) {
		t.Helper()
		target := int(book.nAcked.Load()) + 100
		deadline := time.Now().Add(90 * time.Second)
		at := time.Now()
		for rc.log.count() < target {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the consumer read %d records, %d acknowledged; stuck (last error: %v)", what, rc.log.count(), book.nAcked.Load(), rc.lastErr())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: the consumer went on after %v", what, time.Since(at).Round(time.Millisecond))
	}
	waitReading(consumers[0], 2)

	// Stopped: the consumer's fetch to broker 2 hangs until its request
	// times out (fetch max wait + franz-go's 10 s overhead); by then broker
	// 2 is fenced and the leader epochs moved.
	if err := c.Pause(2); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			c.Continue(2)
		}
	}()
	waitProgress(consumers[0], "broker 2 stopped")
	if err := c.Continue(2); err != nil {
		t.Fatal(err)
	}
	stopped = false
	for p := range rrAssignment {
		waitFor(t, ctx, func() bool { return slices.Contains(isrOf(t, ctx, c.Node(1).KafkaAddr, topic, int32(p)), 2) })
	}

	// Killed, while a second consumer reads from it.
	consumers = append(consumers, startRackConsumer(t, ctx, c, topic, "b"))
	waitReading(consumers[1], 2)
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	waitProgress(consumers[1], "broker 2 killed")
	waitProgress(consumers[0], "broker 2 killed (the first consumer)")

	stopProducing()
	book.wait(t, ctx)
	acked := book.snapshot()
	ends := endsOf(acked)
	for i, rc := range consumers {
		rc.waitFor(t, ctx, ends)
		rc.stop()
		checkStream(t, fmt.Sprintf("consumer %d in rack b", i), rc.log.records(), acked, ends)
	}
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatalf("restart broker 2: %v", err)
	}
}

// ---- helpers

// createAssigned creates topic with the given replica list per partition.
func createAssigned(t testing.TB, ctx context.Context, addr, topic string, replicas [][]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, reps := range replicas {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), reps
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, newClient(t, addr))
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if e := kerr.ErrorForCode(resp.Topics[0].ErrorCode); e != nil {
		t.Fatalf("create %s: %v", topic, e)
	}
}

// isrOf returns a partition's ISR as addr's Metadata gives it.
func isrOf(t *testing.T, ctx context.Context, addr, topic string, p int32) []int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return nil
	}
	return md.Topics[topic].Partitions[p].ISR
}

// scrape returns node id's /metrics samples by their full name (with
// labels); a stopped or dead node gives none.
func scrape(t testing.TB, ctx context.Context, c *testbed.Cluster, id int32) map[string]float64 {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	body, err := c.Metrics(sctx, id)
	out := map[string]float64{}
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func scrapeAll(t testing.TB, ctx context.Context, c *testbed.Cluster) map[int32]map[string]float64 {
	t.Helper()
	out := map[int32]map[string]float64{}
	for _, n := range c.Nodes {
		out[n.ID] = scrape(t, ctx, c, n.ID)
	}
	return out
}

// produceBooked produces n pair values of producer 0 in turn to each of
// the topic's parts partitions, acks=-1, uncompressed (the byte counts the
// tests compare are the records' own), and returns what was acknowledged.
func produceBooked(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, parts, n int) map[streamcheck.Key]streamcheck.Placed {
	t.Helper()
	cl := newClient(t, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	book := newAckBook()
	produceRoundRobin(ctx, book, cl, topic, 0, 0, n, parts)
	book.wait(t, ctx)
	return book.snapshot()
}

// startPacedProducer produces pair values of producer 0 round-robin over
// the topic's partitions, acks=-1 and idempotent, about 500 a second,
// into book until the returned func is called.
func startPacedProducer(t *testing.T, ctx context.Context, c *testbed.Cluster, book *ackBook, topic string) (stop func()) {
	t.Helper()
	cl := newClient(t, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for s := 0; ; s++ {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			book.produce(ctx, cl, topic, int32(s%len(rrAssignment)), 0, s)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// readLog is what a consumer read, in arrival order. Safe for concurrent
// use.
type readLog struct {
	mu   sync.Mutex
	recs []streamcheck.Rec
	next map[int32]int64
}

func (l *readLog) add(r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == nil {
		l.next = map[int32]int64{}
	}
	l.recs = append(l.recs, streamcheck.Rec{Partition: r.Partition, Offset: r.Offset, Value: r.Value})
	l.next[r.Partition] = r.Offset + 1
}

func (l *readLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// nextOf is the offset after the last record read from partition p.
func (l *readLog) nextOf(p int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next[p]
}

func (l *readLog) records() []streamcheck.Rec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// rackConsumer reads every partition of a topic from the start in a rack,
// in the background, with franz-go's defaults otherwise.
type rackConsumer struct {
	cl     *kgo.Client
	log    *readLog
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
	once   sync.Once
}

func startRackConsumer(t *testing.T, ctx context.Context, c *testbed.Cluster, topic, rack string) *rackConsumer {
	t.Helper()
	offs := map[int32]kgo.Offset{}
	for p := range rrAssignment {
		offs[int32(p)] = kgo.NewOffset().AtStart()
	}
	var seeds []string
	for _, n := range c.Nodes {
		seeds = append(seeds, n.KafkaAddr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.Rack(rack), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	rc := &rackConsumer{cl: cl, log: &readLog{}, cancel: cancel, done: make(chan struct{})}
	t.Cleanup(rc.stop)
	go func() {
		defer close(rc.done)
		for cctx.Err() == nil {
			fs := cl.PollFetches(cctx)
			fs.EachError(func(_ string, _ int32, err error) {
				rc.mu.Lock()
				rc.err = err
				rc.mu.Unlock()
			})
			fs.EachRecord(rc.log.add)
		}
	}()
	return rc
}

func (rc *rackConsumer) lastErr() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}

// waitFor waits until the consumer has read every partition up to ends.
func (rc *rackConsumer) waitFor(t *testing.T, ctx context.Context, ends map[int32]int64) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for p, end := range ends {
		for rc.log.nextOf(p) < end {
			if wctx.Err() != nil {
				t.Fatalf("partition %d: read up to %d, acknowledged up to %d (last error: %v)", p, rc.log.nextOf(p), end, rc.lastErr())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (rc *rackConsumer) stop() {
	rc.once.Do(func() {
		rc.cancel()
		<-rc.done
		rc.cl.Close()
	})
}
