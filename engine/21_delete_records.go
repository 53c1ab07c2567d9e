package engine

import (
	"errors"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2
//
// Behaviour, per partition:
//   - Offset -1 means the high watermark. The log start offset is raised to
//     the offset (wal DeleteRecordsBefore: whole segments below it are
//     dropped, the rest hidden); an offset at or below the current log start
//     offset changes nothing and succeeds, as Kafka's
//     maybeIncrementLogStartOffset does.
//   - An offset above the high watermark or below -1: OFFSET_OUT_OF_RANGE.
//   - An internal topic (__consumer_offsets) INVALID_TOPIC_EXCEPTION, before
//     any other check, as Kafka's ReplicaManager.deleteRecords ("Cannot
//     delete records of internal topic").
//   - Unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION; in a cluster, a
//     partition another broker leads NOT_LEADER_OR_FOLLOWER.
//   - LowWatermark = the log start offset after the call (-1 on error).
//   - Standalone there are no followers to wait for; TimeoutMillis is
//     unused.
//
// Version notes: v1 throttle; v2 flexible.

func init() { regKey(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			lw, e := b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			if e != nil {
				sp.ErrorCode = e.Code
			} else {
				sp.LowWatermark = lw
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) deleteRecords(name string, idx int32, offset int64) (int64, *kerr.Error) {
	if isInternalTopic(name) {
		return -1, kerr.InvalidTopicException
	}
	_, p, kerrv := b.partitionFor(name, [16]byte{}, idx)
	if kerrv != nil {
		return -1, kerrv
	}
	if !p.IsLeader() {
		return -1, kerr.NotLeaderForPartition
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, kerr.OffsetOutOfRange
	}
	if offset > p.Log().LogStartOffset() {
		if err := p.Log().DeleteRecordsBefore(offset); err != nil {
			switch {
			case errors.Is(err, wal.ErrOffsetOutOfRange):
				return -1, kerr.OffsetOutOfRange
			case errors.Is(err, wal.ErrClosed):
				return -1, kerr.NotLeaderForPartition
			}
			b.log.Error("delete records failed", "partition", p.String(), "offset", offset, "err", err)
			return -1, kerr.KafkaStorageError
		}
		b.log.Info("records deleted", "partition", p.String(), "log_start_offset", p.Log().LogStartOffset())
	}
	return p.Log().LogStartOffset(), nil
}
