package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/engine/group"
	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin requests sent to one chosen broker of the cluster (a raw
// connection: franz-go would route them to the controller), and consumer
// groups and librdkafka across the brokers. Run by TestCluster.

// waitAllKnow waits until every broker lists topic with parts partitions.
func waitAllKnow(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, parts int) {
	t.Helper()
	for _, n := range c.Nodes {
		waitFor(t, ctx, func() bool { return len(topicLeaders(ctx, n.KafkaAddr, topic)) == parts })
	}
}

// topicLeaders returns partition -> leader from addr's Metadata, nil when
// addr does not know topic.
func topicLeaders(ctx context.Context, addr, topic string) map[int32]int32 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return nil
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil
	}
	out := map[int32]int32{}
	for _, p := range resp.Topics[0].Partitions {
		out[p.Partition] = p.Leader
	}
	return out
}

func partitionDirsOf(t *testing.T, dataDir, topic string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func testTopicDeletedThroughBroker3IsGoneEverywhere(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 60*time.Second)
	const topic, parts = "doomed", 6
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, parts, 3) // RF=3: every broker holds every partition
	waitAllKnow(t, ctx, c, topic, parts)
	produceValues(t, ctx, c.Node(2).KafkaAddr, topic, "d", 0, 60, parts)
	for _, n := range c.Nodes {
		if got := len(partitionDirsOf(t, n.DataDir, topic)); got != parts {
			t.Fatalf("broker %d holds %d partition dirs of %s (RF=3) before deletion, want %d", n.ID, got, topic, parts)
		}
	}

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 15000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, dt)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	dialRaw(t, c.Node(3).KafkaAddr).roundTrip(req, resp)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("delete %s through broker 3: %+v", topic, resp.Topics)
	}
	for _, n := range c.Nodes {
		waitFor(t, ctx, func() bool {
			return topicLeaders(ctx, n.KafkaAddr, topic) == nil && len(partitionDirsOf(t, n.DataDir, topic)) == 0
		})
	}
	// Deleting it again, through another broker: UNKNOWN_TOPIC_OR_PARTITION.
	again := kmsg.NewPtrDeleteTopicsResponse()
	dialRaw(t, c.Node(1).KafkaAddr).roundTrip(req, again)
	if code := again.Topics[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("second delete: error %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
}

// controllerOf returns the controller id as addr reports it.
func controllerOf(t *testing.T, addr string) int32 {
	t.Helper()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 0
	resp := kmsg.NewPtrDescribeClusterResponse()
	dialRaw(t, addr).roundTrip(req, resp)
	return resp.ControllerID
}

func createPartitionsAt(t *testing.T, addr, topic string, count int32, assignment [][]int32, validateOnly bool) kmsg.CreatePartitionsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly = 3, 15000, validateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	for _, reps := range assignment {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = reps
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	dialRaw(t, addr).roundTrip(req, resp)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreatePartitions answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0]
}

