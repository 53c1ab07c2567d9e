package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitEntry is one partition of an OffsetCommit that passed the checks.
type commitEntry struct {
	sp  *kmsg.OffsetCommitResponseTopicPartition
	tp  topicPartition
	off committedOffset
}

// Commit serves an OffsetCommit. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION; the rest are checked against the group as
// Kafka's validateOffsetCommit does, written, and answered once committed
// (Log.Commit). It returns nil when respond will be called later.
func (c *Coordinator) Commit(req *kmsg.OffsetCommitRequest, respond func(kmsg.Response)) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	var entries []commitEntry
	nowMs := c.now().UnixMilli()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		for i, rp := range rt.Partitions {
			sp := &resp.Topics[len(resp.Topics)-1].Partitions[i]
			if !c.host.PartitionExists(rt.Topic, rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			off := committedOffset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, timestampMs: nowMs}
			if rp.Metadata != nil {
				off.metadata = *rp.Metadata
			}
			if req.Version == 1 && rp.Timestamp >= 0 {
				off.timestampMs = rp.Timestamp
			}
			entries = append(entries, commitEntry{sp, topicPartition{rt.Topic, rp.Partition}, off})
		}
	}
	if len(entries) == 0 {
		return resp
	}
	fail := func(err *kerr.Error) kmsg.Response {
		for _, e := range entries {
			e.sp.ErrorCode = err.Code
		}
		return resp
	}
	g, kerrv := c.group(req.Group, false)
	if kerrv != nil {
		return fail(kerrv)
	}
	if g == nil {
		if req.Generation >= 0 {
			return fail(kerr.IllegalGeneration) // a commit from a generation that is gone
		}
		if g, kerrv = c.group(req.Group, true); kerrv != nil {
			return fail(kerrv)
		}
	}
	defer c.dropIfUnused(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.validateCommit(req); err != nil {
		return fail(err)
	}
	return g.writeCommits(resp, entries, respond)
}

// validateCommit is Kafka's validateOffsetCommit plus the state checks.
func (g *group) validateCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if g.state == groupDead {
		return kerr.CoordinatorNotAvailable
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		switch {
		case g.staticFenced(req.InstanceID, req.MemberID):
			return kerr.FencedInstanceID
		case g.members[req.MemberID] == nil:
			return kerr.UnknownMemberID
		case req.Generation != g.generation:
			return kerr.IllegalGeneration
		}
	} else if g.state != groupEmpty {
		return kerr.UnknownMemberID // only members commit to a non-empty group
	}
	switch g.state {
	case groupCompletingRebalance:
		return kerr.RebalanceInProgress
	case groupStable, groupPreparingRebalance:
		g.heartbeat(g.members[req.MemberID])
	}
	return nil
}

// writeCommits appends the commits whose metadata fits and answers once
// they are committed. Caller holds g.mu.
func (g *group) writeCommits(resp *kmsg.OffsetCommitResponse, entries []commitEntry, respond func(kmsg.Response)) kmsg.Response {
	maxMeta := int(g.c.cfg.OffsetMetadataMaxBytes)
	var recs []logRecord
	var ok []commitEntry
	for _, e := range entries {
		if len(e.off.metadata) > maxMeta {
			e.sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		recs = append(recs, logRecord{key: offsetKey(g.id, e.tp), value: offsetValue(e.off)})
		ok = append(ok, e)
	}
	if len(recs) == 0 {
		return resp
	}
	g.commitSeq++
	seq := g.commitSeq
	for _, e := range ok {
		g.pendingCommits[e.tp] = seq
	}
	g.appendCommitted(recs, func(err *kerr.Error) {
		for _, e := range ok {
			if err != nil {
				e.sp.ErrorCode = err.Code
			}
			if g.pendingCommits[e.tp] != seq {
				continue // deleted, or a later commit is on its way
			}
			delete(g.pendingCommits, e.tp)
			if err == nil {
				g.offsets[e.tp] = e.off
			}
		}
		respond(resp)
	})
	return nil
}

// FetchOffsets fills one group's part of an OffsetFetch: the requested
// partitions (-1 when nothing is committed) or, with topics nil, every
// committed offset. A group that does not exist has no offsets.
func (c *Coordinator) FetchOffsets(group string, topics map[string][]int32, all bool) ([]kmsg.OffsetFetchResponseGroupTopic, *kerr.Error) {
	g, kerrv := c.group(group, false)
	if kerrv != nil {
		return nil, kerrv
	}
	committed := map[topicPartition]committedOffset{}
	if g != nil {
		g.mu.Lock()
		for tp, o := range g.offsets {
			committed[tp] = o
		}
		g.mu.Unlock()
	}
	if all {
		topics = map[string][]int32{}
		for tp := range committed {
			topics[tp.topic] = append(topics[tp.topic], tp.partition)
		}
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	var out []kmsg.OffsetFetchResponseGroupTopic
	for _, t := range names {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t
		parts := topics[t]
		if all {
			sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		}
		for _, p := range parts {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = p, -1, strp("")
			if o, ok := committed[topicPartition{t, p}]; ok {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, strp(o.metadata)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out, nil
}
