package wal

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// leaderLog appends n batches of varied sizes to a fresh log, the epoch
// rising every 10 batches, and returns it with its bytes from offset 0.
func leaderLog(t testing.TB, opts Options, n int) (*Log, []byte) {
	t.Helper()
	l, _ := openMem(t, opts)
	fillLeader(t, l, n)
	return l, readAll(t, l)
}

// fillLeader appends leaderLog's n batches to l.
func fillLeader(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := range n {
		mustAppend(t, l, makeBatch(1+i%3, 20+(i*37)%200, int64(1000+i)), int32(i/10*2))
	}
}

// splitBatches cuts buf into runs of at most per whole batches.
func splitBatches(t testing.TB, buf []byte, per int) [][]byte {
	t.Helper()
	var runs [][]byte
	start, end, n := 0, 0, 0
	err := ForEachBatch(buf, func(_ BatchHeader, b []byte) bool {
		end, n = end+len(b), n+1
		if n == per {
			runs = append(runs, buf[start:end])
			start, n = end, 0
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if start < len(buf) {
		runs = append(runs, buf[start:])
	}
	return runs
}

func segmentBases(l *Log) []int64 {
	var bases []int64
	for _, s := range l.segments() {
		bases = append(bases, s.base)
	}
	return bases
}

func TestAppendReplicaStoresTheLeadersBytesAndEpochs(t *testing.T) {
	opts := Options{SegmentBytes: 1500, IndexIntervalBytes: 200}
	leader, raw := leaderLog(t, opts, 40)
	defer leader.Close()
	f, fsys := openMem(t, opts)
	var hs []BatchHeader
	for _, run := range splitBatches(t, raw, 7) {
		var err error
		if hs, err = f.AppendReplica(run, hs); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, f); !bytes.Equal(got, raw) || f.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower holds %d bytes up to %d, leader %d up to %d", len(got), f.LogEndOffset(), len(raw), leader.LogEndOffset())
	}
	var want []BatchHeader
	leader.ScanBatches(0, func(h BatchHeader) bool { want = append(want, h); return true })
	if len(hs) != len(want) || hs[17] != want[17] || hs[len(hs)-1] != want[len(want)-1] {
		t.Fatalf("%d headers returned, want %d", len(hs), len(want))
	}
	if got, wantB := segmentBases(f), segmentBases(leader); !slices.Equal(got, wantB) {
		t.Fatalf("follower segments %v, leader's %v", got, wantB)
	}
	checkSameEpochs(t, f, leader)
	f = reopen(t, fsys, f, opts)
	defer f.Close()
	if r := f.Stats().Recovery; r.IndexesRebuilt != 0 {
		t.Fatalf("indexes rebuilt after a clean close: %+v", r)
	}
	for off := int64(0); off < leader.LogEndOffset(); off += 3 {
		a, _ := leader.Read(off, 300, leader.LogEndOffset())
		b, _ := f.Read(off, 300, leader.LogEndOffset())
		if !bytes.Equal(a, b) {
			t.Fatalf("read at %d differs", off)
		}
	}
	checkSameEpochs(t, f, leader)
}

func checkSameEpochs(t *testing.T, a, b *Log) {
	t.Helper()
	for e := int32(-1); e < 12; e++ {
		ae, ao := a.EndOffsetForEpoch(e)
		be, bo := b.EndOffsetForEpoch(e)
		if ae != be || ao != bo {
			t.Fatalf("epoch %d: (%d,%d) vs the leader's (%d,%d)", e, ae, ao, be, bo)
		}
	}
}

// Rolls on segment size and on full indexes land where Append's do, with
// no index entry dropped inside a run.
func TestAppendReplicaRollsWhereAppendDoes(t *testing.T) {
	for _, opts := range []Options{
		{SegmentBytes: 900, IndexIntervalBytes: 100},
		{SegmentBytes: 1 << 20, IndexIntervalBytes: 1, MaxIndexBytes: 48}, // 4 time entries a segment
	} {
		leader, raw := leaderLog(t, opts, 40)
		f, _ := openMem(t, opts)
		if _, err := f.AppendReplica(raw, nil); err != nil {
			t.Fatal(err)
		}
		if got, want := segmentBases(f), segmentBases(leader); !slices.Equal(got, want) || len(got) < 3 {
			t.Fatalf("%+v: follower segments %v, leader's %v", opts, got, want)
		}
		for i, s := range f.segments() {
			if n, m := s.idx.count(), leader.segments()[i].idx.count(); n != m {
				t.Fatalf("%+v: segment %d has %d index entries, the leader's %d", opts, s.base, n, m)
			}
		}
		leader.Close()
		f.Close()
	}
}

// countingFS counts WriteAt calls per file name suffix.
type countingFS struct {
	FS
	mu     sync.Mutex
	writes map[string]int
}

type countingFile struct {
	File
	fs   *countingFS
	name string
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, name: name}, nil
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	for _, suffix := range []string{logSuffix, leaderEpochCheckpoint + tmpSuffix} {
		if strings.HasSuffix(f.name, suffix) {
			f.fs.writes[suffix]++
		}
	}
	f.fs.mu.Unlock()
	return f.File.WriteAt(p, off)
}

func (c *countingFS) count(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[suffix]
}

func TestAppendReplicaWritesOncePerSegmentAndCheckpointsEpochsOnce(t *testing.T) {
	opts := Options{SegmentBytes: 1500}
	leader, raw := leaderLog(t, opts, 40) // epochs 0, 2, 4, 6
	defer leader.Close()
	fsys := &countingFS{FS: memfs.New(), writes: map[string]int{}}
	f, err := Open(fsys, "/data/t-0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logWrites, epochWrites := fsys.count(logSuffix), fsys.count(leaderEpochCheckpoint+tmpSuffix)
	if _, err := f.AppendReplica(raw, nil); err != nil {
		t.Fatal(err)
	}
	if n := fsys.count(logSuffix) - logWrites; n != f.NumSegments() || n < 3 {
		t.Fatalf("%d pwrites for %d segments", n, f.NumSegments())
	}
	if n := fsys.count(leaderEpochCheckpoint+tmpSuffix) - epochWrites; n != 1 {
		t.Fatalf("epoch checkpoint written %d times for one call", n)
	}
	if _, err := f.AppendReplica(makeReplicaBatch(f.LogEndOffset(), 6), nil); err != nil {
		t.Fatal(err)
	}
	if n := fsys.count(leaderEpochCheckpoint+tmpSuffix) - epochWrites; n != 1 {
		t.Fatal("epoch checkpoint rewritten for a batch of a known epoch")
	}
}

// makeReplicaBatch is a one-record batch as a leader stamps it.
func makeReplicaBatch(base int64, epoch int32) []byte {
	b := makeBatch(1, 10, 5)
	SetBaseOffset(b, base)
	SetLeaderEpoch(b, epoch)
	return b
}

func TestAppendReplicaRefusesBadBatchesAndAppendsNothing(t *testing.T) {
	_, raw := leaderLog(t, Options{}, 6)
	var sizes []int
	ForEachBatch(raw, func(h BatchHeader, b []byte) bool { sizes = append(sizes, len(b)); return true })
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(raw)) }
	cases := []struct {
		name string
		buf  []byte
		want error
	}{
		{"first batch not at the log end", raw[sizes[0]:], ErrUnexpectedOffset},
		{"gap between batches", append(bytes.Clone(raw[:sizes[0]]), raw[sizes[0]+sizes[1]:]...), ErrUnexpectedOffset},
		{"crc mismatch", mutate(func(b []byte) []byte { b[sizes[0]+sizes[1]+70]++; return b }), ErrCorruptBatch},
		{"partial trailing batch", raw[:len(raw)-1], ErrCorruptBatch},
		{"trailing header fragment", append(bytes.Clone(raw), raw[:30]...), ErrCorruptBatch},
		{"magic 1", mutate(func(b []byte) []byte { b[sizes[0]+offMagic] = 1; return b }), ErrCorruptBatch},
		{"length below a header", mutate(func(b []byte) []byte { b[offBatchLength+3] = 10; return b }), ErrCorruptBatch},
	}
	l, _ := openMem(t, Options{})
	defer l.Close()
	hs := make([]BatchHeader, 0, 8)
	for _, c := range cases {
		got, err := l.AppendReplica(c.buf, hs)
		if !errors.Is(err, c.want) || len(got) != 0 || l.LogEndOffset() != 0 || l.Size() != 0 {
			t.Fatalf("%s: err %v (want %v), %d headers, log end %d, size %d", c.name, err, c.want, len(got), l.LogEndOffset(), l.Size())
		}
	}
	if got, err := l.AppendReplica(raw, hs); err != nil || len(got) != 6 || !bytes.Equal(readAll(t, l), raw) {
		t.Fatalf("valid append after refusals: %v, %d headers", err, len(got))
	}
	if _, err := l.AppendReplica(raw, nil); !errors.Is(err, ErrUnexpectedOffset) {
		t.Fatalf("the same batches again: %v", err)
	}
}

