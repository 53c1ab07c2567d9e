package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var truncOpts = Options{SegmentBytes: 1500, IndexIntervalBytes: 200}

// batchHeaders lists the headers of l's batches.
func batchHeaders(l *Log) []BatchHeader {
	var hs []BatchHeader
	l.ScanBatches(0, func(h BatchHeader) bool { hs = append(hs, h); return true })
	return hs
}

// keptBatches is how many of hs a truncation to offset keeps: those
// wholly below it.
func keptBatches(hs []BatchHeader, offset int64) int {
	n := 0
	for n < len(hs) && hs[n].LastOffset() < offset {
		n++
	}
	return n
}

// appendMore appends the same 5 batches (epoch 9) to every log.
func appendMore(t testing.TB, logs ...*Log) {
	t.Helper()
	for i := range 5 {
		for _, l := range logs {
			mustAppend(t, l, makeBatch(2, 77+i, int64(5000+i)), 9)
		}
	}
}

// checkSameLog compares everything a reader can ask of two logs.
func checkSameLog(t *testing.T, got, want *Log) {
	t.Helper()
	if got.LogEndOffset() != want.LogEndOffset() || got.Size() != want.Size() || got.LogStartOffset() != want.LogStartOffset() {
		t.Fatalf("log %d..%d size %d, want %d..%d size %d", got.LogStartOffset(), got.LogEndOffset(), got.Size(),
			want.LogStartOffset(), want.LogEndOffset(), want.Size())
	}
	if !bytes.Equal(readAll(t, got), readAll(t, want)) {
		t.Fatal("bytes differ")
	}
	for off := want.LogStartOffset(); off < want.LogEndOffset(); off++ {
		a, _ := got.Read(off, 1, want.LogEndOffset())
		b, _ := want.Read(off, 1, want.LogEndOffset())
		if !bytes.Equal(a, b) {
			t.Fatalf("read at %d differs", off)
		}
	}
	checkSameEpochs(t, got, want)
	ao, ats, aok := got.MaxTimestamp()
	bo, bts, bok := want.MaxTimestamp()
	if ao != bo || ats != bts || aok != bok {
		t.Fatalf("max timestamp (%d,%d,%v), want (%d,%d,%v)", ao, ats, aok, bo, bts, bok)
	}
	for ts := int64(995); ts < 1050; ts += 3 {
		ao, ats, aok := got.OffsetForTimestamp(ts)
		bo, bts, bok := want.OffsetForTimestamp(ts)
		if ao != bo || ats != bts || aok != bok {
			t.Fatalf("timestamp %d: (%d,%d,%v), want (%d,%d,%v)", ts, ao, ats, aok, bo, bts, bok)
		}
	}
}

// A truncated log answers as a log that never had the removed batches,
// before and after more appends, a clean reopen and a crash.
func TestTruncateToLeavesTheLogThatNeverHadTheBatches(t *testing.T) {
	ref, _ := leaderLog(t, truncOpts, 40)
	hs, bases := batchHeaders(ref), segmentBases(ref)
	ref.Close()
	cuts := []int64{0, 1, hs[3].BaseOffset, hs[3].BaseOffset + 1, hs[17].LastOffset(), hs[39].BaseOffset, hs[39].LastOffset()}
	for _, s := range bases {
		cuts = append(cuts, s, s+1)
	}
	for _, cut := range cuts {
		l, fsys := openMem(t, truncOpts)
		fillLeader(t, l, 40)
		keep := keptBatches(hs, cut)
		want, _ := leaderLog(t, truncOpts, keep)
		if err := l.TruncateTo(cut); err != nil {
			t.Fatalf("truncate to %d: %v", cut, err)
		}
		if l.DurableOffset() > l.LogEndOffset() {
			t.Fatalf("cut %d: durable %d above the log end %d", cut, l.DurableOffset(), l.LogEndOffset())
		}
		checkSameLog(t, l, want)
		appendMore(t, l, want)
		checkSameLog(t, l, want)
		l = reopen(t, fsys, l, truncOpts)
		if r := l.Stats().Recovery; r.IndexesRebuilt != 0 {
			t.Fatalf("cut %d: indexes rebuilt after a clean close: %+v", cut, r)
		}
		checkSameLog(t, l, want)
		syncNow(t, l)
		l, _ = crashOpen(t, fsys, l, truncOpts, nil)
		checkSameLog(t, l, want)
		l.Close()
		want.Close()
	}
}

