package engine

import (
	"context"

	"github.com/chronik/chronik/raftmeta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// standalone is the single-broker Cluster: this broker is the only one,
// the controller, and the leader of every partition at leader epoch 0.
// Topic changes are made here, under b.adminMu.
type standalone struct{ b *Broker }

func (s standalone) ClusterID() string {
	s.b.metaMu.Lock()
	defer s.b.metaMu.Unlock()
	return s.b.meta.clusterID
}

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
	return PartitionLeadership{Leader: id, LeaderEpoch: p.LeaderEpoch(), Replicas: []int32{id}, ISR: []int32{id}}, true
}

func (s standalone) ReplicaBrokers() int { return 1 }

func (s standalone) CreateTopic(_ context.Context, name string, nparts int32, _ int16, configs map[string]string, _ [][]int32) error {
	b := s.b
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if e := b.checkNewTopicName(name); e != nil {
		return e
	}
	if _, err := b.createTopic(name, raftmeta.NewTopicID(), nparts, configs, allLocal); err != nil {
		b.log.Error("create topic failed", "topic", name, "err", err)
		return kerr.KafkaStorageError
	}
	return nil
}

func (s standalone) CreatePartitions(_ context.Context, name string, total int32, manual [][]int32, validateOnly bool) error {
	b := s.b
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t := b.lookupTopic(name)
	if t == nil {
		return errWithMessage(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
	}
	cur := int32(len(b.topicPartitions(t)))
	if err := raftmeta.CheckPartitionGrowth(cur, total, manual); err != nil {
		return err
	}
	for _, reps := range manual {
		if len(reps) != 1 || reps[0] != b.cfg.NodeID {
			return errWithMessage(kerr.InvalidReplicaAssignment, "replica assignment %v must name only broker %d", reps, b.cfg.NodeID)
		}
	}
	if validateOnly {
		return nil
	}
	if err := b.growTopic(t, total, allLocal); err != nil {
		b.log.Error("create partitions failed", "topic", name, "err", err)
		return errWithMessage(kerr.KafkaStorageError, "%v", err)
	}
	b.log.Info("partitions created", "topic", name, "from", cur, "to", total)
	return nil
}

func (s standalone) DeleteTopic(_ context.Context, name string, id [16]byte) (string, [16]byte, error) {
	b := s.b
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.mu.RLock()
	byName, byID := b.topics[name], b.topicIDs[id]
	b.mu.RUnlock()
	t, err := resolveDeletion(byName, byID, name, id)
	if err != nil {
		return "", [16]byte{}, err
	}
	if err := b.deleteTopic(t); err != nil {
		b.log.Error("delete topic failed", "topic", t.name, "err", err)
		return "", [16]byte{}, errWithMessage(kerr.KafkaStorageError, "delete topic: %v", err)
	}
	return t.name, t.id, nil
}

// resolveDeletion picks the topic a DeleteTopic call names: byName when
// name is set (its id must match a non-zero id), else byID.
func resolveDeletion(byName, byID *topic, name string, id [16]byte) (*topic, error) {
	if name == "" {
		if byID == nil {
			return nil, errWithMessage(kerr.UnknownTopicID, "unknown topic id")
		}
		return byID, nil
	}
	if byName == nil {
		return nil, errWithMessage(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
	}
	if id != ([16]byte{}) && id != byName.id {
		return nil, errWithMessage(kerr.UnknownTopicID, "topic %s has another id", name)
	}
	return byName, nil
}

func (s standalone) AlterTopicConfigs(_ context.Context, name string, compute func(*topic) (map[string]string, error), validateOnly bool) error {
	b := s.b
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.mu.RLock()
	t, err := b.alterableTopic(name)
	var cfgs map[string]string
	if err == nil {
		cfgs, err = compute(t)
	}
	b.mu.RUnlock()
	if err != nil || validateOnly {
		return err
	}
	if e := b.setTopicConfigs(t, cfgs); e != nil {
		return e
	}
	return nil
}
