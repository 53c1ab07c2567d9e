package itest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Helpers of the replication tests (replication_test.go): clusters,
// Metadata's view of leaders and ISRs, a read-only byte comparison of
// replica logs on disk, whole-topic reads. The records themselves and
// their checker are in replication_stream_test.go.

// clusterProps are the broker properties of the test clusters: 200 ms
// heartbeats and a 2 s session (a killed or stopped broker is fenced in
// ~2 s), a quick first rebalance and a small __consumer_offsets; extra
// overrides or adds to them.
func clusterProps(extra map[string]string) map[string]string {
	props := map[string]string{
		"broker.heartbeat.interval.ms":     "200",
		"broker.session.timeout.ms":        "2000",
		"group.initial.rebalance.delay.ms": "100",
		"offsets.topic.num.partitions":     "10",
	}
	for k, v := range extra {
		props[k] = v
	}
	return props
}

// startClusterWith starts a 3-broker cluster with props (each broker
// also serving /metrics on a loopback admin listener when adminListen is
// set: testbed.Cluster.Metrics). Every process is reaped by pid at the
// end; the logs are printed if the test failed.
func startClusterWith(t testing.TB, props map[string]string, adminListen bool) *testbed.Cluster {
	t.Helper()
	c, err := testbed.Start(testbed.Config{Bin: binaryPath(t), Nodes: 3, Dir: filepath.Join(t.TempDir(), "cluster"),
		Properties: props, Admin: adminListen})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs())
		}
	})
	return c
}