// The segment cut becomes the active one with exactly the offset index
// entries, largest timestamp and index interval count it would have had,
// and a time index whose every entry is true (it may keep an entry that
// was written when a removed batch was indexed, naming a kept batch, as
// Kafka's does).
func TestTruncateToLeavesTheIndexesAppendWouldHaveWritten(t *testing.T) {
	opts := Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 150}
	for keep := 0; keep <= 40; keep += 3 {
		l, _ := leaderLog(t, opts, 40)
		want, _ := leaderLog(t, opts, keep)
		if err := l.TruncateTo(want.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		appendMore(t, l, want)
		a, b := l.active(), want.active()
		if !bytes.Equal(a.idx.buf[:a.idx.n*offsetEntrySize], b.idx.buf[:b.idx.n*offsetEntrySize]) {
			t.Fatalf("keep %d: %d offset index entries, want %d", keep, a.idx.n, b.idx.n)
		}
		checkTimeIndexTrue(t, l)
		if a.maxTs.Load() != b.maxTs.Load() || a.maxTsBase != b.maxTsBase || a.bytesSinceIndex != b.bytesSinceIndex {
			t.Fatalf("keep %d: max ts %d@%d since %d, want %d@%d since %d", keep, a.maxTs.Load(), a.maxTsBase,
				a.bytesSinceIndex, b.maxTs.Load(), b.maxTsBase, b.bytesSinceIndex)
		}
		l.Close()
		want.Close()
	}
}

// checkTimeIndexTrue checks every time index entry (ts, rel) of l's
// active segment: the batch at rel has max timestamp ts, and no batch up
// to it has a larger one.
func checkTimeIndexTrue(t *testing.T, l *Log) {
	t.Helper()
	s := l.active()
	hs := batchHeaders(l)
	for i := range s.tidx.n {
		ts, rel := s.tidx.timeAt(i)
		maxTs, found := int64(noTimestamp), false
		for _, h := range hs {
			if h.BaseOffset > s.base+int64(rel) {
				break
			}
			maxTs = max(maxTs, h.MaxTimestamp)
			found = h.BaseOffset == s.base+int64(rel) && h.MaxTimestamp == ts
		}
		if !found || maxTs != ts {
			t.Fatalf("time index entry %d (%d, %d) is not true (max up to it %d)", i, ts, rel, maxTs)
		}
	}
}

func TestTruncateToRefusesOffsetsOutsideTheLog(t *testing.T) {
	l, fsys := openMem(t, truncOpts)
	fillLeader(t, l, 20)
	leo := l.LogEndOffset()
	if err := l.TruncateTo(leo + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond the log end: %v", err)
	}
	if err := l.TruncateTo(leo); err != nil || l.LogEndOffset() != leo || l.Stats().Truncations != 0 {
		t.Fatalf("at the log end: %v, log end %d", err, l.LogEndOffset())
	}
	hs := batchHeaders(l)
	inside := hs[11].BaseOffset + 1 // batch 11 has three records
	if err := l.DeleteRecordsBefore(inside); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(inside - 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("below the log start: %v", err)
	}
	// The batch holding the log start goes whole: the log start falls to
	// its base, as Kafka's does.
	if err := l.TruncateTo(inside); err != nil || l.LogEndOffset() != hs[11].BaseOffset || l.LogStartOffset() != hs[11].BaseOffset {
		t.Fatalf("truncate at the log start: %v, log %d..%d", err, l.LogStartOffset(), l.LogEndOffset())
	}
	l = reopen(t, fsys, l, truncOpts)
	if l.LogStartOffset() != hs[11].BaseOffset || l.LogEndOffset() != hs[11].BaseOffset {
		t.Fatalf("after reopen log %d..%d", l.LogStartOffset(), l.LogEndOffset())
	}
	l.Close()
	if err := l.TruncateTo(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// Sync waiters for offsets a truncation removed fail with ErrTruncated;
// later ones wait for the new batches.
func TestTruncateToFailsTheSyncWaitersItCutsOff(t *testing.T) {
	l, _ := leaderLog(t, truncOpts, 20)
	defer l.Close()
	leo := l.LogEndOffset()
	cut := make(chan error, 1)
	l.Sync(leo+3, func(err error) { cut <- err })
	if err := l.TruncateTo(leo - 10); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, cut); !errors.Is(err, ErrTruncated) {
		t.Fatalf("waiter beyond the cut: %v", err)
	}
	later := make(chan error, 1)
	l.Sync(l.LogEndOffset()+1, func(err error) { later <- err })
	select {
	case err := <-later:
		t.Fatalf("waiter released before its offsets exist: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	mustAppend(t, l, makeBatch(1, 10, 0), 0)
	if err := waitDone(t, later); err != nil || l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("waiter after the truncation: %v, durable %d of %d", err, l.DurableOffset(), l.LogEndOffset())
	}
}

// waitDone waits for a Sync callback's error, failing the test if it never
// comes.
func waitDone(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second): // a bound, not a speed claim
		t.Fatal("Sync callback never called")
		return nil
	}
}

