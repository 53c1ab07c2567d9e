package wal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

func fileSize(t testing.TB, fsys FS, name string) int64 {
	t.Helper()
	st, err := fsys.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestActiveSegmentIsPreallocatedAndTrimmedOnClose(t *testing.T) {
	l, fsys := openMem(t, Options{PreallocateBytes: 8 << 10})
	want := bytes.Join(fillLog(t, l, 5, 30), nil)
	seg := segmentPath("/data/t-0", 0, logSuffix)
	if got := fileSize(t, fsys, seg); got != 8<<10 || l.Size() != int64(len(want)) {
		t.Fatalf("file %d bytes, log size %d: want 8 KiB preallocated, %d logical", got, l.Size(), len(want))
	}
	l = reopen(t, fsys, l, Options{PreallocateBytes: 8 << 10})
	defer l.Close()
	if rs := l.Stats().Recovery; !rs.CleanShutdown {
		t.Fatalf("recovery %+v", rs)
	}
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes after clean reopen, want %d", len(got), len(want))
	}
	if l.LogEndOffset() != 10 || l.Size() != int64(len(want)) {
		t.Fatalf("leo %d size %d", l.LogEndOffset(), l.Size())
	}
}

// A crash leaves the preallocated zero tail on disk: recovery must find
// the logical end there, count it apart from torn data, and keep appending
// densely.
func TestZeroTailAfterCrashIsNotCorruption(t *testing.T) {
	opts := Options{PreallocateBytes: 8 << 10}
	l, fsys := openMem(t, opts)
	want := bytes.Join(fillLog(t, l, 6, 30), nil)
	syncNow(t, l)
	l2, after := crashOpen(t, fsys, l, opts, nil)
	defer l2.Close()
	rs := l2.Stats().Recovery
	if rs.CleanShutdown || rs.TruncatedBytes != 0 || rs.TruncatedAtOffset != -1 || rs.ZeroTailBytes != 8<<10-int64(len(want)) {
		t.Fatalf("recovery %+v, want only a zero tail of %d bytes", rs, 8<<10-len(want))
	}
	if got := readAll(t, l2); !bytes.Equal(got, want) || l2.LogEndOffset() != 12 {
		t.Fatalf("read %d bytes, leo %d", len(got), l2.LogEndOffset())
	}
	if off := mustAppend(t, l2, makeBatch(2, 30, 5000), 0); off != 12 {
		t.Fatalf("append after recovery at %d, want 12", off)
	}
	if got := fileSize(t, after, segmentPath("/data/t-0", 0, logSuffix)); got < 8<<10 {
		t.Fatalf("active segment %d bytes after recovery: preallocation not restored", got)
	}
}

// Bytes after a hole in the zero tail were never durable (what follows a
// hole was written later); recovery drops them instead of serving them.
func TestDataAfterZeroHoleIsCut(t *testing.T) {
	opts := Options{PreallocateBytes: 8 << 10}
	l, fsys := openMem(t, opts)
	want := bytes.Join(fillLog(t, l, 3, 30), nil)
	syncNow(t, l)
	l.Close()
	fsys.Remove("/data/t-0/.clean")
	f, _ := fsys.OpenFile(segmentPath("/data/t-0", 0, logSuffix), osCreateRDWR, 0)
	stray := makeBatch(2, 30, 0)
	SetBaseOffset(stray, 6)
	f.WriteAt(stray, int64(len(want))+200)
	f.Close()
	l = reopen(t, fsys, nil, opts)
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, want) || l.LogEndOffset() != 6 {
		t.Fatalf("read %d bytes leo %d, want %d bytes leo 6", len(got), l.LogEndOffset(), len(want))
	}
	mustAppend(t, l, makeBatch(20, 20, 0), 0) // covers the hole and the stray batch
	if got := batchOffsets(t, readAll(t, l)); got[len(got)-1] != 6 {
		t.Fatalf("offsets %v", got)
	}
}

// The next segment is prepared in the background once the active one is
// half full, so the roll renames it into place; the files are complete
// and nothing temporary is left after Close.
func TestRollTakesPreparedSegment(t *testing.T) {
	opts := Options{SegmentBytes: 4096, IndexIntervalBytes: 200}
	l, fsys := openMem(t, opts)
	var want [][]byte
	for l.Size() < 2100 {
		want = append(want, fillLog(t, l, 1, 100)...)
	}
	l.bg.Wait()
	if ok, _ := exists(fsys, "/data/t-0/"+spareStem+logSuffix+tmpSuffix); !ok {
		t.Fatal("no prepared segment after passing half of segment.bytes")
	}
	for l.NumSegments() < 3 {
		want = append(want, fillLog(t, l, 1, 100)...)
		l.bg.Wait()
	}
	st := l.Stats()
	if st.Rolls != 2 || st.PreparedRolls != 2 || st.PrepareErrors != 0 {
		t.Fatalf("rolls %d prepared %d errors %d, want every roll prepared", st.Rolls, st.PreparedRolls, st.PrepareErrors)
	}
	syncNow(t, l)
	segs := l.segments()
	if size := fileSize(t, fsys, segs[0].name); size != segs[0].size.Load() {
		t.Fatalf("rolled segment file %d bytes, %d of data: not trimmed", size, segs[0].size.Load())
	}
	l = reopen(t, fsys, l, opts)
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatal("data differs after reopen")
	}
	names, _ := fsys.ReadDir("/data/t-0")
	for _, n := range names {
		if strings.HasSuffix(n, tmpSuffix) {
			t.Fatalf("%s left after Close", n)
		}
	}
	if rep, err := InspectDir(fsys, "/data/t-0", nil); err != nil || !rep.OK() || len(rep.Segments) != 3 {
		t.Fatalf("inspect: %v %+v", err, rep)
	}
}

