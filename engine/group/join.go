package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinRequest is one JoinGroup as the coordinator sees it: the decoded
// request, the client's id and host (as Kafka reports it: "/127.0.0.1"),
// and where its answer goes when the join is parked.
type JoinRequest struct {
	Req        *kmsg.JoinGroupRequest
	ClientID   string
	ClientHost string
	Respond    func(kmsg.Response)
}

func (j JoinRequest) parked() *parked { return &parked{respond: j.Respond, version: j.Req.Version} }

func (j JoinRequest) rebalanceMs() int32 {
	if j.Req.Version == 0 || j.Req.RebalanceTimeoutMillis < 0 {
		return j.Req.SessionTimeoutMillis // v0 has no rebalance timeout
	}
	return j.Req.RebalanceTimeoutMillis
}

func (j JoinRequest) newMember(id string) *member {
	return &member{
		id: id, instanceID: j.Req.InstanceID, clientID: j.ClientID, clientHost: j.ClientHost,
		protocolType: j.Req.ProtocolType, protocols: j.Req.Protocols,
		rebalanceMs: j.rebalanceMs(), sessionMs: j.Req.SessionTimeoutMillis,
	}
}

// Join serves a JoinGroup (Kafka's GroupCoordinator.handleJoinGroup). It
// returns the response, or nil when the member is parked until the join
// phase completes and j.Respond is called then.
func (c *Coordinator) Join(j JoinRequest) kmsg.Response {
	req, cfg := j.Req, c.cfg
	switch {
	case !validGroupID(req.Group, false):
		return joinError(req.Version, req.MemberID, kerr.InvalidGroupID)
	case req.SessionTimeoutMillis < cfg.MinSessionTimeoutMs || req.SessionTimeoutMillis > cfg.MaxSessionTimeoutMs:
		return joinError(req.Version, req.MemberID, kerr.InvalidSessionTimeout)
	}
	unknown := req.MemberID == ""
	g, kerrv := c.group(req.Group, unknown)
	if kerrv != nil {
		return joinError(req.Version, req.MemberID, kerrv)
	}
	if g == nil {
		return joinError(req.Version, req.MemberID, kerr.UnknownMemberID)
	}
	defer c.dropIfUnused(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.state == groupDead:
		return joinError(req.Version, req.MemberID, kerr.CoordinatorNotAvailable)
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		return joinError(req.Version, req.MemberID, kerr.InconsistentGroupProtocol)
	case unknown && int64(len(g.members)+len(g.pending)) >= int64(cfg.MaxSize):
		return joinError(req.Version, req.MemberID, kerr.GroupMaxSizeReached)
	}
	var resp kmsg.Response
	if unknown {
		resp = g.joinNew(j)
	} else {
		resp = g.joinKnown(j)
	}
	g.tryCompleteJoin()
	return resp
}

// joinNew handles a join without a member id.
func (g *group) joinNew(j JoinRequest) kmsg.Response {
	req := j.Req
	if req.InstanceID != nil {
		if oldID, ok := g.static[*req.InstanceID]; ok {
			return g.replaceStatic(oldID, j)
		}
		return g.addAndRebalance(j.newMember(newMemberID(*req.InstanceID)), j)
	}
	id := newMemberID(j.ClientID)
	if req.Version >= 4 {
		// KIP-394: hand out the id; the member joins again with it.
		g.addPending(id, req.SessionTimeoutMillis)
		return joinError(req.Version, id, kerr.MemberIDRequired)
	}
	return g.addAndRebalance(j.newMember(id), j)
}

// addPending remembers an id handed out with MEMBER_ID_REQUIRED until the
// session timeout; the join phase waits for it.
func (g *group) addPending(id string, sessionMs int32) {
	g.pending[id] = g.afterFunc(msDuration(sessionMs), func() {
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			g.tryCompleteJoin()
		}
	})
}

// joinKnown handles a join with a member id.
func (g *group) joinKnown(j JoinRequest) kmsg.Response {
	req := j.Req
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		return g.addAndRebalance(j.newMember(req.MemberID), j)
	}
	if g.staticFenced(req.InstanceID, req.MemberID) {
		return joinError(req.Version, req.MemberID, kerr.FencedInstanceID)
	}
	m := g.members[req.MemberID]
	if m == nil || (req.InstanceID != nil && g.static[*req.InstanceID] == "") {
		return joinError(req.Version, req.MemberID, kerr.UnknownMemberID)
	}
	switch g.state {
	case groupPreparingRebalance:
		g.updateMember(m, j)
		return nil
	case groupCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retry of the join this generation already answered.
			return g.joinResponse(req.Version, m.id, g.leader == m.id, g.leader)
		}
	case groupStable:
		if g.leader != m.id && m.matches(req.Protocols) {
			return g.joinResponse(req.Version, m.id, false, g.leader)
		}
	default:
		return joinError(req.Version, req.MemberID, kerr.UnknownMemberID)
	}
	g.updateMember(m, j)
	g.prepareRebalance("member " + m.id + " rejoined with new metadata, or is the leader")
	return nil
}

