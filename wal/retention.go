package wal

import "fmt"

// DeleteRecordsBefore raises the log start offset to offset (no-op if it is
// already higher), persists it (fsync'd checkpoint), and deletes the
// segments that lie wholly below it; the active segment is kept. offset
// must be <= LogEndOffset.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	if offset > l.leo.Load() || offset < 0 {
		return fmt.Errorf("delete records %s before %d (leo %d): %w",
			l.dir, offset, l.leo.Load(), ErrOffsetOutOfRange)
	}
	_, err := l.advanceStart(offset, func(segs []*segment) int {
		n := 0
		for n+1 < len(segs) && segs[n+1].base <= offset {
			n++
		}
		return n
	})
	return err
}

// ApplyRetention deletes the oldest segments retention allows and raises
// the log start offset past them, as Kafka's UnifiedLog.deleteOldSegments
// does: first by size, the oldest segments while the log minus
// RetentionBytes still exceeds their size ((size - retention) - segment
// size >= 0), then by time, the oldest segments whose largest timestamp is
// more than RetentionMs old. A segment is deletable only if highWatermark
// is at or above its upper bound (the next segment's base, or the LEO for
// the active one), so the log start offset never passes the high
// watermark, and an empty active segment never is. When the non-empty
// active segment is deletable with all the others, it is rolled first and
// deleted with them (Kafka does the same): the log is left empty, starting
// at the LEO. Unlimited (-1) bounds delete nothing; 0 keeps nothing below
// highWatermark. highWatermark above the LEO counts as the LEO.
func (l *Log) ApplyRetention(highWatermark int64) (deletedSegments int, err error) {
	opts := l.Options()
	now := opts.Now().UnixMilli()
	return l.advanceStart(-1, func(segs []*segment) int {
		return retentionCut(segs, min(highWatermark, l.leo.Load()), l.leo.Load(), opts, now)
	})
}

// retentionCut returns how many leading segments retention deletes: by
// size, then by time, each stopping at the first segment it keeps.
// len(segs) means all of them, the active one included. Callers hold mu.
func retentionCut(segs []*segment, hw, leo int64, opts Options, nowMs int64) int {
	deletable := func(i int) bool {
		upper := leo
		if i+1 < len(segs) {
			upper = segs[i+1].base
		}
		lastAndEmpty := i+1 == len(segs) && segs[i].size.Load() == 0
		return hw >= upper && !lastAndEmpty
	}
	n := 0
	if limit, _ := opts.RetentionBytes.Value(); limit >= 0 {
		excess := -limit
		for _, s := range segs {
			excess += s.size.Load()
		}
		for n < len(segs) && deletable(n) && excess-segs[n].size.Load() >= 0 {
			excess -= segs[n].size.Load()
			n++
		}
	}
	if limit, _ := opts.RetentionMs.Value(); limit >= 0 {
		for n < len(segs) && deletable(n) && expired(segs[n], limit, nowMs) {
			n++
		}
	}
	return n
}

// expired reports whether s's largest timestamp is more than retentionMs
// before nowMs. A segment without batches has no timestamp: not expired.
func expired(s *segment, retentionMs, nowMs int64) bool {
	ts := s.maxTs.Load()
	return ts != noTimestamp && nowMs-ts > retentionMs
}

// advanceStart deletes the first pick(segs) segments and raises the log
// start offset to max(offset, first kept base). If pick takes every
// segment, the active one is rolled first, so that the log keeps one
// (empty) segment at the LEO. The checkpoint is written before any file
// is removed, so a crash in between leaves extra files below the start
// offset, never a start offset pointing at deleted data.
func (l *Log) advanceStart(offset int64, pick func([]*segment) int) (int, error) {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	segs, n, err := l.pickLocked(pick)
	if err != nil {
		l.mu.Unlock()
		return 0, fmt.Errorf("advance start %s: %w", l.dir, err)
	}
	newStart := max(l.logStart.Load(), offset, segs[n].base)
	if newStart == l.logStart.Load() && n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	epochsChanged := l.epochs.truncateFromStart(newStart)
	lines := l.epochs.lines()
	l.mu.Unlock()
	if err := writeOffsetCheckpoint(l.fsys, l.dir, logStartOffsetCheckpoint, newStart); err != nil {
		return 0, fmt.Errorf("advance start %s to %d: %w", l.dir, newStart, err)
	}
	if epochsChanged {
		if err := l.writeEpochCheckpoint(lines); err != nil {
			return 0, fmt.Errorf("advance start %s to %d: %w", l.dir, newStart, err)
		}
	}
	l.logStart.Store(newStart)
	if err := l.dropSegments(segs[:n]); err != nil {
		return 0, fmt.Errorf("advance start %s to %d: %w", l.dir, newStart, err)
	}
	return n, nil
}

// pickLocked returns the segment list and how many of its leading segments
// pick deletes, after rolling the active segment if pick takes them all
// (not on a failed log: it keeps the active one). Callers hold mu.
func (l *Log) pickLocked(pick func([]*segment) int) ([]*segment, int, error) {
	if l.closed {
		return nil, 0, ErrClosed
	}
	segs := l.segments()
	n := pick(segs)
	if n < len(segs) {
		return segs, n, nil
	}
	if l.werr != nil {
		return segs, len(segs) - 1, nil
	}
	if err := l.roll(); err != nil {
		return nil, 0, err
	}
	return l.segments(), n, nil
}

// dropSegments removes the given leading segments from the list, waits for
// readers to leave, then closes and deletes their files.
func (l *Log) dropSegments(drop []*segment) error {
	if len(drop) == 0 {
		return nil
	}
	l.mu.Lock()
	cur := l.segments()
	kept := append([]*segment(nil), cur[len(drop):]...)
	l.setSegments(kept)
	for _, s := range drop {
		l.size.Add(-s.size.Load())
	}
	l.recomputeMaxTimestamp(kept)
	l.mu.Unlock()

	l.readMu.Lock()
	defer l.readMu.Unlock()
	return l.deleteSegmentsLocked(drop)
}

// recomputeMaxTimestamp finds the log's largest timestamp after segments
// were dropped or loaded. Callers hold mu.
func (l *Log) recomputeMaxTimestamp(segs []*segment) {
	var best *segment
	for _, s := range segs {
		if ts := s.maxTs.Load(); ts != noTimestamp && (best == nil || ts > best.maxTs.Load()) {
			best = s
		}
	}
	if best == nil {
		l.maxTs = maxTimestamp{}
		return
	}
	if l.maxTs.ok && l.maxTs.ts == best.maxTs.Load() && l.maxTs.lastOffset >= best.base {
		return
	}
	last := best.maxTsBase
	if h, err := best.headerAt(best.maxTsBase); err == nil {
		last = h.LastOffset()
	}
	l.maxTs = maxTimestamp{ts: best.maxTs.Load(), lastOffset: last, ok: true}
}

// headerAt returns the header of the batch containing offset.
func (s *segment) headerAt(offset int64) (BatchHeader, error) {
	pos, err := s.locate(offset)
	if err != nil {
		return BatchHeader{}, err
	}
	sc := newScanner(s.log, pos, s.size.Load())
	h, _, err := sc.next()
	return h, err
}
