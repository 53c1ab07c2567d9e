package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/chronik/chronik/wal"
)

// Producer-state snapshots (Kafka's <offset>.snapshot files), so that an
// Open replays the batch headers past the snapshot, not the whole log.
//
//	<dir>/00000000000000001450.snapshot    the state after every batch below 1450
//
// Big-endian:
//
//	magic "CPS1" | crc uint32 (CRC32C of the rest) | offset int64
//	| lastBase int64 | lastCRC uint32     the batch that ends at offset (its
//	                                      base offset and CRC32C)
//	| producers uint32, then each: id int64 | epoch int16 | n uint8
//	|   n x (firstSeq int32 | lastSeq int32 | baseOffset int64)   oldest first
//
// Written (atomically: .tmp, fsync, rename, directory fsync) by Checkpoint
// (the broker every log.flush.offset.checkpoint.interval.ms, for each
// partition that grew enough: engine's checkpointPartitions) and at a clean
// shutdown; the two newest are kept.
// Open takes the newest snapshot at or below the log end offset whose CRC
// holds and whose last batch is the log's batch ending at its offset, loads
// it, drops the cached batches that retention removed (below the log start
// offset, as a rebuild from the log would not see them) and replays the
// headers after it. A snapshot past the log end (a tail lost in the crash,
// or a truncation) is deleted; a corrupt or stale one is skipped for the
// next older; with none left the state is rebuilt from the log start.
// Truncations delete the snapshots above the cut before they cut.

const (
	snapshotSuffix   = ".snapshot"
	snapshotMagic    = "CPS1"
	snapshotsKept    = 2
	maxSnapshotBytes = 64 << 20
	snapshotHeader   = 4 + 4 + 8 + 8 + 4 + 4
	snapshotBatch    = 4 + 4 + 8
)

var errBadSnapshot = errors.New("partition: bad producer-state snapshot")

func snapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotSuffix) }

// producerSnapshot is one decoded snapshot.
type producerSnapshot struct {
	offset, lastBase int64
	lastCRC          uint32
	producers        map[int64]*producerState
}

// encodeProducersLocked serialises the producer state as of the LEO. The
// caller holds p.mu; lastBase and lastCRC are filled in later.
func (p *Partition) encodeProducersLocked() []byte {
	n := 0
	for _, s := range p.producers {
		n += 8 + 2 + 1 + len(s.batches)*snapshotBatch
	}
	b := make([]byte, snapshotHeader, snapshotHeader+n)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint64(b[8:], uint64(p.log.LogEndOffset()))
	binary.BigEndian.PutUint32(b[28:], uint32(len(p.producers)))
	for id, s := range p.producers {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(s.epoch))
		b = append(b, byte(len(s.batches)))
		for _, c := range s.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(c.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(c.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(c.baseOffset))
		}
	}
	return b
}

// sealSnapshot fills in the last batch and the CRC.
func sealSnapshot(b []byte, last wal.BatchHeader) {
	binary.BigEndian.PutUint64(b[16:], uint64(last.BaseOffset))
	binary.BigEndian.PutUint32(b[24:], last.CRC)
	binary.BigEndian.PutUint32(b[4:], wal.CRC32C(b[8:]))
}

