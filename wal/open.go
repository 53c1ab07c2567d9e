package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Open opens the partition log in dir, creating dir and a first segment if
// missing, recovers it and starts its flusher goroutine.
//
// After a clean Close (".clean" marker present) the files are trusted and
// only their indexes are sanity-checked; otherwise every segment from the
// recovery point on (at least the active one) is scanned batch by batch
// (length, magic, offsets, CRC32C), its indexes rebuilt, and the log is cut
// at the first bad batch: a torn tail. Segments after a cut are dropped.
// Stats().Recovery says what was found.
func Open(fsys FS, dir string, opts Options) (*Log, error) {
	l := &Log{
		fsys:      fsys,
		dir:       filepath.Clean(dir),
		opts:      opts.withDefaults(),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	l.appendable.L = &l.mu
	l.setSegments(nil)
	l.recovery.TruncatedAtOffset = -1
	if err := l.load(); err != nil {
		for _, s := range l.segments() {
			s.close()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.syncedThrough.Store(l.stats.appends.Load())
	if l.pool = l.opts.Flusher; l.pool == nil {
		go l.flushLoop()
	}
	return l, nil
}

// load reads the directory and checkpoints, then opens and recovers the
// segments. It runs before the flusher starts, on one goroutine.
func (l *Log) load() error {
	if err := l.makeDir(); err != nil {
		return err
	}
	marker, err := exists(l.fsys, filepath.Join(l.dir, cleanMarker))
	if err != nil {
		return err
	}
	if l.recovery.FinishedRestart, err = finishRestart(l.fsys, l.dir); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	lines, err := readCheckpoint(l.fsys, l.dir, leaderEpochCheckpoint)
	if err == nil {
		l.epochs, err = parseEpochLines(lines)
	}
	if err != nil {
		return err
	}
	l.epochsOnDisk, l.epochsWritten = strings.Join(lines, "\n"), true
	logStart, _, err := readOffsetCheckpoint(l.fsys, l.dir, logStartOffsetCheckpoint)
	if err != nil {
		return err
	}
	rp, err := l.loadRecoveryPoint()
	if err != nil {
		return err
	}
	clean := false
	if marker {
		if clean, err = l.takeCleanMarker(rp); err != nil {
			return err
		}
	}
	if len(bases) == 0 {
		bases = []int64{logStart}
	}
	if err := l.openSegments(bases, clean, rp); err != nil {
		return err
	}
	return l.finishLoad(logStart, clean)
}

// loadRecoveryPoint reads the recovery point. A checkpoint that cannot be
// parsed is not fatal: recovery then scans every segment (the point is 0).
func (l *Log) loadRecoveryPoint() (recoveryPoint, error) {
	rp, _, err := readRecoveryPoint(l.fsys, l.dir)
	if errors.Is(err, errCorruptCheckpoint) {
		l.recovery.RecoveryPointRejected = err.Error()
		return recoveryPoint{}, nil
	}
	l.rp = rp
	return rp, err
}

// makeDir creates the partition directory if missing and makes its entry
// in the parent durable, so a new partition survives a crash.
func (l *Log) makeDir() error {
	found, err := exists(l.fsys, l.dir)
	if err != nil || found {
		return err
	}
	if err := l.fsys.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	if err := l.fsys.SyncDir(filepath.Dir(l.dir)); err != nil {
		return fmt.Errorf("sync dir %s: %w", filepath.Dir(l.dir), err)
	}
	return nil
}

// takeCleanMarker removes the clean-shutdown marker, so that a crash from
// now on is seen as unclean, and reports whether the files may be trusted
// as after a clean stop. With an exact recovery point (Close writes one
// at the LEO) they are not: recovery checks from the point, which finds
// nothing to scan after a clean stop, and the marker is never trusted
// again while such a point is on disk, so its removal need not be made
// durable here (one fsync per partition saved; every later
// recovery-point write syncs the directory, and with it the removal,
// before a point that trusts less replaces it: setRecoveryPoint syncs it
// first). Without one (a log
// written before recovery points, or after a truncation lowered it) the
// removal is synced and the marker trusted.
func (l *Log) takeCleanMarker(rp recoveryPoint) (bool, error) {
	marker := filepath.Join(l.dir, cleanMarker)
	if err := l.fsys.Remove(marker); err != nil {
		return false, fmt.Errorf("remove %s: %w", marker, err)
	}
	l.recovery.CleanShutdown = true
	if rp.exact {
		l.markerUnsynced = true
		return false, nil
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return false, fmt.Errorf("sync dir %s: %w", l.dir, err)
	}
	return l.recovery.RecoveryPointRejected == "" && !l.recovery.FinishedRestart, nil
}

// listSegments returns the segment base offsets in dir, ascending, after
// removing temporary files and indexes without a segment.
func (l *Log) listSegments() ([]int64, error) {
	names, err := l.fsys.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	var bases []int64
	logs := map[string]bool{}
	for _, n := range names {
		if base, ok := parseSegmentName(n); ok {
			bases = append(bases, base)
			logs[strings.TrimSuffix(n, logSuffix)] = true
		}
	}
	for _, n := range names {
		stem, isIndex := strings.CutSuffix(n, indexSuffix)
		if !isIndex {
			stem, isIndex = strings.CutSuffix(n, timeIndexSuffix)
		}
		if strings.HasSuffix(n, tmpSuffix) || (isIndex && !logs[stem]) {
			if err := l.fsys.Remove(filepath.Join(l.dir, n)); err != nil {
				return nil, fmt.Errorf("remove stray %s: %w", n, err)
			}
		}
	}
	return bases, nil // ReadDir sorts; equal-width names sort numerically
}

// openSegments opens every segment, trusting those below the recovery
// point's segment (or all after a clean shutdown) when their indexes look
// sane, the point's segment up to the point when it holds
// (recoverypoint.go), and scanning the others. A cut in one segment drops
// all later ones.
func (l *Log) openSegments(bases []int64, clean bool, rp recoveryPoint) error {
	var segs []*segment
	defer func() { l.setSegments(segs) }()
	if !clean {
		l.recovery.RecoveryPoint = rp.offset
	}
	for i, base := range bases {
		last := i == len(bases)-1
		s, err := openSegment(l.fsys, l.dir, base, l.opts, last)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		nextBase := int64(-1)
		if !last {
			nextBase = bases[i+1]
		}
		trusted := (clean || (!last && nextBase <= rp.offset)) && l.loadTrusted(s, nextBase) == nil
		if trusted {
			continue
		}
		from, expect, prefixed := int64(0), base, false
		if i > 0 {
			expect = max(base, segs[i-1].next.Load())
		}
		if !clean && rp.exact && base == rp.base {
			if err := l.loadPrefix(s, rp); err != nil {
				l.recovery.RecoveryPointRejected = err.Error()
				l.recovery.RecoveryPoint = min(rp.offset, base)
			} else {
				from, expect, prefixed = rp.pos, rp.offset, true
			}
		}
		cut, err := l.recoverSegment(s, from, expect, !prefixed, last)
		if err != nil {
			return err
		}
		if !last && !cut && s.next.Load() != bases[i+1] {
			// It ends early (its unsynced tail lost, e.g. to a zero
			// tail): what follows was never durable either.
			cut = true
			l.recovery.TruncatedAtOffset = s.next.Load()
		}
		if cut || s.size.Load() > from {
			l.scanned = append(l.scanned, s) // to be synced: a crash may have left it in the page cache only
		}
		if cut && !last {
			return l.dropAfterCut(bases[i+1:])
		}
		if !last {
			if err := s.seal(); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadTrusted fills s's in-memory state from its indexes without reading
// every batch, and fails if the indexes look wrong. nextBase is the base of
// the following segment, or -1 for the active segment, whose tail after
// the last index entry is walked (headers only) to find the LEO.
func (l *Log) loadTrusted(s *segment, nextBase int64) error {
	size := s.size.Load()
	span := nextBase - s.base
	if nextBase < 0 {
		next, end, err := s.walkTail()
		if err != nil {
			return err
		}
		span = next - s.base
		s.next.Store(next)
		s.size.Store(end) // a zero tail after end is preallocated space
		size = end
	} else {
		s.next.Store(nextBase)
	}
	if (s.idx.missing || s.tidx.missing) && size > 0 {
		return fmt.Errorf("segment %s: index file missing", s.name)
	}
	if err := s.idx.checkOffsetIndex(size, span); err != nil {
		return err
	}
	if err := s.tidx.checkTimeIndex(span); err != nil {
		return err
	}
	ts, rel, ok := s.tidx.lastTime()
	if !ok && size > 0 {
		return fmt.Errorf("segment %s: no time index entry", s.name)
	}
	if ok {
		s.maxTs.Store(ts)
		s.maxTsBase = s.base + int64(rel)
	}
	s.bytesSinceIndex = size
	return nil
}

// walkTail walks batch headers from the last offset index entry to the end
// (or a zero tail) and returns the offset after the last batch and the
// position after it.
func (s *segment) walkTail() (next, end int64, err error) {
	pos := int64(0)
	if n := s.idx.count(); n > 0 {
		s.idx.mu.RLock()
		_, p := s.idx.offsetAt(n - 1)
		s.idx.mu.RUnlock()
		pos = int64(p)
	}
	next = s.base
	sc := newScanner(s.log, pos, s.size.Load())
	for {
		h, at, err := sc.next()
		if errors.Is(err, io.EOF) {
			return next, at, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if h.BaseOffset < next {
			return 0, 0, fmt.Errorf("segment %s: offset %d after %d: %w", s.name, h.BaseOffset, next, ErrCorruptBatch)
		}
		next = h.NextOffset()
	}
}

// recoverSegment checks every batch of s from position from (0 with
// reset, or the recovery point, up to which loadPrefix restored s) on
// (header, offsets >= expect, CRC), rebuilds its indexes from there, adds
// epochs found in batches, and truncates the file at the first bad batch
// (a cut, reported) or at its zero tail (the preallocated end: not a cut;
// the file is reallocated when it is active, or kept when all of it is
// zeros the scan has read).
func (l *Log) recoverSegment(s *segment, from, expect int64, reset, active bool) (cut bool, err error) {
	end := s.alloc.Load() // the file's size at open
	if reset || end > from {
		l.recovery.SegmentsScanned++
	}
	if reset {
		l.recovery.IndexesRebuilt++
		if err := s.resetIndexes(l.opts.MaxIndexBytes); err != nil {
			return false, err
		}
		s.size.Store(0)
	}
	sc := newScanner(s.log, from, end)
	for {
		h, pos, err := sc.next()
		if errors.Is(err, io.EOF) {
			return false, l.cutZeroTail(s, sc, end, active)
		}
		if err == nil {
			err = checkRecovered(sc, h, pos, expect)
		}
		if errors.Is(err, ErrCorruptBatch) {
			return true, l.cut(s, pos, end)
		}
		if err != nil {
			return false, fmt.Errorf("recover %s: %w", s.name, err)
		}
		if err := s.track(h, pos, l.opts.IndexIntervalBytes); err != nil {
			return false, err
		}
		l.recovery.ScannedBytes += h.Size()
		l.assignRecoveredEpoch(h)
		expect = h.NextOffset()
	}
}

// assignRecoveredEpoch adds the epoch of a recovered batch to the cache,
// noting that the leader-epoch checkpoint must be rewritten.
func (l *Log) assignRecoveredEpoch(h BatchHeader) {
	if l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) {
		l.epochsRecovered = true
	}
}

// checkRecovered checks what a scanned header cannot: offset order and CRC.
func checkRecovered(sc *scanner, h BatchHeader, pos, expect int64) error {
	if h.BaseOffset < expect {
		return fmt.Errorf("batch at %d: offset %d below %d: %w", pos, h.BaseOffset, expect, ErrCorruptBatch)
	}
	b, err := sc.batch(pos, h)
	if err != nil {
		return err
	}
	if !CheckBatchCRC(b) {
		return fmt.Errorf("batch at %d offset %d: crc mismatch: %w", pos, h.BaseOffset, ErrCorruptBatch)
	}
	return nil
}

// cut truncates s at pos, the start of its first bad batch.
func (l *Log) cut(s *segment, pos, end int64) error {
	if err := s.log.Truncate(pos); err != nil {
		return fmt.Errorf("truncate %s at %d: %w", s.name, pos, err)
	}
	s.size.Store(pos)
	s.alloc.Store(pos)
	l.recovery.TruncatedBytes += end - pos
	l.recovery.TruncatedAtOffset = s.next.Load()
	return nil
}

// cutZeroTail truncates s at the zero tail the scanner stopped at, if any:
// bytes written after a hole were never made durable. The active
// segment's tail is kept when the scan read all of it and it is all zeros
// (an idle partition's preallocation): appends go there as into a
// preallocated file, no truncate and fallocate.
func (l *Log) cutZeroTail(s *segment, sc *scanner, end int64, active bool) error {
	if !sc.zeroTail {
		return nil
	}
	l.recovery.ZeroTailBytes += end - sc.pos
	if active && sc.holdsZerosTo(end) {
		return nil
	}
	if err := s.log.Truncate(sc.pos); err != nil {
		return fmt.Errorf("truncate %s at %d: %w", s.name, sc.pos, err)
	}
	s.alloc.Store(sc.pos)
	return nil
}

// dropAfterCut removes the segments following a cut one, which stays
// writable and becomes the active segment.
func (l *Log) dropAfterCut(later []int64) error {
	for _, base := range later {
		l.recovery.SegmentsDropped++
		doomed := &segment{base: base}
		if err := doomed.remove(l.fsys, l.dir); err != nil {
			return err
		}
	}
	return nil
}

// finishLoad derives the offsets from the opened segments, reconciles the
// checkpoints with them and, after an unclean start, syncs what recovery
// touched so that all of it counts as durable.
func (l *Log) finishLoad(logStart int64, clean bool) error {
	segs := l.segments()
	active := segs[len(segs)-1]
	leo := active.next.Load()
	l.leo.Store(leo)
	for _, s := range segs {
		l.size.Add(s.size.Load())
	}
	logStart = min(max(logStart, segs[0].base), leo)
	l.logStart.Store(logStart)
	fromEnd := l.epochs.truncateFromEnd(leo)
	fromStart := l.epochs.truncateFromStart(logStart)
	// Entries dropped from the end are left on disk when none is left
	// (an empty log's epoch, which its leader's BeginEpoch writes again):
	// with an empty cache the next entry, from an append or BeginEpoch,
	// rewrites the file before the LEO passes them.
	if fromStart || l.epochsRecovered || (fromEnd && len(l.epochs.entries) > 0) {
		if err := l.writeEpochCheckpoint(l.epochs.lines()); err != nil {
			return err
		}
	}
	l.recomputeMaxTimestamp(segs)
	l.extendActive(active, l.opts)
	if len(l.scanned) > 0 || l.recovery.SegmentsDropped > 0 {
		if err := l.syncRecovered(active); err != nil {
			return err
		}
	}
	l.scanned = nil
	// An empty active segment may have been created just now (or by an
	// interrupted roll): the first flush round syncs its directory entry.
	l.newDirs = active.size.Load() == 0
	l.durable.Store(leo)
	return nil
}

// syncRecovered makes the scanned segments, the active one's indexes and
// the directory durable (what a crashed process left in the page cache is
// not yet on disk), then records the LEO as the recovery point.
func (l *Log) syncRecovered(active *segment) error {
	if !slices.Contains(l.scanned, active) {
		l.scanned = append(l.scanned, active)
	}
	for _, s := range l.scanned {
		if err := s.syncAll(); err != nil {
			return err
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync dir %s: %w", l.dir, err)
	}
	l.mu.Lock()
	p, _ := l.pointAtLocked()
	l.mu.Unlock()
	return l.setRecoveryPoint(p, true)
}

// Close stops the flusher (releasing its waiters), syncs every segment,
// closes the files and writes the clean-shutdown marker, unless something
// failed: then the next Open recovers as after a crash. Later calls on the
// Log return ErrClosed.
func (l *Log) Close() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return fmt.Errorf("close %s: %w", l.dir, ErrClosed)
	}
	l.closed = true
	werr, rolled := l.werr, l.rolled
	l.mu.Unlock()
	l.fmu.Lock()
	l.stopped = true
	l.fmu.Unlock()
	l.stopFlusher()

	l.bg.Wait() // a prepare step in flight
	l.readMu.Lock()
	defer l.readMu.Unlock()
	err := werr
	if err == nil {
		err = l.active().trim()
	}
	if err == nil {
		err = l.syncFilesLocked(rolled, true, l.active())
	}
	if serr := l.active().seal(); err == nil {
		err = serr
	}
	l.dropSpare()
	l.mu.Lock()
	point, _ := l.pointAtLocked() // sealed: the indexes hold every entry
	l.mu.Unlock()
	for _, s := range l.segments() {
		if cerr := s.close(); err == nil {
			err = cerr
		}
	}
	if err == nil { // the segments and their indexes are synced
		err = l.setRecoveryPoint(point, false)
	}
	if err == nil {
		err = writeMarker(l.fsys, l.dir)
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", l.dir, err)
	}
	return nil
}

// writeMarker creates the empty clean-shutdown marker and syncs the
// directory: one fsync (an empty file has no content to tear, so no
// temporary file and rename).
func writeMarker(fsys FS, dir string) error {
	name := filepath.Join(dir, cleanMarker)
	f, err := fsys.OpenFile(name, osCreateRDWR|osTrunc, 0o644)
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// stopFlusher ends the log's flushing: its own goroutine, or its place in
// the pool, after a last round; waiters left get ErrClosed.
func (l *Log) stopFlusher() {
	if l.pool == nil {
		close(l.quit)
		<-l.flushDone
		return
	}
	l.pool.detach(l)
	l.flushRound(nil)
	l.releaseAll(fmt.Errorf("sync %s: %w", l.dir, ErrClosed))
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
		l.fsys.RemoveAll(l.dir)
		return fmt.Errorf("delete %s: %w", l.dir, err)
	}
	if err := l.fsys.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("delete %s: %w", l.dir, err)
	}
	if err := l.fsys.SyncDir(filepath.Dir(l.dir)); err != nil {
		return fmt.Errorf("delete %s: sync parent: %w", l.dir, err)
	}
	return nil
}
