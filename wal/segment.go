package wal

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File name suffixes inside a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	tmpSuffix       = ".tmp"
	spareStem       = "next-segment" // + suffix + tmpSuffix: the prepared next segment
	baseOffsetWidth = 20
)

const (
	osCreateRDWR = os.O_CREATE | os.O_RDWR
	osTrunc      = os.O_TRUNC
	osRDONLY     = os.O_RDONLY
)

// noTimestamp marks a segment without batches.
const noTimestamp = math.MinInt64

// segment is one log file and its two indexes. The index pointers never
// change, log only when TruncateTo replaces the file; base and the file
// names change only when a prepared segment is adopted, before anyone
// else sees it. size, next, maxTs and
// maxTsBase are written by the appender (under Log.mu) or by recovery;
// size, next and maxTs are read by anyone. bytesSinceIndex and created
// belong to Log.mu, trimmed and the allocation to allocMu, mp to its own
// mutex.
type segment struct {
	base int64
	log  File     // the .log file; replaced only by TruncateTo, under Log.readMu exclusively
	fref *fileRef // log's references: closed by the last of the segment and its Ranges
	name string   // path of the .log file
	idx  *index   // offset index
	tidx *index   // time index

	size  atomic.Int64 // bytes of whole batches, the append position (logical end)
	alloc atomic.Int64 // file size as allocated, >= size; a zero tail follows size

	allocMu sync.Mutex   // serialises preallocate and trim
	trimmed bool         // guarded by allocMu: sealed and trimmed, never extended again
	next    atomic.Int64 // offset after the last batch (base when empty)
	maxTs   atomic.Int64 // largest batch MaxTimestamp, noTimestamp when empty

	maxTsBase       int64 // base offset of the batch holding maxTs
	bytesSinceIndex int64
	created         time.Time
	deleted         atomic.Bool // set under Log.readMu exclusively, before the files close
	mp              segMap
}

func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%0*d%s", baseOffsetWidth, base, suffix))
}

