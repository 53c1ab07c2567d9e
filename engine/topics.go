package engine

import (
	"errors"
	"github.com/chronik/chronik/engine/partition"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
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
	partitions []*partition.Partition
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
	{"unclean.leader.election.enable", "unclean.leader.election.enable"},
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
	case "unclean.leader.election.enable":
		if value != "true" && value != "false" {
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
// is a topic override. Caller holds b.mu (read) or b.adminMu.
func (b *Broker) topicConfig(t *topic, name string) (value string, override bool) {
	if v, ok := t.configs[name]; ok {
		return v, true
	}
	bk, _ := topicConfigDef(name)
	return b.brokerConfig(bk), false
}

// brokerConfig returns the effective broker config value (dynamic over
// static). Caller holds b.mu (read) or b.adminMu.
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

// walOptionsOf builds the log options of t's partitions under b.mu.
func (b *Broker) walOptionsOf(t *topic) wal.Options {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.walOptions(t)
}

// walOptions builds the log options of a topic's partitions. Caller holds
// b.mu (read).
func (b *Broker) walOptions(t *topic) wal.Options {
	return wal.Options{
		SegmentBytes:       b.topicInt(t, "segment.bytes"),
		SegmentMs:          time.Duration(b.topicInt(t, "segment.ms")) * time.Millisecond,
		IndexIntervalBytes: int(b.cfg.IndexIntervalBytes),
		RetentionMs:        wal.Retain(b.topicInt(t, "retention.ms")),
		RetentionBytes:     wal.Retain(b.topicInt(t, "retention.bytes")),
		Now:                b.now,
		Flusher:            b.flusher,
		OnStorageError:     b.onStorageError,
		PreallocateBytes:   b.preallocateBytes(),
	}
}

// preallocateBytes is wal.Options.PreallocateBytes for log.preallocate:
// wal's default reservation when on, none when off.
func (b *Broker) preallocateBytes() int64 {
	if b.cfg.Preallocate {
		return 0
	}
	return -1
}

// validTopicName follows Kafka's Topic.validate (one definition, shared
// with the metadata state machine).
func validTopicName(name string) bool { return raftmeta.ValidTopicName(name) }

// checkNewTopicName answers whether name may be created next to the local
// topics: TOPIC_ALREADY_EXISTS, or INVALID_TOPIC_EXCEPTION when it differs
// from an existing name only in '.' vs '_' (the state machine applies the
// same rule, raftmeta.CollidingTopic). It takes b.mu for reading.
func (b *Broker) checkNewTopicName(name string) *kerr.Error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if _, ok := b.topics[name]; ok {
		return kerr.TopicAlreadyExists
	}
	if _, collides := raftmeta.CollidingTopic(name, maps.Keys(b.topics)); collides {
		return kerr.InvalidTopicException
	}
	return nil
}

// createTopic creates a local topic of n partitions whose replicas on
// this broker are those local reports (standalone: all): their logs are
// opened and meta.json names the topic before it becomes visible to
// requests. Caller holds b.adminMu and has validated name, n and configs
// and checked that the name is free.
func (b *Broker) createTopic(name string, id [16]byte, n int32, configs map[string]string, local func(int32) bool) (*topic, error) {
	if configs == nil {
		configs = map[string]string{}
	}
	t := &topic{name: name, id: id, configs: configs}
	ps, err := b.openPartitions(t, 0, n, local, true)
	if err != nil {
		return nil, err
	}
	t.partitions = ps
	if err := b.saveMeta(func(m *metaFile) { m.putTopic(t) }); err != nil {
		b.deletePartitions(ps)
		return nil, err
	}
	b.mu.Lock()
	b.topics[name] = t
	b.topicIDs[t.id] = t
	b.mu.Unlock()
	b.log.Info("topic created", "topic", name, "partitions", n, "local_replicas", countLocal(ps))
	return t, nil
}

// growTopic opens the local replicas among partitions
// len(t.partitions)..n-1, persists the new count and then publishes them.
// Caller holds b.adminMu.
func (b *Broker) growTopic(t *topic, n int32, local func(int32) bool) error {
	old := b.topicPartitions(t)
	ps, err := b.openPartitions(t, int32(len(old)), n, local, true)
	if err != nil {
		return err
	}
	grown := append(slices.Clip(old), ps...) // a new array: readers keep the old slice
	if err := b.saveMeta(func(m *metaFile) { m.putTopicPartitions(t, grown) }); err != nil {
		b.deletePartitions(ps)
		return err
	}
	b.mu.Lock()
	t.partitions = grown
	b.mu.Unlock()
	return nil
}

// topicPartitions returns t's partition slice: one entry per partition, nil
// where this broker holds no replica (copy-on-write: never modified once
// published).
func (b *Broker) topicPartitions(t *topic) []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.partitions
}

// allLocal is the local-replica predicate of a standalone broker.
func allLocal(int32) bool { return true }

