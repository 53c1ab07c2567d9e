package group

import (
	"errors"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// When another broker takes the group's partition over, its groups are
// unloaded (a parked join is answered NOT_COORDINATOR, requests are refused
// with it); when leadership comes back they are loaded from the log again.
func TestLeadershipMoveUnloadsGroupsAndItsReturnReloadsThem(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	m1 := stableAlone(t, c, "g", "a")
	commit(t, c, "g", m1, 0, 42)
	m2 := newMember(t, c, "g")
	parked := m2.joinLater(10000) // waits for m1 to rejoin

	h.setLed(0, false)
	c.TopicsChanged()
	if j := await(t, parked); j.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after the move: %v, want NOT_COORDINATOR", kerr.ErrorForCode(j.ErrorCode))
	}
	if err := m1.heartbeat(); err != kerr.NotCoordinator {
		t.Fatalf("heartbeat after the move: %v, want NOT_COORDINATOR", err)
	}
	if _, err := c.FetchOffsets("g", nil, true); err != kerr.NotCoordinator {
		t.Fatalf("offset fetch after the move: %v, want NOT_COORDINATOR", err)
	}
	if d := c.Describe("g", 5, false); d.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("describe after the move: %v, want NOT_COORDINATOR", kerr.ErrorForCode(d.ErrorCode))
	}

	h.setLed(0, true)
	c.TopicsChanged()
	if got := committed(t, c, "g"); !maps.Equal(got, map[int32]int64{0: 42}) {
		t.Fatalf("offsets after leadership came back: %v", got)
	}
	if d := c.Describe("g", 5, false); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != m1.id {
		t.Fatalf("group after leadership came back: %s %+v, want Stable with %s", d.State, d.Members, m1.id)
	}
}

// A request finds out about a leadership move itself, before the metadata
// change reaches TopicsChanged.
func TestRequestChecksLeadershipBeforeServing(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	commit(t, c, "g", nil, 0, 1)
	h.setLed(0, false)
	if r := await(t, commitLater(c, "g", nil, 0, 2)); r.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("commit to a partition led elsewhere: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	if groups := c.List(nil, nil); len(groups) != 0 {
		t.Fatalf("groups listed after the move: %+v", groups)
	}
}

// Deleting __consumer_offsets unloads every group; the next request creates
// the topic again, empty.
func TestDeletedInternalTopicUnloadsGroupsAndIsCreatedAgain(t *testing.T) {
	h := newTestHost(t, 2)
	c := startCoordinator(t, h)
	commit(t, c, "g", nil, 0, 7) // creates the topic
	h.deleteTopic()
	c.TopicsChanged()
	if groups := c.List(nil, nil); len(groups) != 0 {
		t.Fatalf("groups after the deletion: %+v", groups)
	}
	if got := committed(t, c, "g"); len(got) != 0 {
		t.Fatalf("offsets after the deletion: %v, want none", got)
	}
	if h.creates != 2 {
		t.Fatalf("internal topic created %d times, want twice", h.creates)
	}
	commit(t, c, "g", nil, 0, 8)
	if got := committed(t, c, "g"); got[0] != 8 {
		t.Fatalf("offset in the new topic: %d, want 8", got[0])
	}
}

// A closed coordinator answers parked and later requests NOT_COORDINATOR.
func TestClosedCoordinatorAnswersNotCoordinator(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	m := stableAlone(t, c, "g", "a")
	m2 := newMember(t, c, "g")
	parked := m2.joinLater(10000)
	c.Close()
	if j := await(t, parked); j.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join at close: %v, want NOT_COORDINATOR", kerr.ErrorForCode(j.ErrorCode))
	}
	if err := m.heartbeat(); err != kerr.NotCoordinator {
		t.Fatalf("heartbeat after close: %v, want NOT_COORDINATOR", err)
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = "g", m.id
	if err, _ := c.Leave(req); err != kerr.NotCoordinator {
		t.Fatalf("leave after close: %v, want NOT_COORDINATOR", err)
	}
}

// When the internal topic cannot be created (too few brokers, no quorum),
// FindCoordinator and group requests get COORDINATOR_NOT_AVAILABLE, and
// the next request tries again.
func TestInternalTopicThatCannotBeCreatedIsCoordinatorNotAvailable(t *testing.T) {
	h := newTestHost(t, 1)
	h.createErr = errors.New("2 live brokers, replication factor 3")
	c := startCoordinator(t, h)
	if _, err := c.PartitionFor("g"); err != kerr.CoordinatorNotAvailable {
		t.Fatalf("find coordinator: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
	if _, err := c.FetchOffsets("g", nil, true); err != kerr.CoordinatorNotAvailable {
		t.Fatalf("offset fetch: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
	h.mu.Lock()
	h.createErr = nil
	h.mu.Unlock()
	if p, err := c.PartitionFor("g"); err != nil || p != 0 {
		t.Fatalf("find coordinator once the topic can be created: %d %v", p, err)
	}
}

// Leadership lost and regained between two metadata passes (another
// leader epoch) while another broker wrote a commit to the partition: the
// groups are loaded again from the log, so the other broker's commit is
// seen instead of the stale in-memory offset.
func TestLeadershipRegainedAtAnotherEpochReloadsTheGroups(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	commit(t, c, "g", nil, 0, 42)
	// Meanwhile, at leader epoch 1, another broker led the partition and
	// committed 99 (its record replicated here), and this broker leads again.
	l := h.log(0)
	rec := logRecord{key: offsetKey("g", topicPartition{"t", 0}), value: offsetValue(committedOffset{offset: 99, leaderEpoch: -1})}
	if _, err := l.Log.Append(encodeRecordBatch([]logRecord{rec}, 1), 1); err != nil {
		t.Fatal(err)
	}
	l.epoch.Store(1)
	c.TopicsChanged()
	if got := committed(t, c, "g"); !maps.Equal(got, map[int32]int64{0: 99}) {
		t.Fatalf("offsets after leadership returned at epoch 1: %v, want the other leader's 99", got)
	}
}
