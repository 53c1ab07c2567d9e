package itest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplicationLaggingFollower runs the scenarios in which a follower
// stays in the ISR while it lags: a longer session (6 s) and a long
// replica.lag.time.max.ms keep a follower stopped for a moment fenced
// neither by the controller nor by its leader.
func TestReplicationLaggingFollower(t *testing.T) {
	c := startClusterWith(t, clusterProps(map[string]string{
		"broker.session.timeout.ms": "6000",
		"replica.lag.time.max.ms":   "60000",
	}), false)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testbed.Cluster)
	}{
		{"ConsumersNeverReadAtOrAboveTheHighWatermark", testConsumersNeverReadAtOrAboveTheHighWatermark},
		{"DivergentTailTruncatedOnRejoin", testDivergentTailTruncatedOnRejoin},
	} {
		if !t.Run(sc.name, func(t *testing.T) { sc.run(t, c) }) {
			return
		}
	}
}

// testConsumersNeverReadAtOrAboveTheHighWatermark: with one follower
// stopped (still in the ISR) the leader's log end grows under acks=1
// produces while the high watermark stays; Fetch returns nothing at or
// above it, ListOffsets latest is it, a franz-go consumer reads only
// below it. After SIGCONT everything becomes visible. The controller
// leads the partition: stopping it would elect another controller, which
// gives brokers it has not heard from only a short grace (not a session)
// and so would fence the stopped follower at once.
func testConsumersNeverReadAtOrAboveTheHighWatermark(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic = "hw-lag"
	leader := controllerOf(t, c.Node(1).KafkaAddr)
	other, lagging := leader%3+1, (leader+1)%3+1
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 0, replicatedTopicConfigs, [][]int32{{leader, other, lagging}})
	waitPartitions(t, ctx, c.Node(leader).KafkaAddr, topic, "created", func(ps map[int32]partState) bool { return ps[0].Leader == leader && fullISR(ps) })
	book := newAckBook()
	produceRoundRobin(ctx, book, newClient(t, c.Node(other).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 0, 0, 100, 1)
	book.wait(t, ctx)
	const hw = 100

	resume := pauseBroker(t, c, lagging)
	leaderOnly := newClient(t, c.Node(leader).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	raw := dialRaw(t, c.Node(leader).KafkaAddr)
	for round, n := range []int{50, 20} {
		produceRoundRobin(ctx, book, leaderOnly, topic, 1, round*100, n, 1)
		book.wait(t, ctx)
		leo, gotHW := leaderOffsets(t, c.Node(leader).KafkaAddr, topic, 0, other)
		if want := int64(book.nAcked.Load()); leo != want || gotHW != hw {
			t.Fatalf("round %d: leader's log end %d, high watermark %d; want %d and %d (the stopped follower is in the ISR)", round, leo, gotHW, want, hw)
		}
		for _, from := range []int64{0, 50, hw, hw + 10, leo - 1} {
			fetchBelowHW(t, raw, topic, from, hw)
		}
		if end := endOffsetAt(t, ctx, c.Node(other).KafkaAddr, topic, 0); end != hw {
			t.Fatalf("ListOffsets latest %d, want the high watermark %d", end, hw)
		}
	}
	recs := consumeFor(t, ctx, c.Node(other).KafkaAddr, topic, time.Second)
	if len(recs) != hw || recs[len(recs)-1].Offset != hw-1 {
		t.Fatalf("franz-go consumer read %d records up to offset %d, want the %d below the high watermark", len(recs), lastOffset(recs), hw)
	}

	resume()
	acked := book.snapshot()
	ends := endsOf(acked)
	waitFor(t, ctx, func() bool {
		_, hw := leaderOffsets(t, c.Node(leader).KafkaAddr, topic, 0, other)
		return hw == ends[0]
	})
	waitReplicasEqual(t, ctx, c, topic, ends)
	all, listed := consumeTopic(t, ctx, c.Node(other).KafkaAddr, topic)
	checkStream(t, "franz-go after SIGCONT", all, acked, listed)
}

// fetchBelowHW fetches topic-0 from offset as a consumer and fails unless
// the answer names high watermark hw and holds no record at or above it.
func fetchBelowHW(t *testing.T, raw *rawConn, topic string, offset, hw int64) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.MaxWaitMillis, req.MinBytes = 12, -1, 8<<20, 100, 1
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = offset, 8<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrFetchResponse()
	raw.roundTrip(req, resp)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %+v", resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != hw {
		t.Fatalf("fetch from %d: error %d, high watermark %d; want 0 and %d", offset, p.ErrorCode, p.HighWatermark, hw)
	}
	for b := p.RecordBatches; len(b) >= wal.BatchHeaderSize; {
		h, err := wal.ParseBatchHeader(b)
		if err != nil || h.Size() > int64(len(b)) {
			break // a partial batch at the end of the response
		}
		if h.LastOffset() >= hw {
			t.Fatalf("fetch from %d returned a batch of offsets [%d, %d] at or above the high watermark %d", offset, h.BaseOffset, h.LastOffset(), hw)
		}
		b = b[h.Size():]
	}
}

