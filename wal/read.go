package wal

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// segmentFor returns the index in segs of the segment holding offset: the
// last one whose base is <= offset (0 if offset is below all of them).
func segmentFor(segs []*segment, offset int64) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })
	return max(i-1, 0)
}

// locate returns the position in seg of the batch containing offset, or of
// the first batch after it, or the segment size if there is none.
// Callers hold readMu shared.
func (s *segment) locate(offset int64) (pos int64, err error) {
	start := int64(0)
	if offset > s.base {
		start = s.idx.lookupOffset(s.rel(min(offset, s.base+(1<<32-1))))
	}
	sc := newScanner(s.log, start, s.size.Load())
	sc.chunk = locateChunkBytes
	for {
		h, pos, err := sc.next()
		if errors.Is(err, io.EOF) {
			return pos, nil
		}
		if err != nil {
			return pos, fmt.Errorf("locate %d in %s: %w", offset, s.name, err)
		}
		if h.LastOffset() >= offset {
			return pos, nil
		}
	}
}

// checkRange returns ErrOffsetOutOfRange unless logStart <= offset <= leo.
func (l *Log) checkRange(op string, offset int64) error {
	logStart, leo := l.logStart.Load(), l.leo.Load()
	if offset < logStart || offset > leo {
		return fmt.Errorf("%s %s at %d (log %d..%d): %w", op, l.dir, offset, logStart, leo, ErrOffsetOutOfRange)
	}
	return nil
}

// Read returns whole batches, from the one containing offset up to the
// first whose base offset is >= maxOffset (the high watermark) or LEO,
// totalling at most maxBytes, except that the first batch is returned whole
// however large (KIP-74). It returns (nil, nil) when there is nothing to
// read at offset, and ErrOffsetOutOfRange when offset is outside
// [LogStartOffset, LogEndOffset]. The returned bytes are a fresh copy owned
// by the caller. Any goroutine may call it; it does not block appends.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) ([]byte, error) {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	if err := l.checkRange("read", offset); err != nil {
		return nil, err
	}
	return l.readLocked(offset, maxBytes, min(maxOffset, l.leo.Load()))
}

// readLocked copies the batches of a Read below limit. Callers hold readMu
// shared and checked the range.
func (l *Log) readLocked(offset int64, maxBytes int32, limit int64) ([]byte, error) {
	if offset >= limit {
		return nil, nil
	}
	segs := l.segments()
	var out []byte
	for i := segmentFor(segs, offset); i < len(segs); i++ {
		pos := int64(0)
		if len(out) == 0 {
			var err error
			if pos, err = segs[i].locate(offset); err != nil {
				return nil, fmt.Errorf("read %s at %d: %w", l.dir, offset, err)
			}
		}
		var more bool
		var err error
		out, more, err = segs[i].readBatches(out, pos, int64(maxBytes), limit)
		if err != nil {
			return nil, fmt.Errorf("read %s at %d: %w", l.dir, offset, err)
		}
		if !more {
			break
		}
	}
	return out, nil
}

// readBatches appends to out the whole batches from pos while their base
// offset is < limit and out stays within maxBytes (the first batch of an
// empty out always fits). more reports whether the next segment may add to
// out. Callers hold readMu shared.
func (s *segment) readBatches(out []byte, pos, maxBytes, limit int64) (_ []byte, more bool, err error) {
	end := s.size.Load()
	budget := min(maxBytes-int64(len(out)), end-pos)
	if len(out) == 0 {
		budget = max(budget, min(BatchHeaderSize, end-pos))
	}
	if budget <= 0 {
		return out, pos >= end && int64(len(out)) < maxBytes, nil
	}
	chunk := make([]byte, budget)
	if _, err := s.log.ReadAt(chunk, pos); err != nil {
		return out, false, fmt.Errorf("segment %s at %d: %w", s.name, pos, err)
	}
	used := 0
	for used+BatchHeaderSize <= len(chunk) {
		h, _ := ParseBatchHeader(chunk[used:])
		if h.BaseOffset >= limit {
			return join(out, chunk[:used]), false, nil
		}
		if size := h.Size(); int64(used)+size > int64(len(chunk)) {
			if len(out) == 0 && used == 0 && pos+size <= end {
				return s.readWhole(pos, size)
			}
			return join(out, chunk[:used]), false, nil
		}
		used += int(h.Size())
	}
	out = join(out, chunk[:used])
	return out, pos+int64(used) >= end && int64(len(out)) < maxBytes, nil
}

