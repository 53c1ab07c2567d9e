package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Offline inspection (chronik wal dump / verify). These functions only
// read: unlike Open they never truncate, rebuild or remove anything, so
// they are safe on the directory of a stopped broker, or on a copy.

// BatchInfo is one batch found by InspectDir.
type BatchInfo struct {
	Segment int64 // base offset of the segment holding it
	Pos     int64 // position in the segment file
	Header  BatchHeader
	CRCOK   bool
}

// SegmentReport describes one segment file and its indexes.
type SegmentReport struct {
	Base             int64
	Path             string
	Size             int64 // file size
	ValidBytes       int64 // bytes of whole, valid batches from the start
	ZeroTailBytes    int64 // preallocated (all-zero) tail after them: space, not data
	Batches          int
	NextOffset       int64 // offset after the last valid batch
	IndexEntries     int   // offset index entries (preallocated zero tail excluded)
	TimeIndexEntries int
	Problems         []string // everything that Open would cut, rebuild or reject
}

// DirReport is what InspectDir found in one partition directory.
type DirReport struct {
	Dir         string
	Segments    []SegmentReport
	CleanMarker bool     // .clean present: last stop was clean
	Checkpoints []string // "name: contents" of each checkpoint file
	Problems    []string // problems across segments (offset gaps, overlaps)
}

// OK reports whether no problem was found.
func (r DirReport) OK() bool {
	if len(r.Problems) > 0 {
		return false
	}
	for _, s := range r.Segments {
		if len(s.Problems) > 0 {
			return false
		}
	}
	return true
}

// InspectDir reads every segment of the partition directory dir, checking
// each batch (header, magic, length, offsets, CRC32C) and each index entry
// (order, bounds, pointing at a batch boundary with the right offset), and
// calls each, if not nil, for every batch in order.
func InspectDir(fsys FS, dir string, each func(BatchInfo)) (DirReport, error) {
	rep := DirReport{Dir: dir}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("inspect %s: %w", dir, err)
	}
	for _, n := range names {
		switch n {
		case cleanMarker:
			rep.CleanMarker = true
		case leaderEpochCheckpoint, logStartOffsetCheckpoint, recoveryPointCheckpoint, restartCheckpoint:
			lines, err := readCheckpoint(fsys, dir, n)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v", n, err))
			}
			rep.Checkpoints = append(rep.Checkpoints, fmt.Sprintf("%s: %q", n, lines))
		}
	}
	prevNext := int64(-1)
	for _, n := range names {
		base, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		sr, err := inspectSegment(fsys, dir, base, each)
		if err != nil {
			return rep, err
		}
		if prevNext >= 0 && sr.Batches > 0 && base != prevNext {
			rep.Problems = append(rep.Problems, fmt.Sprintf("segment %d starts at offset %d, previous segment ends at %d", base, base, prevNext))
		}
		if sr.Batches > 0 {
			prevNext = sr.NextOffset
		}
		rep.Segments = append(rep.Segments, sr)
	}
	return rep, nil
}

// batchAt maps a batch boundary position to its base offset.
type batchAt map[int64]int64

func inspectSegment(fsys FS, dir string, base int64, each func(BatchInfo)) (SegmentReport, error) {
	sr := SegmentReport{Base: base, Path: segmentPath(dir, base, logSuffix), NextOffset: base}
	w, err := openSegmentWalk(fsys, dir, base)
	if err != nil {
		return sr, err
	}
	defer w.close()
	sr.Size = w.size
	bounds := batchAt{}
	for {
		h, pos, b, err := w.step()
		if errors.Is(err, io.EOF) {
			sr.ZeroTailBytes = w.zeroTailBytes()
			break
		}
		if err != nil {
			sr.Problems = append(sr.Problems, fmt.Sprintf("bad batch at position %d (%d bytes to the end would be cut): %v", pos, sr.Size-pos, err))
			break
		}
		info := BatchInfo{Segment: base, Pos: pos, Header: h, CRCOK: CheckBatchCRC(b)}
		if each != nil {
			each(info)
		}
		if !info.CRCOK {
			sr.Problems = append(sr.Problems, fmt.Sprintf("crc mismatch in batch at position %d offset %d (%d bytes to the end would be cut)", pos, h.BaseOffset, sr.Size-pos))
			break
		}
		if sr.Batches == 0 && h.BaseOffset != base {
			sr.Problems = append(sr.Problems, fmt.Sprintf("first batch has offset %d, file is named %d", h.BaseOffset, base))
		}
		bounds[pos] = h.BaseOffset
		sr.Batches++
		sr.ValidBytes = pos + h.Size()
		sr.NextOffset = h.NextOffset()
	}
	if err := sr.inspectIndexes(fsys, dir, bounds); err != nil {
		return sr, err
	}
	return sr, nil
}

