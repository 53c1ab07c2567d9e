package engine

import (
	"sync"
	"sync/atomic"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/wal"
)

// counters are the engine's request counters. They only grow; any goroutine
// may add to them.
type counters struct {
	produceRequests atomic.Uint64 // Produce requests decoded
	producedBatches atomic.Uint64 // batches appended (duplicates of idempotent retries excluded)
	producedRecords atomic.Uint64 // records in those batches
	produceErrors   atomic.Uint64 // partitions answered with an error code
	fetchRequests   atomic.Uint64 // Fetch requests decoded
	isrShrinks      atomic.Uint64 // ISR shrinks this broker committed as a leader
	isrExpands      atomic.Uint64 // ISR expansions this broker committed as a leader

	followerMu    sync.Mutex
	followerBytes map[int32]*atomic.Int64 // record bytes served to each follower (leader side)
}

// addFollowerBytes counts n record bytes sent to follower id.
func (c *counters) addFollowerBytes(id int32, n int64) {
	c.followerMu.Lock()
	ctr := c.followerBytes[id]
	if ctr == nil {
		if c.followerBytes == nil {
			c.followerBytes = map[int32]*atomic.Int64{}
		}
		ctr = new(atomic.Int64)
		c.followerBytes[id] = ctr
	}
	c.followerMu.Unlock()
	ctr.Add(n)
}

// Metrics is a snapshot of the engine's counters and of the sum of every
// partition log's wal.Stats. The admin listener exposes it at /metrics.
type Metrics struct {
	Topics          int
	Partitions      int
	ProduceRequests uint64
	ProducedBatches uint64
	ProducedRecords uint64
	ProduceErrors   uint64
	FetchRequests   uint64
	// WAL sums Appends, AppendedBytes, Rolls, Syncs and SyncedWaiters over
	// the partitions open now (a deleted topic's counts leave the sum).
	WAL wal.Stats

	Replication ReplicationMetrics
}

// ReplicationMetrics are the replication figures of /metrics (Kafka's
// names where Kafka has one).
type ReplicationMetrics struct {
	UnderReplicatedPartitions int    // led here with ISR < replicas
	OfflinePartitions         int    // without a leader, cluster-wide (the metadata's view)
	LeaderPartitions          int    // led here
	ISRShrinks, ISRExpands    uint64 // committed by this broker as a leader
	// Lags: every follower of every partition led here.
	Lags []PartitionLag
	// SentToFollower: record bytes served to each follower broker
	// (leader side); ReceivedFromLeader: bytes read from each leader
	// broker's replication socket (follower side).
	SentToFollower, ReceivedFromLeader map[int32]int64
	FollowerFetches, Truncations       int64
}

// PartitionLag is one follower's lag on one partition led here.
type PartitionLag struct {
	Topic     string
	Partition int32
	partition.FollowerLag
}

// Metrics returns a snapshot of the counters. Safe from any goroutine.
func (b *Broker) Metrics() Metrics {
	m := Metrics{
		ProduceRequests: b.ctr.produceRequests.Load(),
		ProducedBatches: b.ctr.producedBatches.Load(),
		ProducedRecords: b.ctr.producedRecords.Load(),
		ProduceErrors:   b.ctr.produceErrors.Load(),
		FetchRequests:   b.ctr.fetchRequests.Load(),
	}
	b.mu.RLock()
	m.Topics = len(b.topics)
	b.mu.RUnlock()
	for _, p := range b.allPartitions() {
		m.Partitions++
		s := p.Log().Stats()
		m.WAL.Appends += s.Appends
		m.WAL.AppendedBytes += s.AppendedBytes
		m.WAL.Rolls += s.Rolls
		m.WAL.Syncs += s.Syncs
		m.WAL.SyncedWaiters += s.SyncedWaiters
	}
	m.Replication = b.replicationMetrics()
	return m
}

// replicationMetrics gathers the replication figures.
func (b *Broker) replicationMetrics() ReplicationMetrics {
	r := ReplicationMetrics{ISRShrinks: b.ctr.isrShrinks.Load(), ISRExpands: b.ctr.isrExpands.Load(),
		SentToFollower: map[int32]int64{}, ReceivedFromLeader: map[int32]int64{}}
	for _, p := range b.allPartitions() {
		if !p.IsLeader() {
			continue
		}
		r.LeaderPartitions++
		if p.UnderReplicated() {
			r.UnderReplicatedPartitions++
		}
		for _, l := range p.FollowerLags() {
			r.Lags = append(r.Lags, PartitionLag{Topic: p.Topic(), Partition: p.Index(), FollowerLag: l})
		}
	}
	b.ctr.followerMu.Lock()
	for id, n := range b.ctr.followerBytes {
		r.SentToFollower[id] = n.Load()
	}
	b.ctr.followerMu.Unlock()
	if b.replicas != nil {
		st := b.replicas.Stats()
		r.ReceivedFromLeader, r.FollowerFetches, r.Truncations = st.PerLeader, st.Fetches, st.Truncations
	}
	if rc, ok := b.cluster().(*raftCluster); ok {
		im := rc.node.Image()
		for _, name := range im.TopicNames() {
			for _, ip := range im.Topic(name).Partitions {
				if ip.Leader < 0 {
					r.OfflinePartitions++
				}
			}
		}
	}
	return r
}