// openPartitions opens the logs of the local replicas among partitions
// from..to-1 of t (nil entries for the others), all or none (fresh: new
// partitions, whose directories a failure removes again, so that a
// CreateTopics or CreatePartitions refused half-way leaves nothing on
// disk; otherwise existing ones, whose files a failure keeps), up to
// num.recovery.threads.per.data.dir at a time: opening a partition is
// mostly waiting for the disk (a new one's directory, checkpoint files and
// their entries made durable: about 12 ms each on the reference box; a
// crashed one's tail), which serves many such waits at a time. No engine
// lock is held across the I/O.
func (b *Broker) openPartitions(t *topic, from, to int32, local func(int32) bool, fresh bool) ([]*partition.Partition, error) {
	opts := b.walOptionsOf(t)
	ps := make([]*partition.Partition, to-from)
	errs := make([]error, to-from)
	parallel(int(to-from), int(b.cfg.RecoveryThreads), func(k int) {
		if i := from + int32(k); local(i) {
			ps[k], errs[k] = b.openPartition(t.name, i, opts)
		}
	})
	if err := errors.Join(errs...); err != nil {
		if !fresh {
			b.closePartitions(ps)
			return nil, err
		}
		b.deletePartitions(ps)
		for k, e := range errs {
			if e == nil {
				continue
			}
			if rmErr := b.fs.RemoveAll(b.partitionDir(t.name, from+int32(k))); rmErr != nil {
				b.log.Warn("remove partition files", "topic", t.name, "partition", from+int32(k), "err", rmErr)
			}
		}
		return nil, err
	}
	return ps, nil
}

// parallel calls fn(0..n-1) on at most workers goroutines and returns
// when every call has: partition opens and checkpoints wait on the disk,
// so a few at once overlap their fsyncs.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, max(workers, 1)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

func (b *Broker) partitionDir(topic string, p int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(p)))
}

// openPartition opens one local replica. Standalone it leads at once
// (epoch 0, the only replica); in a cluster it waits for the metadata's
// leadership (the mirror sets it).
func (b *Broker) openPartition(topic string, i int32, opts wal.Options) (*partition.Partition, error) {
	p, err := partition.Open(b.fs, b.partitionDir(topic, i), topic, i, opts, b.log)
	if err != nil {
		return nil, err
	}
	p.SetSettings(b.partitionSettings())
	p.RestoreHighWatermark(b.checkpointedHW(topic, i))
	if !b.cfg.Clustered {
		self := b.cfg.NodeID
		if err := p.SetLeadership(partition.Leadership{Leader: self, Replicas: []int32{self}, ISR: []int32{self}}); err != nil {
			p.Log().Close()
			return nil, err
		}
	}
	return p, nil
}

// closePartitions closes the logs of ps (nil entries skipped), keeping
// their files.
func (b *Broker) closePartitions(ps []*partition.Partition) {
	for _, p := range ps {
		if p != nil {
			p.Abandon()
			p.Log().Close()
		}
	}
}

// deleteTopic removes a topic: meta.json first, then the maps, then (with
// no engine lock held but b.adminMu) its logs and their files. Caller holds
// b.adminMu.
func (b *Broker) deleteTopic(t *topic) error {
	if err := b.saveMeta(func(m *metaFile) { m.removeTopic(t.name) }); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.topics, t.name)
	delete(b.topicIDs, t.id)
	ps := t.partitions
	b.mu.Unlock()
	b.deletePartitions(ps)
	b.log.Info("topic deleted", "topic", t.name)
	return nil
}

// deletePartitions gives up ps (nil entries skipped: acks=-1 waiters get
// NOT_LEADER_OR_FOLLOWER, parked fetches look again) and deletes their
// logs. Errors are logged: the topic is gone from the metadata already.
func (b *Broker) deletePartitions(ps []*partition.Partition) {
	for _, p := range ps {
		if p == nil {
			continue
		}
		p.Abandon()
		if err := p.Log().Delete(); err != nil {
			b.log.Warn("delete partition files", "partition", p.String(), "err", err)
		}
	}
}

// countLocal counts the non-nil entries of ps.
func countLocal(ps []*partition.Partition) int {
	n := 0
	for _, p := range ps {
		if p != nil {
			n++
		}
	}
	return n
}

// topicList returns every local topic (a snapshot under the read lock).
func (b *Broker) topicList() []*topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return slices.Collect(maps.Values(b.topics))
}

// lookupTopic returns a topic by name under the read lock.
func (b *Broker) lookupTopic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

// lookupPartition resolves a topic (by id when id is non-zero, else by name)
// and a partition: nil when the partition does not exist or this broker
// holds no replica of it (partitionFor tells the two apart).
func (b *Broker) lookupPartition(name string, id [16]byte, p int32) (*topic, *partition.Partition) {
	t, pp, _ := b.partitionFor(name, id, p)
	return t, pp
}

// partitionFor resolves a request's partition to the local replica, or to
// the Kafka error for it: UNKNOWN_TOPIC_ID for an unknown id,
// UNKNOWN_TOPIC_OR_PARTITION for an unknown name or partition,
// NOT_LEADER_OR_FOLLOWER when the partition exists but this broker holds
// no replica of it (the client looks the leader up again).
func (b *Broker) partitionFor(name string, id [16]byte, idx int32) (*topic, *partition.Partition, *kerr.Error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var t *topic
	if id != ([16]byte{}) {
		t = b.topicIDs[id]
	} else {
		t = b.topics[name]
	}
	switch {
	case t == nil && id != ([16]byte{}):
		return nil, nil, kerr.UnknownTopicID
	case t == nil, idx < 0 || int(idx) >= len(t.partitions):
		return t, nil, kerr.UnknownTopicOrPartition
	case t.partitions[idx] == nil:
		return t, nil, kerr.NotLeaderForPartition
	}
	return t, t.partitions[idx], nil
}
