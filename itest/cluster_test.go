package itest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startCluster starts a 3-broker cluster from the built binary with
// clusterProps (a killed broker is fenced within ~2s; 10 partitions of
// __consumer_offsets, 3 replicas each, keep its creation quick), reaped by
// pid at test end; the logs of every broker are printed if the test fails.
func startCluster(t *testing.T) *testbed.Cluster {
	t.Helper()
	return startClusterWith(t, clusterProps(nil), false)
}

func admin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, addr))
}

func createTopic(t *testing.T, ctx context.Context, addr, topic string, parts int32, rf int16) {
	t.Helper()
	resp, err := admin(t, addr).CreateTopic(ctx, parts, rf, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s through %s: %v / %v", topic, addr, err, resp.Err)
	}
}

// leadersOf returns partition -> leader as broker addr itself sees them,
// once it knows topic: a broker applies a committed topic on its own time,
// as in Kafka (CI: a Metadata right after a CreateTopics answered
// UNKNOWN_TOPIC_OR_PARTITION; kadm had also sent it to whichever broker it
// liked, not to addr).
func leadersOf(t *testing.T, ctx context.Context, addr, topic string) map[int32]int32 {
	t.Helper()
	for {
		if out := topicLeaders(ctx, addr, topic); out != nil {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s does not know %s", addr, topic)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestCluster runs every cluster scenario on one 3-broker cluster (starting
// one costs a few seconds of process start-up and Raft election); the
// scenarios use distinct topics and groups, and the one that kills a broker
// runs last.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testbed.Cluster)
	}{
		{"SpreadsLeadersAndServesEveryPartition", testSpreadsLeadersAndServesEveryPartition},
		{"TopicCreatedThroughOneBrokerIsVisibleFromAnother", testTopicCreatedThroughOneBrokerIsVisibleFromAnother},
		{"TopicDeletedThroughBroker3IsGoneEverywhere", testTopicDeletedThroughBroker3IsGoneEverywhere},
		{"CreatePartitionsThroughNonController", testCreatePartitionsThroughNonController},
		{"DescribeClusterListsEveryBrokerAndTheController", testDescribeClusterListsEveryBroker},
		{"TopicConfigAlteredThroughOneBrokerIsVisibleFromAnother", testTopicConfigAlteredEverywhere},
		{"ConsumerGroupFindsCoordinatorOnPartitionLeader", testConsumerGroupCoordinatorOnPartitionLeader},
		{"ConfluentKafkaPythonAcrossBrokers", testConfluentKafkaPythonCluster},
		{"SurvivesOneBrokerKilledAndItRejoins", testSurvivesOneBrokerKilledAndItRejoins},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, c) })
	}
}

func testSpreadsLeadersAndServesEveryPartition(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 60*time.Second)
	const topic, parts = "spread", 9
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, parts, 1)
	waitAllKnow(t, ctx, c, topic, parts) // the clients below may ask any broker

	perBroker := map[int32]int{}
	for _, l := range leadersOf(t, ctx, c.Node(1).KafkaAddr, topic) {
		perBroker[l]++
	}
	if len(perBroker) != 3 || perBroker[1] != 3 || perBroker[2] != 3 || perBroker[3] != 3 {
		t.Fatalf("leaders per broker: %v, want 3 each", perBroker)
	}

	// One seed broker; the client routes each partition to its leader.
	prod := newClient(t, c.Node(2).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perPart = 20
	var recs []*kgo.Record
	for p := range int32(parts) {
		for i := range perPart {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := newClient(t, c.Node(3).KafkaAddr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < len(recs) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(got), len(recs), err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("p%d-", r.Partition)
			if string(r.Value[:len(want)]) != want {
				t.Fatalf("record %q came back from partition %d", r.Value, r.Partition)
			}
			got[string(r.Value)] = true
		})
	}
}

