package raftmeta

import (
	"fmt"
	"slices"
)

// commandVersion is the version byte every command starts with. A decoder
// that meets a version it does not know rejects the entry (INVALID_REQUEST
// result) instead of guessing; a newer version is added beside the old one,
// never in place of it, so old logs replay unchanged.
// Version 2: ChangeISR carries the broker epochs of the ISR (KIP-903);
// version 1 entries still decode (no epochs).
const commandVersion = 2

// CmdType names a command in the log. Values are part of the log format:
// never renumber.
type CmdType uint8

const (
	CmdRegisterBroker        CmdType = 1
	CmdHeartbeat             CmdType = 2
	CmdFenceBroker           CmdType = 3
	CmdCreateTopic           CmdType = 4
	CmdDeleteTopic           CmdType = 5
	CmdCreatePartitions      CmdType = 6
	CmdAlterConfigs          CmdType = 7
	CmdChangeISR             CmdType = 8
	CmdElectLeader           CmdType = 9
	CmdAllocateProducerIDs   CmdType = 10
	CmdShutdownBroker        CmdType = 11
	CmdElectPreferredLeaders CmdType = 12
)

func (t CmdType) String() string {
	switch t {
	case CmdRegisterBroker:
		return "RegisterBroker"
	case CmdHeartbeat:
		return "Heartbeat"
	case CmdFenceBroker:
		return "FenceBroker"
	case CmdCreateTopic:
		return "CreateTopic"
	case CmdDeleteTopic:
		return "DeleteTopic"
	case CmdCreatePartitions:
		return "CreatePartitions"
	case CmdAlterConfigs:
		return "AlterConfigs"
	case CmdChangeISR:
		return "ChangeISR"
	case CmdElectLeader:
		return "ElectLeader"
	case CmdAllocateProducerIDs:
		return "AllocateProducerIDs"
	case CmdShutdownBroker:
		return "ShutdownBroker"
	case CmdElectPreferredLeaders:
		return "ElectPreferredLeaders"
	}
	return fmt.Sprintf("CmdType(%d)", uint8(t))
}

// Command is one metadata change. Exactly one of the pointer fields matching
// Type is set.
type Command struct {
	Type                  CmdType
	RegisterBroker        *RegisterBroker
	Heartbeat             *Heartbeat
	FenceBroker           *FenceBroker
	CreateTopic           *CreateTopic
	DeleteTopic           *DeleteTopic
	CreatePartitions      *CreatePartitions
	AlterConfigs          *AlterConfigs
	ChangeISR             *ChangeISR
	ElectLeader           *ElectLeader
	AllocateProducerIDs   *AllocateProducerIDs
	ShutdownBroker        *ShutdownBroker
	ElectPreferredLeaders *ElectPreferredLeaders
}

