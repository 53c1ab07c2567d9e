package group

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// checkOffsets fails unless every group has exactly the offsets in want.
func checkOffsets(t *testing.T, c *Coordinator, want map[string]map[int32]int64) {
	t.Helper()
	for group, w := range want {
		if got := committed(t, c, group); !maps.Equal(got, w) {
			t.Errorf("offsets of %s: %v, want %v", group, got, w)
		}
	}
}

// Acknowledged commits and a Stable group's members and assignments come
// back after a power cut; the member carries on without a rebalance.
func TestAcknowledgedGroupStateSurvivesCrash(t *testing.T) {
	h := newTestHost(t, 3)
	c := startCoordinator(t, h)
	m := stableAlone(t, c, "g", "assigned")
	commit(t, c, "g", m, 0, 11)
	commit(t, c, "g", m, 1, 12)
	commit(t, c, "simple", nil, 2, 13)
	commit(t, c, "simple", nil, 2, 14)
	h.crash()
	c.Close()

	c = startCoordinator(t, h)
	checkOffsets(t, c, map[string]map[int32]int64{"g": {0: 11, 1: 12}, "simple": {2: 14}})
	d := c.Describe("g", 5, false)
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != m.id || string(d.Members[0].MemberAssignment) != "assigned" {
		t.Fatalf("group after the crash: %s %+v", d.State, d.Members)
	}
	m.c = c
	if err := m.heartbeat(); err != nil {
		t.Fatalf("heartbeat of the member after the crash: %v, want none (no rebalance)", err)
	}
}

// Compaction keeps the latest value of every key: the log start offset
// moves, and a replay after a crash gives every latest offset and no
// deleted group.
func TestCompactedLogReplaysToTheLatestValues(t *testing.T) {
	h := newTestHost(t, 1)
	h.segBytes = 1024
	c := startCoordinator(t, h, func(cfg *Config) { cfg.SegmentBytes = 4096 })
	want := map[int32]int64{}
	for i := range int64(400) {
		p := int32(i % 4)
		commit(t, c, "busy", nil, p, i)
		want[p] = i
	}
	commit(t, c, "gone", nil, 0, 1)
	if err := deleteGroup(t, c, "gone"); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	eventually(t, func() error {
		l := h.log(0)
		if lso, leo := l.LogStartOffset(), l.LogEndOffset(); lso == 0 || leo-lso > 150 {
			return fmt.Errorf("log holds offsets %d..%d: not compacted", lso, leo)
		}
		return nil
	})
	h.crash()
	c.Close()
	c = startCoordinator(t, h)
	checkOffsets(t, c, map[string]map[int32]int64{"busy": want, "gone": {}})
	if groups := c.List(nil, nil); len(groups) != 1 || groups[0].Group != "busy" {
		t.Fatalf("groups after the crash: %+v, want busy alone", groups)
	}
}

// A compaction cut short at either step — its snapshot never committed, or
// committed but the log start offset not moved — replays to the same state.
func TestInterruptedCompactionReplaysToTheSameState(t *testing.T) {
	for _, step := range []string{"snapshot not committed", "start offset not moved"} {
		t.Run(step, func(t *testing.T) {
			h := newTestHost(t, 1)
			c := startCoordinator(t, h)
			want := map[int32]int64{}
			for i := range int64(40) {
				commit(t, c, "g", nil, int32(i%3), i)
				want[int32(i%3)] = i
			}
			l := h.log(0)
			boom := errors.New("cut short")
			if step == "snapshot not committed" {
				l.failCommits(boom)
			} else {
				l.mu.Lock()
				l.deleteErr = boom
				l.mu.Unlock()
			}
			c.mu.Lock()
			o := c.logs[0]
			c.mu.Unlock()
			if err := o.compact(0); !errors.Is(err, boom) {
				t.Fatalf("compaction: %v, want it cut short", err)
			}
			h.crash()
			c.Close()
			checkOffsets(t, startCoordinator(t, h), map[string]map[int32]int64{"g": want})
		})
	}
}

// deleteGroup runs a DeleteGroups of one group and returns its outcome.
func deleteGroup(t testing.TB, c *Coordinator, id string) *kerr.Error {
	done := make(chan *kerr.Error, 1)
	if kerrv := c.DeleteGroup(id, func(err *kerr.Error) { done <- err }); kerrv != nil {
		return kerrv
	}
	return await(t, done)
}
