package raftmeta

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRestartAfterControlledShutdownIsNotShutDownAgain: a broker that
// stopped after a controlled shutdown and registered again (a new epoch,
// heartbeats without WantShutdown) stays eligible: the controller does not
// apply the earlier incarnation's request to the new one (which would take
// it out of every ISR and leadership for good: a rolling restart under
// SIGTERM then never gets its ISRs whole again).
func TestRestartAfterControlledShutdownIsNotShutDownAgain(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	i := int(ctrl) % 3 // a node other than the controller: the controller's memory must outlive the restart
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.nodes[i].ControlledShutdown(ctx); err != nil {
		t.Fatalf("controlled shutdown of broker %d: %v", i+1, err)
	}
	if b, _ := c.nodes[i].Image().Broker(int32(i + 1)); !b.ShuttingDown {
		t.Fatalf("broker %d not shutting down after its controlled shutdown: %+v", i+1, b)
	}
	old, _ := c.nodes[i].Image().Broker(int32(i + 1))
	c.stop(i)
	c.start(i)
	c.waitRegistered(i)
	// Several heartbeat intervals and controller ticks of the new
	// incarnation: it is never put into controlled shutdown, and it ends
	// eligible. It may be fenced for a while: the controller starts its
	// session when it applies the registration, but the broker heartbeats
	// only once its own replica has applied it too, and a replica
	// catching up on a loaded machine took longer than the 1 s session
	// (3 runs in 40 at a load of 4: fenced, then unfenced by the first
	// heartbeat), which is Kafka's rule too (a broker not caught up stays
	// fenced).
	watch := func(d time.Duration) BrokerInfo {
		var b BrokerInfo
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			b, _ = c.nodes[(i+1)%3].Image().Broker(int32(i + 1))
			if b.Epoch != old.Epoch && b.ShuttingDown {
				t.Fatalf("broker %d registered again (epoch %d, was %d) but is shut down: %+v", i+1, b.Epoch, old.Epoch, b)
			}
		}
		return b
	}
	watch(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := watch(100 * time.Millisecond)
		if b.Epoch != old.Epoch && !b.Fenced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d registered again (epoch %d, was %d) but is still fenced or its registration never reached node %d: %+v",
				i+1, b.Epoch, old.Epoch, (i+1)%3+1, b)
		}
	}
}

// TestControlledShutdownOfTheControllersBroker: the controller's own
// broker asking for a controlled shutdown (SIGTERM) is shut down like any
// other, promptly, instead of waiting for a controller that never decides
// about itself.
func TestControlledShutdownOfTheControllersBroker(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	i := int(ctrl) - 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.nodes[i].ControlledShutdown(ctx); err != nil {
		t.Fatalf("controlled shutdown of the controller's broker %d: %v", ctrl, err)
	}
	if b, _ := c.nodes[i].Image().Broker(ctrl); !b.ShuttingDown || b.Fenced {
		t.Fatalf("controller's broker %d after its controlled shutdown: %+v, want shutting down, not fenced", ctrl, b)
	}
}

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
	c.becomeControllerLocked(f.Image(), now, grace, grace, false)
	for id, want := range map[int32]time.Time{1: now.Add(grace), 2: now.Add(grace), 3: t0.Add(session)} {
		if got := c.deadline[id]; !got.Equal(want) {
			t.Errorf("broker %d: deadline %v after the controllership began, want %v", id, got.Sub(t0), want.Sub(t0))
		}
	}
}

