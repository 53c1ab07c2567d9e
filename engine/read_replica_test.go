package engine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rackCluster is a Cluster that knows other brokers' racks, so a
// standalone broker's partition, given a leadership by hand, can play a
// leader with followers in racks (or a follower) without other brokers.
type rackCluster struct {
	Cluster
	racks  map[int32]string
	fenced map[int32]bool
}

func (c rackCluster) BrokerRack(id int32) (string, bool) {
	r, ok := c.racks[id]
	return r, ok && !c.fenced[id]
}

func useRacks(b *Broker, racks map[int32]string, fenced map[int32]bool) {
	var c Cluster = rackCluster{Cluster: standalone{b}, racks: racks, fenced: fenced}
	b.clusterImpl.Store(&c)
}

// consumerFetch is a consumer's Fetch of partition 0 of topic at offset.
func consumerFetch(topic string, version int16, rack string, offset int64, epoch int32, maxWait int32) *Request {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch, req.ReplicaID = version, 1<<20, -1, -1
	req.ReplicaState.ID = -1
	req.MinBytes, req.MaxWaitMillis, req.Rack = 1, maxWait, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return &Request{Key: 1, Version: version, Body: req.AppendTo(nil)}
}

func fetchPart0(t *testing.T, b *Broker, r *Request) kmsg.FetchResponseTopicPartition {
	t.Helper()
	resp := decodeFetchResponse(t, handleSync(t, b, r), r.Version)
	return resp.Topics[0].Partitions[0]
}

func partitionOf(t *testing.T, b *Broker, topic string) *partition.Partition {
	t.Helper()
	_, p := b.lookupPartition(topic, [16]byte{}, 0)
	if p == nil {
		t.Fatalf("no partition %s-0", topic)
	}
	return p
}

// The leader with RackAwareReplicaSelector sends a consumer from another
// rack to the in-sync follower in that rack holding its offset, with no
// records, at once (a long poll is not parked); everyone else it serves.
func TestLeaderNamesAPreferredReadReplicaInTheClientsRack(t *testing.T) {
	b := openMemBroker(t, memfs.New(), func(c *Config) {
		c.Rack = "a"
		c.Replication.SelectorClass = rackAwareSelectorClass
	})
	defer b.Close()
	if _, e := b.createTopicChecked("r", 1, -1, nil, false); e != nil {
		t.Fatal(e)
	}
	fenced := map[int32]bool{}
	useRacks(b, map[int32]string{0: "a", 1: "b", 2: "c", 3: "b"}, fenced)
	p := partitionOf(t, b, "r")
	lead := partition.Leadership{Leader: 0, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{0, 1, 2, 3}, ISR: []int32{0, 1, 2, 3}}
	if err := p.SetLeadership(lead); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp := asProduceResponse(t, handleSync(t, b, produceReq("r", 1, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("x")}})})))
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
	// 1 and 2 are caught up; 3 (rack b too) is in the ISR but behind.
	p.UpdateFollower(1, 1, 3, 0)
	p.UpdateFollower(2, 1, 3, 0)
	p.UpdateFollower(3, 1, 1, 0)
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1 (follower 3 at 1)", hw)
	}

	check := func(name string, r *Request, wantPreferred int32, wantRecords bool) {
		t.Helper()
		start := time.Now()
		got := fetchPart0(t, b, r)
		if got.ErrorCode != 0 {
			t.Fatalf("%s: %v", name, kerr.ErrorForCode(got.ErrorCode))
		}
		if got.PreferredReadReplica != wantPreferred || (len(got.RecordBatches) > 0) != wantRecords {
			t.Fatalf("%s: preferred %d with %d record bytes, want preferred %d, records %v", name, got.PreferredReadReplica, len(got.RecordBatches), wantPreferred, wantRecords)
		}
		if wantPreferred >= 0 && (got.HighWatermark != 1 || time.Since(start) > 10*time.Second) {
			t.Fatalf("%s: a preferred replica answer has HW %d (want 1), took %v (must not wait)", name, got.HighWatermark, time.Since(start))
		}
	}
	// Rack b: 1 and 3 hold offset 0; 1 has the larger LEO.
	check("rack b at 0", consumerFetch("r", 12, "b", 0, 1, 60_000), 1, false)
	// At offset 2 only 1 holds it (3's LEO is 1).
	check("rack b at 2", consumerFetch("r", 12, "b", 2, 1, 60_000), 1, false)
	check("rack c", consumerFetch("r", 11, "c", 0, 1, 60_000), 2, false)
	check("rack a (the leader's)", consumerFetch("r", 12, "a", 0, 1, 1), -1, true)
	check("no rack", consumerFetch("r", 12, "", 0, 1, 1), -1, true)
	check("rack d (no replica)", consumerFetch("r", 12, "d", 0, -1, 1), -1, true)
	if n := b.Metrics().PreferredReplicaAnswers; n != 3 {
		t.Fatalf("preferred-replica answers %d, want 3", n)
	}

	// A follower of rack b that leaves the ISR is not chosen: 3 is.
	lead.LeaderEpoch, lead.PartitionEpoch, lead.ISR = 2, 2, []int32{0, 2, 3}
	if err := p.SetLeadership(lead); err != nil {
		t.Fatal(err)
	}
	check("rack b, 1 out of the ISR", consumerFetch("r", 12, "b", 0, 2, 60_000), 3, false)
	// ... but 3 does not hold offset 2, so the leader serves it.
	check("rack b at 2, 1 out of the ISR", consumerFetch("r", 12, "b", 2, 2, 1), -1, false)
	// A fenced broker is never chosen.
	fenced[2] = true
	check("rack c fenced", consumerFetch("r", 12, "c", 0, 2, 1), -1, true)
}

