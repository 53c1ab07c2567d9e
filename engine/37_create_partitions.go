package engine

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Behaviour:
//   - Count is the new total; it must exceed the current count, else
//     INVALID_PARTITIONS (Kafka: "Topic already has N partitions" /
//     "currently has N partitions, which is higher than the requested M").
//     Growing by more than raftmeta.MaxNewPartitions at once is refused
//     (INVALID_PARTITIONS) rather than opening that many logs.
//   - Assignment (optional): exactly one entry per new partition, else
//     INVALID_REPLICA_ASSIGNMENT. Standalone each entry must name only this
//     broker; in a cluster each must list the topic's replication factor
//     of distinct registered brokers.
//   - Unknown topic UNKNOWN_TOPIC_OR_PARTITION; a topic named twice in one
//     request INVALID_REQUEST, once in the response (as Kafka).
//   - ValidateOnly runs every check and creates nothing.
//   - Through b.cluster(): standalone the new partitions are opened, then
//     meta.json is written; if that fails they are closed and removed again
//     (KAFKA_STORAGE_ERROR). In a cluster the growth is committed through
//     the metadata controller (new partitions assigned over the live
//     brokers) and every broker opens its logs when it applies it; no
//     commit within clusterCommitTimeout: REQUEST_TIMED_OUT.
//   - __consumer_offsets may grow, as in Kafka; the group coordinator keeps
//     placing groups by offsets.topic.num.partitions, so the new partitions
//     stay unused.
//   - Every requested topic appears in the response.
//
// Version notes: v1 throttle; v2 flexible; v3 same as v2.

func init() { regKey(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	answered := map[string]bool{}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var e *kerr.Error
		var msg string
		if seen[rt.Topic] > 1 {
			if answered[rt.Topic] {
				continue
			}
			answered[rt.Topic] = true
			e, msg = kerr.InvalidRequest, "duplicate topic name"
		} else {
			e, msg = b.createPartitions(rt, req.ValidateOnly)
		}
		if e != nil {
			st.ErrorCode = e.Code
			if msg == "" {
				msg = e.Message
			}
			st.ErrorMessage = strp(msg)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) (*kerr.Error, string) {
	var manual [][]int32
	for _, a := range rt.Assignment {
		manual = append(manual, a.Replicas)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	return errorAndMessage(b.cluster().CreatePartitions(ctx, rt.Topic, rt.Count, manual, validateOnly))
}
