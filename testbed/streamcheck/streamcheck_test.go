package streamcheck

import (
	"testing"
)

// TestCheckFindsEveryProblem keeps the replication tests and the
// failover benchmark honest: Check must flag duplicates, losses, records moved
// off their acknowledged offsets, offset gaps, short reads, reordering
// within a producer's partition and foreign values, and pass a clean read
// of several producers over several partitions.
func TestCheckFindsEveryProblem(t *testing.T) {
	// Producers 0 and 1, seqs 0..3 each, seq s to partition s%2.
	clean := func() ([]Rec, map[Key]Placed) {
		var recs []Rec
		acked := map[Key]Placed{}
		next := map[int32]int64{}
		for s := range 4 {
			for pr := range 2 {
				p := int32(s % 2)
				recs = append(recs, Rec{p, next[p], Value(pr, s)})
				acked[Key{pr, s}] = Placed{p, next[p]}
				next[p]++
			}
		}
		return recs, acked
	}
	ends := map[int32]int64{0: 4, 1: 4}
	cases := []struct {
		name   string
		mutate func([]Rec, map[Key]Placed) ([]Rec, map[int32]int64)
		want   []string
		counts [2]int // lost, duplicates
	}{
		{"clean", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			return r, ends
		}, nil, [2]int{}},
		{"unacknowledged extra record at the end", func(r []Rec, a map[Key]Placed) ([]Rec, map[int32]int64) {
			delete(a, Key{1, 3})
			return r, ends
		}, nil, [2]int{}},
		{"duplicate", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			return append(r, Rec{1, 4, Value(0, 1)}), map[int32]int64{0: 4, 1: 5}
		}, []string{"1 duplicate records"}, [2]int{0, 1}},
		{"lost", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			return r[:len(r)-1], map[int32]int64{0: 4, 1: 3}
		}, []string{"lost"}, [2]int{1, 0}},
		{"moved", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			r[0].Value, r[1].Value = r[1].Value, r[0].Value
			return r, ends
		}, []string{"not at their acknowledged offsets"}, [2]int{}},
		{"gap", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			r[len(r)-1].Offset++
			return r, ends
		}, []string{"not at their acknowledged offsets", "offsets not dense"}, [2]int{}},
		{"short read", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			return r, map[int32]int64{0: 4, 1: 6}
		}, []string{"offsets not dense"}, [2]int{}},
		{"reordered", func(r []Rec, a map[Key]Placed) ([]Rec, map[int32]int64) {
			r[0].Value, r[4].Value = r[4].Value, r[0].Value // producer 0's seqs 0 and 2 in partition 0
			a[Key{0, 0}], a[Key{0, 2}] = a[Key{0, 2}], a[Key{0, 0}]
			return r, ends
		}, []string{"out of produce order"}, [2]int{}},
		{"foreign", func(r []Rec, _ map[Key]Placed) ([]Rec, map[int32]int64) {
			return append(r, Rec{0, 4, Value(7, 0)}, Rec{0, 5, []byte("junk")}), map[int32]int64{0: 6, 1: 4}
		}, []string{"not of this stream"}, [2]int{}},
	}
	for _, tc := range cases {
		recs, acked := clean()
		recs, ends := tc.mutate(recs, acked)
		res := Check(recs, acked, ends)
		if err := MatchProblems(res.Problems(), tc.want); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if res.OK() != (len(tc.want) == 0) {
			t.Errorf("%s: OK() = %v with problems %q", tc.name, res.OK(), res.Problems())
		}
		if got := [2]int{res.Lost, res.Duplicates}; got != tc.counts {
			t.Errorf("%s: lost, duplicates = %v, want %v", tc.name, got, tc.counts)
		}
	}
	if _, err := Parse(Value(12, 34567)); err != nil {
		t.Errorf("Parse(Value): %v", err)
	}
}

// TestValueRoundTrip: Parse accepts exactly what Value makes.
func TestValueRoundTrip(t *testing.T) {
	for _, k := range []Key{{0, 0}, {12, 34567}, {9999, 1<<31 - 1}} {
		if got, err := Parse(Value(k.Producer, k.Seq)); err != nil || got != k {
			t.Errorf("Parse(Value(%v)) = %v, %v", k, got, err)
		}
	}
	v := Value(3, 42)
	v[50] ^= 1
	if _, err := Parse(v); err == nil {
		t.Errorf("Parse accepted a value with corrupt padding")
	}
	if _, err := Parse(Value(3, 42)[:ValueSize-1]); err == nil {
		t.Errorf("Parse accepted a short value")
	}
}

// TestMatchProblems: MatchProblems refuses a missing, an extra and a
// different problem.
func TestMatchProblems(t *testing.T) {
	if err := MatchProblems([]string{"a lost x", "b dup"}, []string{"lost", "dup"}); err != nil {
		t.Errorf("matching problems refused: %v", err)
	}
	for _, tc := range [][2][]string{{{"a lost"}, nil}, {nil, {"lost"}}, {{"a lost"}, {"dup"}}} {
		if err := MatchProblems(tc[0], tc[1]); err == nil {
			t.Errorf("MatchProblems(%q, %q) passed", tc[0], tc[1])
		}
	}
}
