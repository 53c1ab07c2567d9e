package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// Replica comparison (chronik wal compare, and tests asserting that every
// replica holds its leader's bytes). Like InspectDir it only reads files,
// so it works on a stopped broker's directories, on copies, and (with the
// usual caveat that the tail may move while it reads) on a live broker's.
//
// Two replicas are equal when they hold the same batches at the same
// offsets, byte for byte (baseOffset, batchLength, partitionLeaderEpoch,
// CRC and everything after it), from each one's log start offset on.
// Files are not compared: a preallocated zero tail, a trimmed one, other
// segment boundaries or other index entries make no difference.

// DirBatches reads the batches of one partition directory in offset order,
// read-only: segment by segment, the log start offset applied.
type DirBatches struct {
	fsys     FS
	dir      string
	bases    []int64
	at       int // index in bases of the segment being read
	w        *segmentWalk
	logStart int64
	next     int64  // offset after the last batch returned
	walked   int64  // offset after the last batch read, returned or not
	stop     string // why the walk ended early, "" if it did not
}

// OpenDirBatches opens the partition directory dir for DirBatches.Next.
// The log start offset is the log-start checkpoint's, or the first
// segment's base if that is higher, as at Open; a TruncateFullyAndStartAt
// that a crash interrupted counts as done (no batches, starting at its
// offset), since Open finishes it.
func OpenDirBatches(fsys FS, dir string) (*DirBatches, error) {
	d := &DirBatches{fsys: fsys, dir: dir}
	restart, restarting, err := readOffsetCheckpoint(fsys, dir, restartCheckpoint)
	if err != nil {
		return nil, err
	}
	if restarting {
		d.logStart, d.next = restart, restart
		return d, nil
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, n := range names {
		if base, ok := parseSegmentName(n); ok {
			d.bases = append(d.bases, base)
		}
	}
	if d.logStart, _, err = readOffsetCheckpoint(fsys, dir, logStartOffsetCheckpoint); err != nil {
		return nil, err
	}
	if len(d.bases) > 0 {
		d.logStart = max(d.logStart, d.bases[0])
	}
	d.next = d.logStart
	return d, nil
}

// LogStartOffset is the first offset the directory serves.
func (d *DirBatches) LogStartOffset() int64 { return d.logStart }

// NextOffset is the offset after the last batch Next returned (the log
// start offset before the first): after io.EOF, the directory's LEO.
func (d *DirBatches) NextOffset() int64 { return d.next }

// Stopped says why the walk ended before the end of the files (a batch
// Open would cut: bad header or length, offsets going back, a short
// read), or "" if it did not.
func (d *DirBatches) Stopped() string { return d.stop }

// Next returns the next batch at or after the log start offset (a batch
// holding it counts): its header, its bytes (valid until the next call;
// not to be modified) and whether its CRC32C matches. After the last one,
// or at a batch Open would cut (see Stopped), it returns io.EOF. Other
// errors are I/O errors opening a segment.
func (d *DirBatches) Next() (h BatchHeader, batch []byte, crcOK bool, err error) {
	for d.stop == "" {
		if d.w == nil {
			if d.at == len(d.bases) {
				return h, nil, false, io.EOF
			}
			if d.w, err = openSegmentWalk(d.fsys, d.dir, d.bases[d.at]); err != nil {
				return h, nil, false, err
			}
			d.w.next = max(d.w.next, d.walked) // offsets never go back
		}
		h, pos, b, err := d.w.step()
		switch {
		case errors.Is(err, io.EOF):
			d.closeSegment()
			d.at++
		case err != nil:
			d.stop = fmt.Sprintf("segment %s at position %d: %v", d.w.name, pos, err)
			d.closeSegment()
		case h.LastOffset() >= d.logStart:
			d.next = h.NextOffset()
			return h, b, CheckBatchCRC(b), nil
		}
	}
	return h, nil, false, io.EOF
}

func (d *DirBatches) closeSegment() {
	d.walked = d.w.next
	d.w.close()
	d.w = nil
}

// Close releases the open segment file, if any.
func (d *DirBatches) Close() error {
	if d.w == nil {
		return nil
	}
	err := d.w.close()
	d.w = nil
	return err
}

// OffsetRange is the offsets [From, To).
type OffsetRange struct{ From, To int64 }

// BatchDiff is the first difference between two replicas: the offset of
// the first batch that differs and what differs ("partitionLeaderEpoch 3
// vs 4", "batch length ...", "byte 70 (records) ...").
type BatchDiff struct {
	Offset int64
	What   string
}

// PartitionComparison is what CompareDirs found for one partition.
type PartitionComparison struct {
	Name                 string // partition directory name (A's)
	A, B                 string // the two directories
	LogStartA, LogStartB int64
	EndA, EndB           int64 // offset after each side's last batch
	BatchesA, BatchesB   int
	Diff                 *BatchDiff    // nil if every batch both hold is the same
	OnlyA, OnlyB         []OffsetRange // offsets one side holds and the other does not
	StoppedA, StoppedB   string        // DirBatches.Stopped of each side
	BadCRCA, BadCRCB     int           // batches whose CRC32C does not match (compared all the same)
}

// Equal reports whether both sides hold the same batches at the same
// offsets with the same bytes.
func (p PartitionComparison) Equal() bool {
	return p.Diff == nil && len(p.OnlyA) == 0 && len(p.OnlyB) == 0
}

// CompareReport is what CompareDirs found.
type CompareReport struct {
	Partitions []PartitionComparison
	// OnlyInA and OnlyInB name the partition directories only one of two
	// data directories holds (not compared, not counted by Equal).
	OnlyInA, OnlyInB []string
}

// Equal reports whether every partition compared is equal.
func (r CompareReport) Equal() bool {
	for _, p := range r.Partitions {
		if !p.Equal() {
			return false
		}
	}
	return true
}

// CompareDirs compares two replicas of a partition (a and b partition
// directories), or two data directories partition by partition, for the
// partition directories (by name) both hold. It only reads. It fails if
// one is a partition directory and the other a data directory, or if
// there is no partition to compare.
func CompareDirs(fsys FS, a, b string) (CompareReport, error) {
	var rep CompareReport
	da, err := PartitionDirs(fsys, a)
	if err != nil {
		return rep, err
	}
	db, err := PartitionDirs(fsys, b)
	if err != nil {
		return rep, err
	}
	aPart, bPart := len(da) == 1 && da[0] == a, len(db) == 1 && db[0] == b
	if aPart != bPart {
		return rep, fmt.Errorf("compare %s and %s: one is a partition directory, the other a data directory", a, b)
	}
	pairs := [][2]string{{a, b}}
	if !aPart {
		pairs, rep.OnlyInA, rep.OnlyInB = pairPartitions(da, db)
	}
	if len(pairs) == 0 {
		return rep, fmt.Errorf("compare %s and %s: no partition directory in common", a, b)
	}
	for _, p := range pairs {
		pc, err := ComparePartition(fsys, p[0], p[1])
		if err != nil {
			return rep, err
		}
		rep.Partitions = append(rep.Partitions, pc)
	}
	return rep, nil
}

// pairPartitions matches partition directories by name; both lists are
// sorted.
func pairPartitions(da, db []string) (pairs [][2]string, onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(da) || j < len(db) {
		na, nb := "", ""
		if i < len(da) {
			na = filepath.Base(da[i])
		}
		if j < len(db) {
			nb = filepath.Base(db[j])
		}
		switch {
		case j == len(db) || (i < len(da) && na < nb):
			onlyA = append(onlyA, na)
			i++
		case i == len(da) || nb < na:
			onlyB = append(onlyB, nb)
			j++
		default:
			pairs = append(pairs, [2]string{da[i], db[j]})
			i, j = i+1, j+1
		}
	}
	return pairs, onlyA, onlyB
}

// ComparePartition compares two replicas of one partition, the partition
// directories a and b: it walks both in offset order, compares every pair
// of batches that overlap until the first difference, and collects the
// offsets each side holds (from its log start offset) to find those only
// one holds.
func ComparePartition(fsys FS, a, b string) (PartitionComparison, error) {
	pc := PartitionComparison{Name: filepath.Base(a), A: a, B: b}
	sa, err := openSide(fsys, a)
	if err != nil {
		return pc, err
	}
	defer sa.it.Close()
	sb, err := openSide(fsys, b)
	if err != nil {
		return pc, err
	}
	defer sb.it.Close()
	for err == nil && (sa.ok || sb.ok) {
		switch {
		case !sb.ok || (sa.ok && sa.h.LastOffset() < sb.h.BaseOffset):
			err = sa.advance()
		case !sa.ok || sb.h.LastOffset() < sa.h.BaseOffset:
			err = sb.advance()
		default: // they overlap
			if pc.Diff == nil {
				pc.Diff = diffBatches(sa, sb)
			}
			la, lb := sa.h.LastOffset(), sb.h.LastOffset()
			if la <= lb {
				err = sa.advance()
			}
			if err == nil && lb <= la {
				err = sb.advance()
			}
		}
	}
	if err != nil {
		return pc, fmt.Errorf("compare %s and %s: %w", a, b, err)
	}
	pc.LogStartA, pc.EndA, pc.BatchesA, pc.BadCRCA, pc.StoppedA = sa.summary()
	pc.LogStartB, pc.EndB, pc.BatchesB, pc.BadCRCB, pc.StoppedB = sb.summary()
	pc.OnlyA, pc.OnlyB = subtractRanges(sa.held, sb.held), subtractRanges(sb.held, sa.held)
	return pc, nil
}

// side is one replica being walked: its current batch and what it holds.
type side struct {
	it        *DirBatches
	h         BatchHeader
	b         []byte
	crcOK, ok bool
	n, badCRC int
	held      []OffsetRange // offsets held, ascending, adjacent batches merged
}

func openSide(fsys FS, dir string) (*side, error) {
	it, err := OpenDirBatches(fsys, dir)
	if err != nil {
		return nil, err
	}
	s := &side{it: it}
	if err := s.advance(); err != nil {
		it.Close()
		return nil, err
	}
	return s, nil
}

// advance moves to the next batch and records the offsets it holds.
func (s *side) advance() error {
	h, b, crcOK, err := s.it.Next()
	if errors.Is(err, io.EOF) {
		s.ok = false
		return nil
	}
	if err != nil {
		return err
	}
	s.h, s.b, s.crcOK, s.ok = h, b, crcOK, true
	s.n++
	if !crcOK {
		s.badCRC++
	}
	from, to := max(h.BaseOffset, s.it.LogStartOffset()), h.NextOffset()
	if n := len(s.held); n > 0 && s.held[n-1].To == from {
		s.held[n-1].To = to
	} else {
		s.held = append(s.held, OffsetRange{from, to})
	}
	return nil
}

func (s *side) summary() (logStart, end int64, batches, badCRC int, stopped string) {
	return s.it.LogStartOffset(), s.it.NextOffset(), s.n, s.badCRC, s.it.Stopped()
}

// diffBatches says how two overlapping batches differ, or returns nil if
// they are the same bytes.
func diffBatches(a, b *side) *BatchDiff {
	ha, hb := a.h, b.h
	d := &BatchDiff{Offset: min(ha.BaseOffset, hb.BaseOffset)}
	switch {
	case ha.BaseOffset != hb.BaseOffset:
		d.What = fmt.Sprintf("a batch starts at offset %d in A (offsets %d..%d), at %d in B (%d..%d)",
			ha.BaseOffset, ha.BaseOffset, ha.LastOffset(), hb.BaseOffset, hb.BaseOffset, hb.LastOffset())
	case ha.BatchLength != hb.BatchLength:
		d.What = fmt.Sprintf("batch length %d vs %d (offsets %d..%d vs %d..%d)",
			ha.BatchLength, hb.BatchLength, ha.BaseOffset, ha.LastOffset(), hb.BaseOffset, hb.LastOffset())
	case ha.PartitionLeaderEpoch != hb.PartitionLeaderEpoch:
		d.What = fmt.Sprintf("partitionLeaderEpoch %d vs %d", ha.PartitionLeaderEpoch, hb.PartitionLeaderEpoch)
	case ha.CRC != hb.CRC:
		d.What = fmt.Sprintf("crc %#08x vs %#08x", ha.CRC, hb.CRC)
	default:
		i := 0
		for i < len(a.b) && a.b[i] == b.b[i] {
			i++
		}
		if i == len(a.b) {
			return nil
		}
		d.What = fmt.Sprintf("byte %d of the batch (%s): %#02x vs %#02x", i, batchField(i), a.b[i], b.b[i])
	}
	for _, s := range []struct {
		name string
		ok   bool
	}{{"A", a.crcOK}, {"B", b.crcOK}} {
		if !s.ok {
			d.What += fmt.Sprintf("; %s's batch does not match its crc", s.name)
		}
	}
	return d
}

// batchField names the v2 batch field holding byte i.
func batchField(i int) string {
	fields := []struct {
		from int
		name string
	}{
		{offBaseOffset, "baseOffset"}, {offBatchLength, "batchLength"}, {offLeaderEpoch, "partitionLeaderEpoch"},
		{offMagic, "magic"}, {offCRC, "crc"}, {offAttributes, "attributes"}, {offLastOffsetDelta, "lastOffsetDelta"},
		{offBaseTimestamp, "baseTimestamp"}, {offMaxTimestamp, "maxTimestamp"}, {offProducerID, "producerId"},
		{offProducerEpoch, "producerEpoch"}, {offBaseSequence, "baseSequence"}, {offRecordCount, "recordCount"},
		{BatchHeaderSize, "records"},
	}
	name := fields[0].name
	for _, f := range fields {
		if i >= f.from {
			name = f.name
		}
	}
	return name
}

// subtractRanges returns the offsets of x not in y; both are ascending
// and disjoint.
func subtractRanges(x, y []OffsetRange) []OffsetRange {
	var out []OffsetRange
	j := 0
	for _, r := range x {
		from := r.From
		for j < len(y) && y[j].To <= from {
			j++
		}
		for k := j; k < len(y) && y[k].From < r.To && from < r.To; k++ {
			if y[k].From > from {
				out = append(out, OffsetRange{from, y[k].From})
			}
			from = max(from, y[k].To)
		}
		if from < r.To {
			out = append(out, OffsetRange{from, r.To})
		}
	}
	return out
}
