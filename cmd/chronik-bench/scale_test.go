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
