package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroup deletes an Empty group: it goes Dead, leaves the map, and
// tombstones for its metadata and every offset are written. done is called
// with the outcome once the tombstones are committed; it is not called when
// an error is returned.
func (c *Coordinator) DeleteGroup(id string, done func(*kerr.Error)) *kerr.Error {
	if kerrv := c.EnsureTopic(); kerrv != nil {
		return kerrv
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, kerrv := c.loadedGroupLocked(id)
	if kerrv != nil {
		return kerrv
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case groupDead:
		return kerr.GroupIDNotFound
	case groupEmpty:
	default:
		return kerr.NonEmptyGroup
	}
	recs := g.offsetTombstones(g.committedPartitions())
	recs = append(recs, logRecord{key: groupKey(g.id)})
	g.unload()
	c.forgetLocked(g)
	g.appendCommitted(recs, done)
	return nil
}

// committedPartitions lists every partition the group has an offset for,
// committed or pending.
func (g *group) committedPartitions() []topicPartition {
	var tps []topicPartition
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	for tp := range g.pendingCommits {
		if _, ok := g.offsets[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	return tps
}

// offsetTombstones removes the offsets of tps from memory, pending commits
// included, and returns their tombstones.
func (g *group) offsetTombstones(tps []topicPartition) []logRecord {
	var recs []logRecord
	for _, tp := range tps {
		_, committed := g.offsets[tp]
		_, pending := g.pendingCommits[tp]
		if !committed && !pending {
			continue
		}
		delete(g.offsets, tp)
		delete(g.pendingCommits, tp)
		recs = append(recs, logRecord{key: offsetKey(g.id, tp)})
	}
	return recs
}

// DeleteOffsets serves OffsetDelete (Kafka's handleDeleteOffsets): an
// Empty group loses the offsets; a consumer group that is rebalancing or
// Stable keeps those of topics its members subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC). An Empty group left without offsets is
// deleted. It returns nil when respond will be called after the write.
func (c *Coordinator) DeleteOffsets(req *kmsg.OffsetDeleteRequest, respond func(kmsg.Response)) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if kerrv := c.EnsureTopic(); kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp
	}
	exists := make([][]bool, len(req.Topics)) // asked of the Host before any lock is taken
	for i, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			exists[i] = append(exists[i], c.host.PartitionExists(rt.Topic, rp.Partition))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, kerrv := c.loadedGroupLocked(req.Group)
	if kerrv == nil && g == nil {
		kerrv = kerr.GroupIDNotFound
	}
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.state == groupDead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	case g.state != groupEmpty && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	recs := g.offsetTombstones(g.offsetDeletions(req, resp, exists))
	if len(recs) == 0 {
		return resp
	}
	if g.state == groupEmpty && len(g.offsets) == 0 && len(g.pendingCommits) == 0 {
		recs = append(recs, logRecord{key: groupKey(g.id)})
		g.unload()
		c.forgetLocked(g)
	}
	g.appendCommitted(recs, func(err *kerr.Error) {
		if err != nil {
			resp.ErrorCode = err.Code
		}
		respond(resp)
	})
	return nil
}

// offsetDeletions fills resp's topics for an OffsetDelete and returns the
// partitions whose offsets may go: they exist (exists, by request topic
// and partition) and no member subscribes to their topic. Caller holds
// g.mu.
func (g *group) offsetDeletions(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, exists [][]bool) []topicPartition {
	var eligible []topicPartition
	for i, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !exists[i][j]:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case g.state != groupEmpty && (g.subscribed == nil || g.subscribed[rt.Topic]):
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				eligible = append(eligible, topicPartition{rt.Topic, rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return eligible
}

// Describe fills one DescribeGroups entry.
func (c *Coordinator) Describe(id string, version int16, withOps bool) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = id
	if withOps {
		dg.AuthorizedOperations = groupOperations
	}
	g, kerrv := c.group(id, false)
	if kerrv != nil {
		dg.ErrorCode = kerrv.Code
		return dg
	}
	if g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
	}
	if g == nil || g.state == groupDead {
		dg.State = groupDead.String()
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = strp("group " + id + " not found")
		}
		return dg
	}
	dg.State, dg.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == groupStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, mid := range g.sortedMemberIDs() {
		m := g.members[mid]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// groupOperations is the authorized-operations bitfield Kafka reports for
// a group when no authorizer is configured: READ, DELETE, DESCRIBE,
// DESCRIBE_CONFIGS, ALTER_CONFIGS.
const groupOperations = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11

// List returns the groups for ListGroups, filtered by state and type (both
// case-insensitive; every group here is of type "classic").
func (c *Coordinator) List(states, types []string) []kmsg.ListGroupsResponseGroup {
	if len(types) > 0 && !containsFold(types, "classic") {
		return nil
	}
	var out []kmsg.ListGroupsResponseGroup
	for _, g := range c.snapshotGroups() {
		g.mu.Lock()
		state, ptype := g.state, g.protocolType
		g.mu.Unlock()
		if state == groupDead || len(states) > 0 && !containsFold(states, state.String()) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, ptype, state.String(), "classic"
		out = append(out, lg)
	}
	return out
}

func containsFold(ss []string, s string) bool {
	for _, v := range ss {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
