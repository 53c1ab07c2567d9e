package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is the classic group state machine's state, named as Kafka
// names it in DescribeGroups and ListGroups.
type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

func (s groupState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// parked is a JoinGroup or SyncGroup waiting for the rebalance to move on.
type parked struct {
	respond func(kmsg.Response)
	version int16
}

// member is one member of a group.
type member struct {
	id           string
	instanceID   *string
	clientID     string
	clientHost   string
	protocolType string
	protocols    []kmsg.JoinGroupRequestProtocol // in the member's preference order
	rebalanceMs  int32
	sessionMs    int32
	assignment   []byte

	join *parked // awaiting its JoinGroup response
	sync *parked // awaiting its SyncGroup response

	hbSeq   uint64 // bumps on every heartbeat; a timer for an older seq is stale
	hbTimer *time.Timer
}

// metadataFor returns the member's metadata for protocol name.
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols equal the member's current ones.
func (m *member) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i := range protocols {
		if protocols[i].Name != m.protocols[i].Name || !bytes.Equal(protocols[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// group is one classic consumer group. Every field is guarded by mu.
type group struct {
	c   *groupCoordinator
	id  string
	log *offsetsLog

	mu           sync.Mutex
	state        groupState
	stateSinceMs int64
	generation   int32
	protocolType string // "" when none (Empty groups accept any)
	protocol     string // selected protocol; "" when none
	leader       string
	members      map[string]*member
	static       map[string]string      // instance id -> member id
	pending      map[string]*time.Timer // member ids handed out with MEMBER_ID_REQUIRED
	awaitingJoin int
	pendingSync  map[string]bool // members that must still send SyncGroup
	subscribed   map[string]bool // topics the members subscribe to; nil = unknown

	joinTimer        *time.Timer
	joinSeq          uint64
	initialJoin      bool          // the running join wait is group.initial.rebalance.delay.ms
	initialDelay     time.Duration // its current delay
	initialRemaining time.Duration // how much longer it may be extended
	newMemberAdded   bool
	syncTimer        *time.Timer
	syncSeq          uint64

	offsets        map[topicPartition]committedOffset
	pendingCommits map[topicPartition]uint64 // latest appended, not yet durable commit
	commitSeq      uint64
}

func newGroup(c *groupCoordinator, id string, o *offsetsLog) *group {
	return &group{
		c: c, id: id, log: o,
		stateSinceMs:   c.b.now().UnixMilli(),
		members:        map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]*time.Timer{},
		offsets:        map[topicPartition]committedOffset{},
		pendingCommits: map[topicPartition]uint64{},
	}
}

func (g *group) transition(s groupState) {
	g.state = s
	g.stateSinceMs = g.c.b.now().UnixMilli()
}

// newMemberID follows Kafka: client id (or instance id) + "-" + a UUID.
func newMemberID(prefix string) string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err)
	}
	h := hex.EncodeToString(u[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// add puts m in the group; the first member fixes the protocol type.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	if g.leader == "" {
		g.leader = m.id
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if m.join != nil {
		g.awaitingJoin++
	}
}

// remove takes m out of the group without starting a rebalance.
func (g *group) remove(m *member) {
	if g.members[m.id] != m {
		return
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	if m.join != nil {
		// Answered so that a member still running rejoins (Kafka does the same).
		g.awaitingJoin--
		m.join.respond(joinError(m.join.version, m.id, kerr.UnknownMemberID))
		m.join = nil
	}
	if m.sync != nil {
		m.sync.respond(syncResponse(m.sync.version, kerr.UnknownMemberID))
		m.sync = nil
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, id := range g.sortedMemberIDs() {
			g.leader = id
			break
		}
	}
}

func (g *group) sortedMemberIDs() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// staticFenced reports whether instanceID belongs to another member id.
func (g *group) staticFenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// removeAndRebalance removes m and moves the group on as Kafka's
// removeMemberAndUpdateGroup does.
func (g *group) removeAndRebalance(m *member, reason string) {
	g.remove(m)
	switch g.state {
	case groupStable, groupCompletingRebalance:
		g.prepareRebalance(reason)
	case groupPreparingRebalance:
		g.tryCompleteJoin()
	}
}

// maxRebalance is the largest rebalance timeout of the members.
func (g *group) maxRebalance() time.Duration {
	var ms int32
	for _, m := range g.members {
		ms = max(ms, m.rebalanceMs)
	}
	return time.Duration(ms) * time.Millisecond
}

// afterFunc runs fn under g.mu after d unless the group was unloaded.
func (g *group) afterFunc(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == groupDead {
			return
		}
		fn()
	})
}

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
		cfgDelay := time.Duration(g.c.b.cfg.GroupInitialRebalanceMs) * time.Millisecond
		wait = min(cfgDelay, timeout)
		g.initialDelay, g.initialRemaining = wait, max(timeout-cfgDelay, 0)
	}
	g.c.b.log.Debug("group rebalancing", "group", g.id, "generation", g.generation, "reason", reason)
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
		cfgDelay := time.Duration(g.c.b.cfg.GroupInitialRebalanceMs) * time.Millisecond
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

// joinResponse is the JoinGroup answer for memberID in the current
// generation; the leader also gets every member's metadata.
func (g *group) joinResponse(version int16, memberID string, withMembers bool, leader string) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(version)
	resp.Generation = g.generation
	resp.ProtocolType = strp(g.protocolType)
	resp.Protocol = strp(g.protocol)
	resp.LeaderID = leader
	resp.MemberID = memberID
	if withMembers {
		for _, id := range g.sortedMemberIDs() {
			m := g.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID = m.id, m.instanceID
			rm.ProtocolMetadata = m.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

// joinError is a JoinGroup answer carrying only an error.
func joinError(version int16, memberID string, err *kerr.Error) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(version)
	resp.ErrorCode = err.Code
	resp.MemberID = memberID
	resp.Generation = -1
	if version < 7 {
		resp.Protocol = strp("") // not nullable before v7
	}
	return resp
}

func syncResponse(version int16, err *kerr.Error) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.SetVersion(version)
	resp.ErrorCode = errCode(err)
	resp.MemberAssignment = []byte{}
	return resp
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
		g.c.b.log.Info("group member session expired", "group", g.id, "member", m.id)
		g.removeAndRebalance(m, "session timeout of "+m.id)
	})
}

// unload stops the group's timers and answers parked requests with
// NOT_COORDINATOR. The group is Dead afterwards.
func (g *group) unload() {
	for _, t := range []*time.Timer{g.joinTimer, g.syncTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
	for _, m := range g.members {
		if m.hbTimer != nil {
			m.hbTimer.Stop()
		}
		if m.join != nil {
			m.join.respond(joinError(m.join.version, m.id, kerr.NotCoordinator))
			m.join = nil
		}
		if m.sync != nil {
			m.sync.respond(syncResponse(m.sync.version, kerr.NotCoordinator))
			m.sync = nil
		}
	}
	g.transition(groupDead)
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
