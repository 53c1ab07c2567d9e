package raftmeta

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
)

// BrokerInfo is one registered broker.
type BrokerInfo struct {
	ID              int32
	KafkaAddr       string
	ReplicationAddr string
	RaftAddr        string
	Rack            string
	Epoch           uint64 // registration epoch: Raft index of the latest registration
	Fenced          bool
	// ShuttingDown: in controlled shutdown (ShutdownBroker) until it
	// registers anew; never elected leader nor added to an ISR meanwhile.
	ShuttingDown bool
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	Replicas       []int32 // preferred leader first
	ISR            []int32
	Leader         int32 // -1: no leader
	LeaderEpoch    int32 // +1 on every leader change
	PartitionEpoch int32 // +1 on every change of leader, ISR or replicas
}

// Topic is one topic.
type Topic struct {
	Name       string
	ID         [16]byte
	Configs    map[string]string
	Partitions []Partition
}

// Image is an immutable view of the metadata as of log index Index. The
// state machine publishes a new Image after every change; holders of an old
// one keep a consistent (older) view. Nothing reachable from an Image is
// ever modified after it is published: callers must not modify it either.
type Image struct {
	Index   uint64
	brokers []BrokerInfo // sorted by ID
	topics  map[string]*Topic
	byID    map[[16]byte]*Topic
	// nextProducerID is the first producer id not yet handed out in a
	// block (AllocateProducerIDs).
	nextProducerID int64
}

func emptyImage() *Image {
	return &Image{topics: map[string]*Topic{}, byID: map[[16]byte]*Topic{}}
}

// Brokers returns every registered broker, sorted by id (fenced included).
func (im *Image) Brokers() []BrokerInfo { return im.brokers }

// Broker returns a broker by id.
func (im *Image) Broker(id int32) (BrokerInfo, bool) {
	i, ok := slices.BinarySearchFunc(im.brokers, id, func(b BrokerInfo, id int32) int { return int(b.ID) - int(id) })
	if !ok {
		return BrokerInfo{}, false
	}
	return im.brokers[i], true
}

// LiveBrokers returns the unfenced brokers, sorted by id.
func (im *Image) LiveBrokers() []BrokerInfo {
	var out []BrokerInfo
	for _, b := range im.brokers {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	return out
}

// Topic returns a topic by name, or nil.
func (im *Image) Topic(name string) *Topic { return im.topics[name] }

// TopicByID returns a topic by id, or nil.
func (im *Image) TopicByID(id [16]byte) *Topic { return im.byID[id] }

// TopicNames returns every topic name, sorted.
func (im *Image) TopicNames() []string { return sortedKeys(im.topics) }

// NumTopics is the number of topics.
func (im *Image) NumTopics() int { return len(im.topics) }

// clone returns a shallow copy whose maps and broker slice may be changed
// without affecting im; the topics themselves are shared until replaced.
func (im *Image) clone() *Image {
	out := &Image{
		Index:          im.Index,
		nextProducerID: im.nextProducerID,
		brokers:        slices.Clone(im.brokers),
		topics:         make(map[string]*Topic, len(im.topics)+1),
		byID:           make(map[[16]byte]*Topic, len(im.byID)+1),
	}
	for k, v := range im.topics {
		out.topics[k] = v
	}
	for k, v := range im.byID {
		out.byID[k] = v
	}
	return out
}

// putTopic stores t (a fresh object) in a cloned image.
func (im *Image) putTopic(t *Topic) {
	im.topics[t.Name] = t
	im.byID[t.ID] = t
}

// copyTopic returns a copy of t whose partition slice may be changed (the
// Partition values in it still share their replica/ISR slices, which are
// only ever replaced).
func copyTopic(t *Topic) *Topic {
	return &Topic{Name: t.Name, ID: t.ID, Configs: t.Configs, Partitions: slices.Clone(t.Partitions)}
}

// snapshotMagic starts every snapshot; snapshotVersion follows it.
const (
	snapshotMagic = 0x43524d53 // "CRMS"
	// snapshotVersion 2 adds each broker's shutting-down flag and, at the
	// end, the producer-id counter; version 1 snapshots still decode.
	snapshotVersion = 2
)

// encode writes the image in the snapshot format (see doc.go). The output
// depends only on the image's contents: brokers by id, topics by name,
// configs by key.
func (im *Image) encode() []byte {
	w := &writer{b: make([]byte, 0, 256)}
	w.u32(snapshotMagic)
	w.u8(snapshotVersion)
	w.u64(im.Index)
	w.u32(uint32(len(im.brokers)))
	for _, b := range im.brokers {
		w.i32(b.ID)
		w.str(b.KafkaAddr)
		w.str(b.ReplicationAddr)
		w.str(b.RaftAddr)
		w.str(b.Rack)
		w.u64(b.Epoch)
		w.bool(b.Fenced)
		w.bool(b.ShuttingDown) // v2
	}
	names := im.TopicNames()
	w.u32(uint32(len(names)))
	for _, n := range names {
		t := im.topics[n]
		w.str(t.Name)
		w.id(t.ID)
		w.kvs(t.Configs)
		w.u32(uint32(len(t.Partitions)))
		for _, p := range t.Partitions {
			w.i32s(p.Replicas)
			w.i32s(p.ISR)
			w.i32(p.Leader)
			w.i32(p.LeaderEpoch)
			w.i32(p.PartitionEpoch)
		}
	}
	w.u64(uint64(im.nextProducerID)) // v2
	return w.b
}

// decodeImage parses a snapshot written by encode.
func decodeImage(b []byte) (*Image, error) {
	r := &reader{b: b}
	if m := r.u32(); r.err == nil && m != snapshotMagic {
		return nil, fmt.Errorf("snapshot: bad magic %#x", m)
	}
	v := r.u8()
	if r.err == nil && v != 1 && v != snapshotVersion {
		return nil, fmt.Errorf("snapshot: unknown version %d", v)
	}
	im := emptyImage()
	im.Index = r.u64()
	nb := r.count(maxListLen)
	for range nb {
		if r.err != nil {
			break
		}
		b := BrokerInfo{ID: r.i32(), KafkaAddr: r.str(), ReplicationAddr: r.str(),
			RaftAddr: r.str(), Rack: r.str(), Epoch: r.u64(), Fenced: r.bool()}
		if v >= 2 {
			b.ShuttingDown = r.bool()
		}
		im.brokers = append(im.brokers, b)
	}
	nt := r.count(maxListLen)
	for range nt {
		if r.err != nil {
			break
		}
		t := &Topic{Name: r.str(), ID: r.id(), Configs: r.kvs()}
		np := r.count(maxListLen)
		for range np {
			if r.err != nil {
				break
			}
			t.Partitions = append(t.Partitions, Partition{Replicas: r.i32s(), ISR: r.i32s(),
				Leader: r.i32(), LeaderEpoch: r.i32(), PartitionEpoch: r.i32()})
		}
		im.putTopic(t)
	}
	if v >= 2 {
		im.nextProducerID = int64(r.u64())
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if !sort.SliceIsSorted(im.brokers, func(i, j int) bool { return im.brokers[i].ID < im.brokers[j].ID }) {
		return nil, fmt.Errorf("snapshot: brokers not sorted by id")
	}
	return im, nil
}

// Hash is a digest of the whole image (its snapshot encoding): two replicas
// that applied the same log have equal hashes.
func (im *Image) Hash() [32]byte { return sha256.Sum256(im.encode()) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
