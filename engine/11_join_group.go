package engine

import (
	"net"

	"github.com/chronik/chronik/engine/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup: v0-9
//
// Behaviour (Kafka's classic group coordinator):
//   - INVALID_GROUP_ID for an empty group id; INVALID_SESSION_TIMEOUT outside
//     group.min/max.session.timeout.ms; INCONSISTENT_GROUP_PROTOCOL when the
//     protocol type differs or no protocol is supported by every member;
//     GROUP_MAX_SIZE_REACHED at group.max.size; UNKNOWN_MEMBER_ID for a
//     member id the group does not know; FENCED_INSTANCE_ID when an instance
//     id belongs to another member id.
//   - v4+: a dynamic member without id gets MEMBER_ID_REQUIRED and its id;
//     the join phase waits for it (up to the session timeout).
//   - The join is parked (answered later through respond) until every
//     member rejoined or the rebalance timeout passed; for an Empty group
//     the wait is group.initial.rebalance.delay.ms, extended while new
//     members arrive. All waiting is on timers, never on this goroutine.
//   - The leader's response lists every member with its metadata for the
//     selected protocol (Kafka's vote among protocols all members support).
//   - Static members (v5+ instance id) that rejoin get a new member id, the
//     old one is fenced; in a Stable group whose protocol does not change
//     there is no rebalance (v9+: the leader gets SkipAssignment).
//
// Version notes: v1 rebalance timeout; v2 throttle; v4 MEMBER_ID_REQUIRED;
// v5 instance id; v6 flexible; v7 protocol type in the response; v8 reason;
// v9 skip assignment.

func init() { regKey(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.JoinGroupRequest)
	resp := b.groups.Join(group.JoinRequest{Req: req, ClientID: c.req.ClientID, ClientHost: clientHost(c.req.RemoteAddr), Respond: c.respond})
	if resp == nil {
		return nil, nil
	}
	return resp, nil
}

// clientHost formats a peer address as Kafka reports client hosts
// (InetAddress.toString: "/127.0.0.1").
func clientHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "/" + host
}
