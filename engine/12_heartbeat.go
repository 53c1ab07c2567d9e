package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// Heartbeat: v0-4
//
// Behaviour: restarts the member's session timer. INVALID_GROUP_ID,
// UNKNOWN_MEMBER_ID (unknown group or member, or an Empty group),
// FENCED_INSTANCE_ID, ILLEGAL_GENERATION, COORDINATOR_NOT_AVAILABLE for a
// group being deleted; REBALANCE_IN_PROGRESS while the group prepares a
// rebalance (the member should rejoin).
//
// Version notes: v1 throttle; v3 instance id; v4 flexible.

func init() { regKey(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = errCode(b.groups.Heartbeat(req))
	return resp, nil
}
