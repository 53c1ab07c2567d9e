package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// DescribeGroups: v0-6
//
// Behaviour: state, protocol type and members (client id, client host,
// instance id) of each group; the selected protocol and each member's
// metadata and assignment only when the group is Stable, as in Kafka. A
// group that does not exist is reported as Dead (v6+: with
// GROUP_ID_NOT_FOUND, KIP-1043). Authorized operations (v3+, on request)
// are all group operations: there is no authorizer.
//
// Version notes: v1 throttle; v3 authorized operations; v4 instance id;
// v5 flexible; v6 per-group error message.

func init() { regKey(15, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, b.groups.Describe(id, req.Version, req.IncludeAuthorizedOperations))
	}
	return resp, nil
}
