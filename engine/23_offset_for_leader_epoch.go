package engine

import (
	"github.com/chronik/chronik/engine/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4
//
// Behaviour (KIP-101/279/320): for each partition, the largest leader epoch
// <= the requested one and the end offset of that epoch (the start offset of
// the next epoch, or the log end offset for the latest). An epoch below every
// known one answers UNDEFINED_EPOCH (-1) and offset -1. CurrentLeaderEpoch
// (v2+) fences: older -> FENCED_LEADER_EPOCH, newer -> UNKNOWN_LEADER_EPOCH.
// Only the partition's leader answers (NOT_LEADER_OR_FOLLOWER elsewhere).
// Consumers (ReplicaID -1) and followers get the same answer; followers
// normally learn divergence from Fetch's DivergingEpoch instead.
//
// Version notes: v1 leader epoch in response; v2 current leader epoch;
// v3 replica id; v4 flexible.

func init() { regKey(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			_, p, kerrv := b.partitionFor(rt.Topic, [16]byte{}, rp.Partition)
			current := int32(-1) // v0-1 carry no current leader epoch
			if req.Version >= 2 {
				current = rp.CurrentLeaderEpoch
			}
			switch {
			case kerrv != nil:
				sp.ErrorCode = kerrv.Code
			case !p.IsLeader():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code // answered only by the leader
			default:
				if e := p.CheckLeaderEpoch(current); e != nil {
					sp.ErrorCode = e.Code
				} else {
					sp.LeaderEpoch, sp.EndOffset = b.endOffsetForEpoch(p, rp.LeaderEpoch)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// endOffsetForEpoch answers from the leader-epoch checkpoint. A log with no
// batch yet knows only the current epoch, which ends at the log end.
func (b *Broker) endOffsetForEpoch(p *partition.Partition, epoch int32) (int32, int64) {
	if _, ok := p.Log().LatestEpoch(); !ok {
		if epoch >= p.LeaderEpoch() {
			return p.LeaderEpoch(), p.Log().LogEndOffset()
		}
		return -1, -1
	}
	if epoch >= p.LeaderEpoch() {
		return p.LeaderEpoch(), p.Log().LogEndOffset()
	}
	return p.Log().EndOffsetForEpoch(epoch)
}