func TestAppendReplicaSurvivesACrashOnceSynced(t *testing.T) {
	opts := Options{SegmentBytes: 1500}
	leader, raw := leaderLog(t, opts, 30)
	defer leader.Close()
	f, fsys := openMem(t, opts)
	runs := splitBatches(t, raw, 5)
	synced := 0
	for i, run := range runs {
		if _, err := f.AppendReplica(run, nil); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			syncNow(t, f)
			synced += len(run)
		}
	}
	f2, _ := crashOpen(t, fsys, f, opts, nil)
	defer f2.Close()
	if got := readAll(t, f2); len(got) < synced || !bytes.Equal(got, raw[:len(got)]) {
		t.Fatalf("after a crash %d bytes, %d were synced", len(got), synced)
	}
	e, _ := f2.LatestEpoch()
	if le, _ := leader.EndOffsetForEpoch(e); le != e {
		t.Fatalf("latest epoch %d after the crash is not the leader's", e)
	}
}

func FuzzAppendReplica(f *testing.F) {
	_, raw := leaderLog(f, Options{}, 4)
	f.Add(raw)
	f.Add(raw[:len(raw)-3])
	f.Add(makeReplicaBatch(0, 3))
	f.Fuzz(func(t *testing.T, buf []byte) {
		l, fsys := openMem(t, Options{SegmentBytes: 700})
		hs, err := l.AppendReplica(buf, nil)
		if err != nil {
			if len(hs) != 0 || l.LogEndOffset() != 0 || l.Size() != 0 {
				t.Fatalf("refused (%v) yet log end %d, size %d", err, l.LogEndOffset(), l.Size())
			}
			l.Close()
			return
		}
		if len(buf) > 0 && (len(hs) == 0 || l.LogEndOffset() != hs[len(hs)-1].NextOffset() || hs[0].BaseOffset != 0) {
			t.Fatalf("%d headers, log end %d", len(hs), l.LogEndOffset())
		}
		if got := readAll(t, l); !bytes.Equal(got, buf) {
			t.Fatalf("stored %d bytes of %d", len(got), len(buf))
		}
		syncNow(t, l)
		l2, _ := crashOpen(t, fsys, l, Options{SegmentBytes: 700}, nil)
		defer l2.Close()
		if got := readAll(t, l2); !bytes.Equal(got, buf) {
			t.Fatalf("recovered %d bytes of %d", len(got), len(buf))
		}
	})
}
