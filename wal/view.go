package wal

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Zero-copy reads.
//
// A segment's .log file is mapped read-only (shared) the first time a
// ReadView touches it; a View hands out slices of that mapping, so record
// bytes reach a socket (writev) straight from the page cache. Lifetime:
//
//	mapping.refs = 1 (the segment's own)  + 1 per View slice pinning it
//	segment.close (retention, delete, Close) drops the segment's ref
//	View.Release drops the View's refs; the last ref munmaps
//
// So a segment deleted while a response still references it is unlinked
// at once but stays mapped until the response is written: never a SIGBUS.
// Reads cover only bytes below the segment size published after the
// pwrite completed, so never a torn read. Nothing truncates a segment
// file below a byte a View may reference (recovery cuts before any read;
// a roll truncates only a fresh segment; the flusher trims a rolled
// segment's preallocated tail, beyond every byte a View can reach: Views
// end at the published size); a future truncation (replica
// divergence) must first replace the segment and let its mapping retire.
//
// The active segment is mapped once with room for SegmentBytes (address
// space only), so appends do not force a remap; a read past the mapped
// length maps the segment again and retires the old mapping the same way.

// mapping is one mmap of a segment file, reference counted.
type mapping struct {
	data []byte
	refs atomic.Int64
	mm   Mmapper
	name string
}

func (m *mapping) pin() { m.refs.Add(1) }

// unpin drops one reference; the last one unmaps.
func (m *mapping) unpin() {
	n := m.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic(fmt.Sprintf("wal: mapping of %s released more often than pinned", m.name))
	}
	if err := m.mm.Munmap(m.data); err != nil {
		// Address space leaks; nothing else can go wrong.
		fmt.Fprintf(os.Stderr, "wal: munmap %s: %v\n", m.name, err)
	}
	liveMappings.Add(-1)
}

// liveMappings counts mappings not yet unmapped, for tests.
var liveMappings atomic.Int64

// segMap is a segment's current mapping. Guarded by its own mutex: readers
// holding Log.readMu shared may race to create it.
type segMap struct {
	mu     sync.Mutex
	cur    *mapping
	minLen int64 // length to map at least (SegmentBytes for the active segment)
	closed bool
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
		if sm.cur != nil {
			sm.cur.unpin() // the segment's ref to the smaller mapping
		}
		sm.cur = &mapping{data: data, mm: mm, name: s.name}
		sm.cur.refs.Store(1)
	}
	sm.cur.pin()
	return sm.cur.data[pos:end:end], sm.cur, true, nil
}

// unmap drops the segment's own reference; pinned Views keep the mapping
// alive until they are released. Called when the segment is closed.
func (s *segment) unmap() {
	sm := &s.mp
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.closed = true
	if sm.cur != nil {
		sm.cur.unpin()
		sm.cur = nil
	}
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
	pins   []*mapping
}

// Release unpins every mapping the View references and empties it.
func (v *View) Release() {
	for _, m := range v.pins {
		m.unpin()
	}
	clear(v.pins)
	v.pins = v.pins[:0]
	clear(v.Slices)
	v.Slices = v.Slices[:0]
	v.Len = 0
}

func (v *View) add(b []byte, m *mapping) {
	v.Slices = append(v.Slices, b)
	v.Len += int64(len(b))
	if m != nil {
		v.pins = append(v.pins, m)
	}
}

// ReadView is Read without the copy: the same batches, appended to v as
// slices of the segments' memory. The caller must Release v once the bytes
// are written (to a socket) or copied. On an FS whose files cannot be
// mapped it falls back to one copied slice. Any goroutine may call it.
func (l *Log) ReadView(offset int64, maxBytes int32, maxOffset int64, v *View) error {
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
	if _, ok := segs[0].log.(Mmapper); !ok {
		b, err := l.readLocked(offset, maxBytes, limit)
		if len(b) > 0 {
			v.add(b, nil)
		}
		return err
	}
	start := v.Len
	for i := segmentFor(segs, offset); i < len(segs); i++ {
		more, err := segs[i].viewBatches(v, v.Len == start, offset, int64(maxBytes)-(v.Len-start), limit)
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
			m.unpin()
			return false, err
		}
	}
	n, stopped := int64(0), false
	for pos+n+BatchHeaderSize <= end {
		h, _ := ParseBatchHeader(data[pos+n:])
		size := h.Size()
		if h.BaseOffset >= limit || pos+n+size > end || (n+size > budget && !(first && n == 0)) {
			stopped = true
			break
		}
		n += size
	}
	more = !stopped && n < budget
	if n == 0 {
		m.unpin()
		return more, nil
	}
	v.add(data[pos:pos+n:pos+n], m)
	return more, nil
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