// Without replica.selector.class (Kafka's default) or with Kafka's
// LeaderSelector, the leader serves every consumer.
func TestDefaultSelectorAlwaysServesFromTheLeader(t *testing.T) {
	for _, class := range []string{"", leaderSelectorClass} {
		b := openMemBroker(t, memfs.New(), func(c *Config) { c.Rack = "a"; c.Replication.SelectorClass = class })
		if _, e := b.createTopicChecked("r", 1, -1, nil, false); e != nil {
			t.Fatal(e)
		}
		useRacks(b, map[int32]string{0: "a", 1: "b"}, nil)
		p := partitionOf(t, b, "r")
		if err := p.SetLeadership(partition.Leadership{Leader: 0, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{0, 1}, ISR: []int32{0, 1}}); err != nil {
			t.Fatal(err)
		}
		handleSync(t, b, produceReq("r", 1, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("x")}})}))
		p.UpdateFollower(1, 1, 1, 0)
		got := fetchPart0(t, b, consumerFetch("r", 12, "b", 0, 1, 1))
		if got.PreferredReadReplica != -1 || len(got.RecordBatches) == 0 {
			t.Fatalf("selector %q: preferred %d, %d record bytes; want the leader's records", class, got.PreferredReadReplica, len(got.RecordBatches))
		}
		b.Close()
	}
	cfg := DefaultConfig()
	cfg.Replication.SelectorClass = "com.example.MySelector"
	if err := cfg.Validate(); err == nil {
		t.Fatal("an unknown replica.selector.class was accepted")
	}
}

// replicated is a batch of one record at base offset off, as a follower
// receives it from its leader.
func replicated(off int64, epoch int32, value string) []byte {
	batch := makeBatch(testBatch{values: [][]byte{[]byte(value)}, leaderEpoch: epoch})
	binary.BigEndian.PutUint64(batch[0:], uint64(off)) // base offset and leader epoch are outside the CRC
	return batch
}