// parseSegmentName returns the base offset of a "<20 digits>.log" name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(digits) != baseOffsetWidth {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// openSegment opens (creating if missing) the files of the segment at base.
// The indexes are opened as found; the caller validates or rebuilds them.
func openSegment(fsys FS, dir string, base int64, opts Options, active bool) (*segment, error) {
	s := &segment{base: base, name: segmentPath(dir, base, logSuffix), created: opts.Now()}
	f, err := fsys.OpenFile(s.name, osCreateRDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", s.name, err)
	}
	s.log, s.fref = f, newFileRef(f, s.name)
	size, err := f.Size()
	if err != nil {
		s.fref.release()
		return nil, fmt.Errorf("size segment %s: %w", s.name, err)
	}
	s.size.Store(size)
	s.alloc.Store(size)
	s.next.Store(base)
	s.maxTs.Store(noTimestamp)
	if active {
		s.mp.minLen = opts.SegmentBytes
	}
	s.idx, err = openIndex(fsys, segmentPath(dir, base, indexSuffix), offsetEntrySize, opts.MaxIndexBytes, active)
	if err == nil {
		s.tidx, err = openIndex(fsys, segmentPath(dir, base, timeIndexSuffix), timeEntrySize, opts.MaxIndexBytes, active)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// spareSegment creates the files of a segment prepared ahead of a roll,
// under temporary names (removed by Open if a crash leaves them): the log
// file preallocated, the indexes sized and mapped for appends. adopt
// gives it its base offset.
func spareSegment(fsys FS, dir string, opts Options) (*segment, error) {
	s := &segment{name: sparePath(dir, 0, logSuffix)} // adopt sets base and created
	f, err := fsys.OpenFile(s.name, osCreateRDWR|osTrunc, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prepare segment: %w", err)
	}
	s.log, s.fref = f, newFileRef(f, s.name)
	s.maxTs.Store(noTimestamp)
	s.mp.minLen = opts.SegmentBytes
	s.idx, err = newIndex(fsys, sparePath(dir, 0, indexSuffix), offsetEntrySize, opts.MaxIndexBytes)
	if err == nil {
		s.tidx, err = newIndex(fsys, sparePath(dir, 0, timeIndexSuffix), timeEntrySize, opts.MaxIndexBytes)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("prepare segment: %w", err)
	}
	if err := s.preallocate(opts.PreallocateBytes); err != nil {
		s.close()
		return nil, fmt.Errorf("prepare segment: %w", err)
	}
	return s, nil
}

func sparePath(dir string, _ int64, suffix string) string {
	return filepath.Join(dir, spareStem+suffix+tmpSuffix)
}

// adopt renames a spare segment's files to those of the segment at base
// and makes it that segment. The open descriptors and mappings stay
// valid. On error the files may be half renamed: the caller drops s.
func (s *segment) adopt(fsys FS, dir string, base int64, now time.Time) error {
	names := []*string{&s.name, &s.idx.name, &s.tidx.name}
	for i, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		final := segmentPath(dir, base, suffix)
		if err := fsys.Rename(*names[i], final); err != nil {
			return fmt.Errorf("adopt prepared segment as %d: %w", base, err)
		}
		*names[i] = final
	}
	s.fref.name = s.name
	s.base, s.created = base, now
	s.next.Store(base)
	return nil
}

// preallocate reserves the log file up to size bytes (never shrinking);
// a no-op for size <= 0 or a file that is not an Allocator.
func (s *segment) preallocate(size int64) error {
	a, ok := s.log.(Allocator)
	if !ok || size <= s.alloc.Load() {
		return nil
	}
	s.allocMu.Lock()
	defer s.allocMu.Unlock()
	if s.trimmed || size <= s.alloc.Load() {
		return nil
	}
	if err := a.Allocate(size); err != nil {
		return fmt.Errorf("preallocate %s to %d: %w", s.name, size, err)
	}
	s.alloc.Store(size)
	return nil
}

// trim cuts the preallocated zero tail, leaving the file at its logical
// size: on roll (by the flusher) and Close, so that a sealed segment's
// file size is its data.
func (s *segment) trim() error {
	s.allocMu.Lock()
	defer s.allocMu.Unlock()
	s.trimmed = true
	size := s.size.Load()
	if s.alloc.Load() <= size {
		return nil
	}
	if err := s.log.Truncate(size); err != nil {
		return fmt.Errorf("trim %s to %d: %w", s.name, size, err)
	}
	s.alloc.Store(size)
	return nil
}

// rel converts an absolute offset to one relative to the segment base.
func (s *segment) rel(offset int64) uint32 { return uint32(offset - s.base) }

// track records a batch just written at pos: indexes, timestamps, size.
// Called by the appender and by recovery, which rebuilds indexes with it.
func (s *segment) track(h BatchHeader, pos int64, intervalBytes int) error {
	if h.MaxTimestamp > s.maxTs.Load() {
		s.maxTs.Store(h.MaxTimestamp)
		s.maxTsBase = h.BaseOffset
	}
	if s.bytesSinceIndex >= int64(intervalBytes) {
		if _, err := s.idx.append(offsetEntry(s.rel(h.BaseOffset), uint32(pos))); err != nil {
			return err
		}
		if err := s.appendTimeEntry(); err != nil {
			return err
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
	s.size.Store(pos + h.Size())
	s.next.Store(h.NextOffset())
	return nil
}

// appendTimeEntry adds (maxTs, its batch) if maxTs grew since the last entry.
func (s *segment) appendTimeEntry() error {
	ts := s.maxTs.Load()
	if ts == noTimestamp {
		return nil
	}
	if last, _, ok := s.tidx.lastTime(); ok && ts <= last {
		return nil
	}
	_, err := s.tidx.append(timeEntry(ts, s.rel(s.maxTsBase)))
	return err
}

// resetIndexes empties both indexes before a rebuild.
func (s *segment) resetIndexes(maxIndexBytes int) error {
	s.bytesSinceIndex = 0
	s.maxTs.Store(noTimestamp)
	s.next.Store(s.base)
	if err := s.idx.reset(maxIndexBytes); err != nil {
		return err
	}
	return s.tidx.reset(maxIndexBytes)
}

// seal ends the segment's life as the active one: a final time index entry
// (so the largest timestamp is on disk), then both indexes trimmed.
func (s *segment) seal() error {
	if err := s.appendTimeEntry(); err != nil {
		return fmt.Errorf("seal %s: %w", s.name, err)
	}
	if err := s.idx.seal(); err != nil {
		return fmt.Errorf("seal %s: %w", s.name, err)
	}
	if err := s.tidx.seal(); err != nil {
		return fmt.Errorf("seal %s: %w", s.name, err)
	}
	return nil
}

// syncAll makes the log file and both indexes durable.
func (s *segment) syncAll() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", s.name, err)
	}
	for _, x := range []*index{s.idx, s.tidx} {
		if err := x.sync(); err != nil {
			return fmt.Errorf("sync segment %s: %w", s.name, err)
		}
	}
	return nil
}

// close releases every file of the segment, returning the first error.
// A segment whose creation failed midway has nil indexes.
func (s *segment) close() error { return s.release(true) }

// discard is close for a segment about to be deleted: its indexes are
// neither sealed nor synced.
func (s *segment) discard() error { return s.release(false) }

func (s *segment) release(keep bool) error {
	s.unmap()
	var first error
	for _, x := range []*index{s.idx, s.tidx} {
		if x == nil {
			continue
		}
		if err := x.close(keep); err != nil && first == nil {
			first = err
		}
	}
	if err := s.fref.release(); err != nil && first == nil {
		first = err
	}
	return first
}

// removeFiles deletes the files of s under their current names.
func (s *segment) removeFiles(fsys FS) {
	for _, name := range []string{s.name, s.idx.name, s.tidx.name} {
		fsys.Remove(name)
	}
}

// remove deletes the segment's files (log first: an orphan index is
// cleaned at Open, a log without index is rebuilt).
func (s *segment) remove(fsys FS, dir string) error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := fsys.Remove(segmentPath(dir, s.base, suffix)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove segment %d: %w", s.base, err)
		}
	}
	return nil
}