func decodeSnapshot(b []byte) (producerSnapshot, error) {
	if len(b) < snapshotHeader || string(b[:4]) != snapshotMagic {
		return producerSnapshot{}, fmt.Errorf("%d bytes, no header: %w", len(b), errBadSnapshot)
	}
	if binary.BigEndian.Uint32(b[4:]) != wal.CRC32C(b[8:]) {
		return producerSnapshot{}, fmt.Errorf("crc mismatch: %w", errBadSnapshot)
	}
	s := producerSnapshot{
		offset:    int64(binary.BigEndian.Uint64(b[8:])),
		lastBase:  int64(binary.BigEndian.Uint64(b[16:])),
		lastCRC:   binary.BigEndian.Uint32(b[24:]),
		producers: map[int64]*producerState{},
	}
	n := binary.BigEndian.Uint32(b[28:])
	rest := b[snapshotHeader:]
	for range n {
		if len(rest) < 11 {
			return producerSnapshot{}, fmt.Errorf("truncated producer: %w", errBadSnapshot)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		st := &producerState{epoch: int16(binary.BigEndian.Uint16(rest[8:]))}
		k := int(rest[10])
		rest = rest[11:]
		if k == 0 || k > maxCachedBatches || len(rest) < k*snapshotBatch || s.producers[id] != nil {
			return producerSnapshot{}, fmt.Errorf("producer %d: %d batches: %w", id, k, errBadSnapshot)
		}
		for range k {
			st.batches = append(st.batches, cachedBatch{
				firstSeq:   int32(binary.BigEndian.Uint32(rest)),
				lastSeq:    int32(binary.BigEndian.Uint32(rest[4:])),
				baseOffset: int64(binary.BigEndian.Uint64(rest[8:])),
			})
			rest = rest[snapshotBatch:]
		}
		s.producers[id] = st
	}
	if len(rest) != 0 {
		return producerSnapshot{}, fmt.Errorf("%d bytes after the producers: %w", len(rest), errBadSnapshot)
	}
	return s, nil
}

// lastOffset is the offset of the last record of c.
func (c cachedBatch) lastOffset() int64 {
	d := int64(c.lastSeq) - int64(c.firstSeq)
	if d < 0 {
		d += math.MaxInt32 + 1
	}
	return c.baseOffset + d
}

// listSnapshots returns the snapshot offsets in dir, newest first.
func listSnapshots(fsys wal.FS, dir string) ([]int64, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", dir, err)
	}
	var offs []int64
	for _, n := range names {
		digits, ok := strings.CutSuffix(n, snapshotSuffix)
		if !ok {
			continue
		}
		if o, err := strconv.ParseInt(digits, 10, 64); err == nil && o >= 0 {
			offs = append(offs, o)
		}
	}
	slices.Sort(offs)
	slices.Reverse(offs)
	return offs, nil
}

// removeSnapshots deletes the snapshots keep rejects, durably.
func (p *Partition) removeSnapshots(keep func(offset int64) bool) error {
	fsys, dir := p.log.FS(), p.log.Dir()
	offs, err := listSnapshots(fsys, dir)
	if err != nil {
		return err
	}
	removed := false
	for _, o := range offs {
		if keep(o) {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, snapshotName(o))); err != nil {
			return fmt.Errorf("remove snapshot %d of %s: %w", o, p, err)
		}
		removed = true
	}
	if removed {
		return fsys.SyncDir(dir)
	}
	return nil
}

// lastBatchBefore returns the header of the batch ending at offset.
func (p *Partition) lastBatchBefore(offset int64) (wal.BatchHeader, bool) {
	var last wal.BatchHeader
	found := false
	if offset <= p.log.LogStartOffset() {
		return last, false
	}
	err := p.log.ScanBatches(offset-1, func(h wal.BatchHeader) bool {
		last, found = h, h.NextOffset() == offset
		return false
	})
	return last, found && err == nil
}

// Checkpoint records how far a restart after a crash may trust this
// partition: it captures the producer state at the log end offset, makes
// the log durable through at least that offset and records its recovery
// point (wal.Log.CheckpointRecoveryPoint), then writes the producer-state
// snapshot and removes all but the newest two. A partition unchanged since
// its last checkpoint costs nothing. Any goroutine; it blocks for the
// fsyncs. Truncations wait for it (snapMu).
func (p *Partition) Checkpoint() error {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.mu.Lock()
	data := p.encodeProducersLocked()
	p.mu.Unlock()
	if _, err := p.log.CheckpointRecoveryPoint(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", p, err)
	}
	offset := int64(binary.BigEndian.Uint64(data[8:]))
	if offset == p.snapshotAt {
		return nil
	}
	last, ok := p.lastBatchBefore(offset)
	if !ok {
		return nil // an empty log, or nothing left below offset: nothing to remember
	}
	sealSnapshot(data, last)
	if err := wal.WriteFileAtomic(p.log.FS(), p.log.Dir(), snapshotName(offset), data); err != nil {
		return fmt.Errorf("snapshot producers of %s at %d: %w", p, offset, err)
	}
	prev := p.snapshotAt
	p.snapshotAt = offset
	return p.removeSnapshots(func(o int64) bool { return o == offset || o == prev })
}

