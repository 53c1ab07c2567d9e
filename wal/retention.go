package wal

import (
	"fmt"
	"time"
)

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

// ApplyRetention deletes the oldest non-active segments whose largest
// timestamp is older than RetentionMs, then the oldest ones while the log
// exceeds RetentionBytes, and raises the log start offset past them.
func (l *Log) ApplyRetention() (deletedSegments int, err error) {
	opts := l.Options()
	now := opts.Now()
	return l.advanceStart(-1, func(segs []*segment) int {
		n := 0
		for n+1 < len(segs) && expired(segs[n], opts.RetentionMs, now) {
			n++
		}
		if opts.RetentionBytes < 0 {
			return n
		}
		excess := -opts.RetentionBytes
		for _, s := range segs {
			excess += s.size.Load()
		}
		for i := range n {
			excess -= segs[i].size.Load()
		}
		for n+1 < len(segs) && excess-segs[n].size.Load() >= 0 {
			excess -= segs[n].size.Load()
			n++
		}
		return n
	})
}

func expired(s *segment, retentionMs int64, now time.Time) bool {
	ts := s.maxTs.Load()
	return retentionMs >= 0 && ts != noTimestamp && now.UnixMilli()-ts > retentionMs
}

// advanceStart deletes the first pick(segs) segments (never the active
// one) and raises the log start offset to max(offset, first kept base).
// The checkpoint is written before any file is removed, so a crash in
// between leaves extra files below the start offset, never a start offset
// pointing at deleted data.
func (l *Log) advanceStart(offset int64, pick func([]*segment) int) (int, error) {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, fmt.Errorf("advance start %s: %w", l.dir, ErrClosed)
	}
	segs := l.segments()
	n := min(pick(segs), len(segs)-1)
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
		if err := writeCheckpoint(l.fsys, l.dir, leaderEpochCheckpoint, lines); err != nil {
			return 0, fmt.Errorf("advance start %s to %d: %w", l.dir, newStart, err)
		}
	}
	l.logStart.Store(newStart)
	if err := l.dropSegments(segs[:n]); err != nil {
		return 0, fmt.Errorf("advance start %s to %d: %w", l.dir, newStart, err)
	}
	return n, nil
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
	var first error
	for _, s := range drop {
		s.deleted = true
		if err := s.close(); err != nil && first == nil {
			first = err
		}
		if err := s.remove(l.fsys, l.dir); err != nil && first == nil {
			first = err
		}
	}
	if first == nil { // deletions durable too: no deleted segment reappears after a crash
		if err := l.fsys.SyncDir(l.dir); err != nil {
			first = fmt.Errorf("sync dir %s: %w", l.dir, err)
		}
	}
	return first
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
