package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sync serves a SyncGroup (Kafka's handleSyncGroup). It returns nil when
// the member is parked until the leader's assignment is committed.
func (c *Coordinator) Sync(req *kmsg.SyncGroupRequest, respond func(kmsg.Response)) kmsg.Response {
	if !validGroupID(req.Group, false) {
		return syncResponse(req.Version, kerr.InvalidGroupID)
	}
	g, kerrv := c.group(req.Group, false)
	if kerrv != nil {
		return syncResponse(req.Version, kerrv)
	}
	if g == nil {
		return syncResponse(req.Version, kerr.UnknownMemberID)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[req.MemberID]
	switch {
	case g.state == groupDead:
		return syncResponse(req.Version, kerr.CoordinatorNotAvailable)
	case g.staticFenced(req.InstanceID, req.MemberID):
		return syncResponse(req.Version, kerr.FencedInstanceID)
	case m == nil:
		return syncResponse(req.Version, kerr.UnknownMemberID)
	case req.Generation != g.generation:
		return syncResponse(req.Version, kerr.IllegalGeneration)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return syncResponse(req.Version, kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case groupPreparingRebalance:
		return syncResponse(req.Version, kerr.RebalanceInProgress)
	case groupStable:
		delete(g.pendingSync, m.id)
		g.heartbeat(m)
		return g.syncOK(req.Version, m)
	case groupCompletingRebalance:
		delete(g.pendingSync, m.id)
		if m.sync != nil {
			m.sync.respond(syncResponse(m.sync.version, kerr.RebalanceInProgress))
		}
		m.sync = &parked{respond: respond, version: req.Version}
		if m.id == g.leader {
			g.storeAssignment(req)
		}
		return nil
	default: // Empty
		return syncResponse(req.Version, kerr.UnknownMemberID)
	}
}

func (g *group) syncOK(version int16, m *member) *kmsg.SyncGroupResponse {
	resp := syncResponse(version, nil)
	resp.ProtocolType, resp.Protocol = strp(g.protocolType), strp(g.protocol)
	if m.assignment != nil {
		resp.MemberAssignment = m.assignment
	}
	return resp
}

// storeAssignment persists the leader's assignment with the group; once it
// is committed every member parked in SyncGroup gets its part and the group
// is Stable. Members the leader left out get an empty assignment.
func (g *group) storeAssignment(req *kmsg.SyncGroupRequest) {
	assignments := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if g.members[a.MemberID] != nil {
			assignments[a.MemberID] = a.MemberAssignment
		}
	}
	gen := g.generation
	g.storeGroup(assignments, func(err *kerr.Error) {
		if g.state != groupCompletingRebalance || g.generation != gen {
			return
		}
		if err != nil {
			g.resetAssignments(err)
			g.prepareRebalance("storing the assignment failed")
			return
		}
		for _, m := range g.members {
			m.assignment = assignments[m.id]
			if m.assignment == nil {
				m.assignment = []byte{}
			}
			if m.sync != nil {
				p := m.sync
				m.sync = nil
				p.respond(g.syncOK(p.version, m))
				g.heartbeat(m)
			}
		}
		g.transition(groupStable)
	})
}

// Heartbeat serves a Heartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	if !validGroupID(req.Group, false) {
		return kerr.InvalidGroupID
	}
	g, kerrv := c.group(req.Group, false)
	if kerrv != nil {
		return kerrv
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[req.MemberID]
	switch {
	case g.state == groupDead:
		return kerr.CoordinatorNotAvailable
	case g.staticFenced(req.InstanceID, req.MemberID):
		return kerr.FencedInstanceID
	case m == nil:
		return kerr.UnknownMemberID
	case req.Generation != g.generation:
		return kerr.IllegalGeneration
	}
	switch g.state {
	case groupEmpty:
		return kerr.UnknownMemberID
	case groupPreparingRebalance:
		g.heartbeat(m)
		return kerr.RebalanceInProgress
	default:
		g.heartbeat(m)
		return nil
	}
}

// Leave serves a LeaveGroup: one member (v0-2) or a batch, each named by
// member id or, for an administrative removal, by instance id alone.
func (c *Coordinator) Leave(req *kmsg.LeaveGroupRequest) (*kerr.Error, []kmsg.LeaveGroupResponseMember) {
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if !validGroupID(req.Group, false) {
		return kerr.InvalidGroupID, nil
	}
	g, kerrv := c.group(req.Group, false)
	if kerrv != nil {
		return kerrv, nil
	}
	out := make([]kmsg.LeaveGroupResponseMember, len(members))
	for i, rm := range members {
		out[i] = kmsg.NewLeaveGroupResponseMember()
		out[i].MemberID, out[i].InstanceID = rm.MemberID, rm.InstanceID
		out[i].ErrorCode = kerr.UnknownMemberID.Code
	}
	if g == nil {
		return nil, out
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupDead {
		return kerr.CoordinatorNotAvailable, nil
	}
	for i, rm := range members {
		out[i].ErrorCode = errCode(g.leaveOne(rm))
	}
	return nil, out
}

func (g *group) leaveOne(rm kmsg.LeaveGroupRequestMember) *kerr.Error {
	id := rm.MemberID
	if id == "" {
		if rm.InstanceID == nil || g.static[*rm.InstanceID] == "" {
			return kerr.UnknownMemberID
		}
		id = g.static[*rm.InstanceID]
	} else if t, ok := g.pending[id]; ok {
		t.Stop()
		delete(g.pending, id)
		g.tryCompleteJoin()
		return nil
	} else if g.staticFenced(rm.InstanceID, id) {
		return kerr.FencedInstanceID
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.removeAndRebalance(m, "member "+id+" left")
	return nil
}