// TestTheDeposedControllerGetsOnlyTheConnectionLostGrace: a node that wins
// the shard leadership from another (dragonboat's LeaderUpdated: leader 3
// in term 5, then this node, 1, in term 6) gives the controller it deposed,
// if its Raft streams to this node ended (killed), only the short grace
// from the win, unless it already heartbeated here; with a stream still
// open (frozen, cut off) it gets the grace of the others;
// every other broker keeps the new-controller grace, and a controllership
// started over after a stall, or won again with no other leader known in
// between, deposes nobody. A deposed controller whose Raft replica sends
// a message of the new term (it is alive, learnt of the new leader) gets
// the new-controller grace from then.
func TestTheDeposedControllerGetsOnlyTheConnectionLostGrace(t *testing.T) {
	f := NewFSM()
	applyAll(t, f, [][]byte{cmd(t, reg(1, "")), cmd(t, reg(2, "")), cmd(t, reg(3, ""))}, 1)
	const session, grace, short = time.Second, 200 * time.Millisecond, 50 * time.Millisecond
	t0 := time.Unix(1000, 0)
	won := t0.Add(300 * time.Millisecond)
	now := won.Add(5 * time.Millisecond) // the tick that starts the controllership
	check := func(what string, c *controller, want map[int32]time.Time) {
		t.Helper()
		for id, w := range want {
			if got := c.deadline[id]; !got.Equal(w) {
				t.Errorf("%s: broker %d: deadline %v after the win, want %v", what, id, got.Sub(won), w.Sub(won))
			}
		}
	}
	deposing := func() *controller {
		c := newController()
		c.leaderChanged(3, 5, 1, t0)
		c.deadline[3] = t0.Add(session) // booked while this node followed (a registration): no heartbeat to this controller
		c.leaderChanged(1, 6, 1, won)
		return c
	}

	c := deposing()
	c.becomeControllerLocked(f.Image(), now, grace, short, true)
	check("deposed, silent", c, map[int32]time.Time{1: now.Add(grace), 2: now.Add(grace), 3: won.Add(short)})

	c = deposing()
	c.raftStream(3, true) // its Raft stream to this node is still open: frozen or cut off, not gone
	c.becomeControllerLocked(f.Image(), now, grace, short, true)
	check("deposed, stream open", c, map[int32]time.Time{2: now.Add(grace), 3: t0.Add(session)}) // like any broker: the later of its deadline and the grace
	c.raftStream(3, false)

	c = deposing()
	c.heard[3], c.deadline[3] = true, won.Add(2*time.Millisecond+session) // it heartbeated here before the tick
	c.becomeControllerLocked(f.Image(), now, grace, short, true)
	check("deposed, heard", c, map[int32]time.Time{3: won.Add(2*time.Millisecond + session)})

	// Its Raft replica speaks: a message of the old term (sent before it
	// knew, read late) is no sign of life; one of the new term is, and
	// gives it the grace every live broker gets.
	c = deposing()
	c.becomeControllerLocked(f.Image(), now, grace, short, true)
	c.raftMessage(3, 5, won.Add(10*time.Millisecond))
	if got := c.deposedAliveLocked(3, c.deadline[3], grace); !got.Equal(won.Add(short)) {
		t.Errorf("deposed, old-term message: deadline %v after the win, want %v", got.Sub(won), short)
	}
	c.raftMessage(3, 6, won.Add(40*time.Millisecond))
	if got := c.deposedAliveLocked(3, c.deadline[3], grace); !got.Equal(won.Add(40*time.Millisecond + grace)) {
		t.Errorf("deposed, new-term message: deadline %v after the win, want %v", got.Sub(won), 40*time.Millisecond+grace)
	}
	c.raftMessage(2, 6, won.Add(40*time.Millisecond))
	if got := c.deposedAliveLocked(2, now.Add(grace), grace); !got.Equal(now.Add(grace)) {
		t.Errorf("broker 2 (not deposed): deadline %v after the win moved by its Raft message", got.Sub(won))
	}

	c = deposing()
	c.becomeControllerLocked(f.Image(), now, grace, short, false) // a stall's restart of the sessions
	check("stall", c, map[int32]time.Time{3: t0.Add(session)})

	c = newController()
	c.leaderChanged(1, 5, 1, t0)
	c.leaderChanged(1, 7, 1, won) // won again; no other leader seen in between
	c.becomeControllerLocked(f.Image(), now, grace, short, true)
	check("won again", c, map[int32]time.Time{2: now.Add(grace), 3: now.Add(grace)})
}

// TestANewIncarnationGetsItsOwnSession: the deadline of a broker's old
// incarnation, long expired, does not apply to its new registration, even
// when the controller sees the registration in the image before its
// registration event (observe and the tick's decisions read the image
// separately): the new incarnation gets a whole session.
func TestANewIncarnationGetsItsOwnSession(t *testing.T) {
	const session = 2 * time.Second
	t0 := time.Unix(1000, 0)
	c := newController()
	c.deadline[3], c.epochs[3] = t0, 7 // the old incarnation's, expired
	now := t0.Add(5 * time.Second)
	if got := c.deadlineLocked(BrokerInfo{ID: 3, Epoch: 7}, now, session); !got.Equal(t0) {
		t.Fatalf("old incarnation: deadline %v, want its own %v", got.Sub(t0), 0)
	}
	if got := c.deadlineLocked(BrokerInfo{ID: 3, Epoch: 10}, now, session); !got.Equal(now.Add(session)) {
		t.Fatalf("new incarnation (epoch 10): deadline %v after t0, want a session from now (%v)", got.Sub(t0), now.Add(session).Sub(t0))
	}
}

