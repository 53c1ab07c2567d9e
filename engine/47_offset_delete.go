package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// OffsetDelete: v0
//
// Behaviour: deletes committed offsets of a group (tombstones, answered
// once durable). GROUP_ID_NOT_FOUND for an unknown group; NON_EMPTY_GROUP
// for an active group that is not a consumer group; per partition
// GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to the topic, and
// UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist. An Empty
// group left without offsets is deleted, as in Kafka.

func init() { regKey(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetDeleteRequest)
	resp := b.groups.DeleteOffsets(req, c.respond)
	if resp == nil {
		return nil, nil
	}
	return resp, nil
}
