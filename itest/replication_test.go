package itest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Partition replication on 3 broker processes (issue 10). Every scenario
// checks data, not liveness: each acknowledged record is read back once,
// at its acknowledged offset, in produce order, offsets dense, and every
// replica's log on disk is byte-identical to its leader's.

// replicatedTopicConfigs: acks=-1 needs 2 in-sync replicas.
var replicatedTopicConfigs = map[string]string{"min.insync.replicas": "2"}

// TestReplication runs the scenarios that fit the short-session cluster
// (a stopped or killed broker is fenced after 2 s) on one cluster, in an
// order that leaves it whole after each: all three brokers up, every ISR
// full.
func TestReplication(t *testing.T) {
	c := startClusterWith(t, clusterProps(nil), false)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testbed.Cluster)
	}{
		{"AcksAllRecordsByteIdenticalOnEveryReplica", testAcksAllRecordsByteIdenticalOnEveryReplica},
		{"OnlyReplicasHoldPartitionFiles", testOnlyReplicasHoldPartitionFiles},
		{"IdempotentProducersOnEveryBrokerAllStoredOnce", testIdempotentProducersOnEveryBroker},
		{"StoppedFollowerLeavesISRAndCatchesUp", testStoppedFollowerLeavesISRAndCatchesUp},
		{"LeadersStoppedInTurnRejoinAsFollowers", testLeadersStoppedInTurnRejoinAsFollowers},
		{"ZombieLeaderAcknowledgesNothing", testZombieLeaderAcknowledgesNothing},
		{"AckedRecordsSurviveKill9OfTwoBrokersInTurn", testAckedRecordsSurviveKill9OfTwoBrokers},
	} {
		if !t.Run(sc.name, func(t *testing.T) { sc.run(t, c) }) {
			return // the cluster may not be whole: later scenarios would fail for this one's reason
		}
	}
}

// produceRoundRobin produces seqs [from, from+n) of producer to
// partition seq % parts through cl and books them.
func produceRoundRobin(ctx context.Context, book *ackBook, cl *kgo.Client, topic string, producer, from, n, parts int) {
	for s := from; s < from+n; s++ {
		book.produce(ctx, cl, topic, int32(s%parts), producer, s)
	}
}

// endsOf returns the end offset per partition of an acknowledged set:
// one past its highest acknowledged offset.
func endsOf(acked map[pairKey]placed) map[int32]int64 {
	ends := map[int32]int64{}
	for _, at := range acked {
		ends[at.partition] = max(ends[at.partition], at.offset+1)
	}
	return ends
}

// testAcksAllRecordsByteIdenticalOnEveryReplica: 100,000 acks=-1 records
// over 9 partitions with 3 replicas each; every follower's log becomes
// byte-identical to its leader's, and franz-go, kcat, confluent-kafka and
// kafkajs, each through another broker, read every record once, in order.
func testAcksAllRecordsByteIdenticalOnEveryReplica(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 4*time.Minute)
	const topic, parts, n = "repl-100k", 9, 100_000
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, parts, 3, replicatedTopicConfigs, nil)
	waitAllKnow(t, ctx, c, topic, parts)
	// The default franz-go producer (idempotent, acks=-1), without
	// compression so that kafkajs reads the batches too.
	cl := newClient(t, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	book := newAckBook()
	start := time.Now()
	produceRoundRobin(ctx, book, cl, topic, 0, 0, n, parts)
	book.wait(t, ctx)
	t.Logf("%d acks=-1 records acknowledged in %v", n, time.Since(start).Round(time.Millisecond))
	acked := book.snapshot()
	ends := endsOf(acked)
	for p := range int32(parts) {
		if want := int64((n - int(p) + parts - 1) / parts); ends[p] != want {
			t.Fatalf("partition %d: acknowledged up to offset %d, want %d", p, ends[p], want)
		}
	}
	start = time.Now()
	waitReplicasEqual(t, ctx, c, topic, ends)
	t.Logf("every replica identical to its leader %v after the last ack", time.Since(start).Round(time.Millisecond))

	recs, listed := consumeTopic(t, ctx, c.Node(2).KafkaAddr, topic)
	checkStream(t, "franz-go via broker 2", recs, acked, ends)
	if fmt.Sprint(listed) != fmt.Sprint(ends) {
		t.Errorf("end offsets listed %v, acknowledged %v", listed, ends)
	}
	checkStream(t, "kcat via broker 1", kcatReadAll(t, ctx, c.Node(1).KafkaAddr, topic), acked, ends)
	checkStream(t, "confluent-kafka via broker 2", confluentReadAll(t, ctx, c.Node(2).KafkaAddr, topic), acked, ends)
	checkStream(t, "kafkajs via broker 3", kafkajsReadAll(t, ctx, c.Node(3).KafkaAddr, topic), acked, ends)
}

