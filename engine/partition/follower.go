package partition

import (
	"fmt"

	"github.com/chronik/chronik/wal"
)

// The follower side: package replicate fetches from the leader and calls
// these, one fetcher goroutine per partition at a time. A follower's log
// holds the leader's batches byte-exact (offsets, leader epochs, CRCs) and
// its producer state follows them, so it can lead without duplicates.

// AppendReplicated appends batches fetched from the leader (whole v2
// batches, first base offset = the LEO) and updates the idempotent
// producer state from their headers. It fails when this broker leads the
// partition (a fetch that raced a leadership change). It does not sync:
// the fetcher syncs every partition of a fetch cycle, then fetches again.
// hdrs is scratch space the caller may reuse; the headers are returned.
func (p *Partition) AppendReplicated(batches []byte, hdrs []wal.BatchHeader) ([]wal.BatchHeader, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Load() == RoleLeader {
		return hdrs, fmt.Errorf("append replicated batches to %s: this broker leads it", p)
	}
	hdrs, err := p.log.AppendReplica(batches, hdrs[:0])
	if err != nil {
		return hdrs, err
	}
	for _, h := range hdrs {
		if h.ProducerID >= 0 && !h.IsControl() {
			p.recordProducerBatch(h, h.BaseOffset)
		}
	}
	if hw, leo := p.hw.Load(), p.log.LogEndOffset(); hw > leo {
		p.hw.Store(leo)
	}
	p.changed()
	return hdrs, nil
}

// TruncateTo cuts a follower's log at offset (a batch boundary at or
// below it: the divergence point the leader's epochs gave) and rebuilds
// the producer state from what is left. The snapshots above offset go
// first, so a crash in between leaves none that the cut made stale.
func (p *Partition) TruncateTo(offset int64) error {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Load() == RoleLeader {
		return fmt.Errorf("truncate %s: this broker leads it", p)
	}
	if err := p.removeSnapshots(func(o int64) bool { return o <= offset }); err != nil {
		return err
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	return p.afterTruncateLocked()
}

// TruncateFullyAndStartAt empties a follower's log and restarts it at
// offset (the leader's log start, when the follower is below it).
func (p *Partition) TruncateFullyAndStartAt(offset int64) error {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Load() == RoleLeader {
		return fmt.Errorf("reset %s: this broker leads it", p)
	}
	if err := p.removeSnapshots(func(int64) bool { return false }); err != nil {
		return err
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	return p.afterTruncateLocked()
}

// afterTruncateLocked rebuilds what the removed batches fed: producer
// state (from a snapshot below the cut, if one holds) and the high
// watermark bound. Caller holds snapMu and p.mu.
func (p *Partition) afterTruncateLocked() error {
	p.snapshotAt = -1
	if err := p.restoreProducersLocked(); err != nil {
		return fmt.Errorf("rebuild producer state of %s after truncation: %w", p, err)
	}
	if hw, leo := p.hw.Load(), p.log.LogEndOffset(); hw > leo {
		p.hw.Store(leo)
	}
	p.changed()
	return nil
}