// join appends b to out, reusing b when out is empty.
func join(out, b []byte) []byte {
	if len(out) == 0 {
		return b
	}
	return append(out, b...)
}

// readWhole reads the one batch at pos, larger than the fetch budget.
func (s *segment) readWhole(pos, size int64) ([]byte, bool, error) {
	b := make([]byte, size)
	if _, err := s.log.ReadAt(b, pos); err != nil {
		return nil, false, fmt.Errorf("segment %s at %d: %w", s.name, pos, err)
	}
	return b, false, nil
}

// checkOpen returns ErrClosed after Close. Callers hold readMu shared.
func (l *Log) checkOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%s: %w", l.dir, ErrClosed)
	}
	return nil
}

// ScanBatches calls fn with the header of every batch from the one
// containing from (clamped up to LogStartOffset) to the LEO at the call,
// until fn returns false. It reads headers only. fn runs on the caller's
// goroutine while segment deletion is held off, so fn must not call
// DeleteRecordsBefore, ApplyRetention, Close or Delete.
func (l *Log) ScanBatches(from int64, fn func(h BatchHeader) bool) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if err := l.checkOpen(); err != nil {
		return err
	}
	from = max(from, l.logStart.Load())
	if err := l.checkRange("scan", from); err != nil {
		return err
	}
	leo, segs := l.leo.Load(), l.segments()
	for i := segmentFor(segs, from); i < len(segs); i++ {
		pos := int64(0)
		if i == segmentFor(segs, from) {
			var err error
			if pos, err = segs[i].locate(from); err != nil {
				return fmt.Errorf("scan %s: %w", l.dir, err)
			}
		}
		stop, err := segs[i].scanHeaders(pos, leo, fn)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// scanHeaders walks headers from pos while base offsets are below leo.
func (s *segment) scanHeaders(pos, leo int64, fn func(BatchHeader) bool) (stop bool, err error) {
	sc := newScanner(s.log, pos, s.size.Load())
	for {
		h, at, err := sc.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return true, fmt.Errorf("scan %s at %d: %w", s.name, at, err)
		}
		if h.BaseOffset >= leo {
			return true, nil
		}
		if !fn(h) {
			return true, nil
		}
	}
}

// OffsetForTimestamp returns the first batch whose MaxTimestamp is >= ts:
// its base offset (raised to LogStartOffset if below it) and its max
// timestamp. ok is false if no batch qualifies. Callers refine to the
// record if they need to.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, ok bool) {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if l.checkOpen() != nil {
		return 0, 0, false
	}
	leo, logStart := l.leo.Load(), l.logStart.Load()
	for _, s := range l.segments() {
		if s.maxTs.Load() < ts || s.next.Load() <= logStart && s != l.active() {
			continue
		}
		h, found, err := s.firstAtOrAfter(ts, logStart, leo)
		if err == nil && found {
			return max(h.BaseOffset, logStart), h.MaxTimestamp, true
		}
	}
	return 0, 0, false
}

// firstAtOrAfter finds the first batch in s with MaxTimestamp >= ts, using
// the time index to skip batches known to be older, and skipping batches
// wholly below logStart.
func (s *segment) firstAtOrAfter(ts, logStart, leo int64) (BatchHeader, bool, error) {
	pos := int64(0)
	if rel, ok := s.tidx.lookupTime(ts); ok {
		var err error
		if pos, err = s.locate(s.base + int64(rel)); err != nil {
			return BatchHeader{}, false, err
		}
	}
	var found BatchHeader
	var ok bool
	_, err := s.scanHeaders(pos, leo, func(h BatchHeader) bool {
		found, ok = h, h.MaxTimestamp >= ts && h.LastOffset() >= logStart
		return !ok
	})
	return found, ok, err
}