func testTopicCreatedThroughOneBrokerIsVisibleFromAnother(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 30*time.Second)
	createTopic(t, ctx, c.Node(2).KafkaAddr, "via-2", 4, 3)
	waitAllKnow(t, ctx, c, "via-2", 4) // brokers apply the commit on their own time, as in Kafka
	l2 := leadersOf(t, ctx, c.Node(2).KafkaAddr, "via-2")
	l3 := leadersOf(t, ctx, c.Node(3).KafkaAddr, "via-2")
	if len(l3) != 4 || fmt.Sprint(l2) != fmt.Sprint(l3) {
		t.Fatalf("broker 2 sees %v, broker 3 sees %v", l2, l3)
	}
	// A second create of the same name, through another broker, is refused.
	resp, err := admin(t, c.Node(3).KafkaAddr).CreateTopic(ctx, 1, 1, nil, "via-2")
	if !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v / %v", err, resp.Err)
	}
	// Produce and fetch at a broker that does not lead the partition:
	// NOT_LEADER_OR_FOLLOWER. Partition 0's leader is l2[0].
	other := l2[0]%3 + 1
	raw := dialRaw(t, c.Node(other).KafkaAddr)
	rec := kmsg.NewRecord()
	rec.Value = []byte("x")
	if got := raw.produce("via-2", recordBatch(time.Now(), rec)); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to non-leader %d: error %d, want NOT_LEADER_OR_FOLLOWER", other, got.ErrorCode)
	}
	freq := kmsg.NewPtrFetchRequest()
	// Version 10: no client metadata, so only the leader serves it (from
	// v11 on a follower serves consumers too, KIP-392, as in Kafka).
	freq.Version, freq.ReplicaID, freq.MaxBytes = 10, -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "via-2"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp := kmsg.NewPtrFetchResponse()
	raw.roundTrip(freq, fresp)
	if code := fresp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from non-leader %d: error %d, want NOT_LEADER_OR_FOLLOWER", other, code)
	}
}

func testSurvivesOneBrokerKilledAndItRejoins(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 60*time.Second)
	createTopic(t, ctx, c.Node(1).KafkaAddr, "before", 6, 1)
	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	createTopic(t, ctx, c.Node(1).KafkaAddr, "during", 3, 1)

	// The controller fences broker 3: Metadata (and kcat) list 1 and 2 only.
	waitBrokers(t, ctx, c.Node(2).KafkaAddr, []int32{1, 2})
	kcatBrokers(t, ctx, c.Node(1).KafkaAddr, []int32{1, 2})

	if err := c.Restart(ctx, 3); err != nil {
		t.Fatalf("restart broker 3: %v", err)
	}
	waitBrokers(t, ctx, c.Node(1).KafkaAddr, []int32{1, 2, 3})
	kcatBrokers(t, ctx, c.Node(3).KafkaAddr, []int32{1, 2, 3})
	for _, topic := range []string{"before", "during"} {
		want := leadersOf(t, ctx, c.Node(1).KafkaAddr, topic)
		got := leadersOf(t, ctx, c.Node(3).KafkaAddr, topic)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("%s: broker 3 sees %v after restart, broker 1 %v", topic, got, want)
		}
		for p, l := range got {
			if l < 1 {
				t.Fatalf("%s-%d has no leader after broker 3 came back", topic, p)
			}
		}
	}
}

// waitBrokers waits until Metadata from addr lists exactly ids.
func waitBrokers(t *testing.T, ctx context.Context, addr string, ids []int32) {
	t.Helper()
	var got []int32
	for {
		var err error
		got, err = testbed.MetadataBrokers(ctx, addr)
		if err == nil && slices.Equal(got, ids) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s lists brokers %v (err %v), want %v", addr, got, err, ids)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kcatBrokers checks that `kcat -L` through addr lists exactly ids.
func kcatBrokers(t *testing.T, ctx context.Context, addr string, ids []int32) {
	t.Helper()
	requireInterop(t, "kcat", "kcat", "-V")
	var md kcatMetadata
	out := run(t, ctx, "", "kcat", "-L", "-J", "-b", addr, "-m", "10")
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	var got []int32
	for _, b := range md.Brokers {
		got = append(got, b.ID)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if !slices.Equal(got, ids) {
		t.Fatalf("kcat -L lists brokers %v, want %v", got, ids)
	}
}
