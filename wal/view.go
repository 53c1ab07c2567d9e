package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Zero-copy reads.
//
// A segment's .log file is mapped read-only (shared) the first time a
// ReadView touches it; a View hands out slices of that mapping, so record
// bytes reach a socket (writev) straight from the page cache. Lifetime
// (pin.go):
//
//	mapping references = the segment's own + 1 per View slice pinning it
//	segment.close (retention, truncation, delete, Close) drops the segment's
//	View.Release drops the View's pins; the last reference munmaps
//
// So a segment deleted while a response still references it is unlinked
// at once but stays mapped until the response is written: never a SIGBUS.
// Reads cover only bytes below the segment size published after the
// pwrite completed, so never a torn read. Nothing truncates a segment
// file below a byte a View may reference: recovery cuts before any read;
// a roll truncates only a fresh segment; the flusher trims a rolled
// segment's preallocated tail, beyond every byte a View can reach (Views
// end at the published size); TruncateTo shrinks a file in place only
// when no pin reaches past the cut, and otherwise replaces the file,
// letting the pinned mappings of the old one retire (truncate.go).
//
// The active segment is mapped once with room for SegmentBytes (address
// space only), so appends do not force a remap; a read past the mapped
// length maps the segment again and retires the old mapping the same way
// (kept in segMap.retired while Views pin it, so TruncateTo sees them).

// mapping is one mmap of a segment file, pinned by Views (pin.go).
type mapping struct {
	data []byte
	mm   Mmapper
	name string
	pins pinSet
}

// unpin drops a View's pin reaching end; the last reference unmaps.
func (m *mapping) unpin(end int64) {
	if m.pins.unpin(end) {
		m.unmap()
	}
}

// disown drops the segment's reference; the last reference unmaps.
func (m *mapping) disown() {
	if m.pins.disown() {
		m.unmap()
	}
}

func (m *mapping) unmap() {
	if err := m.mm.Munmap(m.data); err != nil {
		// Address space leaks; nothing else can go wrong.
		fmt.Fprintf(os.Stderr, "wal: munmap %s: %v\n", m.name, err)
	}
	liveMappings.Add(-1)
}

// liveMappings counts mappings not yet unmapped, for tests.
var liveMappings atomic.Int64

// segMap is a segment's current mapping, and the older mappings of the
// same file that Views still pin (a read past the mapped length remaps).
// Guarded by its own mutex: readers holding Log.readMu shared may race to
// create it. Lock order: segMap.mu, then a mapping's pinSet.
type segMap struct {
	mu      sync.Mutex
	cur     *mapping
	retired []*mapping
	minLen  int64 // length to map at least (SegmentBytes for the active segment)
	closed  bool
}

// pinWindow returns the bytes [pos, end) of s from its mapping, pinned for
// the caller (unpin when done), or ok=false if the file cannot be mapped.
// Callers hold Log.readMu shared.
func (s *segment) pinWindow(pos, end int64) (b []byte, m *mapping, ok bool, err error) {
	mm, canMap := s.log.(Mmapper)
	if !canMap {
		return nil, nil, false, nil
	}
	sm := &s.mp
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.closed {
		return nil, nil, false, fmt.Errorf("segment %s: %w", s.name, ErrClosed)
	}
	if sm.cur == nil || int64(len(sm.cur.data)) < end {
		length := pageRound(max(end, sm.minLen))
		data, err := mm.Mmap(int(length), false)
		if err != nil {
			return nil, nil, false, fmt.Errorf("map segment %s: %w", s.name, err)
		}
		liveMappings.Add(1)
		if old := sm.cur; old != nil {
			old.disown() // the segment's ref to the smaller mapping
			sm.retired = append(sm.retired, old)
		}
		sm.cur = &mapping{data: data, mm: mm, name: s.name}
		sm.cur.pins.own()
	}
	sm.cur.pins.pin(end)
	return sm.cur.data[pos:end:end], sm.cur, true, nil
}

// unmap drops the segment's own reference; pinned Views keep the mapping
// alive until they are released. Called when the segment is closed.
func (s *segment) unmap() {
	s.dropMappings()
	s.mp.mu.Lock()
	s.mp.closed = true
	s.mp.mu.Unlock()
}

// dropMappings lets go of the segment's mappings: the current one is
// disowned (Views may still pin it) and retired ones are no longer
// watched. The next read maps the file afresh.
func (s *segment) dropMappings() {
	sm := &s.mp
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.cur != nil {
		sm.cur.disown()
		sm.cur = nil
	}
	sm.retired = nil
}

// mappedPast reports whether a View pins bytes of s beyond pos in any of
// its mappings. Callers hold Log.readMu exclusively (no new pins).
func (s *segment) mappedPast(pos int64) bool {
	sm := &s.mp
	sm.mu.Lock()
	defer sm.mu.Unlock()
	live := sm.retired[:0]
	for _, m := range sm.retired {
		if m.pins.live() {
			live = append(live, m)
		}
	}
	clear(sm.retired[len(live):])
	sm.retired = live
	for _, m := range append(live, sm.cur) {
		if m != nil && m.pins.reachesPast(pos) {
			return true
		}
	}
	return false
}

const pageBytes = 4096

func pageRound(n int64) int64 { return (n + pageBytes - 1) &^ (pageBytes - 1) }

