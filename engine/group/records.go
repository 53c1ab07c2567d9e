package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Key and value versions written to __consumer_offsets: Kafka's own
// encodings (see doc.go), so that Kafka tooling can read the log.
const (
	offsetKeyVersion   = 1 // kmsg.OffsetCommitKey; 0 and 1 are the same layout
	groupKeyVersion    = 2 // kmsg.GroupMetadataKey
	offsetValueVersion = 3 // kmsg.OffsetCommitValue with leader epoch
	groupValueVersion  = 3 // kmsg.GroupMetadataValue with instance ids
)

// topicPartition names one partition of a user topic.
type topicPartition struct {
	topic     string
	partition int32
}

// committedOffset is one committed offset as OffsetFetch returns it.
type committedOffset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	timestampMs int64
}

func offsetKey(group string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetValue(c committedOffset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = c.offset, c.leaderEpoch, c.metadata, c.timestampMs
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// decodedRecord is one record of the internal log, decoded. Exactly one of
// the key kinds is set; a nil value pointer is a tombstone.
type decodedRecord struct {
	group  string
	tp     *topicPartition          // offset commit key
	offset *committedOffset         // its value
	meta   *kmsg.GroupMetadataValue // group metadata value (key: group)
}

// decodeRecord parses a key/value of __consumer_offsets.
func decodeRecord(key, value []byte) (decodedRecord, error) {
	if len(key) < 2 {
		return decodedRecord{}, fmt.Errorf("key of %d bytes: %w", len(key), errBadRecord)
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return decodedRecord{}, fmt.Errorf("offset commit key: %w", err)
		}
		r := decodedRecord{group: k.Group, tp: &topicPartition{k.Topic, k.Partition}}
		if value == nil {
			return r, nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return decodedRecord{}, fmt.Errorf("offset commit value for %s: %w", k.Group, err)
		}
		epoch := v.LeaderEpoch
		if v.Version < 3 {
			epoch = -1
		}
		r.offset = &committedOffset{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata, timestampMs: v.CommitTimestamp}
		return r, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return decodedRecord{}, fmt.Errorf("group metadata key: %w", err)
		}
		r := decodedRecord{group: k.Group}
		if value == nil {
			return r, nil
		}
		v := new(kmsg.GroupMetadataValue)
		if err := v.ReadFrom(value); err != nil {
			return decodedRecord{}, fmt.Errorf("group metadata value for %s: %w", k.Group, err)
		}
		r.meta = v
		return r, nil
	default:
		return decodedRecord{}, fmt.Errorf("key version %d: %w", version, errBadRecord)
	}
}