// A flush round planned before a truncation and run after it makes
// nothing durable (its target is gone) and does not fail the log.
func TestFlushRoundOvertakenByTruncationIsDiscarded(t *testing.T) {
	l, _ := leaderLog(t, truncOpts, 30)
	defer l.Close()
	leo := l.LogEndOffset()
	l.readMu.RLock() // hold off the truncation and, once it waits, the flusher
	done := make(chan error, 1)
	go func() { done <- l.TruncateTo(leo - 20) }()
	for l.readMu.TryRLock() { // a waiting writer makes TryRLock fail
		l.readMu.RUnlock()
		time.Sleep(time.Millisecond)
	}
	synced := make(chan error, 1)
	l.Sync(leo, func(err error) { synced <- err }) // the flusher plans for leo, then waits
	time.Sleep(20 * time.Millisecond)
	l.readMu.RUnlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, synced); !errors.Is(err, ErrTruncated) {
		t.Fatalf("waiter for removed offsets: %v", err)
	}
	if l.DurableOffset() > l.LogEndOffset() {
		t.Fatalf("durable %d above the log end %d", l.DurableOffset(), l.LogEndOffset())
	}
	mustAppend(t, l, makeBatch(1, 10, 0), 0)
	syncNow(t, l)
	if l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("durable %d, log end %d", l.DurableOffset(), l.LogEndOffset())
	}
}

// A crash at any step of TruncateTo leaves the old log or the new one,
// whether the cut segment is shrunk in place or replaced (a Ranges pins
// bytes past the cut).
func TestTruncateToIsCrashSafeAtEveryStep(t *testing.T) {
	ref, _ := leaderLog(t, truncOpts, 40)
	hs := batchHeaders(ref)
	bases := segmentBases(ref)
	ref.Close()
	rng := rand.New(rand.NewPCG(7, 9))
	for _, cut := range []int64{hs[38].BaseOffset + 1, hs[9].BaseOffset, bases[2], 0} {
		for _, pinned := range []bool{false, true} {
			oldLog, _ := leaderLog(t, truncOpts, 40)
			newLog, _ := leaderLog(t, truncOpts, keptBatches(hs, cut))
			for step := 1; ; step++ {
				if crashTruncation(t, cut, pinned, step, rng, oldLog, newLog) {
					break
				}
			}
			oldLog.Close()
			newLog.Close()
		}
	}
}

