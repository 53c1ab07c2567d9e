package engine

import (
	"context"
	"fmt"
	"github.com/chronik/chronik/engine/partition"
	"strconv"

	"github.com/chronik/chronik/engine/group"
	"github.com/twmb/franz-go/pkg/kerr"
)

// This file is the broker side of the group coordinator (package
// engine/group): group.Host over the broker's topics and Cluster, and
// group.Log over a partition of __consumer_offsets.

// offsetsTopicName is the coordinator's internal topic.
const offsetsTopicName = group.TopicName

// isInternalTopic reports whether clients may not produce to name.
func isInternalTopic(name string) bool { return name == offsetsTopicName }

// openGroups starts the coordinator and loads every group and committed
// offset of __consumer_offsets (if it exists yet). Open calls it once,
// after the topics are loaded and before the broker may join a cluster, so
// every local partition is loaded; JoinCluster then unloads those another
// broker leads.
func (b *Broker) openGroups() error {
	cfg := b.cfg
	b.groups = group.New(group.Config{
		InitialRebalanceDelayMs: cfg.GroupInitialRebalanceMs,
		MinSessionTimeoutMs:     cfg.GroupMinSessionTimeoutMs,
		MaxSessionTimeoutMs:     cfg.GroupMaxSessionTimeoutMs,
		MaxSize:                 cfg.GroupMaxSize,
		OffsetMetadataMaxBytes:  cfg.OffsetMetadataMaxBytes,
		TopicPartitions:         cfg.OffsetsTopicPartitions,
		SegmentBytes:            cfg.OffsetsTopicSegmentBytes,
		MinCleanableRatio:       cfg.CleanerMinCleanableRatio,
		LoadBufferBytes:         cfg.OffsetsLoadBufferSize,
		Now:                     b.now,
		Logger:                  b.log,
	}, groupsHost{b})
	return b.groups.Load()
}

// closeGroups stops the coordinator (parked requests get NOT_COORDINATOR).
func (b *Broker) closeGroups() {
	if b.groups != nil {
		b.groups.Close()
	}
}

// groupsHost is the broker as the coordinator sees it. Topic, Leader and
// PartitionExists take b.mu for reading at most, and the broker never
// calls into the coordinator with b.adminMu, b.metaMu or b.mu held, so the
// coordinator may call Topic and Leader with its own lock held.
// CreateTopic commits through the Cluster (then b.adminMu, b.metaMu, b.mu);
// the coordinator calls it holding none of its locks.
type groupsHost struct{ b *Broker }

func (h groupsHost) Topic() (group.Topic, bool) {
	b := h.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.topics[offsetsTopicName]
	if t == nil {
		return group.Topic{}, false
	}
	return group.Topic{ID: t.id, Partitions: int32(len(t.partitions))}, true
}

func (h groupsHost) Leader(i int32) group.Log {
	if t, p := h.b.lookupPartition(offsetsTopicName, [16]byte{}, i); p != nil && p.IsLeader() {
		return offsetsPartition{p: p, b: h.b, t: t}
	}
	return nil
}

// CreateTopic creates __consumer_offsets as Kafka does, through
// b.cluster(): in a cluster the controller spreads its partitions over the
// brokers with offsets.topic.replication.factor replicas.
func (h groupsHost) CreateTopic() error {
	b := h.b
	if b.lookupTopic(offsetsTopicName) != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	err := b.cluster().CreateTopic(ctx, offsetsTopicName, b.cfg.OffsetsTopicPartitions, b.cfg.OffsetsTopicReplication, b.offsetsTopicConfigs(), nil)
	if err != nil && kafkaCode(err) != kerr.TopicAlreadyExists {
		return fmt.Errorf("create %s: %w", offsetsTopicName, err)
	}
	return b.remirror()
}

// PartitionExists asks the topics (every partition counts, whether or not
// this broker holds a replica of it).
func (h groupsHost) PartitionExists(topic string, partition int32) bool {
	_, _, kerrv := h.b.partitionFor(topic, [16]byte{}, partition)
	return kerrv == nil || kerrv == kerr.NotLeaderForPartition
}

// offsetsTopicConfigs are the overrides of __consumer_offsets: compacted by
// the coordinator, never deleted by time or size.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":  "compact",
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"segment.bytes":   strconv.FormatInt(b.cfg.OffsetsTopicSegmentBytes, 10),
	}
}

// offsetsPartition is a partition of __consumer_offsets as a group.Log.
// Only the coordinator appends to it (Produce refuses internal topics),
// through AppendInternal (lock order: the coordinator's locks, then the
// partition's).
type offsetsPartition struct {
	p *partition.Partition
	b *Broker
	t *topic
}

func (o offsetsPartition) Append(batch []byte) (int64, error) { return o.p.AppendInternal(batch) }

// Commit waits until the records below through are durable here and on
// every ISR member (the high watermark past them), with the topic's
// min.insync.replicas, as an acks=-1 produce does.
func (o offsetsPartition) Commit(through int64, done func(error)) {
	o.b.mu.RLock()
	minISR := int(o.b.topicInt(o.t, "min.insync.replicas"))
	o.b.mu.RUnlock()
	o.p.AwaitCommit(through, minISR, true, func(e *kerr.Error) {
		if e != nil {
			done(e)
			return
		}
		done(nil)
	})
}

func (o offsetsPartition) Read(offset int64, maxBytes int32, maxOffset int64) ([]byte, error) {
	return o.p.Log().Read(offset, maxBytes, maxOffset)
}

func (o offsetsPartition) DeleteRecordsBefore(offset int64) error {
	return o.p.Log().DeleteRecordsBefore(offset)
}

func (o offsetsPartition) LeaderEpoch() int32    { return o.p.LeaderEpoch() }
func (o offsetsPartition) LogStartOffset() int64 { return o.p.Log().LogStartOffset() }
func (o offsetsPartition) LogEndOffset() int64   { return o.p.Log().LogEndOffset() }
func (o offsetsPartition) Size() int64           { return o.p.Log().Size() }
