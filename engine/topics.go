package engine

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/raftmeta"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topic is a topic's metadata and its partitions. partitions only grows
// (CreatePartitions); the slice is replaced, never mutated in place, so
// readers holding the old slice under Broker.mu.RLock stay consistent.
type topic struct {
	name       string
	id         [16]byte
	partitions []*partition
	configs    map[string]string // overrides; effective values via topicConfig

	produceCfg atomic.Pointer[produceConfig] // parsed for the produce path (00_produce.go)
}

// topicConfigDefs lists the topic configs Chronik honours, with the broker
// key that supplies each default.
var topicConfigDefs = []struct{ name, brokerKey string }{
	{"cleanup.policy", "log.cleanup.policy"},
	{"max.message.bytes", "message.max.bytes"},
	{"message.timestamp.type", "log.message.timestamp.type"},
	{"min.insync.replicas", "min.insync.replicas"},
	{"retention.bytes", "log.retention.bytes"},
	{"retention.ms", "log.retention.ms"},
	{"segment.bytes", "log.segment.bytes"},
	{"segment.ms", "log.roll.ms"},
}

func topicConfigDef(name string) (brokerKey string, ok bool) {
	for _, d := range topicConfigDefs {
		if d.name == name {
			return d.brokerKey, true
		}
	}
	return "", false
}

// validateTopicConfig checks one topic config value; it returns the Kafka
// error for a bad key or value.
func validateTopicConfig(name, value string) *kerr.Error {
	if _, ok := topicConfigDef(name); !ok {
		return kerr.InvalidConfig
	}
	switch name {
	case "cleanup.policy":
		if value != "delete" {
			return kerr.InvalidConfig // compaction is not supported for user topics
		}
	case "message.timestamp.type":
		if value != "CreateTime" && value != "LogAppendTime" {
			return kerr.InvalidConfig
		}
	case "max.message.bytes", "min.insync.replicas":
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < 0 {
			return kerr.InvalidConfig
		}
	case "segment.bytes":
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < 14 {
			return kerr.InvalidConfig
		}
	default: // retention.ms, retention.bytes, segment.ms
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < -1 {
			return kerr.InvalidConfig
		}
	}
	return nil
}

// topicConfig returns the effective value of a topic config and whether it
// is a topic override. Caller holds b.mu (read).
func (b *Broker) topicConfig(t *topic, name string) (value string, override bool) {
	if v, ok := t.configs[name]; ok {
		return v, true
	}
	bk, _ := topicConfigDef(name)
	return b.brokerConfig(bk), false
}

// brokerConfig returns the effective broker config value (dynamic over static).
func (b *Broker) brokerConfig(key string) string {
	if v, ok := b.dynamic[key]; ok {
		return v
	}
	v, _ := b.cfg.Get(key)
	return v
}

func (b *Broker) topicInt(t *topic, name string) int64 {
	v, _ := b.topicConfig(t, name)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// walOptions builds the log options of a topic's partitions. Caller holds b.mu.
func (b *Broker) walOptions(t *topic) wal.Options {
	return wal.Options{
		SegmentBytes:       b.topicInt(t, "segment.bytes"),
		SegmentMs:          time.Duration(b.topicInt(t, "segment.ms")) * time.Millisecond,
		IndexIntervalBytes: int(b.cfg.IndexIntervalBytes),
		RetentionMs:        wal.Retain(b.topicInt(t, "retention.ms")),
		RetentionBytes:     wal.Retain(b.topicInt(t, "retention.bytes")),
		Now:                b.now,
		Flusher:            b.flusher,
	}
}

// validTopicName follows Kafka's Topic.validate (one definition, shared
// with the metadata state machine).
func validTopicName(name string) bool { return raftmeta.ValidTopicName(name) }

func newTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		if _, err := rand.Read(id[:]); err != nil {
			panic(err)
		}
	}
	return id
}

// createTopic creates a topic with n partitions and the given overrides,
// persisting metadata before the partitions are visible. Caller holds b.mu
// (write) and has validated name, n and configs.
func (b *Broker) createTopic(name string, n int32, configs map[string]string) (*topic, error) {
	if configs == nil {
		configs = map[string]string{}
	}
	t := &topic{name: name, id: newTopicID(), configs: configs}
	if err := b.addPartitions(t, n); err != nil {
		return nil, err
	}
	b.topics[name] = t
	b.topicIDs[t.id] = t
	if err := b.saveMeta(); err != nil {
		delete(b.topics, name)
		delete(b.topicIDs, t.id)
		for _, p := range t.partitions {
			p.log.Delete()
		}
		return nil, err
	}
	b.log.Info("topic created", "topic", name, "partitions", n)
	return t, nil
}

// addPartitions opens partitions len(t.partitions)..n-1. Caller holds b.mu.
func (b *Broker) addPartitions(t *topic, n int32) error {
	ps := append([]*partition(nil), t.partitions...)
	for i := int32(len(ps)); i < n; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, q := range ps[len(t.partitions):] {
				q.log.Close()
			}
			return err
		}
		ps = append(ps, p)
	}
	t.partitions = ps
	return nil
}

func (b *Broker) partitionDir(topic string, p int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(p)))
}

func (b *Broker) openPartition(t *topic, i int32) (*partition, error) {
	dir := b.partitionDir(t.name, i)
	l, err := wal.Open(b.fs, dir, b.walOptions(t))
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", t.name, i, err)
	}
	p := newPartition(t.name, i, l)
	if err := p.rebuildProducers(); err != nil {
		l.Close()
		return nil, fmt.Errorf("rebuild producer state %s-%d: %w", t.name, i, err)
	}
	return p, nil
}

// deleteTopic removes a topic and its files. Caller holds b.mu (write).
func (b *Broker) deleteTopic(t *topic) error {
	delete(b.topics, t.name)
	delete(b.topicIDs, t.id)
	if err := b.saveMeta(); err != nil {
		b.topics[t.name] = t
		b.topicIDs[t.id] = t
		return err
	}
	for _, p := range t.partitions {
		p.wakeWaiters()
		if err := p.log.Delete(); err != nil {
			b.log.Warn("delete partition files", "partition", p.String(), "err", err)
		}
	}
	b.log.Info("topic deleted", "topic", t.name)
	return nil
}

// lookupTopic returns a topic by name under the read lock.
func (b *Broker) lookupTopic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

// lookupPartition resolves a topic (by id when id is non-zero, else by name)
// and a partition.
func (b *Broker) lookupPartition(name string, id [16]byte, p int32) (*topic, *partition) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var t *topic
	if id != ([16]byte{}) {
		t = b.topicIDs[id]
	} else {
		t = b.topics[name]
	}
	if t == nil {
		return nil, nil
	}
	if p < 0 || int(p) >= len(t.partitions) {
		return t, nil
	}
	return t, t.partitions[p]
}
