package wal

import (
	"errors"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// segmentedLog makes a log of 10 segments, each with 4 one-record batches
// whose timestamps are the segment number times 1000.
func segmentedLog(t *testing.T, clk *fakeClock) (*Log, *memfs.FS) {
	t.Helper()
	b := makeBatch(1, 50, 0)
	l, fsys := openMem(t, Options{SegmentBytes: int64(4 * len(b)), Now: clk.now})
	for i := range 40 {
		mustAppend(t, l, makeBatch(1, 50, int64(i/4)*1000), 0)
	}
	if l.NumSegments() != 10 {
		t.Fatalf("segments %d", l.NumSegments())
	}
	return l, fsys
}

func TestRetentionByTime(t *testing.T) {
	clk := &fakeClock{ms: 7500}
	l, fsys := segmentedLog(t, clk)
	defer l.Close()
	l.SetOptions(Options{RetentionMs: Retain(3000), SegmentBytes: l.Options().SegmentBytes, Now: clk.now})
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	// Segments with max timestamp 0..4000 are older than 7500-3000.
	if n != 5 || l.LogStartOffset() != 20 || l.NumSegments() != 5 {
		t.Fatalf("deleted %d, log start %d, segments %d", n, l.LogStartOffset(), l.NumSegments())
	}
	if _, err := l.Read(19, 100, 40); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if ok, _ := exists(fsys, segmentPath("/data/t-0", 0, logSuffix)); ok {
		t.Fatal("expired segment file still there")
	}
	l2 := reopen(t, fsys, l, Options{})
	defer l2.Close()
	if l2.LogStartOffset() != 20 {
		t.Fatalf("log start %d after reopen", l2.LogStartOffset())
	}
}

func TestRetentionByBytesKeepsTheNewestSegmentsWithinTheBound(t *testing.T) {
	clk := &fakeClock{ms: 0}
	l, _ := segmentedLog(t, clk)
	defer l.Close()
	segBytes := l.Options().SegmentBytes
	l.SetOptions(Options{RetentionMs: Retain(-1), RetentionBytes: Retain(3 * segBytes), SegmentBytes: segBytes, Now: clk.now})
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil || n != 7 || l.Size() != 3*segBytes || l.LogStartOffset() != 28 {
		t.Fatalf("deleted %d err %v size %d log start %d", n, err, l.Size(), l.LogStartOffset())
	}
	l.SetOptions(Options{RetentionMs: Retain(-1), RetentionBytes: Retain(1), SegmentBytes: segBytes, Now: clk.now})
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 2 || l.NumSegments() != 1 {
		t.Fatalf("deleted %d, %d segments left", n, l.NumSegments())
	}
	if off := mustAppend(t, l, makeBatch(1, 50, 0), 0); off != 40 {
		t.Fatalf("append at %d", off)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	l, fsys := segmentedLog(t, &fakeClock{})
	if err := l.DeleteRecordsBefore(41); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond leo: %v", err)
	}
	if err := l.DeleteRecordsBefore(9); err != nil {
		t.Fatal(err)
	}
	// Segments [0,4) and [4,8) go; [8,12) holds offset 9 and stays.
	if l.LogStartOffset() != 9 || l.NumSegments() != 8 {
		t.Fatalf("log start %d segments %d", l.LogStartOffset(), l.NumSegments())
	}
	got, err := l.Read(9, 1, 40)
	if err != nil || batchOffsets(t, got)[0] != 9 {
		t.Fatalf("read at start: %v", err)
	}
	if err := l.DeleteRecordsBefore(5); err != nil || l.LogStartOffset() != 9 {
		t.Fatalf("lower offset must be a no-op: %v log start %d", err, l.LogStartOffset())
	}
	if err := l.DeleteRecordsBefore(40); err != nil || l.NumSegments() != 1 || l.LogStartOffset() != 40 {
		t.Fatalf("delete all: %v segments %d", err, l.NumSegments())
	}
	if b, err := l.Read(40, 100, 40); b != nil || err != nil {
		t.Fatalf("read at start=end: %v", err)
	}
	// Crash and reopen: the start offset checkpoint survives.
	syncNow(t, l)
	fsys.Crash()
	l.Close()
	l2 := reopen(t, fsys, nil, Options{})
	defer l2.Close()
	if l2.LogStartOffset() != 40 || l2.LogEndOffset() != 40 {
		t.Fatalf("after crash log start %d leo %d", l2.LogStartOffset(), l2.LogEndOffset())
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	l, fsys := openMem(t, Options{})
	if e, off := l.EndOffsetForEpoch(0); e != -1 || off != -1 {
		t.Fatalf("empty cache: %d %d", e, off)
	}
	// epoch 1 at 0, epoch 3 at 4, epoch 5 at 10; LEO 12.
	for _, e := range []struct {
		epoch int32
		n     int
	}{{1, 2}, {3, 3}, {5, 1}} {
		for range e.n {
			mustAppend(t, l, makeBatch(2, 1, 0), e.epoch)
		}
	}
	mustAppend(t, l, makeBatch(1, 1, 0), 4) // stale epoch: stamped, not recorded
	cases := []struct {
		req, wantEpoch int32
		wantOff        int64
	}{
		{5, 5, 13}, {4, 3, 10}, {3, 3, 10}, {2, 1, 4}, {1, 1, 4},
		{0, 0, 0}, // below every known epoch: Kafka answers (requested, first start)
		{6, -1, -1}, {-1, -1, -1},
	}
	check := func(l *Log) {
		t.Helper()
		for _, c := range cases {
			if e, off := l.EndOffsetForEpoch(c.req); e != c.wantEpoch || off != c.wantOff {
				t.Fatalf("epoch %d: got (%d,%d) want (%d,%d)", c.req, e, off, c.wantEpoch, c.wantOff)
			}
		}
	}
	check(l)
	if e, ok := l.LatestEpoch(); e != 5 || !ok {
		t.Fatalf("latest %d", e)
	}
	l = reopen(t, fsys, l, Options{})
	defer l.Close()
	check(l)
}

func TestOffsetForTimestampAndMaxTimestamp(t *testing.T) {
	l, _ := openMem(t, Options{SegmentBytes: 600, IndexIntervalBytes: 100})
	defer l.Close()
	// Batch i (2 records) has timestamps 100i, 100i+1; batch 7 goes back in time.
	for i := range 20 {
		ts := int64(100 * i)
		if i == 7 {
			ts = 50
		}
		mustAppend(t, l, makeBatch(2, 30, ts), 0)
	}
	cases := []struct {
		ts, wantOff, wantTs int64
		ok                  bool
	}{
		{0, 0, 1, true}, {1, 0, 1, true}, {2, 2, 101, true},
		{650, 12, 801, true}, // batch 7 is older; batch 8 (offset 16)... see below
		{1901, 38, 1901, true}, {1902, 0, 0, false},
	}
	cases[3] = struct {
		ts, wantOff, wantTs int64
		ok                  bool
	}{650, 16, 801, true}
	for _, c := range cases {
		off, ts, ok := l.OffsetForTimestamp(c.ts)
		if off != c.wantOff || ts != c.wantTs || ok != c.ok {
			t.Fatalf("ts %d: got (%d,%d,%v) want (%d,%d,%v)", c.ts, off, ts, ok, c.wantOff, c.wantTs, c.ok)
		}
	}
	if off, ts, ok := l.MaxTimestamp(); off != 39 || ts != 1901 || !ok {
		t.Fatalf("max timestamp (%d,%d,%v)", off, ts, ok)
	}
}

func TestScanBatches(t *testing.T) {
	l, _ := openMem(t, Options{SegmentBytes: 500})
	defer l.Close()
	for i := range 30 {
		b := makeBatch(1+i%2, 20, 0)
		mustAppend(t, l, b, int32(i/10))
	}
	var bases []int64
	var epochs []int32
	if err := l.ScanBatches(7, func(h BatchHeader) bool {
		bases = append(bases, h.BaseOffset)
		epochs = append(epochs, h.PartitionLeaderEpoch)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	// Batch i starts at i+i/2: 0,1,3,4,6,7,9,...; offset 7 starts batch 5.
	if bases[0] != 7 || bases[len(bases)-1] != 43 || len(bases) != 25 {
		t.Fatalf("bases %v", bases)
	}
	if epochs[0] != 0 || epochs[len(epochs)-1] != 2 {
		t.Fatalf("epochs %v", epochs)
	}
	n := 0
	l.ScanBatches(0, func(BatchHeader) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("early stop after %d", n)
	}
	if err := l.ScanBatches(100, func(BatchHeader) bool { return true }); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("scan past leo: %v", err)
	}
}

func TestRetentionDeletionsSurviveACrash(t *testing.T) {
	clk := &fakeClock{ms: 1000}
	l, fsys := openMem(t, Options{SegmentBytes: 500, RetentionMs: Retain(10), Now: clk.now})
	for i := range 20 {
		mustAppend(t, l, makeBatch(1, 100, int64(i)), 0)
	}
	syncNow(t, l)
	before := l.NumSegments()
	clk.ms = 1 << 40
	if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	left := l.NumSegments()
	l2, _ := crashOpen(t, fsys, l, Options{SegmentBytes: 500}, nil)
	defer l2.Close()
	if l2.NumSegments() != left || before == left {
		t.Fatalf("segments: %d before retention, %d after, %d after a crash", before, left, l2.NumSegments())
	}
}

// retentionOpts are the options of segmentedLog with the given bounds.
func retentionOpts(l *Log, clk *fakeClock, ms, bytes Retention) Options {
	return Options{SegmentBytes: l.Options().SegmentBytes, RetentionMs: ms, RetentionBytes: bytes, Now: clk.now}
}

// Kafka: retention.bytes=0 and retention.ms=0 keep nothing below the high
// watermark; the non-empty active segment is rolled and deleted with the
// rest, and an empty active segment stays.
func TestRetentionZeroDeletesEverythingBelowTheHighWatermark(t *testing.T) {
	for _, c := range []struct {
		name      string
		ms, bytes Retention
	}{{"bytes=0", Retain(-1), Retain(0)}, {"ms=0", Retain(0), Retain(-1)}} {
		t.Run(c.name, func(t *testing.T) {
			clk := &fakeClock{ms: 9000}
			l, fsys := segmentedLog(t, clk)
			mustAppend(t, l, makeBatch(1, 50, 9000), 0) // active [40,42), half full
			mustAppend(t, l, makeBatch(1, 50, 9000), 0)
			l.SetOptions(retentionOpts(l, clk, c.ms, c.bytes))
			if n, err := l.ApplyRetention(22); err != nil || n != 5 || l.LogStartOffset() != 20 {
				t.Fatalf("hw 22: deleted %d, log start %d: %v", n, l.LogStartOffset(), err)
			}
			if _, err := l.Read(19, 100, 42); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			clk.ms = 9001 // ms=0: now - 9000 > 0 only from here
			rolls := l.Stats().Rolls
			if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n != 6 {
				t.Fatalf("hw = leo: deleted %d: %v", n, err)
			}
			if l.LogStartOffset() != 42 || l.NumSegments() != 1 || l.Size() != 0 || l.Stats().Rolls != rolls+1 {
				t.Fatalf("log start %d, %d segments, size %d, rolls %d (was %d)",
					l.LogStartOffset(), l.NumSegments(), l.Size(), l.Stats().Rolls, rolls)
			}
			if ok, _ := exists(fsys, segmentPath("/data/t-0", 40, logSuffix)); ok {
				t.Fatal("the rolled active segment's file is still there")
			}
			if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n != 0 || l.Stats().Rolls != rolls+1 {
				t.Fatalf("empty active segment: deleted %d, rolls %d: %v", n, l.Stats().Rolls, err)
			}
			if off := mustAppend(t, l, makeBatch(1, 50, 9000), 0); off != 42 {
				t.Fatalf("append after deleting everything at %d", off)
			}
			l2 := reopen(t, fsys, l, Options{})
			defer l2.Close()
			if l2.LogStartOffset() != 42 || l2.LogEndOffset() != 43 {
				t.Fatalf("after reopen log %d..%d", l2.LogStartOffset(), l2.LogEndOffset())
			}
		})
	}
}

func TestRetentionNeverDeletesAtOrAboveTheHighWatermark(t *testing.T) {
	for _, hw := range []int64{0, 3, 4, 5, 22, 39, 40, 100} {
		clk := &fakeClock{ms: 1 << 40}
		l, _ := segmentedLog(t, clk)
		l.SetOptions(retentionOpts(l, clk, Retain(0), Retain(0)))
		if _, err := l.ApplyRetention(hw); err != nil {
			t.Fatal(err)
		}
		// Segments are [4k, 4k+4): deletable once 4k+4 <= hw.
		want := min(hw/4*4, 40)
		if l.LogStartOffset() != want {
			t.Fatalf("hw %d: log start %d, want %d", hw, l.LogStartOffset(), want)
		}
		if got := batchOffsets(t, readAll(t, l)); len(got) != int(40-want) {
			t.Fatalf("hw %d: %d batches readable, want %d", hw, len(got), 40-want)
		}
		l.Close()
	}
}

func TestRetentionUnlimitedKeepsEverything(t *testing.T) {
	clk := &fakeClock{ms: 1 << 40}
	l, _ := segmentedLog(t, clk)
	defer l.Close()
	l.SetOptions(retentionOpts(l, clk, Retain(-1), Retain(-1)))
	if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n != 0 || l.NumSegments() != 10 {
		t.Fatalf("deleted %d, %d segments: %v", n, l.NumSegments(), err)
	}
}

// Unset bounds are the defaults (7 days, unlimited), not 0.
func TestRetentionUnsetTakesTheDefaults(t *testing.T) {
	clk := &fakeClock{ms: 9001}
	l, _ := segmentedLog(t, clk)
	defer l.Close()
	o := l.Options()
	if ms, ok := o.RetentionMs.Value(); ms != DefaultRetentionMs || !ok {
		t.Fatalf("retention.ms %d %v", ms, ok)
	}
	if b, ok := o.RetentionBytes.Value(); b != -1 || !ok {
		t.Fatalf("retention.bytes %d %v", b, ok)
	}
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 0 {
		t.Fatalf("deleted %d segments within the default retention", n)
	}
	clk.ms = 8000 + DefaultRetentionMs + 1 // segments 0..8 expire
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 9 || l.LogStartOffset() != 36 {
		t.Fatalf("deleted %d, log start %d", n, l.LogStartOffset())
	}
}
