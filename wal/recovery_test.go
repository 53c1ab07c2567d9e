package wal

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// fillLog appends n batches of 2 records and returns their bytes.
func fillLog(t testing.TB, l *Log, n, valueSize int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		b := makeBatch(2, valueSize, int64(1000+10*i))
		mustAppend(t, l, b, 0)
		out = append(out, b)
	}
	return out
}

func reopen(t testing.TB, fsys FS, l *Log, opts Options) *Log {
	t.Helper()
	if l != nil {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l2, err := Open(fsys, "/data/t-0", opts)
	if err != nil {
		t.Fatal(err)
	}
	return l2
}

func readAll(t testing.TB, l *Log) []byte {
	t.Helper()
	b, err := l.Read(l.LogStartOffset(), 1<<30, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCleanShutdownIsTrustedAndAppendsContinue(t *testing.T) {
	opts := Options{SegmentBytes: 2000, IndexIntervalBytes: 100}
	l, fsys := openMem(t, opts)
	want := bytes.Join(fillLog(t, l, 30, 50), nil)
	l = reopen(t, fsys, l, opts)
	defer l.Close()
	rs := l.Stats().Recovery
	if !rs.CleanShutdown || rs.SegmentsScanned != 0 {
		t.Fatalf("recovery %+v, want clean without scans", rs)
	}
	if ok, _ := exists(fsys, "/data/t-0/.clean"); ok {
		t.Fatal("clean marker not removed at open")
	}
	if l.LogEndOffset() != 60 || l.DurableOffset() != 60 {
		t.Fatalf("leo %d durable %d", l.LogEndOffset(), l.DurableOffset())
	}
	if !bytes.Equal(readAll(t, l), want) {
		t.Fatal("data differs after clean reopen")
	}
	if off := mustAppend(t, l, makeBatch(1, 5, 0), 0); off != 60 {
		t.Fatalf("append after reopen at %d", off)
	}
	if off, ts, ok := l.MaxTimestamp(); off != 59 || ts != 1291 || !ok {
		t.Fatalf("max timestamp at %d = %d, %v; want 59 = 1291", off, ts, ok)
	}
}

func TestIndexRebuiltWhenDeletedOrCorrupt(t *testing.T) {
	opts := Options{SegmentBytes: 3000, IndexIntervalBytes: 100}
	for _, damage := range []string{"delete", "garbage"} {
		t.Run(damage, func(t *testing.T) {
			l, fsys := openMem(t, opts)
			want := bytes.Join(fillLog(t, l, 40, 50), nil)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			idx := segmentPath("/data/t-0", 0, indexSuffix)
			if damage == "delete" {
				fsys.Remove(idx)
			} else {
				f, _ := fsys.OpenFile(idx, osCreateRDWR, 0)
				f.WriteAt([]byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0)
				f.Close()
			}
			l = reopen(t, fsys, nil, opts)
			defer l.Close()
			if l.Stats().Recovery.IndexesRebuilt != 1 {
				t.Fatalf("recovery %+v, want one index rebuilt", l.Stats().Recovery)
			}
			if !bytes.Equal(readAll(t, l), want) {
				t.Fatal("data differs")
			}
			for off := int64(0); off < 80; off += 7 {
				got, err := l.Read(off, 1, 80)
				if err != nil || batchOffsets(t, got)[0] != off&^1 {
					t.Fatalf("read %d: %v", off, err)
				}
			}
		})
	}
}

func TestTornTailIsTruncatedAndAppendsStayDense(t *testing.T) {
	const n = 8
	l, fsys := openMem(t, Options{})
	batches := fillLog(t, l, n, 40)
	total := int64(len(bytes.Join(batches, nil)))
	lastLen := int64(len(batches[n-1]))
	syncNow(t, l)
	l.Close()
	fsys.Remove("/data/t-0/.clean")
	for cut := int64(1); cut < lastLen; cut += 9 {
		f, _ := fsys.OpenFile(segmentPath("/data/t-0", 0, logSuffix), osCreateRDWR, 0)
		f.Truncate(total - cut)
		f.Close()
		l = reopen(t, fsys, nil, Options{})
		if l.LogEndOffset() != 2*(n-1) {
			t.Fatalf("cut %d: leo %d want %d", cut, l.LogEndOffset(), 2*(n-1))
		}
		if rs := l.Stats().Recovery; rs.TruncatedBytes != lastLen-cut || rs.TruncatedAtOffset != 2*(n-1) {
			t.Fatalf("cut %d: recovery %+v", cut, rs)
		}
		if off := mustAppend(t, l, batches[n-1], 0); off != 2*(n-1) {
			t.Fatalf("re-append at %d", off)
		}
		total = l.Size()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		fsys.Remove("/data/t-0/.clean")
	}
}

func TestTornTailOnRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	opts := Options{IndexIntervalBytes: 64}
	l, err := Open(OSFS(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	batches := fillLog(t, l, 20, 30)
	syncNow(t, l)
	// Simulate a crash: no Close, so no marker. Chop the last batch.
	seg := segmentPath(dir, 0, logSuffix)
	l.Close()
	OSFS().Remove(filepath.Join(dir, cleanMarker))
	f, _ := OSFS().OpenFile(seg, osCreateRDWR, 0)
	size, _ := f.Size()
	f.Truncate(size - 5)
	f.Close()
	l, err = Open(OSFS(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != 38 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	if !bytes.Equal(readAll(t, l), bytes.Join(batches[:19], nil)) {
		t.Fatal("prefix differs")
	}
	if off := mustAppend(t, l, makeBatch(1, 1, 0), 0); off != 38 {
		t.Fatalf("append at %d", off)
	}
	got, _ := l.Read(20, 1, 100)
	if batchOffsets(t, got)[0] != 20 {
		t.Fatal("index lookup on real mmap'd index failed")
	}
}

func TestCrashKeepsEverySyncedBatch(t *testing.T) {
	opts := Options{SegmentBytes: 4000, IndexIntervalBytes: 256}
	l, fsys := openMem(t, opts)
	var acked [][]byte
	for i := range 60 {
		b := makeBatch(1+i%3, 30+i, int64(i))
		mustAppend(t, l, b, int32(i/20))
		if i%7 == 0 {
			syncNow(t, l)
			acked = append(acked, nil) // marker: all so far are acked
		}
		acked = append(acked, b)
	}
	// Everything up to the last nil marker was acked.
	last := 0
	for i, b := range acked {
		if b == nil {
			last = i
		}
	}
	var want []byte
	for _, b := range acked[:last] {
		want = append(want, b...)
	}
	fsys.Crash()
	l.Close() // fails: handles are gone; must not write the marker
	l2 := reopen(t, fsys, nil, opts)
	defer l2.Close()
	got := readAll(t, l2)
	if !bytes.HasPrefix(got, want) {
		t.Fatalf("acked bytes lost: got %d bytes, want prefix of %d", len(got), len(want))
	}
	if l2.Stats().Recovery.CleanShutdown {
		t.Fatal("crash seen as clean shutdown")
	}
	e, ok := l2.LatestEpoch()
	if !ok || e > 2 {
		t.Fatalf("epoch %d %v", e, ok)
	}
	if off := mustAppend(t, l2, makeBatch(1, 1, 0), 5); off != l2.LogEndOffset()-1 {
		t.Fatalf("append after crash at %d", off)
	}
}

func FuzzRecover(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add(makeBatch(1, 3, 0)[:30], uint16(0))
	f.Add(makeBatch(2, 3, 0), uint16(5))
	f.Add(bytes.Repeat([]byte{0xff}, 100), uint16(3))
	f.Fuzz(func(t *testing.T, tail []byte, chop uint16) {
		fsys := memfs.New()
		opts := Options{IndexIntervalBytes: 64}
		l, err := Open(fsys, "/d", opts)
		if err != nil {
			t.Fatal(err)
		}
		var prefix []byte
		for i := range 5 {
			b := makeBatch(1+i%2, 20, int64(i))
			mustAppend(t, l, b, 0)
			prefix = append(prefix, b...)
		}
		leo := l.LogEndOffset()
		l.Close()
		fsys.Remove("/d/.clean")
		f, _ := fsys.OpenFile(segmentPath("/d", 0, logSuffix), osCreateRDWR, 0)
		keep := int64(len(prefix)) - int64(chop)%int64(len(prefix)+1)
		f.Truncate(keep)
		f.WriteAt(tail, keep)
		f.Close()
		l, err = Open(fsys, "/d", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got := readAll(t, l)
		if len(got) > len(prefix) && len(tail) > 0 && !CheckBatchCRC(tail) {
			// Only a tail that is itself a valid batch may survive.
			t.Fatalf("read %d bytes from a %d-byte valid prefix", len(got), len(prefix))
		}
		if !bytes.Equal(got[:min(len(got), int(keep))], prefix[:min(len(got), int(keep))]) {
			t.Fatal("valid prefix changed")
		}
		whole := 0 // bytes of the batches that the chop left whole
		ForEachBatch(prefix[:keep], func(h BatchHeader, b []byte) bool { whole += len(b); return true })
		if len(got) < whole {
			t.Fatalf("recovery cut into whole batches: %d bytes left of %d", len(got), whole)
		}
		n := int64(0)
		ForEachBatch(got, func(h BatchHeader, _ []byte) bool { n = h.NextOffset(); return true })
		if n != l.LogEndOffset() || (chop == 0 && l.LogEndOffset() < leo) {
			t.Fatalf("leo %d, batches end at %d, was %d", l.LogEndOffset(), n, leo)
		}
		if _, err := l.Append(makeBatch(1, 1, 0), 0); err != nil {
			t.Fatal(err)
		}
	})
}
