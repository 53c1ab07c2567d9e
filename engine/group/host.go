package group

import (
	"log/slog"
	"time"
)

// TopicName is Kafka's internal topic for committed offsets and group
// metadata. Chronik keeps the name, the key encodings and the partitioning.
const TopicName = "__consumer_offsets"

// Log is one partition of __consumer_offsets that this broker leads, as the
// coordinator writes and reads it. The engine implements it over its
// partition and wal.Log (engine/groups_host.go).
//
// The coordinator serialises its Appends to one Log (offsetsLog.mu); the
// other methods may be called from any goroutine at any time. A closed
// Log (broker shutting down, topic deleted) fails every call at once with
// an error; it never blocks. The coordinator answers a failed Append or
// Commit with NOT_COORDINATOR, as Kafka maps storage errors, so clients
// look for the coordinator again.
type Log interface {
	// Append writes batch, one uncompressed v2 RecordBatch, at the log end,
	// stamped with the partition's current leader epoch, and returns its
	// base offset. It stamps the base offset and epoch into batch in place
	// and does not keep it. It does not wait for durability: see Commit.
	Append(batch []byte) (baseOffset int64, err error)
	// Commit calls done once every record below through is committed: on
	// disk on this broker (fdatasync) and, with replication, on every
	// in-sync replica (the high watermark is past through), so that it
	// survives a crash of this broker and a move of the leadership. done is
	// called exactly once, with nil or the error that prevented the commit,
	// and never on the caller's goroutine, so it may take locks the caller
	// holds. It must not block long: it may delay other callbacks.
	Commit(through int64, done func(error))
	// Read returns whole batches, from the one containing offset up to the
	// first whose base offset is >= maxOffset, totalling at most maxBytes
	// except that the first is returned whole however large. The bytes are
	// a copy the caller owns. (nil, nil) means nothing to read at offset.
	Read(offset int64, maxBytes int32, maxOffset int64) ([]byte, error)
	// DeleteRecordsBefore durably raises the log start offset to offset
	// (<= LogEndOffset) and deletes the segments wholly below it.
	DeleteRecordsBefore(offset int64) error
	// LeaderEpoch is the leader epoch this broker leads the partition at:
	// a different one than at load means leadership was lost and regained
	// (possibly with records written elsewhere meanwhile), so the
	// coordinator loads the partition again.
	LeaderEpoch() int32
	// LogStartOffset is the first offset of the log.
	LogStartOffset() int64
	// LogEndOffset is the offset the next Append gets.
	LogEndOffset() int64
	// Size is the log's size on disk in bytes.
	Size() int64
}

// Topic is __consumer_offsets as this broker has it locally.
type Topic struct {
	ID         [16]byte // a new id when the topic is deleted and created again
	Partitions int32
}

// Host is what the coordinator needs of the broker around it: the
// internal topic, the leadership of its partitions, and the user topics.
// The engine implements it (engine/groups_host.go). Methods are safe for
// concurrent use.
type Host interface {
	// Topic returns the local __consumer_offsets; ok is false when this
	// broker has none (yet). Called with Coordinator.mu held: it must not
	// block or call into the Coordinator.
	Topic() (t Topic, ok bool)
	// Leader returns the Log of partition i of __consumer_offsets when this
	// broker leads it according to the metadata now, else nil. Called with
	// Coordinator.mu held: it must not block or call into the Coordinator.
	Leader(partition int32) Log
	// CreateTopic creates __consumer_offsets unless it exists
	// (offsets.topic.num.partitions partitions, compacted: never deleted by
	// time or size; in a cluster through the metadata controller) and
	// returns once this broker has it locally, or failed to. It may block
	// up to a metadata commit, and the broker may call TopicsChanged
	// meanwhile: called with no coordinator lock held. An error is answered
	// COORDINATOR_NOT_AVAILABLE (too few live brokers, no quorum, storage).
	CreateTopic() error
	// PartitionExists reports whether a partition of a user topic exists
	// (OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION
	// otherwise). Called with no coordinator lock held.
	PartitionExists(topic string, partition int32) bool
}

// Config holds the group.* and offsets.* settings (Kafka's names in the
// comments; engine.Config has their defaults and checks).
type Config struct {
	InitialRebalanceDelayMs int64   // group.initial.rebalance.delay.ms
	MinSessionTimeoutMs     int32   // group.min.session.timeout.ms
	MaxSessionTimeoutMs     int32   // group.max.session.timeout.ms
	MaxSize                 int32   // group.max.size
	OffsetMetadataMaxBytes  int32   // offset.metadata.max.bytes
	TopicPartitions         int32   // offsets.topic.num.partitions: groups are placed over as many
	SegmentBytes            int64   // offsets.topic.segment.bytes: a log this large may be compacted
	MinCleanableRatio       float64 // log.cleaner.min.cleanable.ratio: share of superseded records to compact
	LoadBufferBytes         int32   // offsets.load.buffer.size: read size when loading groups

	Now    func() time.Time // the clock of commit and state timestamps; nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}
