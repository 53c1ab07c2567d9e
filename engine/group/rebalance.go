package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// prepareRebalance moves the group to PreparingRebalance and starts the
// join wait: group.initial.rebalance.delay.ms for an Empty group (extended
// while new members arrive, up to the rebalance timeout), else the largest
// rebalance timeout of the members.
func (g *group) prepareRebalance(reason string) {
	if g.state == groupCompletingRebalance {
		g.resetAssignments(kerr.RebalanceInProgress)
	}
	g.clearPendingSync()
	timeout := g.maxRebalance()
	wait := timeout
	g.initialJoin = g.state == groupEmpty
	if g.initialJoin {
		cfgDelay := time.Duration(g.c.cfg.InitialRebalanceDelayMs) * time.Millisecond
		wait = min(cfgDelay, timeout)
		g.initialDelay, g.initialRemaining = wait, max(timeout-cfgDelay, 0)
	}
	g.c.log.Debug("group rebalancing", "group", g.id, "generation", g.generation, "reason", reason)
	g.transition(groupPreparingRebalance)
	g.armJoinTimer(wait)
	if !g.initialJoin {
		g.tryCompleteJoin()
	}
}

func (g *group) armJoinTimer(d time.Duration) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinSeq++
	seq := g.joinSeq
	g.joinTimer = g.afterFunc(d, func() {
		if g.joinSeq == seq && g.state == groupPreparingRebalance {
			g.onJoinTimeout()
		}
	})
}

// onJoinTimeout ends the join wait, unless an initial delay may be
// extended because a new member arrived during it (Kafka's
// InitialDelayedJoin).
func (g *group) onJoinTimeout() {
	if g.initialJoin && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		cfgDelay := time.Duration(g.c.cfg.InitialRebalanceDelayMs) * time.Millisecond
		delay := min(cfgDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-g.initialDelay, 0)
		g.initialDelay = delay
		g.armJoinTimer(delay)
		return
	}
	g.completeJoin()
}

// tryCompleteJoin completes the join phase once every member (and every
// member id handed out with MEMBER_ID_REQUIRED) has joined. The initial
// delay is never cut short.
func (g *group) tryCompleteJoin() {
	if g.state == groupPreparingRebalance && !g.initialJoin &&
		g.awaitingJoin == len(g.members) && len(g.pending) == 0 {
		g.completeJoin()
	}
}

// completeJoin ends the join phase (Kafka's onCompleteJoin): dynamic members
// that did not rejoin are dropped, a new generation starts, and every
// joined member gets its JoinGroup response.
func (g *group) completeJoin() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinSeq++
	for _, m := range g.members {
		if m.join == nil && m.instanceID == nil {
			g.remove(m)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait for
		// them (or for their session timeouts) once more.
		g.initialJoin = false
		g.armJoinTimer(g.maxRebalance())
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed = nil
		g.transition(groupEmpty)
		g.clearPendingSync()
		g.storeGroup(nil, func(*kerr.Error) {})
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.subscribedTopics()
	g.transition(groupCompletingRebalance)
	g.clearPendingSync()
	g.pendingSync = map[string]bool{}
	for _, m := range g.members {
		g.pendingSync[m.id] = true
		if m.join == nil {
			continue
		}
		resp := g.joinResponse(m.join.version, m.id, g.leader == m.id, g.leader)
		p := m.join
		m.join = nil
		g.awaitingJoin--
		p.respond(resp)
		g.heartbeat(m)
	}
	g.armSyncTimer()
}

// electJoinedLeader keeps the leader if it rejoined, else picks a member
// that did; false when none did.
func (g *group) electJoinedLeader() bool {
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, id := range g.sortedMemberIDs() {
		if g.members[id].join != nil {
			g.leader = id
			return true
		}
	}
	return false
}

// selectProtocol is Kafka's vote: among the protocols every member
// supports, each member votes for its most preferred; most votes wins
// (ties: the name first in order).
func (g *group) selectProtocol() string {
	support := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			support[p.Name]++
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if support[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for name, v := range votes {
		if v > bestVotes || v == bestVotes && name < best {
			best, bestVotes = name, v
		}
	}
	return best
}

// supportsProtocols is Kafka's check that a joining member can be part of
// the group: an Empty group takes any non-empty protocol list; otherwise the
// type must match and one of the protocols must be supported by everyone.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	support := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			support[p.Name]++
		}
	}
	for _, p := range protocols {
		if support[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// subscribedTopics decodes the consumer-protocol subscriptions of the
// members for the selected protocol; nil when any does not decode (then
// every topic counts as subscribed, as in Kafka).
func (g *group) subscribedTopics() map[string]bool {
	if g.protocolType != "consumer" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out
}

// armSyncTimer removes members that have not sent SyncGroup within the
// rebalance timeout and rebalances (Kafka's DelayedSync).
func (g *group) armSyncTimer() {
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	g.syncSeq++
	seq := g.syncSeq
	g.syncTimer = g.afterFunc(g.maxRebalance(), func() {
		if g.syncSeq != seq || len(g.pendingSync) == 0 ||
			(g.state != groupCompletingRebalance && g.state != groupStable) {
			return
		}
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				g.remove(m)
			}
		}
		g.prepareRebalance("members did not send SyncGroup in time")
	})
}

func (g *group) clearPendingSync() {
	g.pendingSync = nil
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	g.syncSeq++
}

// resetAssignments clears every assignment and answers the parked
// SyncGroups with err.
func (g *group) resetAssignments(err *kerr.Error) {
	for _, m := range g.members {
		m.assignment = nil
		if m.sync != nil {
			p := m.sync
			m.sync = nil
			p.respond(syncResponse(p.version, err))
		}
	}
}

// heartbeat restarts m's session timer. When it fires, a member that is not
// parked in JoinGroup or SyncGroup is removed and the group rebalances.
func (g *group) heartbeat(m *member) {
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	seq := m.hbSeq
	m.hbTimer = g.afterFunc(time.Duration(m.sessionMs)*time.Millisecond, func() {
		if g.members[m.id] != m || m.hbSeq != seq {
			return
		}
		if m.join != nil || m.sync != nil {
			g.heartbeat(m) // parked members satisfy their heartbeats
			return
		}
		g.c.log.Info("group member session expired", "group", g.id, "member", m.id)
		g.removeAndRebalance(m, "session timeout of "+m.id)
	})
}
