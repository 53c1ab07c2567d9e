package wal

import (
	"errors"
	"fmt"
	"io"
)

// Truncation: a follower cutting its log back to where it agrees with the
// leader (KIP-101).
//
// TruncateTo removes every batch at or after an offset. The segment holding
// the cut, T, is shrunk and becomes the active segment again; the segments
// after it are deleted. On disk, each step durable before the next:
//
//  1. the recovery-point checkpoint is lowered to T's base (when it is
//     above), so that recovery scans T;
//  2. T is shrunk: in place (ftruncate, fdatasync) when no View or Ranges
//     pins a byte of T past the cut, so every page a pin can touch stays
//     inside the file (no SIGBUS) and holds the bytes it held; otherwise
//     the kept prefix is copied to <T>.log.tmp, fdatasync'd and renamed
//     over T (directory synced), and the old file lives on, unlinked and
//     unchanged, until its last pin goes;
//  3. the later segments are deleted, the directory synced;
//  4. the leader-epoch checkpoint is cut at the new LEO, and the log start
//     offset lowered to it if the cut is below it (Kafka does the same).
//
// A crash before step 2 is durable leaves the old log (the lower recovery
// point costs a scan). From then on recovery scans T, finds it ending
// before the next segment's base, drops the later segments as after a
// torn tail, and cuts the epochs at the LEO: the new log.

// ErrTruncated fails the Sync waiters whose offsets TruncateTo removed.
var ErrTruncated = errors.New("wal: offsets truncated")

// copyChunkBytes is the buffer of the copy that replaces a pinned segment.
const copyChunkBytes = 1 << 20

// truncation is one TruncateTo in progress.
type truncation struct {
	offset int64
	segs   []*segment // the segment list when it started
	at     int        // index in segs of T, the segment holding offset
	pos    int64      // T's new size: the position of the first batch removed
	leo    int64      // the new LEO
}

// TruncateTo removes every batch at or after offset, as a follower does
// before it fetches from a new leader. offset must be within
// [LogStartOffset, LogEndOffset]; at the LEO no batch goes, but epoch
// entries starting at the LEO do (see trimEpochsAtEnd). The log is cut
// at batch boundaries (as Kafka's is): a batch holding offset goes whole,
// so the new LogEndOffset is that batch's base offset, <= offset. The epoch
// entries starting at or after the new LEO are dropped, DurableOffset and
// MaxTimestamp fall with it, and if the new LEO is below the log start
// offset, the log start offset falls to it.
//
// The truncation is durable when TruncateTo returns, and crash-safe: a
// crash in the middle leaves the old log or the new one (see truncate.go).
// Views and Ranges handed out before stay valid and unchanged. Sync
// waiters registered before it returns whose offsets it removed (through
// above the new LEO) are called with an error wrapping ErrTruncated; the
// others wait as before. Appends wait for it; reads wait for it, as they
// do for segment deletion. A storage error is sticky (ErrStorage).
func (l *Log) TruncateTo(offset int64) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.readMu.Lock()
	defer l.readMu.Unlock()
	t, err := l.beginTruncation(offset)
	if err != nil {
		return err
	}
	if t == nil {
		return l.trimEpochsAtEnd()
	}
	if err := l.resumeAppends(&l.truncating, l.truncate(t)); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", l.dir, offset, err)
	}
	l.failWaitersAbove(t.leo)
	if l.nWaiting.Load() > 0 {
		l.kick()
	}
	return nil
}

// trimEpochsAtEnd drops epoch entries that start at the LEO (no batch of
// theirs in the log), persisting the checkpoint if any went: a truncation
// to the LEO still removes them, as Kafka's truncateTo does, because this
// broker may have begun an epoch as leader and lost leadership before
// appending; a follower keeping it would report it as its last fetched
// epoch and its leader would answer the same divergence forever. Callers
// hold ckptMu and readMu exclusively.
func (l *Log) trimEpochsAtEnd() error {
	l.mu.Lock()
	changed := l.epochs.truncateFromEnd(l.leo.Load())
	lines := l.epochs.lines()
	l.mu.Unlock()
	if !changed {
		return nil
	}
	if err := l.writeEpochCheckpoint(lines); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fail(err)
	}
	return nil
}