// ShutdownBroker starts a broker's controlled shutdown (its heartbeat
// asked for it): every partition it leads gets another in-sync leader
// (leader epoch + 1), it leaves every ISR it is not the last member of,
// and it is not elected again until it registers anew.
type ShutdownBroker struct {
	ID    int32
	Epoch uint64
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectPreferredLeaders moves leadership of each listed partition back to its
// preferred replica (the first), where that replica is in the ISR, live
// and not shutting down; others are left as they are (the controller's
// auto.leader.rebalance.enable).
type ElectPreferredLeaders struct {
	Partitions []TopicPartition
}

// RegisterBroker adds a broker or re-registers it after a restart. The
// broker's registration epoch becomes the entry's Raft index and the broker
// is unfenced.
type RegisterBroker struct {
	ID              int32
	KafkaAddr       string
	ReplicationAddr string
	RaftAddr        string
	Rack            string
}

// Heartbeat says a broker is alive. It changes no state unless the broker
// was fenced, in which case it unfences it.
type Heartbeat struct {
	ID    int32
	Epoch uint64 // registration epoch the broker knows; stale -> STALE_BROKER_EPOCH
}

// FenceBroker marks a broker dead (the controller proposes it after the
// broker's session timed out): it leaves every ISR it is not the last member
// of, and partitions it led get a new leader from the ISR, or none.
type FenceBroker struct {
	ID    int32
	Epoch uint64
}

// CreateTopic creates a topic with explicit replica assignments, computed by
// the proposer (see Assign): the log never depends on the assignment
// algorithm, so changing it never changes how old logs replay.
type CreateTopic struct {
	Name        string
	ID          [16]byte // chosen by the proposer; a replayed duplicate with the same id succeeds
	Configs     map[string]string
	Assignments [][]int32 // partition i -> replicas, preferred leader first
}

// DeleteTopic removes a topic. A zero ID matches any id.
type DeleteTopic struct {
	Name string
	ID   [16]byte
}

// CreatePartitions appends partitions From..From+len(Assignments)-1.
type CreatePartitions struct {
	Name        string
	From        int32 // the partition count the proposer saw
	Assignments [][]int32
}

// AlterConfigs sets and removes topic config overrides. Values were
// validated by the proposer.
type AlterConfigs struct {
	Name   string
	Set    map[string]string
	Delete []string
}

// ChangeISR replaces a partition's ISR; the partition leader proposes it
// (KIP-497 AlterPartition). Both epochs must match the current ones.
type ChangeISR struct {
	Topic          string
	Partition      int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// BrokerEpochs, when set, holds the registration epoch the leader saw
	// for each ISR member (-1: not known), so a replica that registered
	// anew (a restart, maybe on an empty disk) cannot be put back by a
	// change computed for its previous incarnation (KIP-903).
	BrokerEpochs []int64
}

// Election types of ElectLeader, as in Kafka's ElectLeaders request.
const (
	ElectPreferred int8 = 0 // move leadership to the first replica if it is in the ISR and live
	ElectEligible  int8 = 1 // a leaderless partition takes the first live ISR member
)

// ElectLeader elects a partition leader.
type ElectLeader struct {
	Topic     string
	Partition int32
	Type      int8
}

// ProducerIDBlockSize is how many producer ids one AllocateProducerIDs
// hands a broker (Kafka's KIP-730 uses 1000 too).
const ProducerIDBlockSize = 1000

// AllocateProducerIDs reserves the next block of ProducerIDBlockSize
// producer ids for a broker (KIP-730): ids are unique cluster-wide, so two
// idempotent producers that initialised through different brokers never
// share one. The result's Data is the block's first id (8 bytes,
// big-endian). A retried proposal applied twice reserves two blocks; the
// first is simply never used.
type AllocateProducerIDs struct {
	BrokerID    int32
	BrokerEpoch uint64 // the registration epoch; stale -> STALE_BROKER_EPOCH
}

// Encode returns the command's log entry.
func (c *Command) Encode() ([]byte, error) {
	w := &writer{b: make([]byte, 0, 64)}
	w.u8(commandVersion)
	w.u8(uint8(c.Type))
	switch c.Type {
	case CmdRegisterBroker:
		x := c.RegisterBroker
		w.i32(x.ID)
		w.str(x.KafkaAddr)
		w.str(x.ReplicationAddr)
		w.str(x.RaftAddr)
		w.str(x.Rack)
	case CmdHeartbeat:
		w.i32(c.Heartbeat.ID)
		w.u64(c.Heartbeat.Epoch)
	case CmdFenceBroker:
		w.i32(c.FenceBroker.ID)
		w.u64(c.FenceBroker.Epoch)
	case CmdCreateTopic:
		x := c.CreateTopic
		w.str(x.Name)
		w.id(x.ID)
		w.kvs(x.Configs)
		writeAssignments(w, x.Assignments)
	case CmdDeleteTopic:
		w.str(c.DeleteTopic.Name)
		w.id(c.DeleteTopic.ID)
	case CmdCreatePartitions:
		x := c.CreatePartitions
		w.str(x.Name)
		w.i32(x.From)
		writeAssignments(w, x.Assignments)
	case CmdAlterConfigs:
		x := c.AlterConfigs
		w.str(x.Name)
		w.kvs(x.Set)
		del := slices.Sorted(slices.Values(x.Delete))
		w.u32(uint32(len(del)))
		for _, k := range del {
			w.str(k)
		}
	case CmdChangeISR:
		x := c.ChangeISR
		w.str(x.Topic)
		w.i32(x.Partition)
		w.i32(x.Leader)
		w.i32(x.LeaderEpoch)
		w.i32(x.PartitionEpoch)
		w.i32s(x.ISR)
		w.u32(uint32(len(x.BrokerEpochs)))
		for _, e := range x.BrokerEpochs {
			w.u64(uint64(e))
		}
	case CmdElectLeader:
		x := c.ElectLeader
		w.str(x.Topic)
		w.i32(x.Partition)
		w.u8(uint8(x.Type))
	case CmdAllocateProducerIDs:
		w.i32(c.AllocateProducerIDs.BrokerID)
		w.u64(c.AllocateProducerIDs.BrokerEpoch)
	case CmdShutdownBroker:
		w.i32(c.ShutdownBroker.ID)
		w.u64(c.ShutdownBroker.Epoch)
	case CmdElectPreferredLeaders:
		w.u32(uint32(len(c.ElectPreferredLeaders.Partitions)))
		for _, tp := range c.ElectPreferredLeaders.Partitions {
			w.str(tp.Topic)
			w.i32(tp.Partition)
		}
	default:
		return nil, fmt.Errorf("encode command: unknown type %d", c.Type)
	}
	if len(w.b) > maxEntryBytes {
		return nil, fmt.Errorf("encode %s: %d bytes over the %d byte entry limit", c.Type, len(w.b), maxEntryBytes)
	}
	return w.b, nil
}

// maxEntryBytes bounds one command (a 100k-partition topic at RF=3 fits).
const maxEntryBytes = 8 << 20

func writeAssignments(w *writer, as [][]int32) {
	w.u32(uint32(len(as)))
	for _, a := range as {
		w.i32s(a)
	}
}

func readAssignments(r *reader) [][]int32 {
	n := r.count(maxListLen)
	out := make([][]int32, 0, min(n, 1024))
	for range n {
		if r.err != nil {
			break
		}
		out = append(out, r.i32s())
	}
	return out
}

// DecodeCommand parses a log entry written by Encode.
func DecodeCommand(b []byte) (*Command, error) {
	r := &reader{b: b}
	version := r.u8()
	if r.err == nil && version != 1 && version != commandVersion {
		return nil, fmt.Errorf("decode command: unknown version %d", version)
	}
	c := &Command{Type: CmdType(r.u8())}
	switch c.Type {
	case CmdRegisterBroker:
		c.RegisterBroker = &RegisterBroker{ID: r.i32(), KafkaAddr: r.str(), ReplicationAddr: r.str(), RaftAddr: r.str(), Rack: r.str()}
	case CmdHeartbeat:
		c.Heartbeat = &Heartbeat{ID: r.i32(), Epoch: r.u64()}
	case CmdFenceBroker:
		c.FenceBroker = &FenceBroker{ID: r.i32(), Epoch: r.u64()}
	case CmdCreateTopic:
		c.CreateTopic = &CreateTopic{Name: r.str(), ID: r.id(), Configs: r.kvs(), Assignments: readAssignments(r)}
	case CmdDeleteTopic:
		c.DeleteTopic = &DeleteTopic{Name: r.str(), ID: r.id()}
	case CmdCreatePartitions:
		c.CreatePartitions = &CreatePartitions{Name: r.str(), From: r.i32(), Assignments: readAssignments(r)}
	case CmdAlterConfigs:
		x := &AlterConfigs{Name: r.str(), Set: r.kvs()}
		n := r.count(maxListLen)
		for range n {
			x.Delete = append(x.Delete, r.str())
		}
		c.AlterConfigs = x
	case CmdChangeISR:
		x := &ChangeISR{Topic: r.str(), Partition: r.i32(), Leader: r.i32(), LeaderEpoch: r.i32(), PartitionEpoch: r.i32(), ISR: r.i32s()}
		if version >= 2 {
			n := r.count(maxReplicaCount)
			for range n {
				x.BrokerEpochs = append(x.BrokerEpochs, int64(r.u64()))
			}
		}
		c.ChangeISR = x
	case CmdElectLeader:
		c.ElectLeader = &ElectLeader{Topic: r.str(), Partition: r.i32(), Type: int8(r.u8())}
	case CmdAllocateProducerIDs:
		c.AllocateProducerIDs = &AllocateProducerIDs{BrokerID: r.i32(), BrokerEpoch: r.u64()}
	case CmdShutdownBroker:
		c.ShutdownBroker = &ShutdownBroker{ID: r.i32(), Epoch: r.u64()}
	case CmdElectPreferredLeaders:
		x := &ElectPreferredLeaders{}
		n := r.count(maxListLen)
		for range n {
			if r.err != nil {
				break
			}
			x.Partitions = append(x.Partitions, TopicPartition{Topic: r.str(), Partition: r.i32()})
		}
		c.ElectPreferredLeaders = x
	default:
		if r.err == nil {
			return nil, fmt.Errorf("decode command: unknown type %d", c.Type)
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.Type, err)
	}
	return c, nil
}
