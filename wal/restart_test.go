package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

var restartOpts = Options{SegmentBytes: 1500, IndexIntervalBytes: 200}

// oldLog fills l as every restart test's log before the restart: 40
// leader batches over several segments, epochs 0 to 6, the log start
// inside the second batch, all of it durable.
func oldLog(t testing.TB, l *Log) {
	t.Helper()
	fillLeader(t, l, 40)
	if err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	syncNow(t, l)
	l.bg.Wait() // no prepare step runs into what a test counts
}

// batchesAt returns n two-record leader batches of epoch 7 for the
// offsets from base on, as a fetch response carries them.
func batchesAt(base int64, n int) []byte {
	var out []byte
	for i := range n {
		b := makeBatch(2, 30, int64(7000+i))
		SetBaseOffset(b, base+int64(2*i))
		SetLeaderEpoch(b, 7)
		out = append(out, b...)
	}
	return out
}

// checkRestarted checks that l (in fsys) is the empty log at offset, in
// memory and in its checkpoints and files.
func checkRestarted(t *testing.T, fsys FS, l *Log, offset int64) {
	t.Helper()
	if l.LogStartOffset() != offset || l.LogEndOffset() != offset || l.DurableOffset() != offset || l.Size() != 0 || l.NumSegments() != 1 {
		t.Fatalf("log %d..%d durable %d, %d bytes in %d segments; want empty at %d", l.LogStartOffset(), l.LogEndOffset(),
			l.DurableOffset(), l.Size(), l.NumSegments(), offset)
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epochs left")
	}
	if _, _, ok := l.MaxTimestamp(); ok {
		t.Fatal("a max timestamp left")
	}
	dir := l.Dir()
	if lines, err := readCheckpoint(fsys, dir, leaderEpochCheckpoint); err != nil || len(lines) != 0 {
		t.Fatalf("epoch checkpoint %q, %v", lines, err)
	}
	for _, name := range []string{logStartOffsetCheckpoint, recoveryPointCheckpoint} {
		if off, ok, err := readOffsetCheckpoint(fsys, dir, name); err != nil || !ok || off != offset {
			t.Fatalf("%s: %d %v %v, want %d", name, off, ok, err, offset)
		}
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segFiles []string
	for _, n := range names {
		if n == restartCheckpoint {
			t.Fatalf("%s left", n)
		}
		if isSegmentFile(n) {
			segFiles = append(segFiles, n)
		}
	}
	want := []string{segName(offset, indexSuffix), segName(offset, logSuffix), segName(offset, timeIndexSuffix)}
	if !slices.Equal(segFiles, want) {
		t.Fatalf("segment files %q, want %q", segFiles, want)
	}
}

func segName(base int64, suffix string) string { return segmentPath("", base, suffix) }

// appendAt appends the leader's batches at offset to the restarted l and
// checks that it holds them.
func appendAt(t *testing.T, l *Log, offset int64) []byte {
	t.Helper()
	want := batchesAt(offset, 5)
	if _, err := l.AppendReplica(want, nil); err != nil {
		t.Fatalf("append replica at %d: %v", offset, err)
	}
	if got := readAll(t, l); !bytes.Equal(got, want) || l.LogEndOffset() != offset+10 {
		t.Fatalf("after the append: %d bytes up to %d", len(got), l.LogEndOffset())
	}
	if e, end := l.EndOffsetForEpoch(7); e != 7 || end != offset+10 {
		t.Fatalf("epoch 7 ends (%d,%d)", e, end)
	}
	return want
}

// The log restarts empty at an offset below, inside, at or above the old
// one, and the leader's batches at that offset then go in and stay, across
// a clean restart and a crash.
func TestTruncateFullyAndStartAtRestartsTheLogEmpty(t *testing.T) {
	ref, _ := openMem(t, restartOpts)
	oldLog(t, ref)
	leo := ref.LogEndOffset()
	ref.Close()
	for _, offset := range []int64{0, 1, 20, leo, leo + 1, leo + 5000, 1 << 40} {
		l, fsys := openMem(t, restartOpts)
		oldLog(t, l)
		cut := make(chan error, 1)
		l.Sync(leo+4, func(err error) { cut <- err })
		if err := l.TruncateFullyAndStartAt(offset); err != nil {
			t.Fatalf("restart at %d: %v", offset, err)
		}
		if err := waitDone(t, cut); !errors.Is(err, ErrTruncated) {
			t.Fatalf("restart at %d: waiter registered before: %v", offset, err)
		}
		checkRestarted(t, fsys, l, offset)
		if s := l.Stats(); s.FullTruncations != 1 {
			t.Fatalf("%d full truncations counted", s.FullTruncations)
		}
		want := appendAt(t, l, offset)
		if off := mustAppend(t, l, makeBatch(1, 5, 1), 8); off != offset+10 {
			t.Fatalf("leader append at %d, want %d", off, offset+10)
		}
		want = append(want, readAll(t, l)[len(want):]...)
		syncNow(t, l)
		l = reopen(t, fsys, l, restartOpts)
		if got := readAll(t, l); !bytes.Equal(got, want) || l.LogStartOffset() != offset {
			t.Fatalf("restart at %d: after reopen log %d..%d", offset, l.LogStartOffset(), l.LogEndOffset())
		}
		l, _ = crashOpen(t, fsys, l, restartOpts, nil)
		if got := readAll(t, l); !bytes.Equal(got, want) || l.LogStartOffset() != offset {
			t.Fatalf("restart at %d: after a crash log %d..%d", offset, l.LogStartOffset(), l.LogEndOffset())
		}
		l.Close()
	}
}

func TestTruncateFullyAndStartAtRefusesNegativeOffsetsAndClosedLogs(t *testing.T) {
	l, _ := openMem(t, restartOpts)
	oldLog(t, l)
	if err := l.TruncateFullyAndStartAt(-1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("negative offset: %v", err)
	}
	l.Close()
	if err := l.TruncateFullyAndStartAt(5); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed log: %v", err)
	}
}