// beginTruncation checks offset and, unless it is the LEO, marks the log
// truncating: appends wait, flush rounds planned before are stale.
// Callers hold readMu exclusively.
func (l *Log) beginTruncation(offset int64) (*truncation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch leo, start := l.leo.Load(), l.logStart.Load(); {
	case l.closed:
		return nil, fmt.Errorf("truncate %s: %w", l.dir, ErrClosed)
	case l.werr != nil:
		return nil, fmt.Errorf("truncate %s: %w", l.dir, l.werr)
	case offset < start || offset > leo:
		return nil, fmt.Errorf("truncate %s to %d (log %d..%d): %w", l.dir, offset, start, leo, ErrOffsetOutOfRange)
	case offset == leo:
		return nil, nil
	}
	segs := l.segments()
	l.truncating = true
	l.truncations.Add(1)
	return &truncation{offset: offset, segs: segs, at: segmentFor(segs, offset)}, nil
}

// truncate runs the steps of truncate.go. Callers hold ckptMu and readMu
// exclusively; appends wait.
func (l *Log) truncate(t *truncation) error {
	seg := t.segs[t.at]
	if err := t.locate(seg); err != nil {
		return err
	}
	if l.RecoveryPoint() > seg.base {
		if err := l.setRecoveryPoint(recoveryPoint{offset: seg.base}, true); err != nil {
			return err
		}
	}
	if err := l.shrink(seg, t.pos); err != nil {
		return err
	}
	if err := seg.cutTo(t.pos, t.leo, l.Options()); err != nil {
		return err
	}
	drop, epochs, start := l.switchToTruncated(t)
	err := l.deleteSegmentsLocked(drop)
	if err == nil && epochs != nil {
		err = l.writeEpochCheckpoint(epochs)
	}
	if err == nil && start >= 0 {
		err = writeOffsetCheckpoint(l.fsys, l.dir, logStartOffsetCheckpoint, start)
	}
	l.extendActive(seg, l.Options())
	return err
}

// locate finds in seg where the cut falls: the first batch whose last
// offset is at or after t.offset, and the new LEO.
func (t *truncation) locate(seg *segment) error {
	pos, err := seg.locate(t.offset)
	if err != nil {
		return err
	}
	t.pos, t.leo = pos, t.offset
	if pos < seg.size.Load() {
		sc := newScanner(seg.log, pos, seg.size.Load())
		sc.chunk = BatchHeaderSize
		h, _, err := sc.next()
		if err != nil {
			return fmt.Errorf("truncate %s at %d: %w", seg.name, pos, err)
		}
		t.leo = min(t.offset, h.BaseOffset)
	}
	return nil
}

// shrink cuts seg's file to pos bytes, durably: in place unless a pin
// reaches past pos, else by replacing the file.
func (l *Log) shrink(seg *segment, pos int64) error {
	if seg.fref.pins.reachesPast(pos) || seg.mappedPast(pos) {
		l.stats.truncationCopies.Add(1)
		return l.replaceFile(seg, pos)
	}
	if err := seg.log.Truncate(pos); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", seg.name, pos, err)
	}
	seg.size.Store(pos) // from here on, nothing may read past the file's end
	if err := seg.log.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", seg.name, err)
	}
	return nil
}

// replaceFile gives seg a new file holding its first pos bytes, renamed
// over the old one; pins keep the old file (descriptor and mappings) as it
// was until they are released.
func (l *Log) replaceFile(seg *segment, pos int64) error {
	tmp := seg.name + tmpSuffix
	f, err := l.fsys.OpenFile(tmp, osCreateRDWR|osTrunc, 0o644)
	if err != nil {
		return fmt.Errorf("replace %s: %w", seg.name, err)
	}
	err = copyPrefix(f, seg.log, pos)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fsys.Rename(tmp, seg.name)
	}
	if err != nil {
		f.Close()
		l.fsys.Remove(tmp)
		return fmt.Errorf("replace %s: %w", seg.name, err)
	}
	old := seg.fref
	seg.log, seg.fref = f, newFileRef(f, seg.name)
	seg.size.Store(pos)
	seg.dropMappings()
	err = old.release()
	if serr := l.fsys.SyncDir(l.dir); serr != nil {
		err = fmt.Errorf("sync dir %s: %w", l.dir, serr)
	}
	return err
}