// crashTruncation truncates a fresh synced log to cut, crashing at its
// step-th file system operation, and checks that what recovers is oldLog
// or newLog. It reports whether the truncation finished before the step.
func crashTruncation(t *testing.T, cut int64, pinned bool, step int, rng *rand.Rand, oldLog, newLog *Log) bool {
	t.Helper()
	fsys := newFaultFS()
	l, err := Open(fsys, "/data/t-0", truncOpts)
	if err != nil {
		t.Fatal(err)
	}
	fillLeader(t, l, 40)
	syncNow(t, l)
	l.bg.Wait() // no prepare step runs into the counted operations
	var r Ranges
	if pinned {
		if err := l.ReadRanges(cut, 1<<20, l.LogEndOffset(), &r); err != nil {
			t.Fatal(err)
		}
	}
	fsys.failAfter(step)
	err = l.TruncateTo(cut)
	finished := err == nil && !fsys.failed()
	fsys.failAfter(0)
	r.Release()
	if pinned && finished && l.Stats().TruncationCopies != 1 {
		t.Fatal("a Ranges pinned bytes past the cut, yet the segment was shrunk in place")
	}
	l2, _ := crashOpen(t, fsys.mem, l, truncOpts, rng)
	defer l2.Close()
	want := newLog
	if l2.LogEndOffset() == oldLog.LogEndOffset() && !finished {
		want = oldLog
	}
	if !bytes.Equal(readAll(t, l2), readAll(t, want)) {
		t.Fatalf("cut %d pinned %v, crash at step %d (truncate: %v): log end %d, neither the old (%d) nor the new (%d)",
			cut, pinned, step, err, l2.LogEndOffset(), oldLog.LogEndOffset(), newLog.LogEndOffset())
	}
	checkSameEpochs(t, l2, want)
	return finished
}

// Views and Ranges handed out before a truncation keep their bytes, on
// real mmap'd files, while the cut segment is replaced and appended to
// again: no SIGBUS (a shrunk mapped file would raise one on the next read
// of the view), no byte changed. A view that ends below the cut lets the
// segment shrink in place. Without preallocation a wrongly shrunk file
// stays short and the view's next read is a SIGBUS; with it, the file
// grows back at once and the view reads zeros.
func TestTruncateToKeepsPinnedViewsAndRangesUnchanged(t *testing.T) {
	for _, prealloc := range []int64{-1, 0} {
		t.Run(fmt.Sprintf("prealloc=%d", prealloc), func(t *testing.T) {
			testTruncatePinned(t, Options{SegmentBytes: 16 << 10, IndexIntervalBytes: 1024, PreallocateBytes: prealloc})
		})
	}
}

func testTruncatePinned(t *testing.T, opts Options) {
	base := liveMappings.Load()
	l := openOS(t, opts)
	for i := range 100 {
		mustAppend(t, l, makeBatch(2, 300, int64(i)), 1)
	}
	hs := batchHeaders(l)
	var whole, below View
	var ranges Ranges
	if err := l.ReadView(0, 1<<30, l.LogEndOffset(), &whole); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadRanges(0, 1<<30, l.LogEndOffset(), &ranges); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadView(0, 1, l.LogEndOffset(), &below); err != nil { // the first batch only
		t.Fatal(err)
	}
	wantWhole, wantBelow := bytes.Clone(joinView(&whole)), bytes.Clone(joinView(&below))
	if err := l.TruncateTo(hs[60].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(joinView(&whole), wantWhole) { // a SIGBUS here if the mapped file shrank
		t.Fatal("a view past the cut changed")
	}
	if c := l.Stats().TruncationCopies; c != 1 {
		t.Fatalf("%d segment copies, want 1 (views pin bytes past the cut)", c)
	}
	for i := range 100 { // new bytes where the removed batches were
		mustAppend(t, l, makeBatch(3, 250, int64(9000+i)), 2)
	}
	if !bytes.Equal(joinView(&whole), wantWhole) {
		t.Fatal("a view past the cut changed")
	}
	if !bytes.Equal(joinRanges(t, &ranges), wantWhole) {
		t.Fatal("ranges past the cut read other bytes")
	}
	if sent := sendRanges(t, &ranges); !bytes.Equal(sent, wantWhole) {
		t.Fatal("sendfile of ranges past the cut sent other bytes")
	}
	whole.Release()
	ranges.Release()
	if err := l.TruncateTo(hs[1].BaseOffset); err != nil { // only below pins the first segment
		t.Fatal(err)
	}
	if c := l.Stats().TruncationCopies; c != 1 {
		t.Fatalf("%d segment copies: a view below the cut forced one", c)
	}
	mustAppend(t, l, makeBatch(3, 250, 1), 2)
	if !bytes.Equal(joinView(&below), wantBelow) {
		t.Fatal("a view below the cut changed")
	}
	below.Release()
	l.Close()
	if live := liveMappings.Load() - base; live != 0 {
		t.Fatalf("%d mappings left after every view was released", live)
	}
}
