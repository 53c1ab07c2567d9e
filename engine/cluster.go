package engine

import "context"

// Cluster is what the engine consults about the other brokers and about
// partition leadership. Standalone (the default) the broker is the whole
// cluster and leads every partition; JoinCluster swaps in the
// raftmeta-backed implementation (cluster_raft.go).
//
// Methods are safe for concurrent use. The read methods never block; the
// topic methods block up to their context (a Raft commit in a cluster) and
// so run on a request worker, never on a network event loop.
type Cluster interface {
	// ClusterID is the Kafka cluster id.
	ClusterID() string
	// Brokers lists the brokers clients may use, sorted by id, and the
	// controller's id (-1 when there is none right now).
	Brokers() ([]ClusterBroker, int32)
	// Partition is the leadership of one partition; ok is false when the
	// metadata does not know it.
	Partition(topic string, partition int32) (PartitionLeadership, bool)
	// ReplicaBrokers is how many brokers can hold a replica now, the upper
	// bound of a new topic's replication factor.
	ReplicaBrokers() int
	// CreateTopic creates a topic with nparts partitions of rf replicas
	// (manual, when not nil, is the replica list of each partition). The
	// returned error is a *kerr.Error where Kafka has a code for it.
	CreateTopic(ctx context.Context, name string, nparts int32, rf int16, configs map[string]string, manual [][]int32) error
	// CreatePartitions grows a topic to total partitions (manual, when not
	// nil, is the replica list of each new partition). validateOnly runs
	// every check and changes nothing.
	CreatePartitions(ctx context.Context, name string, total int32, manual [][]int32, validateOnly bool) error
	// DeleteTopic deletes a topic named name, or, when name is "", the
	// topic with id; it returns the deleted topic's name and id. With both
	// set the id must match (UNKNOWN_TOPIC_ID otherwise).
	DeleteTopic(ctx context.Context, name string, id [16]byte) (string, [16]byte, error)
	// AlterTopicConfigs replaces a topic's config overrides with what
	// compute returns for the topic as this broker has it (compute runs with
	// b.mu held for reading and must not block). validateOnly only runs
	// compute.
	AlterTopicConfigs(ctx context.Context, name string, compute func(t *topic) (map[string]string, error), validateOnly bool) error
}

// ClusterBroker is one broker as Metadata and DescribeCluster list it.
type ClusterBroker struct {
	ID   int32
	Host string
	Port int32
	Rack *string
}

// PartitionLeadership is who leads a partition and who replicates it.
type PartitionLeadership struct {
	Leader      int32 // -1: none
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Offline     []int32 // replicas on fenced brokers
}

// clustered reports whether the broker runs in a cluster.
func (b *Broker) clustered() bool {
	_, ok := b.cluster().(standalone)
	return !ok
}

// cluster returns the current Cluster implementation.
func (b *Broker) cluster() Cluster { return *b.clusterImpl.Load() }
