package wal

import (
	"errors"
	"fmt"
	"io"
)

// Bytes a scanner reads per ReadAt: recovery and full scans read big
// chunks; a lookup from an index entry reads about one index interval.
const (
	scanChunkBytes   = 64 << 10
	locateChunkBytes = 8 << 10
)

// scanner walks the batch headers of one segment file between pos and end,
// reading in chunks so a walk over small batches costs few syscalls.
type scanner struct {
	f      File
	pos    int64 // position of the next batch
	end    int64
	buf    []byte
	bufPos int64
	chunk  int64
	// zeroTail is set when next stopped at an all-zero header: the
	// preallocated (or never written) tail after the logical end at pos.
	zeroTail bool
}

func newScanner(f File, pos, end int64) *scanner {
	return &scanner{f: f, pos: pos, end: end, chunk: scanChunkBytes}
}

// next returns the header of the batch at s.pos and that position, then
// moves past it. It returns io.EOF at end, and at a whole header of zero
// bytes (the zero tail of a preallocated file: no batch header is all
// zeros; zeroTail is set; fewer than BatchHeaderSize bytes left are a torn
// header, zeros or not), and an error wrapping ErrCorruptBatch (with s.pos left at the
// bad batch) when the header is invalid or the batch runs past end.
func (s *scanner) next() (BatchHeader, int64, error) {
	pos := s.pos
	if pos >= s.end {
		return BatchHeader{}, pos, io.EOF
	}
	hb, err := s.window(pos, int(min(BatchHeaderSize, s.end-pos)))
	if err != nil {
		return BatchHeader{}, pos, err
	}
	if len(hb) == BatchHeaderSize && allZero(hb) {
		s.zeroTail = true
		return BatchHeader{}, pos, io.EOF
	}
	if len(hb) < BatchHeaderSize {
		return BatchHeader{}, pos, fmt.Errorf("partial header at %d: %w", pos, ErrCorruptBatch)
	}
	h, _ := ParseBatchHeader(hb)
	if err := validateHeader(h); err != nil {
		return h, pos, fmt.Errorf("at position %d: %w", pos, err)
	}
	if h.Size() > s.end-pos {
		return h, pos, fmt.Errorf("batch at position %d: %d bytes, %d left: %w",
			pos, h.Size(), s.end-pos, ErrCorruptBatch)
	}
	s.pos = pos + h.Size()
	return h, pos, nil
}

// holdsZerosTo reports whether the buffer holds every byte from s.pos to
// end and they are all zero.
func (s *scanner) holdsZerosTo(end int64) bool {
	if s.pos < s.bufPos || end > s.bufPos+int64(len(s.buf)) {
		return false
	}
	return allZero(s.buf[s.pos-s.bufPos : end-s.bufPos])
}

// batch returns the whole batch at pos (valid until the next call).
func (s *scanner) batch(pos int64, h BatchHeader) ([]byte, error) {
	return s.window(pos, int(h.Size()))
}

// window returns n bytes at file position p, refilling the buffer from p
// when they are not all in it.
func (s *scanner) window(p int64, n int) ([]byte, error) {
	if p >= s.bufPos && p+int64(n) <= s.bufPos+int64(len(s.buf)) {
		off := p - s.bufPos
		return s.buf[off : off+int64(n)], nil
	}
	size := max(n, int(min(s.chunk, s.end-p)))
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	got, err := s.f.ReadAt(s.buf, p)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("short read at %d: %w", p, io.ErrUnexpectedEOF)
		}
		s.buf = s.buf[:0]
		return nil, err
	}
	s.buf, s.bufPos = s.buf[:got], p
	return s.buf[:n], nil
}