// pauseBroker freezes broker id with SIGSTOP and returns the function
// that resumes it (SIGCONT); the test's cleanup resumes it if the test
// did not.
func pauseBroker(t testing.TB, c *testbed.Cluster, id int32) func() {
	t.Helper()
	if err := c.Pause(id); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() {
		once.Do(func() {
			if err := c.Continue(id); err != nil {
				t.Errorf("continue broker %d: %v", id, err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}

// partState is a partition as Metadata describes it.
type partState struct {
	Leader, LeaderEpoch int32
	Replicas, ISR       []int32
}

// partitionsAt asks broker addr itself (not any broker the client knows)
// for topic's partitions.
func partitionsAt(ctx context.Context, addr, topic string) (map[int32]partState, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl.SeedBrokers()[0])
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("metadata of %s from %s: %+v", topic, addr, resp.Topics)
	}
	out := map[int32]partState{}
	for _, p := range resp.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = partState{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: isr}
	}
	return out, nil
}

// waitPartitions polls addr's Metadata of topic until cond holds,
// failing the test with the last answer at ctx's end.
func waitPartitions(t testing.TB, ctx context.Context, addr, topic, what string, cond func(map[int32]partState) bool) map[int32]partState {
	t.Helper()
	var last map[int32]partState
	var err error
	for {
		last, err = partitionsAt(ctx, addr, topic)
		if err == nil && cond(last) {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s as %s sees it: %+v (err %v)", what, topic, addr, last, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fullISR reports whether every partition has a leader and every replica
// in its ISR.
func fullISR(ps map[int32]partState) bool {
	for _, p := range ps {
		if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
			return false
		}
	}
	return len(ps) > 0
}

// createTopicWith creates topic through addr with configs and, when
// assignment is not nil, those replicas per partition (the first live one
// leads).
func createTopicWith(t testing.TB, ctx context.Context, addr, topic string, parts int32, rf int16, configs map[string]string, assignment [][]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
	if assignment != nil {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for i, reps := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), reps
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	cl := newClient(t, addr)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && (len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0) {
		err = fmt.Errorf("%+v", resp.Topics)
	}
	if err != nil {
		t.Fatalf("create %s through %s: %v", topic, addr, err)
	}
}

// sameReplicaLogs compares two replicas of a partition read-only
// (wal.ComparePartition: never wal.Open, which would recover, and so
// change, a live broker's directory) and returns the difference, if any.
func sameReplicaLogs(dirA, dirB string) error {
	pc, err := wal.ComparePartition(wal.OSFS(), dirA, dirB)
	switch {
	case err != nil:
		return err
	case pc.StoppedA != "" || pc.StoppedB != "" || pc.BadCRCA+pc.BadCRCB > 0:
		return fmt.Errorf("%s / %s: unreadable tail (%q / %q) or %d+%d bad CRCs", dirA, dirB, pc.StoppedA, pc.StoppedB, pc.BadCRCA, pc.BadCRCB)
	case !pc.Equal():
		return fmt.Errorf("%s (%d..%d, %d batches) and %s (%d..%d, %d batches) differ: first difference %+v, offsets only in the first %v, only in the second %v",
			dirA, pc.LogStartA, pc.EndA, pc.BatchesA, dirB, pc.LogStartB, pc.EndB, pc.BatchesB, pc.Diff, pc.OnlyA, pc.OnlyB)
	}
	return nil
}

// eachBatch calls fn for every batch of the partition directory dir, read
// only, and returns the log end offset.
func eachBatch(dir string, fn func(wal.BatchHeader)) (int64, error) {
	d, err := wal.OpenDirBatches(wal.OSFS(), dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	for {
		h, _, _, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d.NextOffset(), nil
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", dir, err)
		}
		fn(h)
	}
}

// partitionDir is broker n's directory of topic-p.
func partitionDir(n *testbed.Node, topic string, p int32) string {
	return filepath.Join(n.DataDir, topic+"-"+strconv.Itoa(int(p)))
}

// waitReplicasEqual waits until, for every partition of topic, every
// replica's log is byte-identical to its leader's and ends at or past
// minEnd[p]; it returns the partitions' states. Brokers that are not
// replicas must hold no directory of the partition.
func waitReplicasEqual(t testing.TB, ctx context.Context, c *testbed.Cluster, topic string, minEnd map[int32]int64) map[int32]partState {
	t.Helper()
	var last error
	tries := 0
	for {
		ps, err := partitionsAt(ctx, c.Node(1).KafkaAddr, topic)
		if err == nil {
			err = replicasEqual(c, topic, ps, minEnd)
		}
		if err == nil {
			if tries > 0 {
				t.Logf("replicas of %s identical after %d polls; the last difference: %v", topic, tries, last)
			}
			return ps
		}
		last = err
		tries++
		select {
		case <-ctx.Done():
			t.Fatalf("replicas of %s never became identical: %v", topic, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func replicasEqual(c *testbed.Cluster, topic string, ps map[int32]partState, minEnd map[int32]int64) error {
	for p, st := range ps {
		if st.Leader < 1 {
			return fmt.Errorf("%s-%d has no leader", topic, p)
		}
		lead := partitionDir(c.Node(st.Leader), topic, p)
		end, err := eachBatch(lead, func(wal.BatchHeader) {})
		if err != nil {
			return err
		}
		if end < minEnd[p] {
			return fmt.Errorf("%s-%d: the leader's log ends at %d, want >= %d", topic, p, end, minEnd[p])
		}
		for _, n := range c.Nodes {
			dir := partitionDir(n, topic, p)
			_, statErr := os.Stat(dir)
			switch {
			case !slices.Contains(st.Replicas, n.ID):
				if !errors.Is(statErr, os.ErrNotExist) {
					return fmt.Errorf("broker %d is no replica of %s-%d but holds %s (%v)", n.ID, topic, p, dir, statErr)
				}
			case n.ID != st.Leader:
				if err := sameReplicaLogs(lead, dir); err != nil {
					return fmt.Errorf("%s-%d: %w", topic, p, err)
				}
			}
		}
	}
	return nil
}

// consumeTopic reads every partition of topic from the start to the end
// offsets the brokers list now, through a client seeded with addr only.
func consumeTopic(t testing.TB, ctx context.Context, addr, topic string) ([]readRec, map[int32]int64) {
	t.Helper()
	ends := endOffsets(t, ctx, addr, topic)
	starts := map[int32]kgo.Offset{}
	for p := range ends {
		starts[p] = kgo.NewOffset().AtStart()
	}
	cons := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}), kgo.FetchMaxWait(500*time.Millisecond))
	defer cons.Close()
	var recs []readRec
	got := map[int32]int64{}
	for !reached(got, ends) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: read %v of %v: %v", topic, got, ends, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, kerr.NotLeaderForPartition) {
				t.Fatalf("consume %s-%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, readRec{r.Partition, r.Offset, r.Value})
			got[r.Partition] = r.Offset + 1
		})
	}
	return recs, ends
}

// endOffsets lists the end offset of every partition of topic, asking
// again while a partition answers a retriable error (a leader just
// elected, by a failover or a preferred-leader election, answers
// OFFSET_NOT_AVAILABLE until its high watermark reaches its epoch).
func endOffsets(t testing.TB, ctx context.Context, addr, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	var last error
	for {
		offs, err := adm.ListEndOffsets(ctx, topic)
		ends := map[int32]int64{}
		offs.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				err = fmt.Errorf("%s-%d: %w", topic, o.Partition, o.Err)
			}
			ends[o.Partition] = o.Offset
		})
		if err == nil {
			return ends
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.OffsetNotAvailable) {
			t.Fatalf("list end offsets of %s: %v", topic, err)
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("list end offsets of %s: %v", topic, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reached reports whether every partition was read up to its end.
func reached(got, ends map[int32]int64) bool {
	for p, end := range ends {
		if got[p] < end {
			return false
		}
	}
	return true
}

// parseReadLines parses "partition offset value" lines, as the interop
// readers print them.
func parseReadLines(out string) ([]readRec, error) {
	var recs []readRec
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %q: want partition offset value", line)
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %.60q: %w", line, err)
		}
		recs = append(recs, readRec{int32(p), o, []byte(f[2])})
	}
	return recs, nil
}

// leaderLEO asks addr (the leader) for the log end offset of topic-p as a
// replica would (ListOffsets with a replica id answers the log end, not
// the high watermark), and for the high watermark as a consumer.
func leaderOffsets(t *testing.T, addr, topic string, p int32, replica int32) (leo, hw int64) {
	t.Helper()
	ask := func(replicaID int32) int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version, req.ReplicaID = 7, replicaID
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrListOffsetsResponse()
		dialRaw(t, addr).roundTrip(req, resp)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("list offsets of %s-%d at %s (replica id %d): %+v", topic, p, addr, replicaID, resp.Topics)
		}
		return resp.Topics[0].Partitions[0].Offset
	}
	return ask(replica), ask(-1)
}
