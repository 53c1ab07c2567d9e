package engine

import (
	"github.com/chronik/chronik/engine/partition"
)

// Readable replicas (KIP-392). A consumer's Fetch v11+ names its rack
// (client.rack). The leader of a partition answers it with a preferred
// read replica and no records when replica.selector.class is Kafka's
// RackAwareReplicaSelector, the client's rack is not the leader's, and an
// in-sync follower in that rack holds the fetch offset; the client then
// fetches from that follower, which serves records up to its own high
// watermark (the leader's, bounded by its log end; see fetchPartition).
// The leader never picks a replica outside the ISR (KAFKA-14372): the
// controller bumps the leader epoch when an ISR shrinks, so the clients
// reading from a follower that left it learn a new epoch from Metadata
// and come back to the leader, which sends them elsewhere.

// preferredReadReplica returns the replica a consumer in clientRack
// reading p at offset should fetch from instead of this leader, or -1 to
// read here: RackAwareReplicaSelector's choice among the ISR followers in
// the client's rack holding offset (the largest LEO, then the most
// recently caught up, then the highest id), unless the leader is in that
// rack itself.
func (b *Broker) preferredReadReplica(p *partition.Partition, clientRack string, offset int64) int32 {
	if !b.cfg.Replication.rackAware() || clientRack == "" || clientRack == b.cfg.Rack {
		return -1
	}
	c := b.cluster()
	best := partition.ReadReplica{Replica: -1}
	for _, r := range p.ReadReplicas(offset) {
		if rack, live := c.BrokerRack(r.Replica); !live || rack != clientRack {
			continue
		}
		if best.Replica < 0 || better(r, best) {
			best = r
		}
	}
	return best.Replica
}

// better orders read replicas as Kafka's ReplicaView comparator does.
func better(a, b partition.ReadReplica) bool {
	switch {
	case a.LEO != b.LEO:
		return a.LEO > b.LEO
	case a.SinceCaughtUp != b.SinceCaughtUp:
		return a.SinceCaughtUp < b.SinceCaughtUp
	}
	return a.Replica > b.Replica
}