func testCreatePartitionsThroughNonController(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 60*time.Second)
	const topic = "growing"
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, 3, 1)
	waitAllKnow(t, ctx, c, topic, 3)
	ctrl := controllerOf(t, c.Node(1).KafkaAddr)
	if ctrl < 1 || ctrl > 3 {
		t.Fatalf("controller %d", ctrl)
	}
	via := c.Node(ctrl%3 + 1).KafkaAddr // not the controller

	for _, bad := range []struct {
		count int32
		as    [][]int32
		want  *kerr.Error
	}{
		{3, nil, kerr.InvalidPartitions},
		{2, nil, kerr.InvalidPartitions},
		{5, [][]int32{{1}}, kerr.InvalidReplicaAssignment},    // 2 new partitions, 1 assignment
		{4, [][]int32{{9}}, kerr.InvalidReplicaAssignment},    // no broker 9
		{4, [][]int32{{1, 2}}, kerr.InvalidReplicaAssignment}, // the topic has RF 1
	} {
		if got := createPartitionsAt(t, via, topic, bad.count, bad.as, false); got.ErrorCode != bad.want.Code {
			t.Fatalf("grow to %d with %v: error %d (%v), want %v", bad.count, bad.as, got.ErrorCode, got.ErrorMessage, bad.want)
		}
	}
	if got := createPartitionsAt(t, via, topic, 6, nil, true); got.ErrorCode != 0 {
		t.Fatalf("validate-only growth: error %d (%v)", got.ErrorCode, got.ErrorMessage)
	}
	if got := createPartitionsAt(t, via, topic, 6, [][]int32{{3}, {2}, {1}}, false); got.ErrorCode != 0 {
		t.Fatalf("grow %s to 6 through %s: error %d (%v)", topic, via, got.ErrorCode, got.ErrorMessage)
	}
	waitAllKnow(t, ctx, c, topic, 6)
	leaders := topicLeaders(ctx, c.Node(2).KafkaAddr, topic)
	if leaders[3] != 3 || leaders[4] != 2 || leaders[5] != 1 {
		t.Fatalf("new partitions led by %v, want 3->3 4->2 5->1 as assigned", leaders)
	}
	// The client routes records for the new partitions to their leaders.
	produceValues(t, ctx, c.Node(1).KafkaAddr, topic, "g", 0, 60, 6)
	for p := range int32(6) {
		lo := endOffsetAt(t, ctx, c.Node(1).KafkaAddr, topic, p)
		if lo != 10 {
			t.Fatalf("%s-%d holds %d records, want 10", topic, p, lo)
		}
	}
}

// endOffsetAt lists partition p's end offset (the client asks its leader).
func endOffsetAt(t *testing.T, ctx context.Context, addr, topic string, p int32) int64 {
	t.Helper()
	offs, err := admin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	o, ok := offs.Lookup(topic, p)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s-%d: %+v", topic, p, o)
	}
	return o.Offset
}

func testDescribeClusterListsEveryBroker(t *testing.T, c *testbed.Cluster) {
	var clusterID string
	var controller int32 = -2
	for _, n := range c.Nodes {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.EndpointType = 1, 1
		resp := kmsg.NewPtrDescribeClusterResponse()
		dialRaw(t, n.KafkaAddr).roundTrip(req, resp)
		if resp.ErrorCode != 0 {
			t.Fatalf("DescribeCluster at %d: error %d", n.ID, resp.ErrorCode)
		}
		var got []string
		for _, b := range resp.Brokers {
			got = append(got, fmt.Sprintf("%d@%s:%d", b.NodeID, b.Host, b.Port))
		}
		var want []string
		for _, m := range c.Nodes {
			want = append(want, fmt.Sprintf("%d@%s", m.ID, m.KafkaAddr))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("DescribeCluster at %d lists %v, want %v", n.ID, got, want)
		}
		if clusterID == "" {
			clusterID, controller = resp.ClusterID, resp.ControllerID
		}
		if resp.ClusterID != clusterID || resp.ClusterID == "" || resp.ControllerID != controller || controller < 1 || controller > 3 {
			t.Fatalf("broker %d: cluster %q controller %d; broker 1 said %q and %d", n.ID, resp.ClusterID, resp.ControllerID, clusterID, controller)
		}
	}
}

// topicConfigAt describes topic's overrides at addr: name -> value.
func topicConfigAt(t *testing.T, addr, topic string) map[string]string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp := kmsg.NewPtrDescribeConfigsResponse()
	dialRaw(t, addr).roundTrip(req, resp)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe %s at %s: %+v", topic, addr, resp.Resources)
	}
	out := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
			out[c.Name] = *c.Value
		}
	}
	return out
}