// copyPrefix copies the first n bytes of src to dst.
func copyPrefix(dst, src File, n int64) error {
	buf := make([]byte, min(n, copyChunkBytes))
	for off := int64(0); off < n; {
		b := buf[:min(int64(len(buf)), n-off)]
		if _, err := src.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := dst.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// switchToTruncated makes the in-memory log the truncated one once T is
// shrunk: segment list, LEO, size, durable offset, largest timestamp,
// epochs, log start. It returns the segments to delete, the epoch
// checkpoint lines if they changed (else nil) and the new log start if it
// fell (else -1). Callers hold readMu exclusively.
func (l *Log) switchToTruncated(t *truncation) (drop []*segment, epochs []string, start int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := t.segs[:t.at+1]
	l.setSegments(append([]*segment(nil), keep...))
	l.leo.Store(t.leo)
	l.durable.Store(min(l.durable.Load(), t.leo))
	var size int64
	for _, s := range keep {
		size += s.size.Load()
	}
	l.size.Store(size)
	l.maxTs = maxTimestamp{}
	l.recomputeMaxTimestamp(keep)
	if l.epochs.truncateFromEnd(t.leo) {
		epochs = l.epochs.lines()
	}
	start = -1
	if t.leo < l.logStart.Load() {
		start = t.leo
		l.logStart.Store(start)
	}
	var rolled []*segment
	for _, s := range l.rolled {
		if s.base < keep[t.at].base {
			rolled = append(rolled, s)
		}
	}
	l.rolled = rolled
	l.stats.truncations.Add(1)
	return t.segs[t.at+1:], epochs, start
}

// deleteSegmentsLocked closes and removes the files of segments no longer
// in the list, then syncs the directory. Callers hold readMu exclusively.
func (l *Log) deleteSegmentsLocked(drop []*segment) error {
	if len(drop) == 0 {
		return nil
	}
	var first error
	for _, s := range drop {
		s.deleted.Store(true)
		if err := s.discard(); err != nil && first == nil {
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

// failWaitersAbove fails the Sync waiters waiting for offsets that a
// truncation to leo removed, on a goroutine of their own (Sync's
// contract: done never runs on the caller's goroutine).
func (l *Log) failWaitersAbove(leo int64) {
	l.fmu.Lock()
	var gone []syncWaiter
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if w.through > leo {
			gone = append(gone, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
	l.nWaiting.Add(-int64(len(gone)))
	l.fmu.Unlock()
	if len(gone) > 0 {
		go l.finish(gone, fmt.Errorf("sync %s through offsets truncated at %d: %w", l.dir, leo, ErrTruncated))
	}
}

// cutTo makes seg end at pos, before offset next, as the active segment:
// its indexes keep their entries below the cut and become writable, and
// the largest timestamp and the bytes since the last index entry are found
// again, as Kafka's LogSegment.truncateTo does. Callers hold readMu
// exclusively.
func (s *segment) cutTo(pos, next int64, opts Options) error {
	s.size.Store(pos)
	s.alloc.Store(pos)
	s.next.Store(next)
	s.allocMu.Lock()
	s.trimmed = false
	s.allocMu.Unlock()
	s.mp.mu.Lock()
	s.mp.minLen = opts.SegmentBytes
	s.mp.mu.Unlock()
	if pos == 0 {
		s.created = opts.Now()
	}
	nOff := s.idx.countBelow(pos, func(i int) int64 { _, p := s.idx.offsetAt(i); return int64(p) })
	nTime := s.tidx.countBelow(next-s.base, func(i int) int64 { _, r := s.tidx.timeAt(i); return int64(r) })
	if err := s.idx.truncate(nOff, opts.MaxIndexBytes); err != nil {
		return err
	}
	if err := s.tidx.truncate(nTime, opts.MaxIndexBytes); err != nil {
		return err
	}
	lastIndexed := int64(0) // position of the last kept offset index entry
	if nOff > 0 {
		s.idx.mu.RLock()
		_, p := s.idx.offsetAt(nOff - 1)
		s.idx.mu.RUnlock()
		lastIndexed = int64(p)
	}
	s.bytesSinceIndex = pos - lastIndexed
	return s.findMaxTimestamp(lastIndexed, pos)
}

// findMaxTimestamp sets maxTs from the last time index entry and the
// batches from position from (the last offset index entry) to end. That
// is enough: when the batch at from was indexed, the time index got the
// largest timestamp up to it (segment.track), and the entries kept name
// kept batches, so only batches after from can hold a larger one. The
// walk is at most an index interval and a batch long.
func (s *segment) findMaxTimestamp(from, end int64) error {
	s.maxTs.Store(noTimestamp)
	if ts, rel, ok := s.tidx.lastTime(); ok {
		s.maxTs.Store(ts)
		s.maxTsBase = s.base + int64(rel)
	}
	sc := newScanner(s.log, from, end)
	sc.chunk = locateChunkBytes
	for {
		h, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("truncate %s: %w", s.name, err)
		}
		if h.MaxTimestamp > s.maxTs.Load() {
			s.maxTs.Store(h.MaxTimestamp)
			s.maxTsBase = h.BaseOffset
		}
	}
}
