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
//	        produce acks=-1: wal.Log.Sync callback (flusher goroutine) answers
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
//
// Standalone, the broker is node Config.NodeID, leader of every partition at
// leader epoch 0, and the high watermark equals the log end offset (RF=1),
// as in Kafka.
//
// In a cluster (Broker.JoinCluster, cluster_raft.go) the Cluster interface
// (cluster.go) answers who the brokers are and who leads each partition
// from the raftmeta image; topic creation goes through the metadata shard
// and a mirror goroutine makes the local topics follow the image (lock
// order: Broker.mirrorMu before Broker.mu). Every broker opens a local log
// for every partition, but only the leader accepts produce and fetch; the
// others answer NOT_LEADER_OR_FOLLOWER (replication will fill followers).
package engine
