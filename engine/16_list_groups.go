package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// ListGroups: v0-5
//
// Behaviour: every group this broker coordinates with its protocol type;
// v4+ its state and a state filter, v5+ its type ("classic") and a type
// filter; filters match case-insensitively, as in Kafka.
//
// Version notes: v1 throttle; v3 flexible; v4 states (KIP-518); v5 types
// (KIP-848).

func init() { regKey(16, 0, 5, handleListGroups) }

func handleListGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.Groups = b.groups.List(req.StatesFilter, req.TypesFilter)
	return resp, nil
}
