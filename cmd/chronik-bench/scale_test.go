package main

import (
	"testing"

	"github.com/chronik/chronik/benchmarks"
)

func TestScaleListFlags(t *testing.T) {
	got, err := parseInts("1, 10,10_000,")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 10 || got[2] != 10000 {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	if _, err := parseInts("1,x"); err == nil {
		t.Fatal("a non-number accepted")
	}
	if s := joinInts([]int{1, 4, 10}); s != "1,4,10" {
		t.Fatalf("joinInts = %q", s)
	}
}

func TestShortScaleKeepsTheSmallPoints(t *testing.T) {
	c := shortScale(benchmarks.DefaultScaleConfig())
	if len(c.PartitionCounts) == 0 || c.PartitionCounts[len(c.PartitionCounts)-1] > 1000 || c.ConnRounds != 1 ||
		len(c.LoadAcks) != 1 || c.LoadAcks[0] != 1 {
		t.Fatalf("short config %+v", c)
	}
	for _, p := range c.PartitionCounts {
		if p == c.PartitionReference {
			return
		}
	}
	t.Fatalf("short partitions %v lack the reference %d", c.PartitionCounts, c.PartitionReference)
}

// bench's --scale-flags go through scale's own flags; its default, --short,
// keeps the points issue 15's goals are read at.
func TestBenchScaleFlags(t *testing.T) {
	has := func(xs []int, x int) bool {
		for _, v := range xs {
			if v == x {
				return true
			}
		}
		return false
	}
	short, err := parseScaleFlags([]string{"--short"})
	if err != nil {
		t.Fatal(err)
	}
	if !has(short.PartitionCounts, benchmarks.GoalPartitionsAt) || !has(short.PartitionCounts, benchmarks.GoalPartitionsRef) ||
		short.PartitionReference != benchmarks.GoalPartitionsRef || !has(short.ConnCounts, benchmarks.GoalConnsAt) ||
		has(short.PartitionCounts, 10000) || len(short.Sweeps) != 3 {
		t.Fatalf("short %+v", short)
	}
	full, err := parseScaleFlags([]string{"--short=false"})
	if err != nil {
		t.Fatal(err)
	}
	def := benchmarks.DefaultScaleConfig()
	if joinInts(full.PartitionCounts) != joinInts(def.PartitionCounts) || full.ConnRounds != def.ConnRounds || len(full.LoadAcks) != 2 {
		t.Fatalf("full %+v", full)
	}
	one, err := parseScaleFlags([]string{"--short", "--sweeps", "partitions", "--partitions", "1,4,1000,20000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Sweeps) != 1 || one.Sweeps[0] != "partitions" || joinInts(one.PartitionCounts) != "1,4,1000" {
		t.Fatalf("one sweep %+v", one)
	}
	for _, bad := range [][]string{{"--no-such-flag"}, {"--short", "partitions"}, {"--partitions", "1,x"}} {
		if _, err := parseScaleFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
