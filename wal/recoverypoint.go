package wal

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The recovery point: how much of the log recovery may trust after a crash.
//
// recovery-point-offset-checkpoint holds one entry line, either
//
//	offset                                  (a segment base: every segment
//	                                         below it is durable and sealed)
//	offset segmentBase position offsetIndexEntries timeIndexEntries
//
// The long form says more: every batch below offset is durable and was
// checked when it was appended (or recovered); those batches fill the
// segment at segmentBase up to position; that segment's first
// offsetIndexEntries offset-index entries and timeIndexEntries time-index
// entries are durable and describe those batches; every segment below it is
// durable and sealed. CheckpointRecoveryPoint writes it (the broker every
// log.flush.offset.checkpoint.interval.ms), Close writes it, and Open after
// a crash that recovered a tail. A roll writes the short form at the new
// segment's base once the rolled segments are synced (flush.go). The point
// only moves forward, except that TruncateTo lowers it below a cut and
// TruncateFullyAndStartAt sets it to the restart offset.
//
// Open after a crash trusts the segments below the point's segment (their
// indexes sanity-checked, as after a clean stop), keeps the point
// segment's indexes up to the recorded entries, walks the batches from
// the last kept offset-index entry to position (a few KiB: CRC checked;
// they must end exactly at position and offset) and then scans and checks
// only the tail from position on, cutting it at the first bad batch. A
// point that does not hold (the segment shorter than position, index
// entries missing or out of order, batches not ending at position) is
// rejected and that segment scanned whole, as is every later one; an
// unreadable checkpoint file means a scan of every segment.

// recoveryPoint is the parsed recovery-point-offset-checkpoint.
type recoveryPoint struct {
	offset int64 // every batch below is durable
	// exact: the long form; base, pos, offsets and times are set.
	exact          bool
	base, pos      int64
	offsets, times int
}

func (p recoveryPoint) line() string {
	if !p.exact {
		return strconv.FormatInt(p.offset, 10)
	}
	return fmt.Sprintf("%d %d %d %d %d", p.offset, p.base, p.pos, p.offsets, p.times)
}

func parseRecoveryPoint(line string) (recoveryPoint, error) {
	f := strings.Fields(line)
	var v [5]int64
	if len(f) != 1 && len(f) != 5 {
		return recoveryPoint{}, fmt.Errorf("%d fields: %w", len(f), errCorruptCheckpoint)
	}
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return recoveryPoint{}, fmt.Errorf("field %q: %w", s, errCorruptCheckpoint)
		}
		v[i] = n
	}
	if len(f) == 1 {
		return recoveryPoint{offset: v[0]}, nil
	}
	p := recoveryPoint{offset: v[0], exact: true, base: v[1], pos: v[2], offsets: int(v[3]), times: int(v[4])}
	if p.base > p.offset || v[3] > int64(^uint32(0)) || v[4] > int64(^uint32(0)) {
		return recoveryPoint{}, fmt.Errorf("recovery point %q inconsistent: %w", line, errCorruptCheckpoint)
	}
	return p, nil
}

// readRecoveryPoint reads the checkpoint; ok is false when it is missing.
func readRecoveryPoint(fsys FS, dir string) (p recoveryPoint, ok bool, err error) {
	lines, err := readCheckpoint(fsys, dir, recoveryPointCheckpoint)
	if err != nil || lines == nil {
		return recoveryPoint{}, false, err
	}
	if len(lines) != 1 {
		return recoveryPoint{}, false, fmt.Errorf("read %s: %d entries: %w", recoveryPointCheckpoint, len(lines), errCorruptCheckpoint)
	}
	p, err = parseRecoveryPoint(lines[0])
	if err != nil {
		return recoveryPoint{}, false, fmt.Errorf("read %s: %w", recoveryPointCheckpoint, err)
	}
	return p, true, nil
}

// setRecoveryPoint writes p unless it is behind the point written last
// (lower: write it anyway, as a truncation must). rpMu serialises the
// writers (the flusher after a roll, CheckpointRecoveryPoint, TruncateTo,
// Open and Close).
func (l *Log) setRecoveryPoint(p recoveryPoint, lower bool) error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	if !lower && p.offset <= l.rp.offset && (p.offset < l.rp.offset || !p.exact || l.rp.exact) {
		return nil
	}
	if !p.exact && l.markerUnsynced { // a point that would trust the marker: its removal first
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync dir %s: %w", l.dir, err)
		}
		l.markerUnsynced = false
	}
	if err := writeCheckpoint(l.fsys, l.dir, recoveryPointCheckpoint, []string{p.line()}); err != nil {
		return err
	}
	l.rp = p
	return nil
}

// RecoveryPoint is the offset below which recovery after a crash trusts
// the log without scanning it: the last recovery point written.
func (l *Log) RecoveryPoint() int64 {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	return l.rp.offset
}

// BytesPastRecoveryPoint is how much of the log lies past its recovery
// point: what recovery after a crash now would check and replay. When the
// point is in an older segment than the active one (a roll whose sync is
// still under way), it counts the active segment whole, a lower bound.
// It takes rpMu, not the log's mutex.
func (l *Log) BytesPastRecoveryPoint() int64 {
	l.rpMu.Lock()
	rp := l.rp
	l.rpMu.Unlock()
	seg := l.active()
	size := seg.size.Load()
	if rp.exact && rp.base == seg.base {
		return max(0, size-rp.pos)
	}
	return size
}