// View is the result of ReadView: whole batches as byte slices borrowed
// from segment mappings (or, on an FS without mmap, from a copy the View
// owns). The slices are valid until Release and must not be written. A
// View may be reused after Release; the zero View is ready to use. It is
// not safe for concurrent use.
type View struct {
	Slices [][]byte // batches in offset order; one slice per segment touched
	Len    int64    // total bytes in Slices
	pins   pinList
}

// Release unpins every mapping the View references and empties it.
func (v *View) Release() {
	v.pins.release()
	clear(v.Slices)
	v.Slices = v.Slices[:0]
	v.Len = 0
}

// add appends b, pinned in m up to file position end (m nil: a copy).
func (v *View) add(b []byte, m *mapping, end int64) {
	v.Slices = append(v.Slices, b)
	v.Len += int64(len(b))
	if m != nil {
		v.pins = append(v.pins, pinRef{on: m, end: end})
	}
}

// ReadView is Read without the copy: the same batches, appended to v as
// slices of the segments' memory. The caller must Release v once the bytes
// are written (to a socket) or copied. On an FS whose files cannot be
// mapped it falls back to one copied slice. Any goroutine may call it.
func (l *Log) ReadView(offset int64, maxBytes int32, maxOffset int64, v *View) error {
	return l.readZeroCopy(offset, maxBytes, maxOffset, v)
}

// zeroCopyRead is what a ReadView or ReadRanges collects: whole batches
// from each segment, taken by addSegment (see viewBatches).
type zeroCopyRead interface {
	taken() int64
	addSegment(s *segment, first bool, offset, budget, limit int64) (more bool, err error)
}

func (v *View) taken() int64 { return v.Len }

func (v *View) addSegment(s *segment, first bool, offset, budget, limit int64) (bool, error) {
	return s.viewBatches(v, first, offset, budget, limit)
}

// readZeroCopy runs a ReadView or ReadRanges: Read's checks and limits,
// then dst takes the batches segment by segment.
func (l *Log) readZeroCopy(offset int64, maxBytes int32, maxOffset int64, dst zeroCopyRead) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if err := l.checkOpen(); err != nil {
		return err
	}
	if err := l.checkRange("read", offset); err != nil {
		return err
	}
	limit := min(maxOffset, l.leo.Load())
	if offset >= limit {
		return nil
	}
	segs := l.segments()
	if v, ok := dst.(*View); ok {
		if _, canMap := segs[0].log.(Mmapper); !canMap {
			b, err := l.readLocked(offset, maxBytes, limit)
			if len(b) > 0 {
				v.add(b, nil, 0)
			}
			return err
		}
	}
	start := dst.taken()
	for i := segmentFor(segs, offset); i < len(segs); i++ {
		got := dst.taken() - start
		more, err := dst.addSegment(segs[i], got == 0, offset, int64(maxBytes)-got, limit)
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", l.dir, offset, err)
		}
		if !more {
			break
		}
	}
	return nil
}

// viewBatches adds to v the whole batches of s from the one containing
// offset (when first) or from the segment start, while their base offset
// is < limit and they fit in budget (the first batch of the read always
// fits). more reports whether the next segment may add to v.
func (s *segment) viewBatches(v *View, first bool, offset, budget, limit int64) (more bool, err error) {
	end := s.size.Load()
	if end == 0 {
		return true, nil
	}
	data, m, _, err := s.pinWindow(0, end)
	if err != nil {
		return false, err
	}
	pos := int64(0)
	if first {
		if pos, err = s.locateIn(data, offset); err != nil {
			m.unpin(end)
			return false, err
		}
	}
	n, more := wholeMapped(data, pos, end, budget, limit, first)
	if n == 0 {
		m.unpin(end)
		return more, nil
	}
	m.pins.retarget(end, pos+n)
	v.add(data[pos:pos+n:pos+n], m, pos+n)
	return more, nil
}

// wholeMapped returns how many bytes of whole batches a read takes from
// pos in a segment of end mapped bytes (see joins). more reports whether
// the next segment may add to the read. Only the base offset and length
// of each header are read.
func wholeMapped(data []byte, pos, end, budget, limit int64, first bool) (n int64, more bool) {
	for pos+n+BatchHeaderSize <= end {
		b := data[pos+n:]
		base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
		size := batchLengthOverhead + int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
		if !joins(pos+n, n, size, base, end, budget, limit, first) {
			return n, false
		}
		n += size
	}
	return n, n < budget
}

// joins reports whether the batch of size bytes at position at, base
// offset base, joins a read that took n bytes of this segment so far:
// whole below end, base below limit, within budget, except that the first
// batch of the read (first, n == 0) always joins (KIP-74).
func joins(at, n, size, base, end, budget, limit int64, first bool) bool {
	return size >= BatchHeaderSize && at+size <= end && base < limit &&
		(n+size <= budget || (first && n == 0))
}

// locateIn is locate over mapped bytes: the position of the batch holding
// offset (or the first after it), walking headers from the index entry.
func (s *segment) locateIn(data []byte, offset int64) (int64, error) {
	pos := int64(0)
	if offset > s.base {
		pos = s.idx.lookupOffset(s.rel(min(offset, s.base+(1<<32-1))))
	}
	for pos+BatchHeaderSize <= int64(len(data)) {
		h, _ := ParseBatchHeader(data[pos:])
		if err := validateHeader(h); err != nil || pos+h.Size() > int64(len(data)) {
			return pos, fmt.Errorf("locate %d in %s at %d: %w", offset, s.name, pos, ErrCorruptBatch)
		}
		if h.LastOffset() >= offset {
			return pos, nil
		}
		pos += h.Size()
	}
	return int64(len(data)), nil
}