// segmentWalk reads the batches of one segment file in order, read-only.
type segmentWalk struct {
	name string
	f    File
	size int64 // file size
	sc   *scanner
	next int64 // offset after the last batch returned (the base before)
}

func openSegmentWalk(fsys FS, dir string, base int64) (*segmentWalk, error) {
	w := &segmentWalk{name: segmentPath(dir, base, logSuffix), next: base}
	f, err := fsys.OpenFile(w.name, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", w.name, err)
	}
	if w.size, err = f.Size(); err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", w.name, err)
	}
	w.f, w.sc = f, newScanner(f, 0, w.size)
	return w, nil
}

// step returns the next batch: its header, position and bytes (valid
// until the next step). It returns io.EOF at the end of the file or of
// its batches (a zero tail), and another error for a batch Open would cut
// (bad header or length, an offset below the previous batch's next one,
// a short read); the walk ends there. It does not check CRCs.
func (w *segmentWalk) step() (BatchHeader, int64, []byte, error) {
	h, pos, err := w.sc.next()
	if err != nil {
		return h, pos, nil, err
	}
	if h.BaseOffset < w.next {
		return h, pos, nil, fmt.Errorf("offset %d below %d: %w", h.BaseOffset, w.next, ErrCorruptBatch)
	}
	b, err := w.sc.batch(pos, h)
	if err != nil {
		return h, pos, nil, fmt.Errorf("read %s at %d: %w", w.name, pos, err)
	}
	w.next = h.NextOffset()
	return h, pos, b, nil
}

// zeroTailBytes is the preallocated tail the walk stopped at, if it did.
func (w *segmentWalk) zeroTailBytes() int64 {
	if !w.sc.zeroTail {
		return 0
	}
	return w.size - w.sc.pos
}

func (w *segmentWalk) close() error { return w.f.Close() }

// inspectIndexes checks the offset and time index files of the segment.
func (sr *SegmentReport) inspectIndexes(fsys FS, dir string, bounds batchAt) error {
	idx, err := readIndexFile(fsys, segmentPath(dir, sr.Base, indexSuffix), offsetEntrySize)
	if err != nil {
		return err
	}
	sr.IndexEntries = len(idx) / offsetEntrySize
	prevRel, prevPos := int64(-1), int64(0)
	for i := 0; i < len(idx); i += offsetEntrySize {
		rel := int64(binary.BigEndian.Uint32(idx[i:]))
		pos := int64(binary.BigEndian.Uint32(idx[i+4:]))
		off, ok := bounds[pos]
		if rel <= prevRel || pos <= prevPos || !ok || off != sr.Base+rel {
			sr.Problems = append(sr.Problems, fmt.Sprintf("offset index entry %d (relative offset %d, position %d) does not name a batch in order: index would be rebuilt", i/offsetEntrySize, rel, pos))
			break
		}
		prevRel, prevPos = rel, pos
	}
	tidx, err := readIndexFile(fsys, segmentPath(dir, sr.Base, timeIndexSuffix), timeEntrySize)
	if err != nil {
		return err
	}
	sr.TimeIndexEntries = len(tidx) / timeEntrySize
	prevTs := int64(-1 << 63)
	for i := 0; i < len(tidx); i += timeEntrySize {
		ts := int64(binary.BigEndian.Uint64(tidx[i:]))
		rel := int64(binary.BigEndian.Uint32(tidx[i+8:]))
		if ts <= prevTs || sr.Base+rel >= max(sr.NextOffset, sr.Base+1) {
			sr.Problems = append(sr.Problems, fmt.Sprintf("time index entry %d (timestamp %d, relative offset %d) out of order or range: index would be rebuilt", i/timeEntrySize, ts, rel))
			break
		}
		prevTs = ts
	}
	return nil
}

// readIndexFile returns the entries of an index file without its
// preallocated all-zero tail; a missing file has none.
func readIndexFile(fsys FS, name string, entrySize int) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	b := make([]byte, size-size%int64(entrySize))
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	for len(b) >= entrySize && allZero(b[len(b)-entrySize:]) {
		b = b[:len(b)-entrySize]
	}
	return b, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// PartitionDirs returns dir itself if it holds segment files, else its
// subdirectories that do (a broker data dir), sorted.
func PartitionDirs(fsys FS, dir string) ([]string, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var subs []string
	for _, n := range names {
		if _, ok := parseSegmentName(n); ok {
			return []string{dir}, nil
		}
		p := filepath.Join(dir, n)
		if st, err := fsys.Stat(p); err == nil && st.IsDir() {
			subs = append(subs, p)
		}
	}
	var out []string
	for _, s := range subs {
		inner, err := fsys.ReadDir(s)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s, err)
		}
		for _, n := range inner {
			if _, ok := parseSegmentName(n); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}