// RestoreStats say how Open (or a truncation) rebuilt the producer state.
type RestoreStats struct {
	SnapshotOffset  int64    // the snapshot loaded, -1 for none (a rebuild from the log start)
	ReplayedBatches int      // batch headers read after it
	Rejected        []string // snapshots skipped, and why
}

// RestoreStats reports the last rebuild of the producer state.
func (p *Partition) RestoreStats() RestoreStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restored
}

// restoreProducersLocked rebuilds the producer state from the newest
// usable snapshot and the batches after it, or from the whole log.
// Callers hold p.mu (or are opening the partition).
func (p *Partition) restoreProducersLocked() error {
	clear(p.producers)
	p.restored = RestoreStats{SnapshotOffset: -1}
	fsys, dir := p.log.FS(), p.log.Dir()
	leo := p.log.LogEndOffset()
	offs, err := listSnapshots(fsys, dir)
	if err != nil {
		return err
	}
	if len(offs) > 0 && offs[0] > leo {
		if err := p.removeSnapshots(func(o int64) bool { return o <= leo }); err != nil {
			return err
		}
		offs = slices.DeleteFunc(offs, func(o int64) bool { return o > leo })
	}
	for _, o := range offs {
		err := p.loadSnapshot(filepath.Join(dir, snapshotName(o)), o)
		if err == nil {
			return nil
		}
		clear(p.producers)
		p.restored.Rejected = append(p.restored.Rejected, fmt.Sprintf("%d: %v", o, err))
	}
	p.restored.ReplayedBatches = 0
	return p.replayFrom(p.log.LogStartOffset())
}

// loadSnapshot loads the snapshot at offset and replays the log after it.
func (p *Partition) loadSnapshot(path string, offset int64) error {
	data, err := wal.ReadFile(p.log.FS(), path, maxSnapshotBytes)
	if err != nil {
		return err
	}
	s, err := decodeSnapshot(data)
	if err == nil && s.offset != offset {
		err = fmt.Errorf("holds offset %d: %w", s.offset, errBadSnapshot)
	}
	if err != nil {
		return err
	}
	last, ok := p.lastBatchBefore(offset)
	if !ok || last.BaseOffset != s.lastBase || last.CRC != s.lastCRC {
		return fmt.Errorf("its last batch (%d, crc %08x) is not the log's: %w", s.lastBase, s.lastCRC, errBadSnapshot)
	}
	start := p.log.LogStartOffset()
	for id, st := range s.producers {
		st.batches = slices.DeleteFunc(st.batches, func(c cachedBatch) bool { return c.lastOffset() < start })
		if len(st.batches) > 0 {
			p.producers[id] = st
		}
	}
	p.restored.SnapshotOffset = offset
	p.snapshotAt = offset
	return p.replayFrom(offset)
}

// replayFrom records the idempotent batches from offset to the LEO.
func (p *Partition) replayFrom(offset int64) error {
	if offset >= p.log.LogEndOffset() {
		return nil
	}
	// From the batch holding offset: a snapshot's offset starts a batch;
	// the log start may fall inside one, which counts, as its last
	// offsets are readable.
	return p.log.ScanBatches(offset, func(h wal.BatchHeader) bool {
		p.restored.ReplayedBatches++
		if h.ProducerID >= 0 && !h.IsControl() {
			p.recordProducerBatch(h, h.BaseOffset)
		}
		return true
	})
}
