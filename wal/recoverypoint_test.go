package wal

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// checkpointed builds a log of head batches, checkpoints its recovery
// point, appends tail more batches and syncs them: what a broker killed
// between two checkpoints leaves. It returns the batches.
func checkpointed(t *testing.T, opts Options, head, tail int) (*Log, *memfs.FS, [][]byte) {
	t.Helper()
	l, fsys := openMem(t, opts)
	batches := fillLog(t, l, head, 40)
	rp, err := l.CheckpointRecoveryPoint()
	if err != nil || rp != l.LogEndOffset() {
		t.Fatalf("checkpoint: %d, %v (leo %d)", rp, err, l.LogEndOffset())
	}
	for i := range tail {
		b := makeBatch(2, 40, int64(5000+i))
		mustAppend(t, l, b, 0)
		batches = append(batches, b)
	}
	syncNow(t, l)
	return l, fsys, batches
}

func sizeOf(bs [][]byte) int64 { return int64(len(bytes.Join(bs, nil))) }

// checkEveryOffsetReadable reads each offset through the index and checks
// the directory (every index entry at a batch boundary, right offset).
func checkEveryOffsetReadable(t *testing.T, fsys FS, l *Log) {
	t.Helper()
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		got, err := l.Read(off, 1, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		h, err := ParseBatchHeader(got)
		if err != nil || h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("read %d: batch %d..%d, %v", off, h.BaseOffset, h.LastOffset(), err)
		}
	}
	rep, err := InspectDir(fsys, l.Dir(), nil)
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("inspect: %v %v", err, rep.Problems)
	}
}

func TestCrashScansOnlyTheTailPastTheRecoveryPoint(t *testing.T) {
	opts := Options{IndexIntervalBytes: 100}
	const head, tail = 200, 20
	l, fsys, batches := checkpointed(t, opts, head, tail)
	l2, after := crashOpen(t, fsys, l, opts, nil)
	defer l2.Close()
	rs := l2.Stats().Recovery
	if rs.CleanShutdown || rs.RecoveryPoint != 2*head || rs.RecoveryPointRejected != "" {
		t.Fatalf("recovery %+v, want the point at %d used", rs, 2*head)
	}
	if want := sizeOf(batches[head:]); rs.ScannedBytes != want {
		t.Fatalf("scanned %d bytes, want the tail's %d", rs.ScannedBytes, want)
	}
	if rs.WalkedBytes > 100+int64(len(batches[0])) {
		t.Fatalf("walked %d bytes before the point, want at most one index interval", rs.WalkedBytes)
	}
	if !bytes.Equal(readAll(t, l2), bytes.Join(batches, nil)) {
		t.Fatal("log differs after recovery")
	}
	checkEveryOffsetReadable(t, after, l2)
	if l2.RecoveryPoint() != l2.LogEndOffset() || l2.DurableOffset() != l2.LogEndOffset() {
		t.Fatalf("recovery point %d durable %d leo %d", l2.RecoveryPoint(), l2.DurableOffset(), l2.LogEndOffset())
	}
	// The rebuilt tail is as a fresh log's: appends and a second crash.
	mustAppend(t, l2, makeBatch(2, 40, 9000), 0)
	syncNow(t, l2)
	l3, after3 := crashOpen(t, after, l2, opts, nil)
	defer l3.Close()
	if rs := l3.Stats().Recovery; rs.ScannedBytes != int64(len(makeBatch(2, 40, 9000))) {
		t.Fatalf("second recovery %+v", rs)
	}
	checkEveryOffsetReadable(t, after3, l3)
}