// A crash at any file system step of a restart leaves the old log or the
// new empty one, whichever offset it restarts at; the new one takes the
// leader's batches and keeps them.
func TestTruncateFullyAndStartAtIsCrashSafeAtEveryStep(t *testing.T) {
	old, _ := openMem(t, restartOpts)
	oldLog(t, old)
	defer old.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, offset := range []int64{old.LogEndOffset() + 500, 0, 20, segmentBases(old)[1]} {
		finishedAtOpen := false
		for step := 1; ; step++ {
			done, finished := crashRestart(t, offset, step, rng, old)
			finishedAtOpen = finishedAtOpen || finished
			if done {
				break
			}
		}
		if !finishedAtOpen {
			t.Fatalf("offset %d: no crash left the restart for Open to finish", offset)
		}
	}
}

// crashRestart restarts a fresh old log at offset, crashing at its step-th
// mutating file system operation, and checks what recovers. It reports
// whether the restart completed before that step, and whether Open
// finished it.
func crashRestart(t *testing.T, offset int64, step int, rng *rand.Rand, old *Log) (done, finishedAtOpen bool) {
	t.Helper()
	fsys := newFaultFS()
	l, err := Open(fsys, "/data/t-0", restartOpts)
	if err != nil {
		t.Fatal(err)
	}
	oldLog(t, l)
	fsys.failAfter(step)
	err = l.TruncateFullyAndStartAt(offset)
	done = err == nil && !fsys.failed()
	fsys.failAfter(0)
	l2, after := crashOpen(t, fsys.mem, l, restartOpts, rng)
	defer l2.Close()
	isOld := l2.LogEndOffset() == old.LogEndOffset() && l2.Size() == old.Size() && !done
	if isOld {
		if l2.LogStartOffset() != old.LogStartOffset() || !bytes.Equal(readAll(t, l2), readAll(t, old)) {
			t.Fatalf("offset %d, crash at step %d: log %d..%d, neither the old one nor empty at %d", offset, step,
				l2.LogStartOffset(), l2.LogEndOffset(), offset)
		}
		checkSameEpochs(t, l2, old)
		return done, false
	}
	checkRestarted(t, after, l2, offset)
	appendAt(t, l2, offset)
	return done, l2.Stats().Recovery.FinishedRestart
}

// Views and Ranges handed out before a restart keep their bytes, on real
// mmap'd files, while the log restarts at offset 0 (the old first
// segment's name) and is appended to again.
func TestTruncateFullyAndStartAtKeepsPinnedViewsAndRanges(t *testing.T) {
	base := liveMappings.Load()
	l := openOS(t, Options{SegmentBytes: 16 << 10, IndexIntervalBytes: 1024})
	for i := range 100 {
		mustAppend(t, l, makeBatch(2, 300, int64(i)), 1)
	}
	var view View
	var ranges Ranges
	if err := l.ReadView(0, 1<<30, l.LogEndOffset(), &view); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadRanges(0, 1<<30, l.LogEndOffset(), &ranges); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(joinView(&view))
	if err := l.TruncateFullyAndStartAt(0); err != nil {
		t.Fatal(err)
	}
	checkRestarted(t, OSFS(), l, 0)
	for i := range 100 { // new bytes in a new file of the same name
		mustAppend(t, l, makeBatch(3, 250, int64(9000+i)), 2)
	}
	if !bytes.Equal(joinView(&view), want) {
		t.Fatal("a view from before the restart changed")
	}
	if !bytes.Equal(joinRanges(t, &ranges), want) || !bytes.Equal(sendRanges(t, &ranges), want) {
		t.Fatal("ranges from before the restart read other bytes")
	}
	view.Release()
	ranges.Release()
	syncNow(t, l)
	got := readAll(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(OSFS(), l.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, l), got) {
		t.Fatal("the new log changed across a reopen")
	}
	l.Close()
	if live := liveMappings.Load() - base; live != 0 {
		t.Fatalf("%d mappings left after every view was released", live)
	}
}