// testOnlyReplicasHoldPartitionFiles: with RF=1 and RF=2 only the replica
// brokers of a partition create its directory, and RF=2 followers hold
// their leader's bytes.
func testOnlyReplicasHoldPartitionFiles(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, time.Minute)
	for _, rf := range []int16{1, 2} {
		topic := fmt.Sprintf("placed-rf%d", rf)
		const parts = 6
		createTopicWith(t, ctx, c.Node(2).KafkaAddr, topic, parts, rf, nil, nil)
		waitAllKnow(t, ctx, c, topic, parts)
		cl := newClient(t, c.Node(3).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		book := newAckBook()
		produceRoundRobin(ctx, book, cl, topic, 0, 0, 600, parts)
		book.wait(t, ctx)
		ps := waitReplicasEqual(t, ctx, c, topic, endsOf(book.snapshot()))
		holders := 0
		for p, st := range ps {
			if len(st.Replicas) != int(rf) {
				t.Fatalf("%s-%d has replicas %v, want %d", topic, p, st.Replicas, rf)
			}
			for _, n := range c.Nodes {
				if slices.Contains(partitionDirsOf(t, n.DataDir, topic), partitionDir(n, topic, p)) {
					holders++
				}
			}
		}
		if holders != parts*int(rf) { // waitReplicasEqual checked that none is a non-replica
			t.Fatalf("%s: %d partition directories over the brokers, want %d", topic, holders, parts*int(rf))
		}
	}
}

// testIdempotentProducersOnEveryBroker: 12 idempotent producers, each
// bootstrapped from another broker in turn, write 2,000 records each to
// one partition; each gets its own producer id (ids taken from one
// cluster-wide allocation, not per broker) and every record is stored
// exactly once.
func testIdempotentProducersOnEveryBroker(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic, producers, n = "many-producers", 12, 2000
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 3, replicatedTopicConfigs, nil)
	waitAllKnow(t, ctx, c, topic, 1)
	book := newAckBook()
	var wg sync.WaitGroup
	for i := range producers {
		cl := newClient(t, c.Nodes[i%3].KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range n {
				book.produce(ctx, cl, topic, 0, i, s)
			}
		}()
	}
	wg.Wait()
	book.wait(t, ctx)
	acked := book.snapshot()
	if len(acked) != producers*n {
		t.Fatalf("%d records acknowledged, want %d", len(acked), producers*n)
	}
	ends := endsOf(acked)
	if ends[0] != producers*n {
		t.Fatalf("acknowledged offsets reach %d, want %d (records dropped as duplicates?)", ends[0], producers*n)
	}
	waitReplicasEqual(t, ctx, c, topic, ends)
	recs, _ := consumeTopic(t, ctx, c.Node(2).KafkaAddr, topic)
	checkStream(t, "franz-go", recs, acked, ends)
	ids := producerIDsOf(t, c.Node(1), topic, 0)
	if len(ids) != producers {
		t.Errorf("the log holds batches of %d producer ids %v, want %d", len(ids), ids, producers)
	}
}

