package engine

import (
	"sync/atomic"

	"github.com/chronik/chronik/wal"
)

// counters are the engine's request counters. They only grow; any goroutine
// may add to them.
type counters struct {
	produceRequests atomic.Uint64 // Produce requests decoded
	producedBatches atomic.Uint64 // batches appended (duplicates of idempotent retries excluded)
	producedRecords atomic.Uint64 // records in those batches
	produceErrors   atomic.Uint64 // partitions answered with an error code
	fetchRequests   atomic.Uint64 // Fetch requests decoded
}

// Metrics is a snapshot of the engine's counters and of the sum of every
// partition log's wal.Stats. The admin listener exposes it at /metrics.
type Metrics struct {
	Topics          int
	Partitions      int
	ProduceRequests uint64
	ProducedBatches uint64
	ProducedRecords uint64
	ProduceErrors   uint64
	FetchRequests   uint64
	// WAL sums Appends, AppendedBytes, Rolls, Syncs and SyncedWaiters over
	// the partitions open now (a deleted topic's counts leave the sum).
	WAL wal.Stats
}

// Metrics returns a snapshot of the counters. Safe from any goroutine.
func (b *Broker) Metrics() Metrics {
	m := Metrics{
		ProduceRequests: b.ctr.produceRequests.Load(),
		ProducedBatches: b.ctr.producedBatches.Load(),
		ProducedRecords: b.ctr.producedRecords.Load(),
		ProduceErrors:   b.ctr.produceErrors.Load(),
		FetchRequests:   b.ctr.fetchRequests.Load(),
	}
	b.mu.RLock()
	m.Topics = len(b.topics)
	b.mu.RUnlock()
	for _, p := range b.allPartitions() {
		m.Partitions++
		s := p.Log().Stats()
		m.WAL.Appends += s.Appends
		m.WAL.AppendedBytes += s.AppendedBytes
		m.WAL.Rolls += s.Rolls
		m.WAL.Syncs += s.Syncs
		m.WAL.SyncedWaiters += s.SyncedWaiters
	}
	return m
}
