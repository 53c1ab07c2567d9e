package engine

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
)

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
	// CreatePartitions grows a topic to total partitions.
	CreatePartitions(ctx context.Context, name string, total int32, manual [][]int32) error
	// DeleteTopic deletes a topic (a zero id matches any).
	DeleteTopic(ctx context.Context, name string, id [16]byte) error
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

// standalone is the single-broker Cluster: current behaviour.
type standalone struct{ b *Broker }

func (s standalone) ClusterID() string { return s.b.meta.clusterID }

func (s standalone) Brokers() ([]ClusterBroker, int32) {
	host, port := s.b.advertised()
	return []ClusterBroker{{ID: s.b.cfg.NodeID, Host: host, Port: port}}, s.b.cfg.NodeID
}

func (s standalone) Partition(topic string, i int32) (PartitionLeadership, bool) {
	_, p := s.b.lookupPartition(topic, [16]byte{}, i)
	if p == nil {
		return PartitionLeadership{}, false
	}
	id := s.b.cfg.NodeID
	return PartitionLeadership{Leader: id, LeaderEpoch: p.leaderEpoch(), Replicas: []int32{id}, ISR: []int32{id}}, true
}

func (s standalone) ReplicaBrokers() int { return 1 }

func (s standalone) CreateTopic(_ context.Context, name string, nparts int32, _ int16, configs map[string]string, _ [][]int32) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.topics[name]; ok {
		return kerr.TopicAlreadyExists
	}
	if _, err := b.createTopic(name, nparts, configs); err != nil {
		b.log.Error("create topic failed", "topic", name, "err", err)
		return kerr.KafkaStorageError
	}
	return nil
}

func (s standalone) CreatePartitions(_ context.Context, name string, total int32, _ [][]int32) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	if total <= int32(len(t.partitions)) {
		return kerr.InvalidPartitions
	}
	if err := b.addPartitions(t, total); err != nil {
		return kerr.KafkaStorageError
	}
	if err := b.saveMeta(); err != nil {
		return kerr.KafkaStorageError
	}
	return nil
}

func (s standalone) DeleteTopic(_ context.Context, name string, id [16]byte) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t == nil || (id != ([16]byte{}) && id != t.id) {
		return kerr.UnknownTopicOrPartition
	}
	if err := b.deleteTopic(t); err != nil {
		return kerr.KafkaStorageError
	}
	return nil
}

// clustered reports whether the broker runs in a cluster.
func (b *Broker) clustered() bool {
	_, ok := b.cluster().(standalone)
	return !ok
}

// cluster returns the current Cluster implementation.
func (b *Broker) cluster() Cluster { return *b.clusterImpl.Load() }

// notLeader reports whether this broker must refuse produce/fetch for a
// partition it holds locally because another broker leads it.
func (b *Broker) notLeader(topic string, partition int32) bool {
	if !b.clustered() {
		return false
	}
	pl, ok := b.cluster().Partition(topic, partition)
	return !ok || pl.Leader != b.cfg.NodeID
}

// kafkaErr maps a Cluster error to the Kafka error a client expects: the
// error's own code when it has one, REQUEST_TIMED_OUT when the commit did
// not happen in time.
func kafkaErr(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}

// splitHostPort turns host:port into Metadata's host and port.
func splitHostPort(addr string) (string, int32) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(portS)
	return host, int32(port)
}
