package engine

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-5
//
// Behaviour:
//   - Group keys (type 0): the coordinator is the leader of partition
//     abs(javaHash(group)) % offsets.topic.num.partitions of
//     __consumer_offsets as the metadata has it (standalone: this broker;
//     any broker of a cluster gives the same answer). No live leader:
//     COORDINATOR_NOT_AVAILABLE. The internal topic is created on first
//     use, as in Kafka (in a cluster through the controller).
//   - Transaction keys (type 1): COORDINATOR_NOT_AVAILABLE; Chronik has no
//     transaction coordinator. Any other type: INVALID_REQUEST.
//
// Version notes: v1 key type, throttle, error message; v3 flexible; v4
// batched keys (KIP-699), answered per key; v5 no change for groups. v6
// (share groups) is not advertised.

func init() { regKey(10, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key = key
		switch req.CoordinatorType {
		case 0:
			b.findGroupCoordinator(key, &rc)
		case 1:
			rc.ErrorCode = kerr.CoordinatorNotAvailable.Code
			rc.ErrorMessage = strp("transactions are not supported")
		default:
			rc.ErrorCode = kerr.InvalidRequest.Code
			rc.ErrorMessage = strp("unknown coordinator type")
		}
		if rc.ErrorCode != 0 {
			rc.NodeID, rc.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	if req.Version < 4 {
		rc := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = rc.ErrorCode, rc.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = rc.NodeID, rc.Host, rc.Port
		resp.Coordinators = nil
	}
	return resp, nil
}

// findGroupCoordinator names the leader of the group's internal partition,
// as the metadata has it (standalone: this broker); no leader, or a fenced
// one: COORDINATOR_NOT_AVAILABLE, and the client asks again.
func (b *Broker) findGroupCoordinator(group string, rc *kmsg.FindCoordinatorResponseCoordinator) {
	i, err := b.groups.PartitionFor(group)
	if err != nil {
		rc.ErrorCode, rc.ErrorMessage = err.Code, strp(err.Message)
		return
	}
	cl := b.cluster()
	if pl, ok := cl.Partition(offsetsTopicName, i); ok && pl.Leader >= 0 {
		brokers, _ := cl.Brokers()
		for _, br := range brokers {
			if br.ID == pl.Leader {
				rc.NodeID, rc.Host, rc.Port = br.ID, br.Host, br.Port
				return
			}
		}
	}
	rc.ErrorCode = kerr.CoordinatorNotAvailable.Code
	rc.ErrorMessage = strp(fmt.Sprintf("partition %d of %s has no live leader", i, offsetsTopicName))
}