// producerIDsOf lists the producer ids in broker n's log of topic-p.
func producerIDsOf(t *testing.T, n *testbed.Node, topic string, p int32) []int64 {
	t.Helper()
	var ids []int64
	if _, err := eachBatch(partitionDir(n, topic, p), func(h wal.BatchHeader) {
		if !slices.Contains(ids, h.ProducerID) {
			ids = append(ids, h.ProducerID)
		}
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// testStoppedFollowerLeavesISRAndCatchesUp: a follower frozen with
// SIGSTOP stops heartbeating and is fenced out of the ISR; acks=-1
// produces with min.insync.replicas=2 carry on without it, while a topic
// with min.insync.replicas=3 refuses them with NOT_ENOUGH_REPLICAS and
// stores nothing. After SIGCONT the follower catches up, rejoins every
// ISR and holds its leader's bytes. The stopped follower is the
// controller (the metadata shard's leader): its own pause must not make it
// fence the brokers it could not hear while frozen.
func testStoppedFollowerLeavesISRAndCatchesUp(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic, strict = "stopped-follower", "stopped-follower-min3"
	follower := controllerOf(t, c.Node(1).KafkaAddr)
	leader, other := follower%3+1, (follower+1)%3+1
	t.Logf("leader %d, followers %d and %d (the controller, to be stopped)", leader, other, follower)
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 0, replicatedTopicConfigs, [][]int32{{leader, other, follower}})
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, strict, 1, 0, map[string]string{"min.insync.replicas": "3"}, [][]int32{{leader, other, follower}})
	for _, tp := range []string{topic, strict} {
		waitPartitions(t, ctx, c.Node(leader).KafkaAddr, tp, "created", func(ps map[int32]partState) bool {
			return ps[0].Leader == leader && fullISR(ps)
		})
	}
	raw := dialRaw(t, c.Node(leader).KafkaAddr)
	if got := raw.produce(strict, pairBatch(9, 0, 1)); got.ErrorCode != 0 {
		t.Fatalf("acks=-1 produce to %s with its 3 replicas in sync: error %v", strict, kerr.ErrorForCode(got.ErrorCode))
	}

	cl := newClient(t, c.Node(other).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	book := newAckBook()
	stop := make(chan struct{})
	loadDone := make(chan int)
	go func() { loadDone <- produceUntil(ctx, book, cl, topic, 1, 0, stop) }()
	book.waitAcked(t, ctx, 500, "before the stop")

	t0 := time.Now()
	step := func(what string) { t.Logf("%v: %s", time.Since(t0).Round(time.Millisecond), what) }
	resume := pauseBroker(t, c, follower)
	waitPartitions(t, ctx, c.Node(leader).KafkaAddr, topic, "stopped follower out of the ISR", func(ps map[int32]partState) bool {
		return slices.Equal(ps[0].ISR, sorted(leader, other))
	})
	step("follower out of the ISR")
	// Well before replica.lag.time.max.ms (30 s) could drop it by lag: the
	// leader must not wait for a fenced follower, however recently it was
	// caught up.
	fenced, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	book.waitAcked(t, fenced, book.nAcked.Load()+500, "acks=-1 with the follower out of the ISR, within 15 s")
	step("500 more acks=-1 records acknowledged")

	waitPartitions(t, ctx, c.Node(leader).KafkaAddr, strict, "stopped follower out of the ISR", func(ps map[int32]partState) bool {
		return len(ps[0].ISR) == 2
	})
	leoBefore, _ := leaderOffsets(t, c.Node(leader).KafkaAddr, strict, 0, other)
	if got := raw.produce(strict, pairBatch(9, 1, 1)); got.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Errorf("acks=-1 produce to %s (min.insync.replicas=3) with 2 in sync: error %v, want NOT_ENOUGH_REPLICAS", strict, kerr.ErrorForCode(got.ErrorCode))
	}
	if leo, _ := leaderOffsets(t, c.Node(leader).KafkaAddr, strict, 0, other); leo != leoBefore {
		t.Errorf("refused produce moved the leader's log end from %d to %d", leoBefore, leo)
	}

	resume()
	step("follower continued")
	for _, tp := range []string{topic, strict} {
		// The resumed controller fenced nobody: the leader never moved.
		waitPartitions(t, ctx, c.Node(leader).KafkaAddr, tp, "continued follower back in the ISR under the same leader", func(ps map[int32]partState) bool {
			return fullISR(ps) && ps[0].Leader == leader && ps[0].LeaderEpoch == 0
		})
		step(tp + ": follower back in the ISR")
	}
	book.waitAcked(t, ctx, book.nAcked.Load()+500, "acks=-1 after the follower rejoined")
	close(stop)
	<-loadDone
	book.wait(t, ctx)
	acked := book.snapshot()
	ends := endsOf(acked)
	waitReplicasEqual(t, ctx, c, topic, ends)
	waitReplicasEqual(t, ctx, c, strict, map[int32]int64{0: 1})
	recs, _ := consumeTopic(t, ctx, c.Node(follower).KafkaAddr, topic)
	checkStream(t, "franz-go", recs, acked, ends)
	if got := raw.produce(strict, pairBatch(9, 2, 1)); got.ErrorCode != 0 || got.BaseOffset != 1 {
		t.Errorf("acks=-1 produce to %s after the rejoin: error %v at offset %d, want offset 1", strict, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
}

func sorted(ids ...int32) []int32 {
	slices.Sort(ids)
	return ids
}

// testLeadersStoppedInTurnRejoinAsFollowers: the leader is frozen past
// its session, fenced, replaced, and resumed as a follower; then its
// successor, which led an epoch without taking a record, is frozen and
// resumed the same way. Each rejoins the ISR (the successor's epoch
// without batches must not look like a divergence forever), and the
// records from before and after are all there, once, on every replica.
func testLeadersStoppedInTurnRejoinAsFollowers(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic = "stopped-leaders"
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 0, replicatedTopicConfigs, [][]int32{{1, 2, 3}})
	waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "created", func(ps map[int32]partState) bool { return ps[0].Leader == 1 && fullISR(ps) })
	book := newAckBook()
	produceRoundRobin(ctx, book, newClient(t, c.Node(2).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 0, 0, 1000, 1)
	book.wait(t, ctx)
	for range 2 {
		var ps map[int32]partState
		stopped, epoch, resume := pauseLeader(t, ctx, c, topic)
		watch := c.Node(stopped%3 + 1).KafkaAddr
		ps = waitPartitions(t, ctx, watch, topic, fmt.Sprintf("leader %d fenced and replaced", stopped), func(ps map[int32]partState) bool {
			return ps[0].Leader > 0 && ps[0].Leader != stopped && ps[0].LeaderEpoch > epoch && !slices.Contains(ps[0].ISR, stopped)
		})
		resume()
		rejoin, cancel := context.WithTimeout(ctx, 30*time.Second) // well past a catch-up of 1,000 records
		ps = waitPartitions(t, rejoin, watch, topic, fmt.Sprintf("broker %d back in the ISR as a follower", stopped), fullISR)
		cancel()
		t.Logf("broker %d stopped, replaced by %d at epoch %d, back in the ISR", stopped, ps[0].Leader, ps[0].LeaderEpoch)
	}
	produceRoundRobin(ctx, book, newClient(t, c.Node(3).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 1, 0, 1000, 1)
	book.wait(t, ctx)
	acked := book.snapshot()
	ends := endsOf(acked)
	waitReplicasEqual(t, ctx, c, topic, ends)
	recs, listed := consumeTopic(t, ctx, c.Node(1).KafkaAddr, topic)
	checkStream(t, "franz-go", recs, acked, listed)
}

// testZombieLeaderAcknowledgesNothing: an acks=-1 produce reaches the
// leader while it is frozen; meanwhile it is fenced and replaced, and the
// new leader takes acks=-1 records. Resumed, the old leader (a zombie
// until it applies the metadata) must answer that produce with an error,
// and its records must be nowhere once it follows: every replica ends
// with exactly the records the new leader acknowledged after the ones
// from before.
func testZombieLeaderAcknowledgesNothing(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 2*time.Minute)
	const topic, zombieProducer = "zombie", 7
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, 1, 3, replicatedTopicConfigs, nil)
	waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "created", fullISR)
	book := newAckBook()
	produceRoundRobin(ctx, book, newClient(t, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 0, 0, 100, 1)
	book.wait(t, ctx)

	ps := waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "a leader", func(ps map[int32]partState) bool { return ps[0].Leader > 0 })
	raw := dialRaw(t, c.Node(ps[0].Leader).KafkaAddr) // before the stop: the connection is accepted
	zombie, epoch, resume := pauseLeader(t, ctx, c, topic)
	if zombie != ps[0].Leader {
		t.Skipf("leadership moved to %d before the stop; the connection is to %d", zombie, ps[0].Leader)
	}
	type outcome struct {
		acked bool
		what  string
	}
	answer := make(chan outcome, 1)
	go func() {
		resp := kmsg.NewPtrProduceResponse()
		err := raw.exchange(produceRequest(topic, pairBatch(zombieProducer, 0, 5), -1), resp, time.Minute)
		switch {
		case err != nil:
			answer <- outcome{false, err.Error()} // nothing acknowledged
		case len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode != 0:
			answer <- outcome{false, kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode).Error()}
		default:
			answer <- outcome{true, fmt.Sprintf("%+v", resp.Topics)}
		}
	}()
	live := c.Node(zombie%3 + 1).KafkaAddr
	ps = waitPartitions(t, ctx, live, topic, "the stopped leader fenced and replaced", func(ps map[int32]partState) bool {
		return ps[0].Leader > 0 && ps[0].Leader != zombie && ps[0].LeaderEpoch > epoch && !slices.Contains(ps[0].ISR, zombie)
	})
	produceRoundRobin(ctx, book, newClient(t, live, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 1, 0, 100, 1)
	book.wait(t, ctx)
	resume()
	select {
	case got := <-answer:
		if got.acked {
			t.Errorf("the zombie leader acknowledged an acks=-1 produce it cannot have committed: %s", got.what)
		}
		t.Logf("the zombie leader answered: %s", got.what)
	case <-ctx.Done():
		t.Fatal("the zombie leader never answered the produce")
	}
	waitPartitions(t, ctx, live, topic, "the old leader back in the ISR", fullISR)
	acked := book.snapshot()
	waitReplicasEqual(t, ctx, c, topic, endsOf(acked))
	recs, listed := consumeTopic(t, ctx, live, topic)
	checkStream(t, "franz-go", recs, acked, listed) // producer 7's records would be "not of this stream"
}

