package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch: v0-9
//
// Behaviour:
//   - Returns the committed offset, leader epoch and metadata of each
//     requested partition; -1 and "" where nothing is committed, including
//     for groups that do not exist (no error, as in Kafka).
//   - Topics null (v2+): every committed offset of the group.
//   - Only durable commits are visible. RequireStable (v7+) has nothing to
//     wait for: there are no transactional offsets.
//
// Version notes: v2 null topics, top-level error; v3 throttle; v5 leader
// epoch; v6 flexible; v7 require stable; v8 several groups per request;
// v9 member id and epoch (KIP-848; ignored for classic groups, as Kafka
// does). v10 (topic ids) is not advertised.

func init() { regKey(9, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			topics := map[string][]int32{}
			for _, rt := range rg.Topics {
				topics[rt.Topic] = append(topics[rt.Topic], rt.Partitions...)
			}
			ts, err := b.groups.FetchOffsets(rg.Group, topics, rg.Topics == nil)
			sg.Topics, sg.ErrorCode = ts, errCode(err)
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}
	topics := map[string][]int32{}
	for _, rt := range req.Topics {
		topics[rt.Topic] = append(topics[rt.Topic], rt.Partitions...)
	}
	ts, err := b.groups.FetchOffsets(req.Group, topics, req.Topics == nil && req.Version >= 2)
	if err != nil {
		offsetFetchError(req, resp, err)
		return resp, nil
	}
	for _, t := range ts {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// offsetFetchError reports a group-level error: top level from v2, in every
// requested partition before.
func offsetFetchError(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse, err *kerr.Error) {
	if req.Version >= 2 {
		resp.ErrorCode = err.Code
		return
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata, rp.ErrorCode = p, -1, strp(""), err.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
}
