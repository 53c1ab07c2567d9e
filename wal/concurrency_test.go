package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// TestReadersAppendersAndRetentionRunTogether is for the race detector:
// reads never see a partial batch and never use a deleted segment.
func TestReadersAppendersAndRetentionRunTogether(t *testing.T) {
	l, _ := openMem(t, Options{SegmentBytes: 2000, IndexIntervalBytes: 128, RetentionMs: Retain(-1), RetentionBytes: Retain(8000)})
	defer l.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := l.LogStartOffset()
				buf, err := l.Read(from, 3000, l.LogEndOffset())
				if err != nil {
					continue // the start moved under us: out of range is fine
				}
				if err := ForEachBatch(buf, func(h BatchHeader, b []byte) bool {
					if !CheckBatchCRC(b) {
						t.Errorf("torn batch at %d", h.BaseOffset)
					}
					return true
				}); err != nil {
					t.Error(err)
				}
				l.OffsetForTimestamp(5)
				l.ScanBatches(from, func(BatchHeader) bool { return true })
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := range 500 {
		b := makeBatch(1+i%4, 40, int64(i))
		mustAppend(t, l, b, int32(i/100))
		if i%50 == 0 {
			syncNow(t, l)
		}
	}
	close(stop)
	wg.Wait()
	if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 8000+2000 {
		t.Fatalf("size %d above retention", l.Size())
	}
}

// TestFollowerTruncationsRunWithReadersAndSyncs is for the race detector
// and real mmap'd files: a follower replicates a leader's batches and
// truncates now and then (re-fetching what it cut), and a few times
// restarts its log empty at a leader batch, while readers hold Views and
// Ranges and a syncer waits for durability. Every byte a reader sees is
// the leader's at the same offset, however the log moved under it.
func TestFollowerTruncationsRunWithReadersAndSyncs(t *testing.T) {
	base := liveMappings.Load()
	leader, raw := leaderLog(t, Options{}, 300)
	defer leader.Close()
	at, bases := batchPositions(raw)
	f := openOS(t, Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 512})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	check := func(b []byte) {
		if len(b) == 0 {
			return
		}
		h, _ := ParseBatchHeader(b)
		if p, ok := at[h.BaseOffset]; !ok || !bytes.Equal(b, raw[p:p+len(b)]) {
			t.Errorf("read at %d: %d bytes that are not the leader's", h.BaseOffset, len(b))
		}
	}
	for r := range 2 {
		wg.Go(func() { readWhileItMoves(t, f, uint64(r), stop, check) })
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stopped(stop) {
			ch := make(chan error, 1)
			f.Sync(f.LogEndOffset(), func(err error) { ch <- err })
			if err := <-ch; err != nil && !errors.Is(err, ErrTruncated) {
				t.Error(err)
			}
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	var hs []BatchHeader
	for i := 0; f.LogEndOffset() < leader.LogEndOffset(); i++ {
		if i > 20000 {
			t.Fatalf("replication made no progress: %d of %d", f.LogEndOffset(), leader.LogEndOffset())
		}
		if i%40 == 39 && i < 160 { // the whole log discarded: restart at a leader batch
			if err := f.TruncateFullyAndStartAt(bases[rng.IntN(len(bases))]); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 3 { // cut back up to 6 offsets: a diverged tail
			cut := max(f.LogStartOffset(), f.LogEndOffset()-rng.Int64N(7))
			if err := f.TruncateTo(cut); err != nil {
				t.Fatal(err)
			}
		}
		batches, err := leader.Read(f.LogEndOffset(), 500, leader.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if hs, err = f.AppendReplica(batches, hs[:0]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if !bytes.Equal(readAll(t, f), raw[at[f.LogStartOffset()]:]) {
		t.Fatalf("the follower does not hold the leader's log from %d", f.LogStartOffset())
	}
	checkSameEpochsFrom(t, f, leader)
	if st := f.Stats(); st.Truncations == 0 || st.FullTruncations == 0 {
		t.Fatal("no truncation ran")
	} else {
		t.Logf("%d truncations, %d by copy, %d full", st.Truncations, st.TruncationCopies, st.FullTruncations)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if live := liveMappings.Load() - base; live != 0 {
		t.Fatalf("%d mappings left", live)
	}
}

// readWhileItMoves reads l with ReadView and ReadRanges at random offsets,
// holding each a moment, until stop; check judges the bytes.
func readWhileItMoves(t *testing.T, l *Log, seed uint64, stop <-chan struct{}, check func([]byte)) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var v View
	var rs Ranges
	for !stopped(stop) {
		start := l.LogStartOffset()
		n := l.LogEndOffset() - start + 1
		if n < 1 { // a restart moved the log down between the two loads
			continue
		}
		off := start + rng.Int64N(n)
		if l.ReadView(off, 3000, l.LogEndOffset(), &v) == nil {
			runtime.Gosched() // hold the view while the log moves
			check(joinView(&v))
		}
		v.Release()
		if l.ReadRanges(off, 3000, l.LogEndOffset(), &rs) == nil {
			check(joinRanges(t, &rs))
		}
		rs.Release()
	}
}

// batchPositions maps the base offset of every batch of raw to its
// position, and lists the base offsets.
func batchPositions(raw []byte) (at map[int64]int, bases []int64) {
	at = map[int64]int{}
	pos := 0
	ForEachBatch(raw, func(h BatchHeader, b []byte) bool {
		at[h.BaseOffset] = pos
		bases = append(bases, h.BaseOffset)
		pos += len(b)
		return true
	})
	return at, bases
}

// checkSameEpochsFrom is checkSameEpochs for the epochs from f's first
// one on: f restarted later than leader's log start.
func checkSameEpochsFrom(t *testing.T, f, leader *Log) {
	t.Helper()
	f.mu.Lock()
	first := int32(0)
	if len(f.epochs.entries) > 0 {
		first = f.epochs.entries[0].Epoch
	}
	f.mu.Unlock()
	for e := first; e < 12; e++ {
		fe, fo := f.EndOffsetForEpoch(e)
		le, lo := leader.EndOffsetForEpoch(e)
		if fe != le || fo != lo {
			t.Fatalf("epoch %d: (%d,%d), the leader's (%d,%d)", e, fe, fo, le, lo)
		}
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