func testTopicConfigAlteredEverywhere(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 60*time.Second)
	const topic = "configured"
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, 3, 1)
	waitAllKnow(t, ctx, c, topic, 3)

	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	inc.Version = 1
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	for k, v := range map[string]string{"retention.ms": "123456", "max.message.bytes": "2000000"} {
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = k, kmsg.StringPtr(v)
		rr.Configs = append(rr.Configs, rc)
	}
	inc.Resources = append(inc.Resources, rr)
	incResp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	dialRaw(t, c.Node(1).KafkaAddr).roundTrip(inc, incResp)
	if code := incResp.Resources[0].ErrorCode; code != 0 {
		t.Fatalf("alter %s through broker 1: error %d (%v)", topic, code, incResp.Resources[0].ErrorMessage)
	}
	want := map[string]string{"retention.ms": "123456", "max.message.bytes": "2000000"}
	for _, n := range c.Nodes {
		waitFor(t, ctx, func() bool { return fmt.Sprint(topicConfigAt(t, n.KafkaAddr, topic)) == fmt.Sprint(want) })
	}

	// The legacy AlterConfigs through broker 3 replaces the whole set.
	legacy := kmsg.NewPtrAlterConfigsRequest()
	legacy.Version = 1
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	lc := kmsg.NewAlterConfigsRequestResourceConfig()
	lc.Name, lc.Value = "segment.ms", kmsg.StringPtr("3600000")
	lr.Configs = append(lr.Configs, lc)
	legacy.Resources = append(legacy.Resources, lr)
	legacyResp := kmsg.NewPtrAlterConfigsResponse()
	dialRaw(t, c.Node(3).KafkaAddr).roundTrip(legacy, legacyResp)
	if code := legacyResp.Resources[0].ErrorCode; code != 0 {
		t.Fatalf("legacy alter %s through broker 3: error %d", topic, code)
	}
	want = map[string]string{"segment.ms": "3600000"}
	for _, n := range c.Nodes {
		waitFor(t, ctx, func() bool { return fmt.Sprint(topicConfigAt(t, n.KafkaAddr, topic)) == fmt.Sprint(want) })
	}
}

// findCoordinator asks addr for group's coordinator.
func findCoordinator(t *testing.T, addr, group string) kmsg.FindCoordinatorResponseCoordinator {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKeys = 4, []string{group}
	resp := kmsg.NewPtrFindCoordinatorResponse()
	dialRaw(t, addr).roundTrip(req, resp)
	if len(resp.Coordinators) != 1 {
		t.Fatalf("FindCoordinator answered %d keys", len(resp.Coordinators))
	}
	return resp.Coordinators[0]
}

func testConsumerGroupCoordinatorOnPartitionLeader(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 90*time.Second)
	const topic, groupID, parts, n = "grouped", "cluster-group", 6, 600
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, parts, 1)
	waitAllKnow(t, ctx, c, topic, parts)

	// Every broker names the same coordinator: the leader of the group's
	// partition of __consumer_offsets, which the controller spread over all
	// three brokers.
	coord := findCoordinator(t, c.Node(1).KafkaAddr, groupID)
	for coord.ErrorCode == kerr.CoordinatorNotAvailable.Code { // the internal topic is being created
		time.Sleep(50 * time.Millisecond)
		coord = findCoordinator(t, c.Node(1).KafkaAddr, groupID)
	}
	waitAllKnow(t, ctx, c, "__consumer_offsets", 10)
	leaders := topicLeaders(ctx, c.Node(2).KafkaAddr, "__consumer_offsets")
	perBroker := map[int32]int{}
	for _, l := range leaders {
		perBroker[l]++
	}
	if len(perBroker) != 3 {
		t.Fatalf("__consumer_offsets leaders %v: want every broker to lead some", leaders)
	}
	want := leaders[group.Partition(groupID, 10)]
	for _, nd := range c.Nodes {
		got := findCoordinator(t, nd.KafkaAddr, groupID)
		if got.ErrorCode != 0 || got.NodeID != want || fmt.Sprintf("%s:%d", got.Host, got.Port) != c.Node(want).KafkaAddr {
			t.Fatalf("broker %d names coordinator %+v, want broker %d (leader of partition %d)", nd.ID, got, want, group.Partition(groupID, 10))
		}
	}
	// A broker that does not lead the partition refuses the group.
	other := c.Node(want%3 + 1)
	ofReq := kmsg.NewPtrOffsetFetchRequest()
	ofReq.Version, ofReq.Group = 7, groupID
	ofResp := kmsg.NewPtrOffsetFetchResponse()
	dialRaw(t, other.KafkaAddr).roundTrip(ofReq, ofResp)
	if ofResp.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("OffsetFetch at broker %d (not the coordinator): error %d, want NOT_COORDINATOR", other.ID, ofResp.ErrorCode)
	}

	produceValues(t, ctx, c.Node(3).KafkaAddr, topic, "v", 0, n, parts)
	seen := consumeInGroup(t, ctx, c, topic, groupID, n)
	if len(seen) != n {
		t.Fatalf("group consumed %d distinct records, want %d", len(seen), n)
	}
	lag := groupLagAt(t, ctx, c.Node(1).KafkaAddr, groupID, topic)
	if lag != 0 {
		t.Fatalf("group lag %d after consuming everything and committing, want 0", lag)
	}
}

