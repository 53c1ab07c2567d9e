package replicate

import (
	"fmt"
	"time"

	"github.com/chronik/chronik/internal/kwire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// truncate cuts r at the divergence the leader reported: its history has
// leaderEpoch ending at leaderEnd, where the follower's last fetched epoch
// is newer or ends later (Kafka's getOffsetTruncationState). If the
// follower has the same epoch, both agree up to min(leaderEnd, own end of
// it); otherwise the follower cuts at its own end of the largest epoch <=
// the leader's and the next fetch (with that epoch as its last) checks
// again (KIP-279).
func (f *fetcher) truncate(r Replica, leaderEpoch int32, leaderEnd int64) error {
	l := r.Log()
	leo := l.LogEndOffset()
	to := min(leaderEnd, leo)
	if leaderEpoch >= 0 {
		if e, end := l.EndOffsetForEpoch(leaderEpoch); e >= 0 && end >= 0 {
			if e == leaderEpoch {
				to = min(leaderEnd, end, leo)
			} else {
				to = min(end, leo)
			}
		}
	}
	if to < l.LogStartOffset() {
		// Nothing shared above the log start: start over at the leader's end.
		f.m.stats.truncations.Add(1)
		f.m.log.Info("replica diverged below its log start; restarting it", "partition", r.String(), "at", leaderEnd)
		return r.TruncateFullyAndStartAt(leaderEnd)
	}
	f.m.stats.truncations.Add(1)
	f.m.log.Info("truncating diverged replica", "partition", r.String(), "from", leo, "to", to,
		"leader_epoch", leaderEpoch, "leader_end_offset", leaderEnd)
	if err := r.TruncateTo(to); err != nil {
		return fmt.Errorf("truncate to %d: %w", to, err)
	}
	return nil
}

// outOfRange handles OFFSET_OUT_OF_RANGE (Kafka's handleOutOfRangeError):
// the follower's fetch offset is above the leader's log end (and epochs
// could not tell: truncate to the leader's end) or below its log start
// (restart the log at the leader's start).
func (f *fetcher) outOfRange(c *kwire.Conn, t Target) error {
	leaderEnd, err := f.listOffset(c, t, -1)
	if err != nil {
		return err
	}
	r := t.Replica
	leo := r.Log().LogEndOffset()
	if leo > leaderEnd {
		f.m.stats.truncations.Add(1)
		f.m.log.Info("replica ahead of its leader's log end; truncating", "partition", r.String(), "from", leo, "to", leaderEnd)
		return r.TruncateTo(leaderEnd)
	}
	leaderStart, err := f.listOffset(c, t, -2)
	if err != nil {
		return err
	}
	if leo < leaderStart {
		f.m.stats.truncations.Add(1)
		f.m.log.Info("replica below its leader's log start; restarting it", "partition", r.String(), "from", leo, "at", leaderStart)
		return r.TruncateFullyAndStartAt(leaderStart)
	}
	return fmt.Errorf("%w: offset %d out of range but within the leader's [%d, %d]", errRetriable, leo, leaderStart, leaderEnd)
}

// listOffset asks the leader, as a replica (its log end, not the high
// watermark), for the latest (-1) or earliest (-2) offset of t.
func (f *fetcher) listOffset(c *kwire.Conn, t Target, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = f.m.opts.Self
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = t.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = t.Partition, t.LeaderEpoch, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrListOffsetsResponse()
	if _, err := c.RoundTrip(f.ctx, req, resp, time.Now().Add(10*time.Second)); err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("list offsets: malformed response")
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return 0, fmt.Errorf("%w: list offsets: %w", errRetriable, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset, nil
}
