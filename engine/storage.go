package engine

import (
	"github.com/chronik/chronik/wal"
)

// A failed disk (Kafka's log dir failure).
//
// A write or fsync error makes a partition log refuse appends and syncs
// for good (wal: ErrStorage is sticky, so a failed fdatasync is never
// retried and taken for success, "fsyncgate"). The engine hears of it at
// once, from the log (wal.Options.OnStorageError, onStorageError below),
// and then:
//
//   - the partition is offline on this broker: Produce and Fetch
//     (consumers and followers alike) get KAFKA_STORAGE_ERROR for it, and
//     acks=-1 produces still waiting get KAFKA_STORAGE_ERROR (waits for the
//     sync fail with it anyway; waits for the high watermark are failed
//     now, as no follower fetch can move it any more); nothing is
//     acknowledged that is not durable on every ISR member;
//   - in a cluster, the broker reports its one log directory offline in a
//     heartbeat sent at once, and the controller takes it out of every ISR
//     and moves every leadership it holds to another ISR member in one
//     Raft entry (raftmeta.Node.ReportOfflineLogDir). All partitions, not
//     only the failed ones: they share the disk. The broker stays up (its
//     metadata and its healthy partitions' reads still answer) but is not
//     eligible to lead or join an ISR until it restarts: then it recovers
//     its logs as after a crash (an unclean shutdown: a failed log is
//     never marked clean) and rejoins as a follower, truncating by leader
//     epoch.
//
// Kafka halts a broker whose only log dir failed; the controller then
// waits for the session to expire (or, here, the heartbeat connection to
// close) to fence it, and a failed controller's broker also costs a Raft
// election. Telling the controller costs one heartbeat round trip and one
// commit, and keeps the metadata shard's voter up.
//
// Standalone, there is nobody to hand the leadership to: only the failed
// partitions go offline, the others keep serving.

// onStorageError is every partition log's wal.Options.OnStorageError: it
// runs once per failed log, on a goroutine of its own.
func (b *Broker) onStorageError(l *wal.Log, err error) {
	for _, p := range b.allPartitions() {
		if p.Log() == l {
			b.log.Error("disk failed: partition offline on this broker until it restarts", "partition", p.String(), "err", err)
			p.StorageFailed()
		}
	}
	b.storageFailed.Store(true)
	if rc, ok := b.cluster().(*raftCluster); ok {
		rc.node.ReportOfflineLogDir(b.cfg.DataDir)
	}
}

// StorageFailed reports whether a partition log's disk failed since the
// broker opened.
func (b *Broker) StorageFailed() bool { return b.storageFailed.Load() }
