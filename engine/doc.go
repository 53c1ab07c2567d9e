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
// # Consumer groups
//
// The group coordinator is package engine/group (its doc.go draws the
// state machine, the timers, its lock order and the __consumer_offsets
// record format). The handlers 08_offset_commit.go ... 47_offset_delete.go
// decode, call the Coordinator and answer; groups_host.go is the broker as
// the coordinator sees it (group.Host: the internal topic, leadership of
// its partitions, topic creation through the Cluster, user partitions) and
// each partition of __consumer_offsets as a group.Log (append stamped with
// the leader epoch, Commit = wal Sync). Lock order across the two:
//
//	group.Coordinator.mu ─▶ group.mu ─▶ offsetsLog.mu ─▶ partition.mu (append)
//	group.Coordinator.mu ─▶ Broker.mu (read: Host.Topic, Host.Leader)
//
// The broker never calls into the coordinator holding Broker.mu or
// Broker.mirrorMu (TopicsChanged runs after a mirror and after
// DeleteTopics; EnsureTopic from Metadata with no lock), and the
// coordinator holds none of its locks while Host.CreateTopic waits for a
// metadata commit.
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
// Broker.mirrorMu before Broker.mu). Every
// broker opens a local log for every partition, but only the leader accepts
// produce and fetch; the others answer NOT_LEADER_OR_FOLLOWER (replication
// will fill followers). After each mirror the group coordinator loads the
// groups of internal partitions this broker now leads and unloads the
// others (Coordinator.TopicsChanged); group requests for a partition it
// does not lead get NOT_COORDINATOR.
package engine
