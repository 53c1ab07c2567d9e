package wal

import "fmt"

// Segments ready before they are needed.
//
// A roll on the append path is a rename: when the active segment passes
// prepareAtQuarters/4 of SegmentBytes, Append starts a prepare step on a
// goroutine of its own (one at a time per log) that creates the next
// segment's files under temporary names (next-segment.log.tmp, ...), the
// log file preallocated and the indexes sized and mapped. The roll renames
// them to the new base offset (the flusher fsyncs the directory before the
// next durable offset, as for any roll). The same step keeps the active
// segment's log file allocated ahead of the append position (as much as
// it holds, at least minGrowAhead, at most PreallocateBytes), so appends
// write into allocated space and fdatasync has no size change to record.
// Without a prepared segment (time- or index-based roll, or the step not
// done yet) the roll creates one itself.

// prepareDue reports whether a prepare step has work: the active
// segment's allocation to extend, or the next segment to create. Callers
// hold mu.
func (l *Log) prepareDue() bool {
	if l.preparing.Load() || l.closed || l.werr != nil {
		return false
	}
	seg := l.active()
	return l.extendDue(seg, seg.size.Load()) || l.spareDue(seg)
}

// spareDue reports whether the next segment should be prepared now: the
// active one is prepareAtQuarters/4 full, or, once a roll came before its
// spare was ready (rolls come fast), at once: a whole segment ahead.
// Callers hold mu.
func (l *Log) spareDue(seg *segment) bool {
	return l.spare == nil && (l.eager || seg.size.Load() >= l.opts.SegmentBytes/4*prepareAtQuarters)
}

// extendDue reports whether seg's allocation should grow: less than half
// of the reservation due at size (Options.ahead, minPreallocateAhead) is left ahead of it.
// Callers hold mu.
func (l *Log) extendDue(seg *segment, size int64) bool {
	if _, ok := seg.log.(Allocator); !ok || l.opts.PreallocateBytes <= 0 {
		return false
	}
	alloc := seg.alloc.Load()
	return alloc < l.opts.SegmentBytes && size+l.opts.ahead(size, minPreallocateAhead)/2 > alloc
}

// startPrepare runs one prepare step in the background unless one runs.
func (l *Log) startPrepare() {
	if !l.preparing.CompareAndSwap(false, true) {
		return
	}
	l.bg.Add(1)
	go l.prepare()
}

// prepare is the background step: extend the active segment's allocation,
// then create the next segment if none is ready. Errors are counted, not
// fatal: an append that needs the space or the segment gets it itself.
func (l *Log) prepare() {
	defer l.bg.Done()
	defer l.preparing.Store(false)
	l.readMu.RLock() // the segment extended is not closed under us
	defer l.readMu.RUnlock()
	l.mu.Lock()
	if l.closed || l.werr != nil {
		l.mu.Unlock()
		return
	}
	opts, seg := l.opts, l.active()
	extend := l.extendDue(seg, seg.size.Load())
	needSpare := l.spareDue(seg)
	l.mu.Unlock()
	if extend {
		size := seg.size.Load()
		target := min(opts.SegmentBytes, size+opts.ahead(size, minGrowAhead))
		if err := seg.preallocate(target); err != nil {
			l.stats.prepareErrors.Add(1)
		}
	}
	if needSpare {
		l.prepareSpare(opts)
	}
}

// prepareSpare creates the next segment and offers it to the next roll.
func (l *Log) prepareSpare(opts Options) {
	sp, err := spareSegment(l.fsys, l.dir, opts)
	if err != nil {
		l.stats.prepareErrors.Add(1)
		return
	}
	l.mu.Lock()
	keep := !l.closed && l.spare == nil
	if keep {
		l.spare = sp
	}
	l.mu.Unlock()
	if !keep {
		sp.close()
		sp.removeFiles(l.fsys)
	}
}

// takeSpare renames the prepared segment, if any, into place as the
// segment at base. It returns nil, nil when none is prepared. Callers hold
// mu.
func (l *Log) takeSpare(base int64) (*segment, error) {
	sp := l.spare
	if sp == nil {
		l.eager = true
		return nil, nil
	}
	l.spare = nil
	if err := sp.adopt(l.fsys, l.dir, base, l.opts.Now()); err != nil {
		sp.close()
		sp.removeFiles(l.fsys)
		l.stats.prepareErrors.Add(1)
		return nil, nil // createSegment starts over from the names left
	}
	l.stats.preparedRolls.Add(1)
	return sp, nil
}

// createSegment creates the segment at base on the append path (no spare
// was ready), preallocated. Callers hold mu.
func (l *Log) createSegment(base int64) (*segment, error) {
	seg, err := openSegment(l.fsys, l.dir, base, l.opts, true)
	if err != nil {
		return nil, err
	}
	if seg.size.Load() != 0 { // leftover of a failed roll: start clean
		if err := seg.log.Truncate(0); err != nil {
			seg.close()
			return nil, fmt.Errorf("reset %s: %w", seg.name, err)
		}
		seg.size.Store(0)
		seg.alloc.Store(0)
	}
	l.extendActive(seg, l.opts)
	return seg, nil
}

// extendActive preallocates a new or reopened active segment (best effort).
func (l *Log) extendActive(seg *segment, opts Options) {
	if opts.PreallocateBytes <= 0 {
		return
	}
	size := seg.size.Load()
	target := min(opts.SegmentBytes, size+opts.ahead(size, minPreallocateAhead))
	if err := seg.preallocate(target); err != nil {
		l.stats.prepareErrors.Add(1)
	}
}

// dropSpare closes and removes the prepared segment (Close).
func (l *Log) dropSpare() {
	l.mu.Lock()
	sp := l.spare
	l.spare = nil
	l.mu.Unlock()
	if sp != nil {
		sp.close()
		sp.removeFiles(l.fsys)
	}
}
