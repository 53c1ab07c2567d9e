package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/raftmeta"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// metaVersion is the format version of meta.json.
const metaVersion = 1

// producerIDBlock is how many producer ids are reserved per meta write, so
// that ids handed out before a crash are never handed out again.
const producerIDBlock = 1000

type metaFile struct {
	Version         int               `json:"version"`
	ClusterID       string            `json:"cluster_id"`
	Topics          []metaTopic       `json:"topics"`
	BrokerConfigs   map[string]string `json:"broker_configs,omitempty"`
	ProducerIDLimit int64             `json:"producer_id_limit"`
}

type metaTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	// Local lists the partitions this broker holds a replica of; absent:
	// all of them (standalone, and files written before replication).
	Local *[]int32 `json:"local,omitempty"`
}

// newMetaTopic describes t with its partitions ps.
func newMetaTopic(t *topic, ps []*partition.Partition) metaTopic {
	mt := metaTopic{Name: t.name, ID: hex.EncodeToString(t.id[:]), Partitions: int32(len(ps)), Configs: t.configs}
	if countLocal(ps) != len(ps) {
		local := []int32{}
		for i, p := range ps {
			if p != nil {
				local = append(local, int32(i))
			}
		}
		mt.Local = &local
	}
	return mt
}

// isLocal is the local-replica predicate a metaTopic records.
func (mt metaTopic) isLocal(i int32) bool { return mt.Local == nil || slices.Contains(*mt.Local, i) }

// metaStore tracks what is persisted beside the topics.
type metaStore struct {
	clusterID       string
	nextProducerID  int64
	producerIDLimit int64 // persisted: ids below it may have been handed out
}

func (b *Broker) metaPath() string { return filepath.Join(b.cfg.DataDir, "meta.json") }

// load reads meta.json (if any) and opens every partition.
func (b *Broker) load() error {
	if err := b.fs.MkdirAll(b.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	b.meta = &metaStore{clusterID: newClusterID()}
	data, err := readWholeFile(b.fs, b.metaPath())
	if errors.Is(err, os.ErrNotExist) {
		return b.saveMeta(nil)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", b.metaPath(), err)
	}
	var m metaFile
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parse %s: %w", b.metaPath(), err)
	}
	if m.Version != metaVersion {
		return fmt.Errorf("%s: unsupported version %d", b.metaPath(), m.Version)
	}
	b.meta.producerIDLimit = m.ProducerIDLimit
	if m.ClusterID != "" {
		b.meta.clusterID = m.ClusterID
	}
	b.meta.nextProducerID = m.ProducerIDLimit // skip ids possibly used before a crash
	for k, v := range m.BrokerConfigs {
		b.dynamic[k] = v
	}
	for _, mt := range m.Topics {
		var id [16]byte
		raw, err := hex.DecodeString(mt.ID)
		if err != nil || len(raw) != 16 {
			return fmt.Errorf("%s: topic %q has a bad id %q", b.metaPath(), mt.Name, mt.ID)
		}
		copy(id[:], raw)
		cfgs := mt.Configs
		if cfgs == nil {
			cfgs = map[string]string{}
		}
		t := &topic{name: mt.Name, id: id, configs: cfgs}
		ps, err := b.openPartitions(t, 0, mt.Partitions, mt.isLocal, false)
		if err != nil {
			return err
		}
		t.partitions = ps
		b.topics[t.name] = t
		b.topicIDs[t.id] = t
	}
	return nil
}

// saveMeta writes meta.json atomically and durably: the broker's state as
// it is now, changed by edit (nil: unchanged) — so that a change can be
// persisted before it becomes visible. It takes b.metaMu (serialising
// writers, so the file never goes back to an older state) and b.mu for
// reading while it snapshots; no other engine lock may be held.
func (b *Broker) saveMeta(edit func(*metaFile)) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	return b.saveMetaLocked(edit)
}

// saveMetaLocked is saveMeta for callers holding b.metaMu.
func (b *Broker) saveMetaLocked(edit func(*metaFile)) error {
	m := b.metaSnapshot()
	if edit != nil {
		edit(&m)
	}
	sort.Slice(m.Topics, func(i, j int) bool { return m.Topics[i].Name < m.Topics[j].Name })
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(b.fs, b.metaPath(), data); err != nil {
		return fmt.Errorf("save metadata: %w", err)
	}
	return nil
}

// metaSnapshot is meta.json's content for the broker as it is. Caller
// holds b.metaMu (b.meta's fields).
func (b *Broker) metaSnapshot() metaFile {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m := metaFile{Version: metaVersion, ClusterID: b.meta.clusterID, ProducerIDLimit: b.meta.producerIDLimit, BrokerConfigs: b.dynamic}
	for _, t := range b.topics {
		m.Topics = append(m.Topics, newMetaTopic(t, t.partitions))
	}
	return m
}

// putTopic adds or replaces t's entry.
func (m *metaFile) putTopic(t *topic) {
	m.removeTopic(t.name)
	m.Topics = append(m.Topics, newMetaTopic(t, t.partitions))
}

// putTopicPartitions records t with the partitions ps (a new count, or
// replicas opened or dropped).
func (m *metaFile) putTopicPartitions(t *topic, ps []*partition.Partition) {
	for i := range m.Topics {
		if m.Topics[i].Name == t.name {
			cfgs := m.Topics[i].Configs
			m.Topics[i] = newMetaTopic(t, ps)
			m.Topics[i].Configs = cfgs
		}
	}
}

// putTopicConfigs sets t's config overrides.
func (m *metaFile) putTopicConfigs(t *topic, cfgs map[string]string) {
	for i := range m.Topics {
		if m.Topics[i].Name == t.name {
			m.Topics[i].Configs = cfgs
		}
	}
}

func (m *metaFile) removeTopic(name string) {
	m.Topics = slices.DeleteFunc(m.Topics, func(mt metaTopic) bool { return mt.Name == name })
}

// allocProducerID hands out a new producer id: standalone from blocks
// persisted in meta.json, in a cluster from blocks the metadata shard
// allocates (unique across brokers).
func (b *Broker) allocProducerID() (int64, error) {
	if rc, ok := b.cluster().(*raftCluster); ok {
		return b.allocClusterProducerID(rc)
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	if b.meta.nextProducerID >= b.meta.producerIDLimit {
		limit := b.meta.nextProducerID + producerIDBlock
		if err := b.saveMetaLocked(func(m *metaFile) { m.ProducerIDLimit = limit }); err != nil {
			return -1, err
		}
		b.meta.producerIDLimit = limit
	}
	id := b.meta.nextProducerID
	b.meta.nextProducerID++
	return id, nil
}

// newClusterID makes a Kafka-style cluster id: 16 random bytes, URL-safe
// base64 without padding.
func newClusterID() string {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// allocClusterProducerID hands out an id from this broker's block,
// asking the metadata shard for the next block when it is used up. It
// takes b.pidMu (held across that commit: only InitProducerID waits).
func (b *Broker) allocClusterProducerID(rc *raftCluster) (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.pids.next >= b.pids.limit {
		ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
		defer cancel()
		first, err := rc.node.AllocateProducerIDs(ctx)
		if err != nil {
			return -1, err
		}
		b.pids.next, b.pids.limit = first, first+raftmeta.ProducerIDBlockSize
	}
	id := b.pids.next
	b.pids.next++
	return id, nil
}