// TestARestartedBrokerDoesNotInheritItsShutdownRequest: a controlled
// shutdown asked for by one incarnation (its heartbeats' WantShutDown) is
// not one of the next incarnation, which registers with a new broker
// epoch. Before, the request was kept per broker id: a broker restarted
// after SIGTERM was shut down again as soon as it registered and stayed
// ineligible for every ISR (found by chronik-bench failover's SIGTERM row).
func TestARestartedBrokerDoesNotInheritItsShutdownRequest(t *testing.T) {
	c := newController()
	old := BrokerInfo{ID: 3, Epoch: 22}
	c.shutdown[old.ID] = old.Epoch // what HandleHeartbeat books for WantShutDown
	if !c.wantsShutdownLocked(old) {
		t.Fatalf("the incarnation that asked for a controlled shutdown does not want one")
	}
	if c.wantsShutdownLocked(BrokerInfo{ID: 3, Epoch: 60}) {
		t.Errorf("broker 3 restarted at epoch 60 inherits the shutdown request of epoch 22")
	}
	if c.wantsShutdownLocked(BrokerInfo{ID: 2, Epoch: 22}) {
		t.Errorf("broker 2 inherits broker 3's shutdown request")
	}
}

// TestAStalledControllerFencesNobody: a controller whose ticks stopped for
// longer than a session (SIGSTOP, found by the chaos testbed's
// pause-controller faults) wakes to deadlines that ran out while nobody
// could reach it. It must start the sessions over instead of fencing the
// live brokers (its proposal could even commit under its successor).
// The wake-up is played by calling control with a time far past every
// deadline.
func TestAStalledControllerFencesNobody(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	n := c.nodes[ctrl-1]
	n.control(time.Now().Add(10 * n.opts.SessionTimeout))
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, b := range n.Image().Brokers() {
			if b.Fenced {
				t.Fatalf("broker %d fenced after the controller's stall", b.ID)
			}
		}
	}
}

// TestTheControllersOwnFencedBrokerIsUnfenced: a FenceBroker of the
// controller's own broker committed under it (the decision of a stalled
// predecessor that reached the shard: the chaos testbed's pause-controller
// fault) is undone at once: its own broker's heartbeats count like any
// other's. Before, control skipped its own broker, which stayed fenced,
// out of every ISR, for good.
func TestTheControllersOwnFencedBrokerIsUnfenced(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	n := c.nodes[ctrl-1]
	b, _ := n.Image().Broker(int32(ctrl))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Propose(ctx, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: int32(ctrl), Epoch: b.Epoch}}); err != nil {
		t.Fatal(err)
	}
	fenced := false
	for ctx.Err() == nil {
		b, _ := n.Image().Broker(int32(ctrl))
		fenced = fenced || b.Fenced
		if fenced && !b.Fenced {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the controller's broker %d: fenced seen %v, never unfenced", ctrl, fenced)
}

// TestADeposedControllersFenceIsNotCommitted: a fence decided by a node
// that does not lead the shard (a controller deposed while frozen, which
// wakes believing it still leads: dragonboat would forward its proposal
// to the leader) is dropped. Played by calling a follower's proposeFor
// directly; without the leadership check the live broker is fenced (and
// unfenced a heartbeat later).
func TestADeposedControllersFenceIsNotCommitted(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	f := c.nodes[int(ctrl)%3] // a follower
	victim := f.ID()%3 + 1    // a broker other than f
	if victim == ctrl {
		victim = victim%3 + 1
	}
	b, _ := f.Image().Broker(victim)
	f.proposeFor(f.ctrl, victim, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: victim, Epoch: b.Epoch}})
	leader := c.nodes[ctrl-1]
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if b, _ := leader.Image().Broker(victim); b.Fenced {
			t.Fatalf("broker %d fenced by the decision of node %d, which does not lead the shard (controller %d)", victim, f.ID(), ctrl)
		}
		f.ctrl.mu.Lock()
		done := !f.ctrl.inflight[victim]
		f.ctrl.mu.Unlock()
		if done && time.Now().After(deadline.Add(-2*time.Second)) {
			return // the decision ended a while ago and nothing was fenced
		}
	}
}

