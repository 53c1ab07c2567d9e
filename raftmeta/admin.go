package raftmeta

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// NewTopicID returns a random non-zero topic id. It is drawn by the
// proposer, never inside the state machine.
func NewTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		if _, err := rand.Read(id[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
	}
	return id
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	ID                [16]byte // zero: a new random id
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
	// Assignments, when set, is the manual replica assignment (partition i
	// -> replicas); Partitions and ReplicationFactor are then ignored.
	Assignments [][]int32
}

// CreateTopic brings the local image up to date, assigns replicas over the
// live brokers (unless the spec carries its own) and commits the topic. Any
// node may call it: dragonboat forwards the proposal to the shard leader.
func (n *Node) CreateTopic(ctx context.Context, spec TopicSpec) ([16]byte, error) {
	if err := n.Sync(ctx); err != nil {
		return [16]byte{}, err
	}
	im := n.Image()
	as := spec.Assignments
	if as == nil {
		if spec.Partitions < 1 {
			return [16]byte{}, kerr.InvalidPartitions
		}
		var err error
		as, err = Assign(im, im.LiveBrokers(), nil, int(spec.Partitions), int(spec.ReplicationFactor))
		if err != nil {
			return [16]byte{}, err
		}
	}
	id := spec.ID
	if id == ([16]byte{}) {
		id = NewTopicID()
	}
	err := n.Propose(ctx, &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{
		Name: spec.Name, ID: id, Configs: spec.Configs, Assignments: as}})
	return id, err
}

// CreatePartitions grows a topic to total partitions, assigning the new
// ones over the live brokers with the topic's replication factor (or
// manual, when set, for the new partitions only).
func (n *Node) CreatePartitions(ctx context.Context, name string, total int32, manual [][]int32) error {
	if err := n.Sync(ctx); err != nil {
		return err
	}
	im := n.Image()
	t := im.Topic(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	have := int32(len(t.Partitions))
	if err := CheckPartitionGrowth(have, total, manual); err != nil {
		return err
	}
	as := manual
	if as == nil {
		var err error
		as, err = Assign(im, im.LiveBrokers(), t.Partitions, int(total-have), len(t.Partitions[0].Replicas))
		if err != nil {
			return err
		}
	}
	return n.Propose(ctx, &Command{Type: CmdCreatePartitions, CreatePartitions: &CreatePartitions{
		Name: name, From: have, Assignments: as}})
}

// DeleteTopic commits a topic's deletion; a zero id matches any.
func (n *Node) DeleteTopic(ctx context.Context, name string, id [16]byte) error {
	return n.Propose(ctx, &Command{Type: CmdDeleteTopic, DeleteTopic: &DeleteTopic{Name: name, ID: id}})
}

// AlterTopicConfigs commits config overrides (validated by the caller).
func (n *Node) AlterTopicConfigs(ctx context.Context, name string, set map[string]string, del []string) error {
	return n.Propose(ctx, &Command{Type: CmdAlterConfigs, AlterConfigs: &AlterConfigs{Name: name, Set: set, Delete: del}})
}

// AllocateProducerIDs reserves a block of ProducerIDBlockSize producer ids
// for this broker and returns its first id.
func (n *Node) AllocateProducerIDs(ctx context.Context) (int64, error) {
	data, err := n.ProposeResult(ctx, &Command{Type: CmdAllocateProducerIDs,
		AllocateProducerIDs: &AllocateProducerIDs{BrokerID: n.self.ID, BrokerEpoch: n.epoch()}})
	if err != nil {
		return 0, err
	}
	if len(data) != 8 {
		return 0, fmt.Errorf("raftmeta: producer id block result of %d bytes", len(data))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// ChangeISR commits a partition's new ISR, as its leader proposes it
// (KIP-497): leader, leader epoch and partition epoch must be the current
// ones (compare-and-set), or the command is refused with
// FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH / INVALID_UPDATE_VERSION. A
// retried proposal that already applied succeeds.
func (n *Node) ChangeISR(ctx context.Context, x ChangeISR) error {
	return n.Propose(ctx, &Command{Type: CmdChangeISR, ChangeISR: &x})
}

// BrokerEpoch is this broker's registration epoch (0 before it registered).
func (n *Node) BrokerEpoch() uint64 { return n.epoch() }
