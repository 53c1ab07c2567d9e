package engine

import (
	"context"

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
//   - Deletion goes through b.cluster(): standalone it is synchronous (the
//     topic leaves meta.json, parked fetches are woken, the partition
//     directories are removed before the response); in a cluster the
//     deletion is committed through the metadata controller, this broker
//     drops its copy before answering and every other broker when it
//     applies the commit. No commit within clusterCommitTimeout:
//     REQUEST_TIMED_OUT. A topic named twice in other ways (once by name,
//     once by id) is deleted once and both entries succeed.
//   - __consumer_offsets may be deleted, as in Kafka (only kafka-topics.sh
//     refuses, client-side): the group coordinator unloads every group and
//     creates the topic again on next use.
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

	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	deleted := map[string][16]byte{} // name -> id, deleted by this request
	for _, rt := range rts {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var e *kerr.Error
		var msg string
		switch {
		case rt.Topic != nil && rt.TopicID != ([16]byte{}):
			e, msg = kerr.InvalidRequest, "you may not specify both topic name and topic id"
		case rt.Topic == nil && rt.TopicID == ([16]byte{}):
			e, msg = kerr.InvalidRequest, "neither topic name nor id were specified"
		case rt.Topic != nil && names[*rt.Topic] > 1:
			e, msg = kerr.InvalidRequest, "duplicate topic name"
		case rt.Topic == nil && ids[rt.TopicID] > 1:
			e, msg = kerr.InvalidRequest, "duplicate topic id"
		default:
			name, id, err := deleteOnce(ctx, b, deleted, rt)
			if e, msg = errorAndMessage(err); e == nil {
				st.Topic, st.TopicID = strp(name), id
			}
		}
		if e != nil {
			st.ErrorCode = e.Code
			if req.Version >= 5 {
				st.ErrorMessage = strp(msg)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(deleted) > 0 {
		b.groups.TopicsChanged()
	}
	return resp, nil
}

// deleteOnce deletes the topic rt names unless this request deleted it
// already (then it answers with the same name and id).
func deleteOnce(ctx context.Context, b *Broker, deleted map[string][16]byte, rt kmsg.DeleteTopicsRequestTopic) (string, [16]byte, error) {
	var name string
	if rt.Topic != nil {
		name = *rt.Topic
		if id, ok := deleted[name]; ok {
			return name, id, nil
		}
	} else {
		for n, id := range deleted {
			if id == rt.TopicID {
				return n, id, nil
			}
		}
	}
	name, id, err := b.cluster().DeleteTopic(ctx, name, rt.TopicID)
	if err != nil {
		if ke := kafkaCode(err); ke != kerr.UnknownTopicOrPartition && ke != kerr.UnknownTopicID {
			b.log.Warn("delete topic", "topic", name, "err", err)
		}
		return "", [16]byte{}, err
	}
	deleted[name] = id
	return name, id, nil
}
