package group

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A second member's join moves a Stable group through a rebalance: the
// first member learns of it from its heartbeat, both are answered in one
// new generation once both joined, and each gets exactly its own part of
// the leader's assignment once that is committed.
func TestSecondMemberRebalancesGroupAndEachGetsItsAssignment(t *testing.T) {
	h := newTestHost(t, 3)
	c := startCoordinator(t, h)
	m1 := stableAlone(t, c, "g", "a1")
	m2 := newMember(t, c, "g")
	j2 := m2.joinLater(10000)
	if err := m1.heartbeat(); err != kerr.RebalanceInProgress {
		t.Fatalf("heartbeat during the rebalance: %v, want REBALANCE_IN_PROGRESS", err)
	}
	r1, r2 := m1.took(await(t, m1.joinLater(10000))), m2.took(await(t, j2))
	if r1.Generation != r2.Generation || r1.Generation != 2 || r1.LeaderID != m1.id || len(r1.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("joins: gen %d/%d leader %s members %d/%d; want gen 2, leader %s with both members listed", r1.Generation, r2.Generation, r1.LeaderID, len(r1.Members), len(r2.Members), m1.id)
	}
	h.log(Partition("g", 3)).holdCommits()
	s2 := m2.syncLater(nil)
	s1 := m1.syncLater(map[string]string{m1.id: "x1", m2.id: "x2"})
	select {
	case <-s1:
		t.Fatal("leader's SyncGroup answered before its assignment was committed")
	case <-s2:
		t.Fatal("follower's SyncGroup answered before the assignment was committed")
	default:
	}
	h.log(Partition("g", 3)).release()
	if a1, a2 := await(t, s1), await(t, s2); string(a1.MemberAssignment) != "x1" || string(a2.MemberAssignment) != "x2" {
		t.Fatalf("assignments %q and %q, want x1 and x2", a1.MemberAssignment, a2.MemberAssignment)
	}
	if err := m1.heartbeat(); err != nil {
		t.Fatalf("heartbeat in the Stable group: %v", err)
	}
	if d := c.Describe("g", 5, false); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("described as %s with %d members", d.State, len(d.Members))
	}
}

// A commit is answered only once its record is committed (Log.Commit), and
// only then visible to OffsetFetch; a failed commit answers NOT_COORDINATOR
// and leaves the previous offset.
func TestCommitIsVisibleAndAnsweredOnlyOnceCommitted(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	commit(t, c, "g", nil, 0, 5)
	l := h.log(0)
	l.holdCommits()
	pending := commitLater(c, "g", nil, 0, 6)
	select {
	case <-pending:
		t.Fatal("commit answered before Log.Commit reported it")
	default:
	}
	if got := committed(t, c, "g"); got[0] != 5 {
		t.Fatalf("offset fetched while the commit is pending: %d, want 5", got[0])
	}
	l.release()
	if r := await(t, pending); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	if got := committed(t, c, "g"); got[0] != 6 {
		t.Fatalf("offset after the commit: %d, want 6", got[0])
	}

	l.failCommits(errors.New("disk gone"))
	if r := await(t, commitLater(c, "g", nil, 0, 7)); r.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("commit whose Log.Commit failed: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	if got := committed(t, c, "g"); got[0] != 6 {
		t.Fatalf("offset after a failed commit: %d, want 6", got[0])
	}
}

// A member that stops heartbeating is removed after its session timeout;
// the group, left without members, is Empty.
func TestSilentMemberIsRemovedAfterItsSessionTimeout(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	m := newMember(t, c, "g")
	m.took(await(t, m.joinLater(100)))
	await(t, m.syncLater(map[string]string{m.id: "a"}))
	eventually(t, func() error {
		if d := c.Describe("g", 5, false); d.State != "Empty" || len(d.Members) != 0 {
			return fmt.Errorf("group %s with %d members, want Empty", d.State, len(d.Members))
		}
		return nil
	})
	if err := m.heartbeat(); err != kerr.UnknownMemberID {
		t.Fatalf("heartbeat of the removed member: %v, want UNKNOWN_MEMBER_ID", err)
	}
}

// OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION for
// partitions the Host does not have, and a refused OffsetDelete deletes
// nothing.
func TestOffsetsOfUnknownPartitionsAreRefused(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	commit(t, c, "g", nil, 1, 10)
	if r := await(t, commitLater(c, "g", nil, 9, 1)); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit to t[9]: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	r := await(t, offsetDeleteLater(c, "g", 9))
	if r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("offset delete of t[9]: %v / %v", kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	if got := committed(t, c, "g"); !maps.Equal(got, map[int32]int64{1: 10}) {
		t.Fatalf("offsets after the refused delete: %v, want t[1]=10", got)
	}
}
