package raftmeta

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Assign chooses replicas for n new partitions of a topic whose partitions
// so far are existing (nil for a new topic), over the candidate brokers
// (normally im.LiveBrokers()), rf replicas each.
//
// Balance, in order of priority: leaders and replicas evenly over the
// brokers within the topic, then over the whole cluster (counted from im),
// then the lowest broker id, so the result is deterministic. With racks,
// the followers of a partition go to racks it does not use yet before
// doubling up on one. Leaders are the first replica of each list.
//
// It returns INVALID_REPLICATION_FACTOR when rf is below 1 or above the
// number of candidates.
func Assign(im *Image, candidates []BrokerInfo, existing []Partition, n, rf int) ([][]int32, error) {
	if rf < 1 || rf > len(candidates) {
		return nil, &ResultErr{Err: kerr.InvalidReplicationFactor,
			Message: fmt.Sprintf("replication factor %d with %d live brokers", rf, len(candidates))}
	}
	s := newAssignState(im, candidates, existing)
	out := make([][]int32, 0, n)
	for range n {
		reps := make([]int32, 0, rf)
		racks := map[string]bool{}
		leader := s.best(func(c *assignCount) [4]int {
			return [4]int{c.topicLeaders, c.clusterLeaders, c.topicReplicas, c.clusterReplicas}
		}, reps)
		reps = s.take(reps, racks, leader, true)
		for len(reps) < rf {
			next := s.best(func(c *assignCount) [4]int {
				newRack := 0
				if racks[c.rack] {
					newRack = 1
				}
				return [4]int{newRack, c.topicReplicas, c.clusterReplicas, c.topicLeaders}
			}, reps)
			reps = s.take(reps, racks, next, false)
		}
		out = append(out, reps)
	}
	return out, nil
}

type assignCount struct {
	id                             int32
	rack                           string
	topicLeaders, clusterLeaders   int
	topicReplicas, clusterReplicas int
}

type assignState struct{ counts []*assignCount }

func newAssignState(im *Image, candidates []BrokerInfo, existing []Partition) *assignState {
	s := &assignState{}
	byID := map[int32]*assignCount{}
	for _, b := range candidates {
		c := &assignCount{id: b.ID, rack: b.Rack}
		s.counts = append(s.counts, c)
		byID[b.ID] = c
	}
	slices.SortFunc(s.counts, func(a, b *assignCount) int { return int(a.id) - int(b.id) })
	if im != nil {
		for _, t := range im.topics { // sums: map order cannot matter
			for _, p := range t.Partitions {
				count(byID, p, func(c *assignCount) { c.clusterLeaders++ }, func(c *assignCount) { c.clusterReplicas++ })
			}
		}
	}
	for _, p := range existing {
		count(byID, p, func(c *assignCount) { c.topicLeaders++ }, func(c *assignCount) { c.topicReplicas++ })
	}
	return s
}

func count(byID map[int32]*assignCount, p Partition, leader, replica func(*assignCount)) {
	if len(p.Replicas) > 0 {
		if c := byID[p.Replicas[0]]; c != nil {
			leader(c)
		}
	}
	for _, r := range p.Replicas {
		if c := byID[r]; c != nil {
			replica(c)
		}
	}
}

// best returns the candidate not yet in reps with the smallest key (then the
// smallest id: counts are sorted by id and ties keep the first).
func (s *assignState) best(key func(*assignCount) [4]int, reps []int32) *assignCount {
	var best *assignCount
	var bestKey [4]int
	for _, c := range s.counts {
		if slices.Contains(reps, c.id) {
			continue
		}
		k := key(c)
		if best == nil || slices.Compare(k[:], bestKey[:]) < 0 {
			best, bestKey = c, k
		}
	}
	return best
}

func (s *assignState) take(reps []int32, racks map[string]bool, c *assignCount, leader bool) []int32 {
	if leader {
		c.topicLeaders++
		c.clusterLeaders++
	}
	c.topicReplicas++
	c.clusterReplicas++
	racks[c.rack] = true
	return append(reps, c.id)
}
