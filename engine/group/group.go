package group

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
	c   *Coordinator
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
	pendingCommits map[topicPartition]uint64 // latest appended, not yet committed
	commitSeq      uint64
}

func newGroup(c *Coordinator, id string, o *offsetsLog) *group {
	return &group{
		c: c, id: id, log: o,
		stateSinceMs:   c.now().UnixMilli(),
		members:        map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]*time.Timer{},
		offsets:        map[topicPartition]committedOffset{},
		pendingCommits: map[topicPartition]uint64{},
	}
}

func (g *group) transition(s groupState) {
	g.state = s
	g.stateSinceMs = g.c.now().UnixMilli()
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
