package raftmeta

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func brokers(racks ...string) []BrokerInfo {
	var out []BrokerInfo
	for i, r := range racks {
		out = append(out, BrokerInfo{ID: int32(i + 1), Rack: r})
	}
	return out
}

func leaderCounts(as [][]int32) map[int32]int {
	m := map[int32]int{}
	for _, a := range as {
		m[a[0]]++
	}
	return m
}

func replicaCounts(as [][]int32) map[int32]int {
	m := map[int32]int{}
	for _, a := range as {
		for _, r := range a {
			m[r]++
		}
	}
	return m
}

func TestAssignNinePartitionsRF1GivesThreeLeadersEach(t *testing.T) {
	as, err := Assign(emptyImage(), brokers("", "", ""), nil, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range leaderCounts(as) {
		if n != 3 {
			t.Fatalf("broker %d leads %d partitions, want 3: %v", id, n, as)
		}
	}
}

func TestAssignRF3SpreadsLeadersAndReplicas(t *testing.T) {
	as, err := Assign(emptyImage(), brokers("", "", ""), nil, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	lc, rc := leaderCounts(as), replicaCounts(as)
	for id := int32(1); id <= 3; id++ {
		if lc[id] != 2 || rc[id] != 6 {
			t.Fatalf("broker %d: %d leaders, %d replicas; want 2 and 6: %v", id, lc[id], rc[id], as)
		}
	}
	for _, a := range as {
		if len(a) != 3 || a[0] == a[1] || a[1] == a[2] || a[0] == a[2] {
			t.Fatalf("bad replica list %v", a)
		}
	}
}

func TestAssignBalancesWithinTopicFirst(t *testing.T) {
	// Broker 1 already leads 5 partitions of another topic: a new topic is
	// still spread 3/3/3, and the cluster-wide count only breaks ties.
	im := emptyImage()
	im.putTopic(&Topic{Name: "old", ID: tid(1), Partitions: []Partition{{Replicas: []int32{1}}, {Replicas: []int32{1}}, {Replicas: []int32{1}}, {Replicas: []int32{1}}, {Replicas: []int32{1}}}})
	as, _ := Assign(im, brokers("", "", ""), nil, 9, 1)
	for id, n := range leaderCounts(as) {
		if n != 3 {
			t.Fatalf("broker %d leads %d, want 3", id, n)
		}
	}
	one, _ := Assign(im, brokers("", "", ""), nil, 1, 1)
	if one[0][0] == 1 {
		t.Fatalf("a one-partition topic went to the busiest broker: %v", one)
	}
	// CreatePartitions continues the topic's balance.
	more, _ := Assign(im, brokers("", "", ""), []Partition{{Replicas: []int32{2}}, {Replicas: []int32{3}}}, 1, 1)
	if more[0][0] != 1 {
		t.Fatalf("third partition should go to broker 1: %v", more)
	}
}

func TestAssignIsRackAware(t *testing.T) {
	// Racks a, a, b, b: every RF=2 partition spans both racks.
	bs := brokers("a", "a", "b", "b")
	rack := map[int32]string{}
	for _, b := range bs {
		rack[b.ID] = b.Rack
	}
	as, _ := Assign(emptyImage(), bs, nil, 8, 2)
	for _, a := range as {
		if rack[a[0]] == rack[a[1]] {
			t.Fatalf("partition %v on one rack", a)
		}
	}
	if lc := leaderCounts(as); len(lc) != 4 || lc[1] != 2 || lc[4] != 2 {
		t.Fatalf("leaders not balanced: %v", lc)
	}
}

func TestAssignRejectsReplicationFactorAboveBrokers(t *testing.T) {
	for _, rf := range []int{0, 4} {
		_, err := Assign(emptyImage(), brokers("", "", ""), nil, 1, rf)
		if !errors.Is(err, kerr.InvalidReplicationFactor) {
			t.Errorf("rf=%d: %v", rf, err)
		}
	}
}

func BenchmarkAssign(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Assign(emptyImage(), brokers("a", "b", "c", "a", "b"), nil, n, 3)
			}
		})
	}
}
