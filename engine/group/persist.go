package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupValue encodes the group's metadata as Kafka's GroupMetadataValue v3:
// generation, protocol, leader and each member with its subscription (the
// metadata of the selected protocol) and assignments[member id].
func (g *group) groupValue(assignments map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = strp(g.protocol)
	}
	if g.leader != "" && len(g.members) > 0 {
		v.Leader = strp(g.leader)
	}
	v.CurrentStateTimestamp = g.stateSinceMs
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID = m.id, m.instanceID
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceMs, m.sessionMs
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = assignments[id]
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// storeGroup appends the group's metadata and calls done under g.mu once it
// is committed, or with the Kafka error for a write that failed
// (NOT_COORDINATOR, as Kafka maps storage errors). Caller holds g.mu.
func (g *group) storeGroup(assignments map[string][]byte, done func(*kerr.Error)) {
	rec := logRecord{key: groupKey(g.id), value: g.groupValue(assignments)}
	g.appendCommitted([]logRecord{rec}, done)
}

// appendCommitted appends recs to the group's log partition and calls done
// under g.mu once Log.Commit reports them committed. Caller holds g.mu,
// which orders the group's records in the log as its state changes.
func (g *group) appendCommitted(recs []logRecord, done func(*kerr.Error)) {
	through, err := g.log.append(recs, g.c.now().UnixMilli())
	if err != nil {
		g.c.log.Error("write internal log", "group", g.id, "partition", g.log.name, "err", err)
		done(kerr.NotCoordinator)
		return
	}
	g.log.log.Commit(through, func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if err != nil {
			g.c.log.Error("commit internal log", "group", g.id, "partition", g.log.name, "err", err)
			done(kerr.NotCoordinator)
			return
		}
		done(nil)
	})
	g.c.maybeCompact(g.log)
}

// restore rebuilds a loaded group from its stored metadata. A group with
// members comes back Stable with every session timer running, as in Kafka:
// members that keep heartbeating carry on without a rebalance, the others
// expire and the group rebalances.
func (g *group) restore(v *kmsg.GroupMetadataValue) {
	if v == nil {
		return
	}
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateSinceMs = v.CurrentStateTimestamp
	}
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			protocolType: v.ProtocolType, rebalanceMs: vm.RebalanceTimeoutMillis, sessionMs: vm.SessionTimeoutMillis,
			protocols:  []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment: vm.Assignment,
		}
		if m.rebalanceMs < 0 {
			m.rebalanceMs = m.sessionMs
		}
		g.add(m)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) == 0 {
		return
	}
	g.subscribed = g.subscribedTopics()
	g.state = groupStable
	for _, m := range g.members {
		g.heartbeat(m)
	}
}