// pauseLeader stops (SIGSTOP) the leader of topic-0 and returns it, the
// leader epoch it leads at and the function that resumes it. A
// preferred-leader election may move the leadership just before the
// stop; then it resumes that broker and tries again.
func pauseLeader(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string) (int32, int32, func()) {
	t.Helper()
	for {
		before := waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "a leader", func(ps map[int32]partState) bool { return ps[0].Leader > 0 })[0]
		resume := pauseBroker(t, c, before.Leader)
		after, err := partitionsAt(ctx, c.Node(before.Leader%3+1).KafkaAddr, topic)
		if err == nil && after[0].Leader == before.Leader && after[0].LeaderEpoch == before.LeaderEpoch {
			return before.Leader, before.LeaderEpoch, resume
		}
		resume()
		if ctx.Err() != nil {
			t.Fatalf("no stable leader of %s to stop: %v", topic, ctx.Err())
		}
	}
}

// produceUntil produces (producer, 0, 1, ...) round-robin over parts
// partitions until stop is closed, and returns how many it sent. The
// client's buffer bounds what is in flight.
func produceUntil(ctx context.Context, book *ackBook, cl *kgo.Client, topic string, parts, producer int, stop <-chan struct{}) int {
	for s := 0; ; s++ {
		select {
		case <-stop:
			return s
		case <-ctx.Done():
			return s
		default:
		}
		book.produce(ctx, cl, topic, int32(s%parts), producer, s)
	}
}

