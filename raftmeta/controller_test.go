package raftmeta

import (
	"testing"
	"time"
)

// TestANewControllerKeepsTheSessionOfAHeartbeatItAlreadyTook: the shard
// leadership is won before a liveness tick notices it, and HandleHeartbeat
// answers meanwhile; the tick that starts the controllership must not cut
// the session of a broker that has just heartbeated here to the short
// new-controller grace. Before, such a broker stopped (SIGSTOP) right
// after its heartbeat was fenced 2 intervals later instead of after its
// session (TestReplicationLaggingFollower, 6 s session: fenced at 450 ms).
func TestANewControllerKeepsTheSessionOfAHeartbeatItAlreadyTook(t *testing.T) {
	f := NewFSM()
	applyAll(t, f, [][]byte{cmd(t, reg(1, "")), cmd(t, reg(2, "")), cmd(t, reg(3, ""))}, 1)
	const session, grace = 6 * time.Second, 400 * time.Millisecond
	t0 := time.Unix(1000, 0)
	c := newController()
	c.deadline[3] = t0.Add(session)      // heartbeated just now, through HandleHeartbeat
	c.deadline[2] = t0.Add(-time.Minute) // a deadline from an old controllership
	now := t0.Add(10 * time.Millisecond) // the tick that notices the leadership
	c.becomeControllerLocked(f.Image(), now, grace)
	for id, want := range map[int32]time.Time{1: now.Add(grace), 2: now.Add(grace), 3: t0.Add(session)} {
		if got := c.deadline[id]; !got.Equal(want) {
			t.Errorf("broker %d: deadline %v after the controllership began, want %v", id, got.Sub(t0), want.Sub(t0))
		}
	}
}
