// Package engine is Chronik's Kafka request processor: one handler per API
// key (00_produce.go, 01_fetch.go, ...), the broker's topics and their
// persisted metadata, and the Cluster it belongs to. Partition state (log,
// leader epoch, high watermark, idempotent producers, parked fetches) is
// package engine/partition; the consumer-group coordinator is engine/group.
// acks=-1 produces wait on wal Sync callbacks and long-poll fetches on
// partition waiters; nothing else parks. The engine knows nothing of
// sockets: internal/serve hands it netio's framed requests (Broker.Handle)
// and the response goes back through a callback.
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
//	        fetch long poll: no goroutine of its own; the produce handler
//	          runs a parked fetch's look on its goroutine after its appends
//	          (partition.RunWaiters), other changes on a new goroutine; the
//	          max wait is a time.AfterFunc; Close answers what is parked
//	        acks=-1 timeout: a timer per produceCall answers the partitions
//	          still waiting REQUEST_TIMED_OUT
//
// # Lock order
//
// Every lock of the broker, in the only order in which one may be taken
// while another is held (a lock never taken with another is not listed):
//
//	group.Coordinator.mu ─▶ group.mu ─▶ offsetsLog.mu     (engine/group)
//	  ─▶ Broker.adminMu    topic and broker-config changes with their I/O
//	  ─▶ Broker.metaMu     meta.json writes, cluster id, producer-id block
//	  ─▶ Broker.mu         topic maps, dynamic configs: memory only
//	  ─▶ partition.snapMu  Checkpoint and follower truncations (held across
//	                       fsyncs: see engine/partition/doc.go)
//	  ─▶ partition.mu      producer state + the append's pwrite
//	  ─▶ the wal's locks   (wal/doc.go)
//
// Rules: Broker.mu is never held across I/O, a Cluster call (a Raft
// commit) or a call into another package, and no path takes it twice (Go's
// RWMutex forbids recursive read locks: a writer queued between two read
// locks blocks the second). No engine lock is held while waiting for an
// fsync but partition.snapMu, which no flusher callback takes. The broker calls into the group coordinator with none of its own
// locks held. Callbacks run by the wal's flushers (acks=-1 answers, group
// commits) take at most group.mu and Broker.mu for reading, never
// adminMu or metaMu, and nothing holding Broker.mu waits for a flusher: so
// closing a log under adminMu (which waits for its flush round) cannot
// deadlock.
// TestConcurrentClientsAreAllAnswered (stress_test.go) drives every admin
// and data request at once with a stall watchdog.
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
// the leader epoch, Commit = wal Sync). The coordinator may read the
// broker's maps (Host.Topic, Host.Leader: Broker.mu for reading) under its
// own locks; it holds none of them while Host.CreateTopic waits for a
// metadata commit (which takes Broker.adminMu). The broker calls
// TopicsChanged after a mirror and after DeleteTopics, and EnsureTopic
// from Metadata, with no lock held.
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
// goroutine makes the local topics follow the image (under
// Broker.adminMu, like any topic change). A broker opens a local log only
// for the partitions it is a replica of. The leader accepts produce and
// serves fetches; a follower is filled by the replicate package (its
// fetcher speaks Kafka's Fetch protocol to the leader, 01_fetch.go serves
// both kinds of fetch) and answers produce with NOT_LEADER_OR_FOLLOWER.
// With replica.selector.class set to Kafka's RackAwareReplicaSelector the
// leader names an in-sync replica in a consumer's rack as its preferred
// read replica (read_replica.go), and that follower serves the consumer up
// to its own high watermark (KIP-392). After each mirror the group
// coordinator loads the groups of internal partitions this broker now leads
// and unloads the others (Coordinator.TopicsChanged); group requests for a
// partition it does not lead get NOT_COORDINATOR.
//
// A failed disk (storage.go): a partition log whose write or fsync failed
// is offline on this broker until it restarts (KAFKA_STORAGE_ERROR to
// produce and fetch, acks=-1 waits failed); in a cluster the broker
// reports its log dir offline to the controller, which moves every
// leadership it holds and takes it out of every ISR at once.
package engine
