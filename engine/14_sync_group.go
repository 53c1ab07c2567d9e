package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// SyncGroup: v0-5
//
// Behaviour: in CompletingRebalance every member is parked until the
// leader's SyncGroup; the leader's assignment is written with the group's
// metadata to __consumer_offsets, and once durable each parked member gets
// exactly its own assignment bytes (empty for members the leader left out)
// and the group is Stable. In Stable a member gets its current assignment.
// PreparingRebalance: REBALANCE_IN_PROGRESS. Errors: INVALID_GROUP_ID,
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION,
// INCONSISTENT_GROUP_PROTOCOL (v5 protocol type/name mismatch),
// NOT_COORDINATOR when the write fails. Members that do not send SyncGroup
// within the rebalance timeout are removed and the group rebalances.
//
// Version notes: v1 throttle; v3 instance id; v4 flexible; v5 protocol
// type and name.

func init() { regKey(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SyncGroupRequest)
	resp := b.groups.Sync(req, c.respond)
	if resp == nil {
		return nil, nil
	}
	return resp, nil
}