// TestAFailedLogDirMovesLeadershipsAwayAtOnce: a broker whose disk failed
// (ReportOfflineLogDir) leaves every ISR and every leadership it held goes
// to another ISR member, without waiting for its session or a shutdown
// request, whether it is the controller's broker or not; it stays up and
// registered (not fenced) but ineligible, also after further heartbeats.
func TestAFailedLogDirMovesLeadershipsAwayAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	if _, err := c.nodes[0].CreateTopic(ctxT(t), TopicSpec{Name: "t", Partitions: 6, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c.waitTopic(i, "t")
	}
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	for _, id := range []int32{ctrl%3 + 1, ctrl} { // another broker first, then the controller's own
		name := map[bool]string{true: "the controller's broker", false: "a broker"}[id == ctrl]
		im := c.nodes[id-1].Image()
		led := 0
		for _, p := range im.Topic("t").Partitions {
			if p.Leader == id {
				led++
			}
		}
		c.nodes[id-1].ReportOfflineLogDir("/data/node")
		deadline := time.Now().Add(10 * time.Second)
		for {
			im = c.nodes[id%3].Image()
			b, _ := im.Broker(id)
			clear := b.ShuttingDown && !b.Fenced
			for _, p := range im.Topic("t").Partitions {
				clear = clear && p.Leader != id && p.Leader != -1 && !containsID(p.ISR, id)
			}
			if clear {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %d (led %d partitions) reported its log dir offline; 10s later: broker %+v, partitions %+v", name, id, led, b, im.Topic("t").Partitions)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // three more heartbeats
		if b, _ := c.nodes[id%3].Image().Broker(id); !b.ShuttingDown || b.Fenced {
			t.Fatalf("%s %d after more heartbeats: %+v, want still shutting down, not fenced", name, id, b)
		}
	}
}

// TestAFrozenControllersSuccessorHearsEveryLiveBrokerInTime: the
// controller freezes (SIGSTOP: its heartbeat listener takes heartbeats and
// answers none) and another node wins the shard. The live broker that is
// not the new controller must reach it within the grace a new controller
// gives (newControllerGrace), or it is fenced: its heartbeat in flight to
// the frozen node is abandoned when the leader changes, not waited out for
// its timeout. Found in CI by itest StoppedFollowerLeavesISRAndCatchesUp:
// the partition leader was fenced 404 ms after the successor won, with a
// 400 ms grace, and lost every leadership. (Here the successor's own
// decisions used to start late too, held by its own heartbeat to the
// frozen node, which hid the fence: the test checks the arrival against
// the win.) Four rounds: on the old code a round passes only when the
// change comes in the last two thirds of a second attempt's wait.
func TestAFrozenControllersSuccessorHearsEveryLiveBrokerInTime(t *testing.T) {
	c := startCluster(t, 3)
	brokerOf := func(via int, id int32) BrokerInfo {
		b, _ := c.nodes[via].Image().Broker(id)
		return b
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("not after 15 s: %s", what)
			}
		}
	}
	grace := c.nodes[0].newControllerGrace()
	for round := range 4 {
		var ctrl int32
		waitFor("a controller, every broker unfenced", func() bool {
			id, ok := c.nodes[0].LeaderID()
			if !ok {
				return false
			}
			for b := int32(1); b <= 3; b++ {
				if brokerOf(int(id-1), b).Fenced {
					return false
				}
			}
			ctrl = id
			return true
		})
		frozen := int(ctrl - 1)
		c.freeze(frozen)
		var succ *controller
		var won time.Time
		survivor := int32(-1)
		waitFor("a new controller", func() bool {
			for i, nd := range c.nodes {
				if i == frozen {
					continue
				}
				nd.ctrl.mu.Lock()
				leads, at := nd.ctrl.raftLeader == nd.self.ID, nd.ctrl.wonAt
				nd.ctrl.mu.Unlock()
				if leads && at.After(time.Time{}) {
					succ, won, survivor = nd.ctrl, at, int32(4-i-frozen) // ids 1..3 at indexes 0..2
					return true
				}
			}
			return false
		})
		waitFor(fmt.Sprintf("broker %d heartbeating the new controller", survivor), func() bool {
			succ.mu.Lock()
			beat := succ.lastBeat[survivor]
			succ.mu.Unlock()
			if beat.Before(won) {
				return false
			}
			if late := beat.Sub(won); late > grace {
				t.Fatalf("round %d: controller %d frozen; broker %d reached its successor %v after the win, past the %v grace",
					round, ctrl, survivor, late.Round(time.Millisecond), grace)
			}
			return true
		})
		c.start(frozen)
		c.waitRegistered(frozen)
	}
}
