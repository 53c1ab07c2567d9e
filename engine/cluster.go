package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/chronik/chronik/raftmeta"
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

func (s standalone) CreatePartitions(_ context.Context, name string, total int32, manual [][]int32, validateOnly bool) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t == nil {
		return kafkaError(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
	}
	cur := int32(len(t.partitions))
	if err := checkPartitionGrowth(cur, total, manual); err != nil {
		return err
	}
	for _, reps := range manual {
		if len(reps) != 1 || reps[0] != b.cfg.NodeID {
			return kafkaError(kerr.InvalidReplicaAssignment, "replica assignment %v must name only broker %d", reps, b.cfg.NodeID)
		}
	}
	if validateOnly {
		return nil
	}
	old := t.partitions
	if err := b.addPartitions(t, total); err != nil {
		b.log.Error("create partitions failed", "topic", name, "err", err)
		return kafkaError(kerr.KafkaStorageError, "%v", err)
	}
	if err := b.saveMeta(); err != nil {
		for _, p := range t.partitions[len(old):] {
			p.log.Delete()
		}
		t.partitions = old
		b.log.Error("create partitions: save metadata failed", "topic", name, "err", err)
		return kafkaError(kerr.KafkaStorageError, "%v", err)
	}
	b.log.Info("partitions created", "topic", name, "from", cur, "to", total)
	return nil
}

// checkPartitionGrowth applies CreatePartitions' checks on the counts, with
// Kafka's messages: the new total must exceed the current count, grow by at
// most maxNewPartitions, and a manual assignment must list exactly the new
// partitions.
func checkPartitionGrowth(cur, total int32, manual [][]int32) error {
	switch {
	case total == cur:
		return kafkaError(kerr.InvalidPartitions, "topic already has %d partitions", cur)
	case total < cur:
		return kafkaError(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than the requested %d", cur, total)
	case total-cur > maxNewPartitions:
		return kafkaError(kerr.InvalidPartitions, "cannot add more than %d partitions at once", maxNewPartitions)
	case manual != nil && int32(len(manual)) != total-cur:
		return kafkaError(kerr.InvalidReplicaAssignment, "increasing the number of partitions by %d but %d assignments provided", total-cur, len(manual))
	}
	return nil
}

func (s standalone) DeleteTopic(_ context.Context, name string, id [16]byte) (string, [16]byte, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := resolveDeletion(b.topics[name], b.topicIDs[id], name, id)
	if err != nil {
		return "", [16]byte{}, err
	}
	if err := b.deleteTopic(t); err != nil {
		b.log.Error("delete topic failed", "topic", t.name, "err", err)
		return "", [16]byte{}, kafkaError(kerr.KafkaStorageError, "delete topic: %v", err)
	}
	return t.name, t.id, nil
}

// resolveDeletion picks the topic a DeleteTopic call names: byName when
// name is set (its id must match a non-zero id), else byID.
func resolveDeletion(byName, byID *topic, name string, id [16]byte) (*topic, error) {
	if name == "" {
		if byID == nil {
			return nil, kafkaError(kerr.UnknownTopicID, "unknown topic id")
		}
		return byID, nil
	}
	if byName == nil {
		return nil, kafkaError(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
	}
	if id != ([16]byte{}) && id != byName.id {
		return nil, kafkaError(kerr.UnknownTopicID, "topic %s has another id", name)
	}
	return byName, nil
}

func (s standalone) AlterTopicConfigs(_ context.Context, name string, compute func(*topic) (map[string]string, error), validateOnly bool) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := b.alterableTopic(name)
	if err != nil {
		return err
	}
	cfgs, err := compute(t)
	if err != nil || validateOnly {
		return err
	}
	if e := b.setTopicConfigs(t, cfgs); e != nil {
		return e
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

// kafkaError is a Kafka error with the message a response carries.
func kafkaError(e *kerr.Error, format string, args ...any) error {
	return &raftmeta.ResultErr{Err: e, Message: fmt.Sprintf(format, args...)}
}

// errorAndMessage splits a Cluster error into the Kafka error and the
// message for the response.
func errorAndMessage(err error) (*kerr.Error, string) {
	if err == nil {
		return nil, ""
	}
	var re *raftmeta.ResultErr
	if errors.As(err, &re) && re.Message != "" {
		return kafkaErr(err), re.Message
	}
	ke := kafkaErr(err)
	if ke == kerr.RequestTimedOut || ke == kerr.UnknownServerError {
		return ke, err.Error()
	}
	return ke, ke.Message
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
