package wal

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// File ranges for sendfile(2).
//
// ReadRanges serves the batches ReadView would map as (file, position,
// length) ranges of the segment files, so a response can be framed by
// hand around them and its record bytes sent with sendfile(2) from the
// page cache, never through user space. Each Ranges pins the segment files
// it names (pin.go): a file deleted (retention, truncation) or replaced
// (TruncateTo) under an in-flight sendfile stays open, unchanged, until
// the Ranges is released.

// Range is a run of whole batches in one segment file: Len bytes at Pos.
// File must not be written, truncated or closed; it is valid until the
// Ranges holding it is released. On OSFS it implements Fder: Fd is the
// descriptor to sendfile(2) from (see Range.Sendfile).
type Range struct {
	File File
	Pos  int64
	Len  int64
}

// Ranges is the result of ReadRanges. The ranges are valid until Release.
// A Ranges may be reused after Release; the zero Ranges is ready to use.
// It is not safe for concurrent use.
type Ranges struct {
	Ranges []Range // in offset order; one range per segment touched
	Len    int64   // total bytes in Ranges
	pins   pinList
}

// Release unpins every file the Ranges references and empties it.
func (r *Ranges) Release() {
	r.pins.release()
	clear(r.Ranges)
	r.Ranges = r.Ranges[:0]
	r.Len = 0
}

// ReadRanges is ReadView as file ranges: the same whole batches (from the
// one containing offset, below maxOffset and the LEO, within maxBytes
// except that the first batch is whole however large, KIP-74), appended
// to r as one range per segment touched. The caller must Release r once
// the bytes are sent. Headers are read through the segment's mapping (no
// copy) or, on an FS without mmap, with small preads. Any goroutine may
// call it; errors are Read's.
func (l *Log) ReadRanges(offset int64, maxBytes int32, maxOffset int64, r *Ranges) error {
	return l.readZeroCopy(offset, maxBytes, maxOffset, r)
}

func (r *Ranges) taken() int64 { return r.Len }

func (r *Ranges) addSegment(s *segment, first bool, offset, budget, limit int64) (bool, error) {
	return s.rangeBatches(r, first, offset, budget, limit)
}

// rangeBatches adds to r the range of whole batches of s a read takes
// (see viewBatches). Callers hold Log.readMu shared.
func (s *segment) rangeBatches(r *Ranges, first bool, offset, budget, limit int64) (more bool, err error) {
	end := s.size.Load()
	if end == 0 {
		return true, nil
	}
	data, m, mapped, err := s.pinWindow(0, end)
	if err != nil {
		return false, err
	}
	var pos, n int64
	switch {
	case mapped && first:
		pos, err = s.locateIn(data, offset)
	case first:
		pos, err = s.locate(offset)
	}
	switch {
	case err != nil:
	case mapped:
		n, more = wholeMapped(data, pos, end, budget, limit, first)
	default:
		n, more, err = s.scanWhole(pos, end, budget, limit, first)
	}
	if mapped {
		m.unpin(end)
	}
	if err != nil || n == 0 {
		return more, err
	}
	s.fref.pins.pin(pos + n)
	r.Ranges = append(r.Ranges, Range{File: s.log, Pos: pos, Len: n})
	r.Len += n
	r.pins = append(r.pins, pinRef{on: s.fref, end: pos + n})
	return more, nil
}

// scanWhole is wholeMapped over headers read with preads (an FS without
// mmap).
func (s *segment) scanWhole(pos, end, budget, limit int64, first bool) (n int64, more bool, err error) {
	sc := newScanner(s.log, pos, end)
	sc.chunk = BatchHeaderSize
	for {
		h, at, err := sc.next()
		switch {
		case errors.Is(err, io.EOF):
			return n, n < budget, nil
		case err != nil:
			return n, false, err
		case !joins(at, n, h.Size(), h.BaseOffset, end, budget, limit, first):
			return n, false, nil
		}
		n += h.Size()
	}
}

// ErrNoDescriptor is returned by Range.Sendfile for a file without a
// kernel descriptor (an FS other than OSFS).
var ErrNoDescriptor = errors.New("wal: segment file has no descriptor")

// Sendfile sends r's bytes from r.Pos+done on to the socket sockFd with
// one sendfile(2) and returns how many it sent. On a non-blocking socket
// that is full it returns unix.EAGAIN (and maybe a short count): call
// again from done+n once the socket is writable. EINTR is retried. The
// caller loops until done reaches r.Len; the Ranges must stay unreleased
// until then.
func (r Range) Sendfile(sockFd int, done int64) (int64, error) {
	f, ok := r.File.(Fder)
	if !ok {
		return 0, ErrNoDescriptor
	}
	off := r.Pos + done
	for {
		n, err := unix.Sendfile(sockFd, int(f.Fd()), &off, int(r.Len-done))
		if err == unix.EINTR {
			continue
		}
		return int64(max(n, 0)), err
	}
}
