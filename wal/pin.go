package wal

import (
	"fmt"
	"os"
	"sync"
)

// Pins.
//
// Bytes handed out without a copy stay valid while they are pinned: a
// View pins the mapping its slices point into, a Ranges pins the segment
// file its ranges name. A pin records the end position it reaches in the
// file, so that TruncateTo can tell whether any live pin reaches past the
// cut (then the file is replaced, not shrunk: see truncate.go). The segment
// holds a reference of its own until it closes; whoever drops the last
// reference, segment or pin, frees the resource (munmap, close).

// pinSet counts the live pins of a mapping or file by the end position
// each reaches. Its mutex is a leaf: nothing is locked while it is held.
type pinSet struct {
	mu    sync.Mutex
	owned bool            // the segment's own reference is held
	ends  map[int64]int32 // end position -> live pins reaching it
	n     int             // live pins
}

func (p *pinSet) own() { p.owned = true }

func (p *pinSet) pin(end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ends == nil {
		p.ends = make(map[int64]int32)
	}
	p.ends[end]++
	p.n++
}

// retarget moves a pin from end from to end to.
func (p *pinSet) retarget(from, to int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(from)
	p.ends[to]++
}

// unpin drops a pin reaching end; it reports whether that was the last
// reference.
func (p *pinSet) unpin(end int64) (last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(end)
	p.n--
	return p.n == 0 && !p.owned
}

func (p *pinSet) dropLocked(end int64) {
	switch c := p.ends[end]; c {
	case 0:
		panic(fmt.Sprintf("wal: pin at %d released more often than taken", end))
	case 1:
		delete(p.ends, end)
	default:
		p.ends[end] = c - 1
	}
}

// disown drops the segment's reference; it reports whether that was the
// last one.
func (p *pinSet) disown() (last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.owned {
		return false
	}
	p.owned = false
	return p.n == 0
}

// reachesPast reports whether a live pin reaches beyond position pos.
func (p *pinSet) reachesPast(pos int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for end := range p.ends {
		if end > pos {
			return true
		}
	}
	return false
}

// live reports whether any reference, the segment's or a pin, is held.
func (p *pinSet) live() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.owned || p.n > 0
}

// pinRef is one pin a View (on a mapping) or a Ranges (on a file) holds,
// reaching file position end.
type pinRef struct {
	on  interface{ unpin(end int64) }
	end int64
}

// pinList is the pins of one View or Ranges.
type pinList []pinRef

// release drops every pin and empties the list.
func (l *pinList) release() {
	for _, p := range *l {
		p.on.unpin(p.end)
	}
	clear(*l)
	*l = (*l)[:0]
}

// fileRef is a segment's log file, closed by the last of the segment and
// the Ranges that pin it.
type fileRef struct {
	f    File
	name string
	pins pinSet
}

func newFileRef(f File, name string) *fileRef {
	r := &fileRef{f: f, name: name}
	r.pins.own()
	return r
}

// unpin drops a Ranges pin; the last reference closes the file.
func (r *fileRef) unpin(end int64) {
	if r.pins.unpin(end) {
		if err := r.f.Close(); err != nil {
			// The descriptor is gone either way; nothing else can go wrong.
			fmt.Fprintf(os.Stderr, "wal: closing a released segment file: %v\n", err)
		}
	}
}

// release drops the segment's reference, closing the file unless Ranges
// still pin it (the last of them closes it).
func (r *fileRef) release() error {
	if !r.pins.disown() {
		return nil
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close segment %s: %w", r.name, err)
	}
	return nil
}
