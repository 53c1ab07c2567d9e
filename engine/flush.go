package engine

import (
	"fmt"
	"github.com/chronik/chronik/engine/partition"

	"github.com/chronik/chronik/wal"
)

// Durability settings and the shared group-commit pool.
//
//	flush.policy=ack       acks=-1 is answered after its batch is durable
//	                       (wal group commit); acks=1 and acks=0 after the
//	                       pwrite; every log.flush.interval.ms the broker
//	                       also syncs partitions with undurable data.
//	flush.policy=interval  Kafka's page-cache mode: every ack level is
//	                       answered after the pwrite; partitions are synced
//	                       every log.flush.interval.ms and, when
//	                       log.flush.interval.messages > 0, as soon as that
//	                       many records are unflushed.
//
// Every partition log shares one wal.FlushPool (log.flush.workers
// goroutines; log.flush.mode each-log = fdatasync per partition, syncfs =
// one syncfs(2) of the data dir's file system per round).

// openFlusher starts the shared group-commit pool.
func (b *Broker) openFlusher() error {
	mode := wal.FlushEachLog
	if b.cfg.FlushMode == "syncfs" {
		mode = wal.FlushSyncFS
	}
	if err := b.fs.MkdirAll(b.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir %s: %w", b.cfg.DataDir, err)
	}
	pool, err := wal.NewFlushPool(wal.FlushPoolOptions{
		Workers: int(b.cfg.FlushWorkers), Mode: mode, FS: b.fs, Dir: b.cfg.DataDir,
	})
	if err != nil {
		return fmt.Errorf("log.flush.mode=%s: %w", b.cfg.FlushMode, err)
	}
	b.flusher = pool
	return nil
}

// closeFlusher stops the pool; every log must be closed.
func (b *Broker) closeFlusher() {
	if b.flusher != nil {
		b.flusher.Close()
	}
}

func ignoreSyncResult(error) {}

// afterAppend applies flush.messages: with the interval policy, a partition
// whose unflushed records reach log.flush.interval.messages is synced now.
func (b *Broker) afterAppend(p *partition.Partition, records int64) {
	if b.cfg.FlushPolicy != "interval" || b.cfg.FlushMessages <= 0 {
		return
	}
	if p.Unflushed.Add(records) < b.cfg.FlushMessages {
		return
	}
	p.Unflushed.Store(0)
	p.Log().Sync(p.Log().LogEndOffset(), ignoreSyncResult)
}

// flushTick syncs every partition holding undurable data (log.flush.interval.ms).
func (b *Broker) flushTick() {
	for _, p := range b.allPartitions() {
		if leo := p.Log().LogEndOffset(); leo > p.Log().DurableOffset() {
			p.Unflushed.Store(0)
			p.Log().Sync(leo, ignoreSyncResult)
		}
	}
}

// WALStats sums the write-ahead-log counters of every partition, for
// metrics: syncs, appends per sync, sync latency histogram.
func (b *Broker) WALStats() wal.Stats {
	var sum wal.Stats
	for _, p := range b.allPartitions() {
		st := p.Log().Stats()
		sum.Appends += st.Appends
		sum.AppendedBytes += st.AppendedBytes
		sum.Rolls += st.Rolls
		sum.Syncs += st.Syncs
		sum.SyncedWaiters += st.SyncedWaiters
		sum.SyncedAppends += st.SyncedAppends
		sum.SyncLatency.Merge(st.SyncLatency)
	}
	return sum
}

// FlushPoolStats returns the shared flush pool's counters (syscalls per
// round, latency): with log.flush.mode=syncfs one syscall covers many
// partitions' syncs.
func (b *Broker) FlushPoolStats() wal.FlushPoolStats { return b.flusher.Stats() }
