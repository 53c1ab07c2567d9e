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
//	        produce acks=-1: wal.Log.Sync callback (a FlushPool worker) answers
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
//
// Standalone, the broker is node Config.NodeID, leader of every partition at
// leader epoch 0, and the high watermark equals the log end offset (RF=1),
// as in Kafka.
package engine