// pointAt describes the log as it is now (callers hold mu): its LEO in the
// active segment, with that segment's index entry counts.
func (l *Log) pointAtLocked() (recoveryPoint, *segment) {
	seg := l.active()
	return recoveryPoint{
		offset: l.leo.Load(), exact: true, base: seg.base, pos: seg.size.Load(),
		offsets: seg.idx.count(), times: seg.tidx.count(),
	}, seg
}

// CheckpointRecoveryPoint makes everything appended so far durable (it
// waits for a flush round, as Sync does) and records it as the recovery
// point, so that recovery after a crash checks only what is appended
// afterwards: it syncs the active segment's indexes, then writes
// recovery-point-offset-checkpoint. It returns the recovery point in
// force. A log with nothing appended since the last point costs nothing.
// Any goroutine may call it; it blocks for two fsyncs and a checkpoint
// write. It waits for TruncateTo, TruncateFullyAndStartAt and Close, and
// writes nothing if one of them ran since it looked at the log.
func (l *Log) CheckpointRecoveryPoint() (int64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, fmt.Errorf("checkpoint %s: %w", l.dir, ErrClosed)
	}
	p, seg := l.pointAtLocked()
	gen := l.truncations.Load()
	l.mu.Unlock()
	if p.offset <= l.RecoveryPoint() {
		return l.RecoveryPoint(), nil
	}
	done := make(chan error, 1)
	l.Sync(p.offset, func(err error) { done <- err })
	if err := <-done; err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", l.dir, err)
	}
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	l.mu.Lock()
	closed, stale := l.closed, gen != l.truncations.Load()
	l.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("checkpoint %s: %w", l.dir, ErrClosed)
	}
	if stale || seg.deleted.Load() {
		return l.RecoveryPoint(), nil // the truncation wrote its own point
	}
	for _, x := range []*index{seg.idx, seg.tidx} {
		if err := x.sync(); err != nil {
			return 0, fmt.Errorf("checkpoint %s: %w", l.dir, err)
		}
	}
	if err := l.setRecoveryPoint(p, false); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", l.dir, err)
	}
	return l.RecoveryPoint(), nil
}

// loadPrefix restores the state of segment s, the recovery point's, up to
// the point: indexes cut to the durable entries and checked, the batches
// from the last offset-index entry to p.pos walked (header, offsets, CRC)
// to restore the timestamps and the index interval. On error s must be
// scanned whole (its indexes are reset by recoverSegment).
func (l *Log) loadPrefix(s *segment, p recoveryPoint) error {
	switch {
	case p.pos > s.size.Load():
		return fmt.Errorf("segment %s: %d bytes, recovery point at %d", s.name, s.size.Load(), p.pos)
	case s.idx.count() < p.offsets || s.tidx.count() < p.times:
		return fmt.Errorf("segment %s: index holds %d/%d entries, recovery point %d/%d",
			s.name, s.idx.count(), s.tidx.count(), p.offsets, p.times)
	}
	if err := s.idx.truncate(p.offsets, l.opts.MaxIndexBytes); err != nil {
		return err
	}
	if err := s.tidx.truncate(p.times, l.opts.MaxIndexBytes); err != nil {
		return err
	}
	span := p.offset - s.base
	if err := s.idx.checkOffsetIndex(p.pos, span); err != nil {
		return err
	}
	if err := s.tidx.checkTimeIndex(span); err != nil {
		return err
	}
	from, next, indexed := int64(0), s.base, false
	if n := s.idx.count(); n > 0 {
		indexed = true
		s.idx.mu.RLock()
		rel, pos := s.idx.offsetAt(n - 1)
		s.idx.mu.RUnlock()
		from, next = int64(pos), s.base+int64(rel)
	}
	s.maxTs.Store(noTimestamp)
	if ts, rel, ok := s.tidx.lastTime(); ok {
		s.maxTs.Store(ts)
		s.maxTsBase = s.base + int64(rel)
	}
	s.bytesSinceIndex = 0
	s.size.Store(from)
	s.next.Store(next)
	return l.walkPrefix(s, from, next, indexed, p)
}

// walkPrefix checks and tracks the batches of s from position from to
// p.pos, which they must end at exactly, with p.offset next. The first
// batch starts at offset first (indexed: exactly, as an index entry says;
// else at or after it).
func (l *Log) walkPrefix(s *segment, from, first int64, indexed bool, p recoveryPoint) error {
	sc := newScanner(s.log, from, p.pos)
	expect := first
	for {
		h, pos, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && indexed && pos == from && h.BaseOffset != first {
			err = fmt.Errorf("index entry at %d names offset %d, batch has %d", pos, first, h.BaseOffset)
		}
		if err == nil {
			err = checkRecovered(sc, h, pos, expect)
		}
		if err != nil {
			return fmt.Errorf("segment %s before the recovery point: %w", s.name, err)
		}
		if err := s.track(h, pos, l.opts.IndexIntervalBytes); err != nil {
			return err
		}
		l.recovery.WalkedBytes += h.Size()
		l.assignRecoveredEpoch(h)
		expect = h.NextOffset()
	}
	if sc.zeroTail || s.size.Load() != p.pos || s.next.Load() != p.offset {
		return fmt.Errorf("segment %s: batches end at %d (offset %d), recovery point %d (offset %d)",
			s.name, s.size.Load(), s.next.Load(), p.pos, p.offset)
	}
	return nil
}
