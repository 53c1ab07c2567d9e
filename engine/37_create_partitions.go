package engine

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions: v0-3
//
// Behaviour:
//   - Count is the new total; it must exceed the current count, else
//     INVALID_PARTITIONS (Kafka: "Topic already has N partitions" /
//     "currently has N partitions, which is higher than the requested M").
//     Growing by more than maxNewPartitions at once is refused
//     (INVALID_PARTITIONS) rather than opening that many logs.
//   - Assignment (optional): exactly one entry per new partition, each
//     naming only this broker, else INVALID_REPLICA_ASSIGNMENT.
//   - Unknown topic UNKNOWN_TOPIC_OR_PARTITION; a topic named twice in one
//     request INVALID_REQUEST, once in the response (as Kafka).
//   - ValidateOnly runs every check and creates nothing.
//   - New partitions are opened, then meta.json is written; if that fails
//     they are closed and removed again (KAFKA_STORAGE_ERROR).
//   - Every requested topic appears in the response.
//
// Version notes: v1 throttle; v2 flexible; v3 same as v2.

func init() { regKey(37, 0, 3, handleCreatePartitions) }

// maxNewPartitions bounds how many partitions one topic may grow by in one
// request.
const maxNewPartitions = 10000

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
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[rt.Topic]
	if t == nil {
		return kerr.UnknownTopicOrPartition, "unknown topic " + rt.Topic
	}
	cur := int32(len(t.partitions))
	switch {
	case rt.Count == cur:
		return kerr.InvalidPartitions, fmt.Sprintf("topic already has %d partitions", cur)
	case rt.Count < cur:
		return kerr.InvalidPartitions, fmt.Sprintf("topic currently has %d partitions, which is higher than the requested %d", cur, rt.Count)
	case rt.Count-cur > maxNewPartitions:
		return kerr.InvalidPartitions, fmt.Sprintf("cannot add more than %d partitions at once", maxNewPartitions)
	}
	if len(rt.Assignment) > 0 {
		if int32(len(rt.Assignment)) != rt.Count-cur {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("increasing the number of partitions by %d but %d assignments provided", rt.Count-cur, len(rt.Assignment))
		}
		for _, a := range rt.Assignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("replica assignment %v must name only broker %d", a.Replicas, b.cfg.NodeID)
			}
		}
	}
	if validateOnly {
		return nil, ""
	}
	old := t.partitions
	if err := b.addPartitions(t, rt.Count); err != nil {
		b.log.Error("create partitions failed", "topic", t.name, "err", err)
		return kerr.KafkaStorageError, err.Error()
	}
	if err := b.saveMeta(); err != nil {
		for _, p := range t.partitions[len(old):] {
			p.log.Delete()
		}
		t.partitions = old
		b.log.Error("create partitions: save metadata failed", "topic", t.name, "err", err)
		return kerr.KafkaStorageError, err.Error()
	}
	b.log.Info("partitions created", "topic", t.name, "from", cur, "to", rt.Count)
	return nil, ""
}
