package engine

import "github.com/twmb/franz-go/pkg/kmsg"

// OffsetCommit: v0-9
//
// Behaviour:
//   - Partitions of topics or partitions this broker does not have get
//     UNKNOWN_TOPIC_OR_PARTITION; the others are checked against the group
//     as Kafka does: a generation >= 0, a member id or an instance id makes
//     it a member's commit (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID,
//     ILLEGAL_GENERATION); otherwise it is a simple commit, allowed only
//     while the group is Empty (else UNKNOWN_MEMBER_ID). A simple commit to
//     a group that does not exist creates it; a member's commit gets
//     ILLEGAL_GENERATION. CompletingRebalance: REBALANCE_IN_PROGRESS.
//   - Metadata longer than offset.metadata.max.bytes: OFFSET_METADATA_TOO_LARGE.
//   - The commit is written to __consumer_offsets and answered only once it
//     is durable (fdatasync); a write error answers NOT_COORDINATOR.
//
// Version notes: v1 generation, member id, per-partition timestamp (used as
// the commit time); v2-4 retention time (ignored: offsets are kept until
// deleted); v3 throttle; v6 leader epoch; v7 instance id; v8 flexible; v9
// same fields (KIP-848 semantics apply only to new-protocol groups, which
// Chronik does not offer). v10 (topic ids) is not advertised.

func init() { regKey(8, 0, 9, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetCommitRequest)
	return b.groups.Commit(req, c.respond), nil
}