// addAndRebalance adds a new member parked in its join and starts (or
// joins) a rebalance.
func (g *group) addAndRebalance(m *member, j JoinRequest) kmsg.Response {
	m.join = j.parked()
	g.add(m)
	if g.state == groupPreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.maybePrepareRebalance("new member " + m.id + " joined")
	return nil
}

// maybePrepareRebalance rebalances unless one is already preparing.
func (g *group) maybePrepareRebalance(reason string) {
	switch g.state {
	case groupStable, groupCompletingRebalance, groupEmpty:
		g.prepareRebalance(reason)
	}
}

// updateMember takes a member's new protocols and timeouts and parks it in
// its join. An older join of the same member still parked is answered with
// REBALANCE_IN_PROGRESS, so its connection's later responses are not held up.
func (g *group) updateMember(m *member, j JoinRequest) {
	m.protocols, m.protocolType = j.Req.Protocols, j.Req.ProtocolType
	m.rebalanceMs, m.sessionMs = j.rebalanceMs(), j.Req.SessionTimeoutMillis
	if m.join != nil {
		m.join.respond(joinError(m.join.version, m.id, kerr.RebalanceInProgress))
	} else {
		g.awaitingJoin++
	}
	m.join = j.parked()
}

// replaceStatic handles a static member rejoining without its member id
// (KIP-345): it gets a new id, the old one is fenced, and in a Stable group
// whose protocol would not change it carries on without a rebalance.
func (g *group) replaceStatic(oldID string, j JoinRequest) kmsg.Response {
	req := j.Req
	old := g.members[oldID]
	if old == nil {
		delete(g.static, *req.InstanceID)
		return g.addAndRebalance(j.newMember(newMemberID(*req.InstanceID)), j)
	}
	prevLeader := g.leader
	prev := *old
	newID := newMemberID(*req.InstanceID)
	g.renameMember(old, newID)
	g.heartbeat(old)
	g.updateMember(old, j)
	switch g.state {
	case groupStable:
		if g.selectProtocol() != g.protocol {
			g.prepareRebalance("static member " + newID + " changed the group's protocol")
			return nil
		}
		g.storeStaticRejoin(old, prev, prevLeader, j)
	case groupCompletingRebalance:
		g.prepareRebalance("static member " + newID + " rejoined during CompletingRebalance")
	}
	return nil
}

// renameMember gives m a new id, fencing whatever the old id had parked.
func (g *group) renameMember(m *member, newID string) {
	if m.join != nil {
		m.join.respond(joinError(m.join.version, m.id, kerr.FencedInstanceID))
		m.join = nil
		g.awaitingJoin--
	}
	if m.sync != nil {
		m.sync.respond(syncResponse(m.sync.version, kerr.FencedInstanceID))
		m.sync = nil
	}
	delete(g.members, m.id)
	if g.pendingSync[m.id] {
		delete(g.pendingSync, m.id)
		g.pendingSync[newID] = true
	}
	if g.leader == m.id {
		g.leader = newID
	}
	m.id = newID
	g.members[newID] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = newID
	}
}

// storeStaticRejoin persists the replaced static member, then answers its
// join with the current generation (v9+: the leader is told to skip the
// assignment; before v9 the old leader id is returned so that no member
// assigns). On a write error the replacement is undone.
func (g *group) storeStaticRejoin(m *member, prev member, prevLeader string, j JoinRequest) {
	p := m.join
	g.storeGroup(g.currentAssignments(), func(err *kerr.Error) {
		if m.join != p || g.members[m.id] != m {
			return // the join was answered by a rebalance meanwhile
		}
		m.join = nil
		g.awaitingJoin--
		if err != nil {
			m.protocols, m.rebalanceMs, m.sessionMs = prev.protocols, prev.rebalanceMs, prev.sessionMs
			g.renameMember(m, prev.id)
			g.heartbeat(m)
			resp := joinError(j.Req.Version, "", err)
			resp.Generation, resp.LeaderID = g.generation, prevLeader
			p.respond(resp)
			return
		}
		isLeader := g.leader == m.id
		var resp *kmsg.JoinGroupResponse
		if j.Req.Version >= 9 {
			resp = g.joinResponse(j.Req.Version, m.id, isLeader, g.leader)
			resp.SkipAssignment = isLeader
		} else {
			resp = g.joinResponse(j.Req.Version, m.id, false, prevLeader)
		}
		p.respond(resp)
	})
}

func (g *group) currentAssignments() map[string][]byte {
	out := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		out[id] = m.assignment
	}
	return out
}

// dropIfUnused forgets a group that a failed first request created: no
// members, no pending ids, no offsets, never a generation.
func (c *Coordinator) dropIfUnused(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupEmpty && g.generation == 0 && len(g.members) == 0 && len(g.pending) == 0 &&
		len(g.offsets) == 0 && len(g.pendingCommits) == 0 {
		c.forgetLocked(g)
		g.transition(groupDead)
	}
}
