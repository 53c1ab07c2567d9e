// Package engine is Chronik's Kafka request processor: one handler per API
// key (00_produce.go, 01_fetch.go, ...), the topic and partition state
// (log end offset, high watermark, leader epoch, idempotent-producer state),
// the purgatory where acks=-1 produces and long-poll fetches wait, and the
// broker's persisted metadata. It knows nothing of sockets: netio decodes
// frames and calls Broker.Handle; the response goes back through a callback.
//
// Goroutines and state
//
//	netio connection worker ──Handle──▶ decode (kmsg) ──▶ handler
//	                                                    │
//	        sync handlers answer before Handle returns ◀┘
//	        produce: decoded by hand (produce_req.go, regRawKey: no kmsg
//	          decode) into a pooled produceCall that is also the response,
//	          framed by hand (produce_resp.go); netio releases it after the
//	          write. acks=-1: wal.Log.Sync callback (a FlushPool worker) answers
//	        fetch: encoded by hand (fetchresp.go) around wal.Views of mapped
//	          segments; netio writes it with writev and releases the views
//	        fetch long poll: a waiter goroutine answers on data or max wait
//
// Lock order: Broker.mu (topic map, metadata file) before partition.mu
// (producer state + append). No lock is held while waiting for an fsync;
// partition.mu is held across the pwrite of one append so producer-state
// checks and the append are atomic.
//
// Data layout under the data dir:
//
//	<data>/meta.json          topics (name, id, partitions, config overrides),
//	                          dynamic broker configs, producer-id block
//	<data>/<topic>-<p>/       one wal.Log per partition
//	<data>/__consumer_offsets-<p>/  the internal log of groups and offsets
//
// Consumer groups (groups.go, group*.go)
//
// The classic group coordinator runs Kafka's state machine per group
// (Empty -> PreparingRebalance -> CompletingRebalance -> Stable, Dead when
// deleted). A group lives on partition abs(javaHash(id)) % n of the
// internal topic __consumer_offsets (n = offsets.topic.num.partitions,
// fixed once the topic exists; Utils.abs(MIN_VALUE) = 0); its coordinator
// is that partition's leader. JoinGroup and SyncGroup park (handler returns
// nil, respond is called later); session, rebalance, pending-sync and
// initial-delay waits are time.AfterFunc timers that take group.mu and check
// a sequence number, so a stale timer does nothing.
//
//	groupCoordinator.mu ─▶ group.mu ─▶ partition.mu (append to the internal log)
//	wal flusher:  Sync callback ─▶ group.mu (apply commit / finish SyncGroup, respond)
//	timers:       group.mu
//	compaction:   partition.mu only (one goroutine per internal partition at a time)
//
// __consumer_offsets records (Kafka's own encodings, kmsg types; big-endian,
// strings int16-length-prefixed), one v2 RecordBatch per request:
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
// A record is written under group.mu (so the log orders a group's records
// as its state changed) and answered after wal Sync; OffsetFetch sees only
// durable commits. Open replays every partition from its log start offset
// (offsets.load.buffer.size bytes per read); groups with members come back
// Stable with their session timers running.
//
// Compaction (copy-forward): each internal partition keeps the latest value
// appended per key. When the log holds at least offsets.topic.segment.bytes
// and at least log.cleaner.min.cleanable.ratio of its records since the log
// start offset are superseded, the live values are appended again as a
// snapshot at offset S; once the snapshot is durable the log start offset
// moves to S and whole segments below it are deleted. A crash at any point
// replays to the same state: before the start offset moves, the old records
// are followed by a snapshot that repeats their latest values.
//
// Standalone, the broker is node Config.NodeID, leader of every partition at
// leader epoch 0, and the high watermark equals the log end offset (RF=1),
// as in Kafka.
//
// In a cluster (Broker.JoinCluster, cluster_raft.go) the Cluster interface
// (cluster.go) answers who the brokers are and who leads each partition
// from the raftmeta image; topic creation, deletion, growth and topic
// config changes go through the metadata shard (the standalone Cluster does
// the same work locally: one path for the admin handlers) and a mirror
// goroutine makes the local topics follow the image (lock order:
// groupCoordinator.mu before Broker.mirrorMu before Broker.mu). Every
// broker opens a local log for every partition, but only the leader accepts
// produce and fetch; the others answer NOT_LEADER_OR_FOLLOWER (replication
// will fill followers). After each mirror the group coordinator loads the
// groups of internal partitions this broker now leads and unloads the
// others; group requests for a partition it does not lead get
// NOT_COORDINATOR.
package engine
