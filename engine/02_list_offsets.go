package engine

import (
	"github.com/chronik/chronik/engine/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v1-8
//
// Behaviour, per partition timestamp:
//   - -1 latest: the high watermark (read_uncommitted) or last stable offset
//     (read_committed; the same without transactions); the log end offset
//     for a follower (ReplicaID >= 0). A new leader whose high watermark
//     has not reached the start of its epoch answers OFFSET_NOT_AVAILABLE.
//   - -2 earliest and -4 earliest-local (KIP-405): the log start offset.
//   - -3 max timestamp (KIP-734, v7+): the offset and time of the record with
//     the largest timestamp.
//   - >= 0: the first offset whose record timestamp is >= the target, found
//     through the time index and refined record by record; -1 when none.
//   - CurrentLeaderEpoch fences as in Fetch; the response carries the
//     leader epoch (v4+).
//
// Version notes: v1 single offset; v2 isolation level; v4 leader epochs;
// v6 flexible; v7 max timestamp; v8 earliest-local.

func init() { regKey(2, 1, 8, handleListOffsets) }

func handleListOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			b.listOffset(req, rt.Topic, rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) listOffset(req *kmsg.ListOffsetsRequest, name string, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
	_, p, kerrv := b.partitionFor(name, [16]byte{}, rp.Partition)
	switch {
	case kerrv != nil:
		sp.ErrorCode = kerrv.Code
		return
	case !p.IsLeader():
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	case req.Version >= 4:
		if e := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch); e != nil {
			sp.ErrorCode = e.Code
			return
		}
	}
	replica := req.ReplicaID >= 0 // a follower: the log end, not the high watermark
	if !replica && rp.Timestamp == -1 && p.HighWatermark() < p.LeaderEpochStart() {
		// A new leader whose high watermark has not reached its epoch's
		// start cannot tell where committed data ends yet (Kafka: the
		// client retries).
		sp.ErrorCode = kerr.OffsetNotAvailable.Code
		return
	}
	sp.LeaderEpoch = p.LeaderEpoch()
	switch ts := rp.Timestamp; {
	case ts == -1 && replica:
		sp.Offset = p.Log().LogEndOffset()
	case ts == -1:
		sp.Offset = p.HighWatermark()
	case ts == -2 || (ts == -4 && req.Version >= 8):
		sp.Offset = p.Log().LogStartOffset()
	case ts == -3 && req.Version >= 7:
		if off, mts, ok := p.Log().MaxTimestamp(); ok {
			sp.Offset, sp.Timestamp = off, mts
		}
	case ts < 0:
		sp.ErrorCode = kerr.UnsupportedVersion.Code // Kafka's answer to an unknown special timestamp
	default:
		off, rts, ok := b.offsetForTimestamp(p, ts)
		if ok {
			sp.Offset, sp.Timestamp = off, rts
		}
	}
	if sp.Offset >= 0 && sp.LeaderEpoch < 0 {
		sp.LeaderEpoch = p.LeaderEpoch()
	}
}

// offsetForTimestamp finds the first record at or after target: the time
// index names the first batch whose max timestamp reaches it, then the
// batch's records are searched (decompressing if needed).
func (b *Broker) offsetForTimestamp(p *partition.Partition, target int64) (int64, int64, bool) {
	hw := p.HighWatermark()
	base, _, ok := p.Log().OffsetForTimestamp(target)
	if !ok || base >= hw {
		return -1, -1, false
	}
	recs, err := p.Log().Read(base, 1, hw)
	if err != nil || len(recs) == 0 {
		return -1, -1, false
	}
	off, ts, ok := firstRecordAtOrAfter(recs, target)
	if !ok {
		return -1, -1, false
	}
	return off, ts, true
}
