// Package group is Chronik's classic consumer-group coordinator: Kafka's
// group state machine (join, sync, heartbeat, leave), committed offsets,
// the admin operations on groups (describe, list, delete, offset delete),
// and their persistence in the partitions of __consumer_offsets: append,
// replay on load, compaction. It knows nothing of sockets, topics or Raft:
// the engine's per-API-key handlers decode a request, call the
// Coordinator and answer; the coordinator reaches its log partitions
// through Log and the broker through Host (host.go), which the engine
// implements (engine/groups_host.go). It imports no engine package.
//
// # Placement and leadership
//
// A group lives on partition abs(javaHash(id)) % n of __consumer_offsets
// (n = offsets.topic.num.partitions, or fewer if the topic was created
// with fewer; fixed once the topic exists; Utils.abs(MIN_VALUE) = 0); its
// coordinator is that partition's leader. The groups of a partition are
// loaded (replayed from its Log) when this broker finds it leads the
// partition (Host.Leader) — when the topic is attached, on
// Coordinator.TopicsChanged after a metadata change, or at the first
// request for one of its groups — and unloaded (parked requests answered
// NOT_COORDINATOR, timers stopped) when it no longer does. Group requests
// for a partition this broker does not lead get NOT_COORDINATOR. The topic
// is created through Host.CreateTopic on first use.
//
// # State machine
//
//	         JoinGroup                 every member joined, or
//	┌───────┐ (initial delay) ┌───────────┐ the join wait is over ┌─────────────┐
//	│ Empty │────────────────▶│ Preparing │──────────────────────▶│ Completing  │
//	└───────┘                 │ Rebalance │  (new generation;     │ Rebalance   │
//	    ▲    join wait over,  └───────────┘   JoinGroups answered)└─────────────┘
//	    └────── no member left ────┘  ▲ ▲                            │        │
//	                                  │ └── a member joins, leaves, ─┘        │ leader's
//	                                  │     expires or misses SyncGroup       │ SyncGroup
//	                                  │                                       ▼ committed
//	                                  │     a member joins, leaves     ┌────────┐
//	                                  └─────────── or expires ─────────│ Stable │
//	                                                                   └────────┘
//	Dead: the group was deleted or unloaded; a request finding a Dead
//	group gets COORDINATOR_NOT_AVAILABLE and asks again.
//
// JoinGroup and SyncGroup park: the Coordinator returns nil and calls the
// request's respond later, from a timer or the Log's Commit callback.
//
// # Timers
//
// Session (per member), rebalance (join wait), initial rebalance delay,
// pending-sync and pending-member waits are time.AfterFunc timers. Each
// takes group.mu, checks that the group is not Dead and that its sequence
// number (hbSeq, joinSeq, syncSeq) is still current, so a stale timer does
// nothing; none is ever waited for.
//
// # Locks
//
//	Coordinator.mu ─▶ group.mu ─▶ offsetsLog.mu ─▶ (the Log's own locks)
//	Commit callback: group.mu (apply a commit, finish a SyncGroup, respond)
//	timers:          group.mu
//	compaction:      offsetsLog.mu only (one goroutine per partition at a time)
//	bgMu:            leaf (compactions in flight)
//
// No lock is taken twice on one path. Host.Topic and Host.Leader are
// called with Coordinator.mu held and must not block or call back into the
// Coordinator; Host.CreateTopic (which may wait for a metadata commit, and
// whose broker may call TopicsChanged meanwhile) and Host.PartitionExists
// are called with no coordinator lock held. Log.Append is called with
// offsetsLog.mu held, and group.mu for a group's own records (not for a
// compaction snapshot): a group's records reach the log in the order its
// state changed, and the latest value per key matches the log. An Append
// is one pwrite (and, on the first append of a new leader epoch, the
// epoch checkpoint's fsync): the only writes made under these locks.
// Loading a partition replays its Log under Coordinator.mu (group requests
// wait for the load, where Kafka answers COORDINATOR_LOAD_IN_PROGRESS). No
// lock is held while waiting for Commit.
//
// # __consumer_offsets records
//
// Kafka's own encodings (kmsg types; big-endian, strings int16-length-
// prefixed), one uncompressed v2 RecordBatch per request (split at 1 MiB):
//
//	offset commit   key   int16 version=1 | string group | string topic | int32 partition
//	                value int16 version=3 | int64 offset | int32 leaderEpoch
//	                      | string metadata | int64 commitTimestamp
//	group metadata  key   int16 version=2 | string group
//	                value int16 version=3 | string protocolType | int32 generation
//	                      | nullable string protocol | nullable string leader
//	                      | int64 currentStateTimestamp | int32 n | n x member:
//	                        string memberId | nullable string instanceId
//	                        | string clientId | string clientHost
//	                        | int32 rebalanceTimeout | int32 sessionTimeout
//	                        | bytes subscription | bytes assignment
//	tombstone       key as above, null value: the offset or the group is deleted
//
// A record is appended under group.mu and answered once Log.Commit reports
// it committed; OffsetFetch sees only committed offsets. Loading replays a
// partition from its log start offset (offsets.load.buffer.size bytes per
// read); groups with members come back Stable with their session timers
// running, as in Kafka.
//
// # Compaction (copy-forward)
//
// Each partition keeps the latest value appended per key. When the log
// holds at least offsets.topic.segment.bytes and at least
// log.cleaner.min.cleanable.ratio of its records since the log start
// offset are superseded, the live values are appended again as a snapshot
// at offset S; once the snapshot is committed the log start offset moves to
// S and whole segments below it are deleted. A crash at any point replays
// to the same state: before the start offset moves, the old records are
// followed by a snapshot that repeats their latest values.
package group
