package itest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashStreamCheckerFindsEveryProblem keeps the crash test honest: its
// checker must flag duplicates, losses, misplaced records, offset gaps and
// reordering, and pass a clean log. It needs no broker.
func TestCrashStreamCheckerFindsEveryProblem(t *testing.T) {
	log := func(seqs ...int) []*kgo.Record {
		recs := make([]*kgo.Record, len(seqs))
		for i, s := range seqs {
			recs[i] = &kgo.Record{Offset: int64(i), Value: seqValue(s)}
		}
		return recs
	}
	ackedAll := func(n int) []int64 {
		a := make([]int64, n)
		for i := range a {
			a[i] = int64(i)
		}
		return a
	}
	gap := log(0, 1, 2, 3)
	gap[3].Offset = 4
	cases := []struct {
		name  string
		recs  []*kgo.Record
		acked []int64
		want  []string // substrings, one per expected problem
	}{
		{"clean", log(0, 1, 2, 3), ackedAll(4), nil},
		{"unacked tail missing is fine", log(0, 1, 2), []int64{0, 1, 2, -1}, nil},
		{"duplicate", log(0, 1, 1, 2, 3), ackedAll(4), []string{"1 duplicate records", "not at their acknowledged offsets", "out of produce order"}},
		{"lost", log(0, 1, 3), ackedAll(4), []string{"lost", "not at their acknowledged offsets"}},
		{"gap", gap, ackedAll(4), []string{"offsets not dense"}},
		{"reordered", log(0, 2, 1, 3), ackedAll(4), []string{"not at their acknowledged offsets", "out of produce order"}},
		{"foreign", append(log(0, 1, 2, 3), &kgo.Record{Offset: 4, Value: []byte("junk")}), ackedAll(4), []string{"not of this stream"}},
	}
	for _, tc := range cases {
		problems, _ := crashStreamProblems(tc.recs, tc.acked)
		checkProblems(t, tc.name, problems, tc.want)
	}
}

// TestSeqValueRoundTrip: parseSeq accepts exactly what seqValue makes.
func TestSeqValueRoundTrip(t *testing.T) {
	for _, seq := range []int{0, 1, 99_999, 1<<31 - 1} {
		got, err := parseSeq(seqValue(seq))
		if err != nil || got != seq {
			t.Errorf("parseSeq(seqValue(%d)) = %d, %v", seq, got, err)
		}
	}
	v := seqValue(42)
	v[50] ^= 1
	if _, err := parseSeq(v); err == nil {
		t.Errorf("parseSeq accepted a value with corrupt padding")
	}
	if _, err := parseSeq(seqValue(7)[:99]); err == nil {
		t.Errorf("parseSeq accepted a short value")
	}
}

// TestReplicatedStreamCheckerFindsEveryProblem keeps the replication
// tests honest: streamProblems must flag duplicates, losses, records moved
// off their acknowledged offsets, offset gaps, short reads, reordering
// within a producer's partition and foreign values, and pass a clean read
// of several producers over several partitions.
func TestReplicatedStreamCheckerFindsEveryProblem(t *testing.T) {
	// Producers 0 and 1, seqs 0..3 each, seq s to partition s%2.
	clean := func() ([]readRec, map[pairKey]placed) {
		var recs []readRec
		acked := map[pairKey]placed{}
		next := map[int32]int64{}
		for s := range 4 {
			for pr := range 2 {
				p := int32(s % 2)
				recs = append(recs, readRec{p, next[p], pairValue(pr, s)})
				acked[pairKey{pr, s}] = placed{p, next[p]}
				next[p]++
			}
		}
		return recs, acked
	}
	ends := map[int32]int64{0: 4, 1: 4}
	cases := []struct {
		name   string
		mutate func([]readRec, map[pairKey]placed) ([]readRec, map[int32]int64)
		want   []string
	}{
		{"clean", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) { return r, ends }, nil},
		{"unacknowledged extra record at the end", func(r []readRec, a map[pairKey]placed) ([]readRec, map[int32]int64) {
			delete(a, pairKey{1, 3})
			return r, ends
		}, nil},
		{"duplicate", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			return append(r, readRec{1, 4, pairValue(0, 1)}), map[int32]int64{0: 4, 1: 5}
		}, []string{"1 duplicate records"}},
		{"lost", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			return r[:len(r)-1], map[int32]int64{0: 4, 1: 3}
		}, []string{"lost"}},
		{"moved", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			r[0].value, r[1].value = r[1].value, r[0].value
			return r, ends
		}, []string{"not at their acknowledged offsets"}},
		{"gap", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			r[len(r)-1].offset++
			return r, ends
		}, []string{"not at their acknowledged offsets", "offsets not dense"}},
		{"short read", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			return r, map[int32]int64{0: 4, 1: 6}
		}, []string{"offsets not dense"}},
		{"reordered", func(r []readRec, a map[pairKey]placed) ([]readRec, map[int32]int64) {
			r[0].value, r[4].value = r[4].value, r[0].value // producer 0's seqs 0 and 2 in partition 0
			a[pairKey{0, 0}], a[pairKey{0, 2}] = a[pairKey{0, 2}], a[pairKey{0, 0}]
			return r, ends
		}, []string{"out of produce order"}},
		{"foreign", func(r []readRec, _ map[pairKey]placed) ([]readRec, map[int32]int64) {
			return append(r, readRec{0, 4, pairValue(7, 0)}, readRec{0, 5, []byte("junk")}), map[int32]int64{0: 6, 1: 4}
		}, []string{"not of this stream"}},
	}
	for _, tc := range cases {
		recs, acked := clean()
		recs, ends := tc.mutate(recs, acked)
		problems := streamProblems(recs, acked, ends)
		checkProblems(t, tc.name, problems, tc.want)
	}
	if _, err := parsePair(pairValue(12, 34567)); err != nil {
		t.Errorf("parsePair(pairValue): %v", err)
	}
}

// checkProblems fails the test unless problems are one per want, each
// mentioning it, in order.
func checkProblems(t *testing.T, name string, problems, want []string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Errorf("%s: got problems %q, want %d matching %q", name, problems, len(want), want)
		return
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("%s: problem %d = %q, want it to mention %q", name, i, problems[i], w)
		}
	}
}

// TestReplicaLogComparisonFindsEveryDifference keeps waitReplicasEqual
// honest: sameReplicaLogs passes two logs with the same batches and names
// a log with a changed record, another leader epoch or a missing batch.
func TestReplicaLogComparisonFindsEveryDifference(t *testing.T) {
	write := func(name string, epochs []int32, values ...int) string {
		dir := filepath.Join(t.TempDir(), name)
		l, err := wal.Open(wal.OSFS(), dir, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			r := kmsg.NewRecord()
			r.Value = pairValue(0, v)
			if _, err := l.Append(recordBatch(time.UnixMilli(1000), r), epochs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	base := write("base", []int32{0, 0, 1}, 1, 2, 3)
	if err := sameReplicaLogs(base, write("same", []int32{0, 0, 1}, 1, 2, 3)); err != nil {
		t.Fatalf("identical logs: %v", err)
	}
	for name, dir := range map[string]string{
		"changed record": write("changed", []int32{0, 0, 1}, 1, 7, 3),
		"other epoch":    write("epoch", []int32{0, 0, 0}, 1, 2, 3),
		"missing batch":  write("short", []int32{0, 0}, 1, 2),
	} {
		if err := sameReplicaLogs(base, dir); err == nil {
			t.Errorf("%s: no difference found", name)
		}
	}
}