func TestTornTailPastTheRecoveryPointIsCut(t *testing.T) {
	opts := Options{IndexIntervalBytes: 100}
	const head, tail = 50, 10
	for _, tc := range []struct {
		name   string
		damage func(f File, tailStart int64, batches [][]byte) int64 // returns the kept bytes
	}{
		{"chopped last batch", func(f File, at int64, bs [][]byte) int64 {
			f.Truncate(at + sizeOf(bs[head:]) - 5)
			return at + sizeOf(bs[head:head+tail-1])
		}},
		{"bad crc in the tail", func(f File, at int64, bs [][]byte) int64 {
			bad := at + sizeOf(bs[head:head+3])
			f.WriteAt([]byte{0xee}, bad+BatchHeaderSize+2) // a record byte
			return bad
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, fsys, batches := checkpointed(t, opts, head, tail)
			after := fsys.Reboot(nil)
			l.Close()
			f, err := after.OpenFile(segmentPath("/data/t-0", 0, logSuffix), osCreateRDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			keep := tc.damage(f, sizeOf(batches[:head]), batches)
			f.Close()
			l2, err := Open(after, "/data/t-0", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			rs := l2.Stats().Recovery
			if rs.RecoveryPoint != 2*head || rs.RecoveryPointRejected != "" || rs.TruncatedAtOffset < 2*head {
				t.Fatalf("recovery %+v", rs)
			}
			if got := readAll(t, l2); !bytes.Equal(got, bytes.Join(batches, nil)[:keep]) {
				t.Fatalf("kept %d bytes, want %d", len(got), keep)
			}
			checkEveryOffsetReadable(t, after, l2)
			if off := mustAppend(t, l2, makeBatch(1, 1, 0), 0); off != l2.LogEndOffset()-1 {
				t.Fatalf("append after the cut at %d", off)
			}
		})
	}
}

func TestRecoveryPointThatDoesNotHoldFallsBackToAFullScan(t *testing.T) {
	opts := Options{IndexIntervalBytes: 100}
	const head, tail = 60, 5
	for _, tc := range []struct {
		name  string
		point func(p recoveryPoint) string // the checkpoint's entry line
	}{
		{"unparseable", func(recoveryPoint) string { return "not a number" }},
		{"position past the end", func(p recoveryPoint) string { p.pos += 1 << 20; return p.line() }},
		{"position inside a batch", func(p recoveryPoint) string { p.pos -= 7; return p.line() }},
		{"offset not at the position", func(p recoveryPoint) string { p.offset += 2; return p.line() }},
		{"more index entries than durable", func(p recoveryPoint) string { p.offsets += 1000; return p.line() }},
		{"index entries beyond the position", func(p recoveryPoint) string { p.pos, p.offset = 0, 0; return p.line() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, fsys, batches := checkpointed(t, opts, head, tail)
			l.rpMu.Lock()
			p := l.rp
			l.rpMu.Unlock()
			after := fsys.Reboot(nil)
			l.Close()
			if err := writeCheckpoint(after, "/data/t-0", recoveryPointCheckpoint, []string{tc.point(p)}); err != nil {
				t.Fatal(err)
			}
			l2, err := Open(after, "/data/t-0", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			rs := l2.Stats().Recovery
			if rs.RecoveryPointRejected == "" || rs.ScannedBytes != sizeOf(batches) || rs.RecoveryPoint != 0 {
				t.Fatalf("recovery %+v, want the point rejected and all %d bytes scanned", rs, sizeOf(batches))
			}
			if !bytes.Equal(readAll(t, l2), bytes.Join(batches, nil)) {
				t.Fatal("log differs after recovery")
			}
			checkEveryOffsetReadable(t, after, l2)
		})
	}
}

func TestRecoveryPointAcrossRollsTrustsSealedSegments(t *testing.T) {
	opts := Options{SegmentBytes: 2000, IndexIntervalBytes: 100}
	l, fsys, batches := checkpointed(t, opts, 100, 3)
	if l.NumSegments() < 3 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	l2, after := crashOpen(t, fsys, l, opts, nil)
	defer l2.Close()
	rs := l2.Stats().Recovery
	if rs.RecoveryPoint != 200 || rs.RecoveryPointRejected != "" || rs.SegmentsScanned != 1 {
		t.Fatalf("recovery %+v", rs)
	}
	if !bytes.Equal(readAll(t, l2), bytes.Join(batches, nil)) {
		t.Fatal("log differs after recovery")
	}
	checkEveryOffsetReadable(t, after, l2)
}

func TestTruncateBelowTheRecoveryPointLowersIt(t *testing.T) {
	opts := Options{IndexIntervalBytes: 100}
	l, fsys, batches := checkpointed(t, opts, 40, 0)
	if err := l.TruncateTo(30); err != nil {
		t.Fatal(err)
	}
	if l.RecoveryPoint() > 30 {
		t.Fatalf("recovery point %d above the cut at 30", l.RecoveryPoint())
	}
	want := bytes.Join(batches[:15], nil)
	for i := range 30 { // other batches at the same offsets, synced
		b := makeBatch(2, 7+i, int64(i))
		mustAppend(t, l, b, 0)
		want = append(want, b...)
	}
	syncNow(t, l)
	l2, after := crashOpen(t, fsys, l, opts, nil)
	defer l2.Close()
	if !bytes.Equal(readAll(t, l2), want) {
		t.Fatal("log differs after recovery")
	}
	if rs := l2.Stats().Recovery; rs.RecoveryPoint > 30 {
		t.Fatalf("recovery %+v trusted past the cut", rs)
	}
	checkEveryOffsetReadable(t, after, l2)
}

// TestAckedBatchesSurviveCrashesWithCheckpoints is the torn-writeback
// crash loop with recovery points checkpointed while appends run.
func TestAckedBatchesSurviveCrashesWithCheckpoints(t *testing.T) {
	used := 0
	for round := range 30 {
		rng := rand.New(rand.NewPCG(uint64(round), 11))
		opts := Options{SegmentBytes: 1500 + rng.Int64N(3000), IndexIntervalBytes: 64 + rng.IntN(200)}
		l, fsys := openMem(t, opts)
		var acked []byte
		stop := make(chan struct{})
		ckpts := make(chan int, 1)
		go func() {
			n := 0
			defer func() { ckpts <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.CheckpointRecoveryPoint(); err == nil {
					n++
				}
			}
		}()
		for i := range 40 + rng.IntN(200) {
			b := makeBatch(1+i%3, 10+rng.IntN(80), int64(i))
			mustAppend(t, l, b, int32(i/50))
			if rng.IntN(3) == 0 {
				syncNow(t, l)
				acked = append(acked[:0], readAll(t, l)...)
			}
		}
		l2, after := crashOpen(t, fsys, l, opts, rng)
		close(stop)
		<-ckpts
		got := readAll(t, l2)
		if !bytes.HasPrefix(got, acked) {
			t.Fatalf("round %d: acked bytes lost: got %d bytes, want a prefix of %d (recovery %+v)",
				round, len(got), len(acked), l2.Stats().Recovery)
		}
		rs := l2.Stats().Recovery
		if rs.RecoveryPointRejected != "" {
			t.Fatalf("round %d: a recovery point written by the log was rejected: %+v", round, rs)
		}
		if rs.RecoveryPoint > 0 {
			used++
		}
		checkEveryOffsetReadable(t, after, l2)
		l2.Close()
	}
	if used < 10 {
		t.Fatalf("only %d of 30 crashes recovered from a recovery point", used)
	}
}

// TestACleanMarkerACrashBroughtBackIsNotTrusted: Open removes the clean
// marker without a sync when an exact recovery point is on disk, so a
// crash can bring it back; it must not make recovery trust the tail
// written since (here a torn batch), neither with that point on disk nor
// after a truncation lowered it.
func TestACleanMarkerACrashBroughtBackIsNotTrusted(t *testing.T) {
	opts := Options{IndexIntervalBytes: 100}
	for _, truncate := range []bool{false, true} {
		l, fsys := openMem(t, opts)
		fillLog(t, l, 30, 40)
		l = reopen(t, fsys, l, opts) // Close: marker and an exact point at 60
		if truncate {
			if err := l.TruncateTo(40); err != nil { // lowers the point to the segment base
				t.Fatal(err)
			}
		}
		keep := l.Size()
		for i := range 5 {
			mustAppend(t, l, makeBatch(2, 40, int64(100+i)), 0)
		}
		syncNow(t, l)
		after := fsys.Reboot(nil)
		l.Close()
		if ok, _ := exists(after, "/data/t-0/.clean"); ok == truncate {
			t.Fatalf("truncate=%v: marker present %v after the crash", truncate, ok)
		}
		f, _ := after.OpenFile(segmentPath("/data/t-0", 0, logSuffix), osCreateRDWR, 0)
		f.WriteAt([]byte{0xee}, keep+BatchHeaderSize+3) // the first batch after the reopen, torn
		f.Close()
		l2, err := Open(after, "/data/t-0", opts)
		if err != nil {
			t.Fatal(err)
		}
		if l2.Size() != keep || l2.Stats().Recovery.TruncatedAtOffset < 0 {
			t.Fatalf("truncate=%v: %d bytes kept, want %d (recovery %+v)", truncate, l2.Size(), keep, l2.Stats().Recovery)
		}
		batchOffsets(t, readAll(t, l2)) // every CRC holds
		l2.Close()
	}
}

// TestRecoveryFromAPointOnRealFiles opens a second log on the directory
// of one still open, as a broker restarted after kill -9 finds it (its
// writes in the page cache, its mapped indexes sized to their capacity):
// with mmap'd indexes, the point's segment keeps its durable entries and
// only the tail is scanned.
func TestRecoveryFromAPointOnRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	opts := Options{IndexIntervalBytes: 100}
	l, err := Open(OSFS(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batches := fillLog(t, l, 200, 40)
	if _, err := l.CheckpointRecoveryPoint(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b := makeBatch(2, 40, int64(5000+i))
		mustAppend(t, l, b, 0)
		batches = append(batches, b)
	}
	syncNow(t, l)
	l2, err := Open(OSFS(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	rs := l2.Stats().Recovery
	if rs.RecoveryPoint != 400 || rs.RecoveryPointRejected != "" || rs.ScannedBytes != sizeOf(batches[200:]) {
		t.Fatalf("recovery %+v", rs)
	}
	if !bytes.Equal(readAll(t, l2), bytes.Join(batches, nil)) {
		t.Fatal("log differs after recovery")
	}
	checkEveryOffsetReadable(t, OSFS(), l2)
}
