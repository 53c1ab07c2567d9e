package wal

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// replicaPair writes, in one memfs.FS, a leader's log at /data/a/t-0 (40
// batches, epochs 0 to 6, left open: its active segment ends in a
// preallocated zero tail) and a follower's at /data/b/t-0 from the
// leader's bytes as edit returns them (nil: unchanged), in segments of
// another size, closed (its tails trimmed). The follower holds its bytes
// from offset from on (its log restarted there, empty); edit may return
// fewer or more batches.
func replicaPair(t *testing.T, from int64, edit func(raw []byte) []byte) (*memfs.FS, string, string) {
	t.Helper()
	fsys := memfs.New()
	a, b := "/data/a/t-0", "/data/b/t-0"
	leader, err := Open(fsys, a, Options{SegmentBytes: 1500, IndexIntervalBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	fillLeader(t, leader, 40)
	raw, err := leader.Read(from, 1<<30, leader.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		raw = edit(raw)
	}
	f, err := Open(fsys, b, Options{SegmentBytes: 2500, IndexIntervalBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if from > 0 {
		if err := f.TruncateFullyAndStartAt(from); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.AppendReplica(raw, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	syncNow(t, leader)
	return fsys, a, b
}

func comparePair(t *testing.T, fsys FS, a, b string) PartitionComparison {
	t.Helper()
	rep, err := CompareDirs(fsys, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Partitions) != 1 {
		t.Fatalf("%d partitions compared", len(rep.Partitions))
	}
	return rep.Partitions[0]
}

// batchAtIndex returns the bounds of the i-th batch of raw.
func batchAtIndex(t *testing.T, raw []byte, i int) (from, to int) {
	t.Helper()
	n := 0
	ForEachBatch(raw, func(_ BatchHeader, b []byte) bool {
		if i == 0 {
			from, to = n, n+len(b)
			return false
		}
		i--
		n += len(b)
		return true
	})
	return from, to
}

// A follower holding the leader's bytes is equal to it whatever its
// segment boundaries, index entries and tails (preallocated or trimmed).
func TestCompareDirsFindsAFaithfulReplicaEqual(t *testing.T) {
	fsys, a, b := replicaPair(t, 0, nil)
	pc := comparePair(t, fsys, a, b)
	if !pc.Equal() || pc.BatchesA != 40 || pc.BatchesB != 40 || pc.EndA != pc.EndB || pc.StoppedA != "" || pc.StoppedB != "" {
		t.Fatalf("a faithful replica: %+v", pc)
	}
	segsA, _ := fsys.ReadDir(a)
	segsB, _ := fsys.ReadDir(b)
	if slices.Equal(segsA, segsB) {
		t.Fatal("the test wants other segment boundaries on each side")
	}
	zeroTail := func(dir string) int64 {
		rep, err := InspectDir(fsys, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Segments[len(rep.Segments)-1].ZeroTailBytes
	}
	if zeroTail(a) == 0 || zeroTail(b) != 0 {
		t.Fatalf("zero tails %d and %d: the test wants a preallocated tail on one side only", zeroTail(a), zeroTail(b))
	}
}

func TestCompareDirsReportsTheFirstDifferenceAndWhatOnlyOneSideHas(t *testing.T) {
	leo := batchBase(40)
	cases := []struct {
		name         string
		edit         func(raw []byte) []byte
		diffAt       int64 // -1: no difference in the batches both hold
		what         string
		onlyA, onlyB []OffsetRange
	}{
		{name: "identical", diffAt: -1},
		{name: "follower behind", edit: func(raw []byte) []byte {
			_, to := batchAtIndex(t, raw, 29)
			return raw[:to]
		}, diffAt: -1, onlyA: []OffsetRange{{batchBase(30), leo}}},
		{name: "follower ahead", edit: func(raw []byte) []byte {
			extra := makeBatch(3, 10, 1)
			SetBaseOffset(extra, leo)
			return append(raw, extra...)
		}, diffAt: -1, onlyB: []OffsetRange{{leo, leo + 3}}},
		{name: "another epoch", edit: func(raw []byte) []byte {
			from, _ := batchAtIndex(t, raw, 17)
			SetLeaderEpoch(raw[from:], 99) // outside the CRC: still a valid batch
			return raw
		}, diffAt: batchBase(17), what: "partitionLeaderEpoch 2 vs 99"},
		{name: "other records", edit: func(raw []byte) []byte {
			from, to := batchAtIndex(t, raw, 22)
			other := makeBatch(1+22%3, 20+(22*37)%200, 5) // batch 22's size, other timestamps
			SetBaseOffset(other, batchBase(22))
			SetLeaderEpoch(other, 22/10*2)
			return slices.Concat(raw[:from], other, raw[to:])
		}, diffAt: batchBase(22), what: "crc "},
		{name: "other batch boundaries", edit: func(raw []byte) []byte {
			from, to := batchAtIndex(t, raw, 4) // 2 records, as 1 + 1
			one, two := makeBatch(1, 50, 1), makeBatch(1, 50, 1)
			SetBaseOffset(one, batchBase(4))
			SetBaseOffset(two, batchBase(4)+1)
			return slices.Concat(raw[:from], one, two, raw[to:])
		}, diffAt: batchBase(4), what: "batch length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys, a, b := replicaPair(t, 0, c.edit)
			pc := comparePair(t, fsys, a, b)
			gotAt := int64(-1)
			if pc.Diff != nil {
				gotAt = pc.Diff.Offset
			}
			if gotAt != c.diffAt || (c.what != "" && !strings.Contains(pc.Diff.What, c.what)) ||
				!slices.Equal(pc.OnlyA, c.onlyA) || !slices.Equal(pc.OnlyB, c.onlyB) || pc.Equal() != (c.name == "identical") {
				t.Fatalf("got diff %+v only A %v only B %v", pc.Diff, pc.OnlyA, pc.OnlyB)
			}
		})
	}
}

// A replica whose log starts later (it restarted there) lacks the offsets
// below its start, and nothing else.
func TestCompareDirsSeesAReplicaThatStartsLater(t *testing.T) {
	start := batchBase(12)
	fsys, a, b := replicaPair(t, start, nil)
	pc := comparePair(t, fsys, a, b)
	if pc.Equal() || pc.Diff != nil || !slices.Equal(pc.OnlyA, []OffsetRange{{0, start}}) || pc.OnlyB != nil ||
		pc.LogStartB != start || pc.EndA != pc.EndB {
		t.Fatalf("%+v", pc)
	}
}

// batchBase is the base offset of the i-th batch fillLeader appends.
func batchBase(i int) int64 {
	var off int64
	for j := range i {
		off += int64(1 + j%3)
	}
	return off
}

// A byte changed on disk under an unchanged CRC is a difference, named
// with its field, and the CRC mismatch is reported.
func TestCompareDirsNamesACorruptByteAndItsCRC(t *testing.T) {
	fsys, a, b := replicaPair(t, 0, nil)
	seg := filepath.Join(b, segName(0, logSuffix))
	f, err := fsys.OpenFile(seg, osCreateRDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := int64(BatchHeaderSize + 5) // in the first batch's records
	buf := []byte{0}
	f.ReadAt(buf, at)
	buf[0] ^= 0x40
	f.WriteAt(buf, at)
	f.Close()
	pc := comparePair(t, fsys, a, b)
	if pc.Diff == nil || pc.Diff.Offset != 0 || !strings.Contains(pc.Diff.What, "byte 66 of the batch (records)") ||
		!strings.Contains(pc.Diff.What, "B's batch does not match its crc") || pc.BadCRCB != 1 || pc.BadCRCA != 0 {
		t.Fatalf("%+v diff %+v", pc, pc.Diff)
	}
}

// An interrupted restart counts as done: Open would finish it.
func TestCompareDirsTakesAnInterruptedRestartAsDone(t *testing.T) {
	fsys, a, b := replicaPair(t, 0, nil)
	if err := writeOffsetCheckpoint(fsys, b, restartCheckpoint, 500); err != nil {
		t.Fatal(err)
	}
	pc := comparePair(t, fsys, a, b)
	if pc.BatchesB != 0 || pc.LogStartB != 500 || pc.EndB != 500 || len(pc.OnlyA) != 1 || pc.OnlyA[0].From != 0 {
		t.Fatalf("%+v", pc)
	}
}

// Data directories are compared partition by partition, for the
// partitions both hold.
func TestCompareDirsPairsPartitionsOfDataDirs(t *testing.T) {
	fsys, _, _ := replicaPair(t, 0, nil)
	for _, p := range []string{"/data/a/only-a-0", "/data/b/t-1", "/data/a/t-1"} {
		l, err := Open(fsys, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, makeBatch(2, 10, 1), 0)
		if p == "/data/b/t-1" {
			mustAppend(t, l, makeBatch(2, 10, 1), 0)
		}
		l.Close()
	}
	rep, err := CompareDirs(fsys, "/data/a", "/data/b")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Partitions) != 2 || !rep.Partitions[0].Equal() || rep.Partitions[1].Equal() || rep.Equal() ||
		!slices.Equal(rep.OnlyInA, []string{"only-a-0"}) || rep.OnlyInB != nil {
		t.Fatalf("%+v", rep)
	}
	if _, err := CompareDirs(fsys, "/data/a", "/data/b/t-0"); err == nil {
		t.Fatal("a data directory compared with a partition directory")
	}
	fsys.MkdirAll("/empty", 0o755)
	if _, err := CompareDirs(fsys, "/data/a", "/empty"); err == nil {
		t.Fatal("nothing to compare, yet no error")
	}
}

func TestSubtractRanges(t *testing.T) {
	r := func(p ...int64) []OffsetRange {
		var out []OffsetRange
		for i := 0; i < len(p); i += 2 {
			out = append(out, OffsetRange{p[i], p[i+1]})
		}
		return out
	}
	for _, c := range []struct{ x, y, want []OffsetRange }{
		{r(0, 10), nil, r(0, 10)},
		{r(0, 10), r(0, 10), nil},
		{r(0, 10), r(3, 5), r(0, 3, 5, 10)},
		{r(0, 10), r(-5, 2, 8, 20), r(2, 8)},
		{r(0, 4, 6, 10), r(2, 7), r(0, 2, 7, 10)},
		{r(5, 6), r(0, 1, 2, 3, 9, 10), r(5, 6)},
	} {
		if got := subtractRanges(c.x, c.y); !slices.Equal(got, c.want) {
			t.Fatalf("%v - %v = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}