// consumeInGroup runs two members of group (seeded at different brokers)
// until they consumed n distinct values between them, then commits and
// leaves.
func consumeInGroup(t *testing.T, ctx context.Context, c *testbed.Cluster, topic, group string, n int) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i, seed := range []string{c.Node(1).KafkaAddr, c.Node(2).KafkaAddr} {
		cl := newClient(t, seed, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.ClientID(fmt.Sprintf("member-%d", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fs := cl.PollFetches(pctx)
				cancel()
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					if len(seen) == n {
						once.Do(func() { close(done) })
					}
					mu.Unlock()
				})
				if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("member %d commit: %v", i, err)
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return seen
}

// groupLagAt sums group's lag on topic as addr's admin client computes it.
func groupLagAt(t *testing.T, ctx context.Context, addr, group, topic string) int64 {
	t.Helper()
	lags, err := admin(t, addr).Lag(ctx, group)
	if err != nil {
		t.Fatalf("lag of %s: %v", group, err)
	}
	var sum int64
	for _, l := range lags[group].Lag[topic] {
		if l.Err != nil {
			t.Fatalf("lag of %s on %s-%d: %v", group, topic, l.Partition, l.Err)
		}
		sum += l.Lag
	}
	return sum
}

func testConfluentKafkaPythonCluster(t *testing.T, c *testbed.Cluster) {
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	ctx := testContext(t, 3*time.Minute)
	const topic, n = "confluent-cluster", 500
	createTopic(t, ctx, c.Node(1).KafkaAddr, topic, 1, 1)
	waitAllKnow(t, ctx, c, topic, 1)
	leader := topicLeaders(ctx, c.Node(1).KafkaAddr, topic)[0]
	seed := c.Node(leader%3 + 1) // librdkafka must find the leader itself

	out := run(t, ctx, "", "/usr/bin/python3", "testdata/confluent_roundtrip.py",
		"--bootstrap", seed.KafkaAddr, "--topic", topic, "--count", fmt.Sprint(n), "--timeout", "120")
	var s confluentSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("script output is not the JSON summary: %v\n%s", err, out)
	}
	if len(s.ProduceErrors) > 0 || len(s.Delivered) != n {
		t.Fatalf("%d deliveries, %d errors (first: %v)", len(s.Delivered), len(s.ProduceErrors), s.ProduceErrors)
	}
	if len(s.ConsumeErrors) > 0 || len(s.Records) != n {
		t.Fatalf("consumed %d records, %d errors (first: %v)", len(s.Records), len(s.ConsumeErrors), s.ConsumeErrors)
	}
	for i, r := range s.Records {
		if want := [3]any{float64(i), fmt.Sprintf("key-%06d", i), fmt.Sprintf("value-%06d", i)}; r != want {
			t.Fatalf("consumed record %d = %v, want %v", i, r, want)
		}
	}
	var want []string
	for _, nd := range c.Nodes {
		want = append(want, nd.KafkaAddr)
	}
	got := slices.Clone(s.Metadata.Brokers)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || !s.Metadata.TopicFound || s.Metadata.TopicError != "" {
		t.Fatalf("list_topics: brokers %v (want %v), topic found %v error %q", got, want, s.Metadata.TopicFound, s.Metadata.TopicError)
	}
}
