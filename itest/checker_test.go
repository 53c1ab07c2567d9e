package itest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
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

// checkProblems fails the test unless problems are one per want, each
// mentioning it, in order (streamcheck.MatchProblems).
func checkProblems(t *testing.T, name string, problems, want []string) {
	t.Helper()
	if err := streamcheck.MatchProblems(problems, want); err != nil {
		t.Errorf("%s: %v", name, err)
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
			r.Value = streamcheck.Value(0, v)
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