// A follower serves v11+ consumer fetches up to its high watermark (the
// leader's, bounded by its own log end), long-polls until that moves,
// answers OFFSET_OUT_OF_RANGE past its log end, checks the leader epoch,
// and refuses older fetch versions (their clients only fetch from
// leaders).
func TestFollowerServesConsumersUpToItsHighWatermark(t *testing.T) {
	b := openMemBroker(t, memfs.New(), func(c *Config) { c.Rack = "b" })
	defer b.Close()
	if _, e := b.createTopicChecked("f", 1, -1, nil, false); e != nil {
		t.Fatal(e)
	}
	p := partitionOf(t, b, "f")
	if err := p.SetLeadership(partition.Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 0}, ISR: []int32{1, 0}}); err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		if _, err := p.AppendReplicated(replicated(i, 1, "v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	p.FollowerHighWatermark(2) // the leader's HW: offsets 0 and 1 are committed

	got := fetchPart0(t, b, consumerFetch("f", 12, "b", 0, 1, 1))
	if got.ErrorCode != 0 || got.HighWatermark != 2 {
		t.Fatalf("fetch at 0: %v, HW %d", kerr.ErrorForCode(got.ErrorCode), got.HighWatermark)
	}
	if n := countRecords(t, got.RecordBatches); n != 2 {
		t.Fatalf("fetch at 0 read %d records, want the 2 below the high watermark", n)
	}
	// Between the high watermark and the log end: nothing yet, no error.
	if got := fetchPart0(t, b, consumerFetch("f", 12, "b", 2, -1, 1)); got.ErrorCode != 0 || len(got.RecordBatches) != 0 {
		t.Fatalf("fetch at the HW: %v with %d bytes, want empty", kerr.ErrorForCode(got.ErrorCode), len(got.RecordBatches))
	}
	// Past the log end: the client goes back to the leader.
	if got := fetchPart0(t, b, consumerFetch("f", 12, "b", 4, 1, 1)); got.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past the LEO: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(got.ErrorCode))
	}
	for _, c := range []struct {
		epoch int32
		want  *kerr.Error
	}{{0, kerr.FencedLeaderEpoch}, {2, kerr.UnknownLeaderEpoch}} {
		if got := fetchPart0(t, b, consumerFetch("f", 12, "b", 0, c.epoch, 1)); got.ErrorCode != c.want.Code {
			t.Fatalf("epoch %d: %v, want %v", c.epoch, kerr.ErrorForCode(got.ErrorCode), c.want)
		}
	}
	if got := fetchPart0(t, b, consumerFetch("f", 10, "", 0, 1, 1)); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch v10 from a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(got.ErrorCode))
	}

	// A long poll at the high watermark is answered when it moves.
	ch := make(chan kmsg.Response, 1)
	if err := b.Handle(consumerFetch("f", 12, "b", 2, 1, 60_000), func(r kmsg.Response) { ch <- r }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("a long poll at the high watermark answered before it moved")
	default:
	}
	p.FollowerHighWatermark(10) // bounded by the LEO, 3
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("follower HW %d, want its LEO 3", hw)
	}
	select {
	case r := <-ch:
		got := decodeFetchResponse(t, r, 12).Topics[0].Partitions[0]
		if countRecords(t, got.RecordBatches) != 1 || got.HighWatermark != 3 {
			t.Fatalf("long poll: %d bytes, HW %d", len(got.RecordBatches), got.HighWatermark)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a follower's long poll missed its high watermark moving")
	}
	m := b.Metrics()
	if m.ConsumerFollowerReads != 2 || m.ConsumerFollowerBytes == 0 || m.ConsumerLeaderBytes != 0 {
		t.Fatalf("metrics: follower reads %d bytes %d, leader bytes %d", m.ConsumerFollowerReads, m.ConsumerFollowerBytes, m.ConsumerLeaderBytes)
	}
}

// countRecords counts the records of whole v2 batches.
func countRecords(t *testing.T, batches []byte) int {
	t.Helper()
	n := 0
	for len(batches) >= 61 {
		size := int(binary.BigEndian.Uint32(batches[8:])) + 12
		n += int(binary.BigEndian.Uint32(batches[57:]))
		batches = batches[size:]
	}
	return n
}
