package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Behaviour:
//   - Topics by name (v0-5 TopicNames; v6 Topics with a name) or, v6+, by
//     topic id (null name). Every requested topic appears in the response,
//     in request order, with its name and id when known.
//   - Unknown name UNKNOWN_TOPIC_OR_PARTITION; unknown id UNKNOWN_TOPIC_ID.
//   - v6: both name and id set INVALID_REQUEST ("You may not specify both
//     topic name and topic id"), neither set INVALID_REQUEST; a name or id
//     listed twice INVALID_REQUEST for it (as Kafka's controller answers).
//   - Deletion is synchronous: the topic leaves meta.json, parked fetches
//     are woken, and the partition directories are removed before the
//     response. A topic named twice in other ways (once by name, once by
//     id) is deleted once and both entries succeed.
//
// Version notes: v1 throttle; v4 flexible; v5 ErrorMessage; v6 Topics with
// ids.

func init() { regKey(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	rts := req.Topics
	if req.Version <= 5 {
		rts = nil
		for _, n := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = strp(n)
			rts = append(rts, rt)
		}
	}
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, rt := range rts {
		if rt.Topic != nil {
			names[*rt.Topic]++
		} else {
			ids[rt.TopicID]++
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	deleted := map[*topic]bool{}
	for _, rt := range rts {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			if req.Version >= 5 {
				st.ErrorMessage = strp(msg)
			}
			resp.Topics = append(resp.Topics, st)
		}
		var t *topic
		switch {
		case rt.Topic != nil && rt.TopicID != ([16]byte{}):
			fail(kerr.InvalidRequest, "you may not specify both topic name and topic id")
			continue
		case rt.Topic == nil && rt.TopicID == ([16]byte{}):
			fail(kerr.InvalidRequest, "neither topic name nor id were specified")
			continue
		case rt.Topic != nil && names[*rt.Topic] > 1:
			fail(kerr.InvalidRequest, "duplicate topic name")
			continue
		case rt.Topic == nil && ids[rt.TopicID] > 1:
			fail(kerr.InvalidRequest, "duplicate topic id")
			continue
		case rt.Topic != nil:
			if t = b.topics[*rt.Topic]; t == nil {
				t = deletedByName(deleted, *rt.Topic)
			}
			if t == nil {
				fail(kerr.UnknownTopicOrPartition, "unknown topic "+*rt.Topic)
				continue
			}
		default:
			if t = b.topicIDs[rt.TopicID]; t == nil {
				t = deletedByID(deleted, rt.TopicID)
			}
			if t == nil {
				fail(kerr.UnknownTopicID, "unknown topic id")
				continue
			}
		}
		st.Topic, st.TopicID = strp(t.name), t.id
		if !deleted[t] {
			if err := b.deleteTopic(t); err != nil {
				b.log.Error("delete topic failed", "topic", t.name, "err", err)
				fail(kerr.KafkaStorageError, "delete topic: "+err.Error())
				continue
			}
			deleted[t] = true
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func deletedByName(deleted map[*topic]bool, name string) *topic {
	for t := range deleted {
		if t.name == name {
			return t
		}
	}
	return nil
}

func deletedByID(deleted map[*topic]bool, id [16]byte) *topic {
	for t := range deleted {
		if t.id == id {
			return t
		}
	}
	return nil
}