// pairBatch is a batch of n pair values of producer from seq, without a
// producer id (for raw produces).
func pairBatch(producer, seq, n int) []byte {
	var recs []kmsg.Record
	for i := range n {
		r := kmsg.NewRecord()
		r.Value = pairValue(producer, seq+i)
		recs = append(recs, r)
	}
	return recordBatch(time.Now(), recs...)
}

// testAckedRecordsSurviveKill9OfTwoBrokers: under an idempotent acks=-1
// load, the leader of partition 0 is killed with SIGKILL, restarted and
// waited for back in every ISR, then another broker is killed and
// restarted the same way. Leaders move and the producers retry; every
// acknowledged record is read back once at its acknowledged offset, in
// order, and the replicas end byte-identical.
func testAckedRecordsSurviveKill9OfTwoBrokers(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 3*time.Minute)
	const topic, parts = "kill-two", 6
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, parts, 3, replicatedTopicConfigs, nil)
	ps := waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "created", fullISR)
	book := newAckBook()
	stop := make(chan struct{})
	var loads sync.WaitGroup
	for producer, seed := range []string{c.Node(1).KafkaAddr, c.Node(2).KafkaAddr, c.Node(3).KafkaAddr} {
		// A short metadata min age: the clients find the new leaders at once
		// (kgo's default waits 5 s between refreshes).
		cl := newClient(t, seed, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(2000),
			kgo.MetadataMinAge(250*time.Millisecond))
		loads.Add(1)
		go func() { defer loads.Done(); produceUntil(ctx, book, cl, topic, parts, producer, stop) }()
	}
	book.waitAcked(t, ctx, 3000, "before the first kill")

	first := ps[0].Leader
	second := first%3 + 1
	for _, victim := range []int32{first, second} {
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		step := func(what string) {
			t.Logf("broker %d killed %v ago: %s (%d acks)", victim, time.Since(killed).Round(time.Millisecond), what, book.nAcked.Load())
		}
		step("killed")
		waitPartitions(t, ctx, c.Node(victim%3+1).KafkaAddr, topic, "leaders moved off the killed broker", func(ps map[int32]partState) bool {
			for _, p := range ps {
				if p.Leader == victim || p.Leader < 0 || slices.Contains(p.ISR, victim) {
					return false
				}
			}
			return true
		})
		step("leaders moved off it, it left every ISR")
		book.waitAcked(t, ctx, book.nAcked.Load()+2000, fmt.Sprintf("acks=-1 with broker %d down", victim))
		step("2000 more acks")
		if err := c.Restart(ctx, victim); err != nil {
			t.Fatalf("restart broker %d: %v", victim, err)
		}
		step("restarted")
		waitPartitions(t, ctx, c.Node(victim).KafkaAddr, topic, fmt.Sprintf("broker %d back in every ISR", victim), fullISR)
		step("back in every ISR")
		book.waitAcked(t, ctx, book.nAcked.Load()+2000, fmt.Sprintf("acks=-1 after broker %d rejoined", victim))
	}
	close(stop)
	loads.Wait()
	book.wait(t, ctx)
	acked := book.snapshot()
	ends := endsOf(acked)
	waitReplicasEqual(t, ctx, c, topic, ends)
	recs, listed := consumeTopic(t, ctx, c.Node(first).KafkaAddr, topic)
	checkStream(t, "franz-go", recs, acked, listed)
	t.Logf("%d records acknowledged", len(acked))
}
