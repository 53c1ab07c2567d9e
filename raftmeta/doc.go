// Package raftmeta is Chronik's cluster metadata: one dragonboat v4 Raft
// shard whose voters are the nodes of the cluster config, holding brokers,
// topics and partition assignments (replicas, ISR, leader, epochs), and
// nothing else: record data never goes through Raft.
//
// # Pieces
//
//	Node        one per broker: a dragonboat NodeHost on the broker's Raft
//	            address, the shard's local replica, and the liveness loop.
//	FSM         the state machine (statemachine.IStateMachine): an immutable
//	            Image replaced after each change, events to subscribers.
//	Assign      replica assignment for new topics/partitions (pure function).
//	controller  the shard leader: fences brokers whose heartbeats stopped.
//
// # Goroutines
//
//	dragonboat apply goroutine ── FSM.Update ──▶ new *Image (atomic store)
//	                                        └──▶ Subscription queues (bounded, never block)
//	liveness goroutine (one per Node): register, heartbeat every
//	    HeartbeatInterval; while leader, fence brokers silent for SessionTimeout
//	callers (engine handlers, replicate): Propose / Sync / CreateTopic block up
//	    to their context; never call them on a network event loop
//	readers: Node.Image() is lock-free and returns an immutable snapshot
//
// # Determinism (dragonboat's contract)
//
// Update reads only the entry and the current image: no clock, no random
// numbers, every walk over topics in name order. Values that need
// randomness (topic ids) or time (broker liveness) are decided by the
// proposer and carried in the command. Replica assignments are explicit in
// the log (like KRaft's PartitionRecord), so changing Assign never changes
// how an old log replays. Image.Hash is a digest of the whole state; two
// replicas that applied the same log have the same hash.
//
// # Command encoding (one Raft entry)
//
// Integers are big-endian. str = u32 length + bytes. i32s = u32 count +
// count x i32. kvs = u32 count + count x (str key, str value), keys sorted.
// id = 16 raw bytes.
//
//	+---------+--------+------------------------------+
//	| version | type   | body (by type)               |
//	| u8 = 1  | u8     |                              |
//	+---------+--------+------------------------------+
//
//	type  command            body
//	1     RegisterBroker     i32 id, str kafka, str replication, str raft, str rack
//	2     Heartbeat          i32 id, u64 epoch
//	3     FenceBroker        i32 id, u64 epoch
//	4     CreateTopic        str name, id topicID, kvs configs,
//	                         u32 partitions, partitions x i32s replicas
//	5     DeleteTopic        str name, id topicID (zero: any)
//	6     CreatePartitions   str name, i32 from, u32 n, n x i32s replicas
//	7     AlterConfigs       str name, kvs set, u32 n, n x str delete (sorted)
//	8     ChangeISR          str topic, i32 partition, i32 leader,
//	                         i32 leaderEpoch, i32 partitionEpoch, i32s isr
//	9     ElectLeader        str topic, i32 partition, u8 type (0 preferred,
//	                         1 eligible)
//
// A new command version gets a new version byte and its own decoder beside
// the old one; type numbers are never reused. An entry that does not decode
// (unknown version or type, truncated, trailing bytes, a list over its
// bound) is rejected deterministically with INVALID_REQUEST.
//
// The result of an entry (statemachine.Result) is Value = the Kafka error
// code (0 = applied), Data = a message. Commands are written so that a
// proposal applied twice (dragonboat retries a timed-out proposal made with
// a no-op session) is harmless: CreateTopic with the same topic id,
// CreatePartitions with the same assignments and DeleteTopic of an id that
// no longer exists succeed as no-ops, Fence of a
// fenced broker is a no-op, RegisterBroker just bumps the epoch again.
//
// # Semantics
//
//   - RegisterBroker: epoch = the entry's Raft index; the broker is unfenced.
//   - FenceBroker (controller, after the session timeout): the broker leaves
//     every ISR it is not the last member of; partitions it led get the first
//     live ISR member in replica order as leader, or -1; leader epoch + 1.
//   - Heartbeat of a fenced broker unfences it; leaderless partitions whose
//     ISR holds a live broker get a leader (leader epoch + 1).
//   - ShutdownBroker (controller, on a heartbeat asking for a controlled
//     shutdown or naming an offline log dir): as FenceBroker, but the
//     broker stays unfenced and is ineligible (ShuttingDown) until it
//     registers again.
//   - CreateTopic / CreatePartitions: ISR = the live replicas, leader = the
//     first of them; epochs start at 0.
//   - ChangeISR (the partition leader, KIP-497 style): leader and leader
//     epoch must match (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), the
//     partition epoch too (INVALID_UPDATE_VERSION); the ISR holds the leader,
//     only live replicas, each once (INELIGIBLE_REPLICA).
//   - Every change of leader, ISR or replicas bumps the partition epoch and
//     emits EventPartition with topic, partition, leader, leader epoch, ISR.
//
// # Snapshot format
//
//	u32 magic "CRMS" | u8 version = 1 | u64 image index
//	u32 nBrokers, each: i32 id, str kafka, str replication, str raft,
//	                    str rack, u64 epoch, u8 fenced
//	u32 nTopics (by name), each: str name, id topicID, kvs configs,
//	    u32 nPartitions, each: i32s replicas, i32s isr, i32 leader,
//	                           i32 leaderEpoch, i32 partitionEpoch
//
// dragonboat takes a snapshot every Options.SnapshotEntries entries and
// compacts the log behind it (keeping CompactionOverhead entries), so the
// log does not grow forever; a node that is far behind receives the
// snapshot instead of the entries.
package raftmeta
