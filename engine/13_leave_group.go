package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// LeaveGroup: v0-5
//
// Behaviour: removes the member and rebalances the others. v3+ takes a
// batch of members, each by member id or (administrative removal, KIP-345)
// by instance id alone; each gets its own error (UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID). A member id handed out with MEMBER_ID_REQUIRED that
// never joined is forgotten. Before v3 the one member's error is the
// top-level error.
//
// Version notes: v1 throttle; v3 batch; v4 flexible; v5 reason.

func init() { regKey(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	err, members := b.groups.Leave(req)
	resp.ErrorCode = errCode(err)
	if req.Version >= 3 {
		resp.Members = members
	} else if err == nil {
		resp.ErrorCode = members[0].ErrorCode
	}
	return resp, nil
}