// consumeFor reads partition 0 of topic from the start for d with a
// fresh client and returns what it got.
func consumeFor(t *testing.T, ctx context.Context, addr, topic string, d time.Duration) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var recs []*kgo.Record
	until := time.Now().Add(d)
	for time.Now().Before(until) {
		pctx, cancel := context.WithDeadline(ctx, until)
		fs := cl.PollFetches(pctx)
		cancel()
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// testDivergentTailTruncatedOnRejoin: both followers stopped, the leader
// takes records at acks=1 (acknowledged by it alone, never committed) and
// is killed; the followers resume before their session ends, one is
// elected, takes acks=-1 records at the new epoch; the old leader,
// restarted, truncates its acks=1 tail, and its log then equals the new
// leader's. The acks=1 records are gone everywhere and no acks=-1 record
// is lost.
func testDivergentTailTruncatedOnRejoin(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic, old = "diverge", 1
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 0, replicatedTopicConfigs, [][]int32{{old, 2, 3}})
	waitPartitions(t, ctx, c.Node(old).KafkaAddr, topic, "created", func(ps map[int32]partState) bool { return ps[0].Leader == old && fullISR(ps) })
	book := newAckBook()
	produceRoundRobin(ctx, book, newClient(t, c.Node(2).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 0, 0, 100, 1)
	book.wait(t, ctx)
	waitReplicasEqual(t, ctx, c, topic, map[int32]int64{0: 100})

	resumes := []func(){pauseBroker(t, c, 2), pauseBroker(t, c, 3)}
	// A follower's fetch parked on the leader when it stopped would be
	// answered with the next append, into its socket, and read on SIGCONT:
	// let the leader answer those empty (replica.fetch.wait.max.ms is
	// 500 ms) before the acks=1 records arrive.
	time.Sleep(1500 * time.Millisecond)
	raw := dialRaw(t, c.Node(old).KafkaAddr)
	for i := range 5 {
		if got := raw.produceAcks(topic, pairBatch(1, i, 1), 1); got.ErrorCode != 0 || got.BaseOffset != int64(100+i) {
			t.Fatalf("acks=1 produce %d to the old leader: error %d at offset %d", i, got.ErrorCode, got.BaseOffset)
		}
	}
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	for _, resume := range resumes {
		resume()
	}
	if end, err := eachBatch(partitionDir(c.Node(old), topic, 0), func(wal.BatchHeader) {}); err != nil || end != 105 {
		t.Fatalf("killed leader's log ends at %d (%v), want 105: the divergent tail is not there to truncate", end, err)
	}
	ps := waitPartitions(t, ctx, c.Node(2).KafkaAddr, topic, "a follower elected", func(ps map[int32]partState) bool {
		return (ps[0].Leader == 2 || ps[0].Leader == 3) && slices.Equal(ps[0].ISR, []int32{2, 3})
	})
	t.Logf("broker %d leads at epoch %d", ps[0].Leader, ps[0].LeaderEpoch)
	produceRoundRobin(ctx, book, newClient(t, c.Node(ps[0].Leader).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 2, 0, 50, 1)
	book.wait(t, ctx)
	acked := book.snapshot()
	ends := endsOf(acked)
	if ends[0] != 150 {
		t.Fatalf("acks=-1 records at the new epoch end at %d, want 150 (after the 100 committed ones)", ends[0])
	}

	if err := c.Restart(ctx, old); err != nil {
		t.Fatalf("restart the old leader: %v", err)
	}
	waitPartitions(t, ctx, c.Node(old).KafkaAddr, topic, "the old leader back in the ISR", fullISR)
	waitReplicasEqual(t, ctx, c, topic, ends)
	recs, listed := consumeTopic(t, ctx, c.Node(old).KafkaAddr, topic)
	// The acks=1 records (producer 1) would be "not of this stream".
	checkStream(t, "franz-go", recs, acked, listed)
}