// A failing preparation must not fail appends: the roll creates the
// segment itself.
func TestPrepareFailureFallsBackToRollCreate(t *testing.T) {
	l, fsys := openMem(t, Options{SegmentBytes: 2048})
	defer l.Close()
	fsys.InjectError(memfs.OpOpen, spareStem, errors.New("disk says no"))
	for l.NumSegments() < 3 {
		fillLog(t, l, 1, 100)
		l.bg.Wait()
	}
	if st := l.Stats(); st.PrepareErrors == 0 || st.PreparedRolls != 0 || st.Rolls != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInspectReportsZeroTailAsSpace(t *testing.T) {
	l, fsys := openMem(t, Options{PreallocateBytes: 4096})
	fillLog(t, l, 4, 30)
	syncNow(t, l)
	after := fsys.Reboot(nil)
	l.Close()
	rep, err := InspectDir(after, "/data/t-0", nil)
	if err != nil || !rep.OK() {
		t.Fatalf("inspect: %v %+v", err, rep)
	}
	s := rep.Segments[0]
	if s.ZeroTailBytes != 4096-s.ValidBytes || s.Batches != 4 {
		t.Fatalf("segment report %+v", s)
	}
}

func TestNewLogDirectoryIsSyncedInParent(t *testing.T) {
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	fsys.InjectError(memfs.OpSyncDir, "/data", errors.New("eio"))
	if _, err := Open(fsys, "/data/t-0", Options{}); err == nil || !strings.Contains(err.Error(), "sync dir /data:") {
		t.Fatalf("open: %v, want the parent directory synced first", err)
	}
}

// The active segment's reservation grows with its data: a fresh (idle)
// log reserves minPreallocateAhead, not PreallocateBytes; once it outgrows
// that, one holding n bytes reserves about n ahead, at least minGrowAhead;
// past PreallocateBytes it stays PreallocateBytes ahead.
func TestPreallocationGrowsWithTheData(t *testing.T) {
	const most = 2 << 20
	l, fsys := openMem(t, Options{PreallocateBytes: most, SegmentBytes: 64 << 20})
	defer l.Close()
	seg := segmentPath("/data/t-0", 0, logSuffix)
	if got := fileSize(t, fsys, seg); got != minPreallocateAhead {
		t.Fatalf("a fresh log's segment file is %d bytes, want %d reserved", got, minPreallocateAhead)
	}
	for _, upTo := range []int64{200 << 10, 1500 << 10, 5 << 20} {
		for l.Size() < upTo {
			fillLog(t, l, 10, 1000)
			l.bg.Wait()
		}
		l.bg.Wait()
		l.startPrepare() // the last append may have found a step running
		l.bg.Wait()
		size, got := l.Size(), fileSize(t, fsys, seg)
		want := min(int64(most), max(minGrowAhead, size))
		if ahead := got - size; ahead < want/2 || ahead > want {
			t.Fatalf("holding %d bytes: %d reserved ahead, want between %d and %d", size, ahead, want/2, want)
		}
	}
}

// A broker that preallocated (log.preallocate=true) and crashed, then
// restarts with preallocation off: the zero tail its active segment holds
// is the logical end, appends continue densely from it, and a second
// crash keeps every synced batch, the ones written past the old
// reservation too.
func TestALogPreallocatedBeforeACrashReopensWithoutPreallocation(t *testing.T) {
	on, off := Options{PreallocateBytes: 8 << 10}, Options{PreallocateBytes: -1}
	l, fsys := openMem(t, on)
	want := bytes.Join(fillLog(t, l, 6, 30), nil)
	syncNow(t, l)
	l2, after := crashOpen(t, fsys, l, off, nil)
	if rs := l2.Stats().Recovery; rs.TruncatedBytes != 0 || rs.ZeroTailBytes != 8<<10-int64(len(want)) {
		t.Fatalf("recovery %+v, want only a zero tail of %d bytes", rs, 8<<10-len(want))
	}
	// Past the 8 KiB the first run reserved.
	for i := 0; i < 60; i++ {
		b := makeBatch(2, 100, 5000)
		if off := mustAppend(t, l2, b, 0); off != 12+int64(2*i) {
			t.Fatalf("append %d at offset %d, want %d", i, off, 12+2*i)
		}
		want = append(want, b...)
	}
	syncNow(t, l2)
	l3, _ := crashOpen(t, after, l2, off, nil)
	defer l3.Close()
	if rs := l3.Stats().Recovery; rs.TruncatedBytes != 0 {
		t.Fatalf("second recovery cut %d bytes: %+v", rs.TruncatedBytes, rs)
	}
	got := readAll(t, l3)
	if l3.LogEndOffset() != 132 || len(got) != len(want) {
		t.Fatalf("leo %d, %d bytes read, want 132 and %d", l3.LogEndOffset(), len(got), len(want))
	}
	offs := batchOffsets(t, got)
	for i, o := range offs {
		if o != int64(2*i) {
			t.Fatalf("batch %d at offset %d: offsets not dense", i, o)
		}
	}
}
