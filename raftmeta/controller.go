package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The controller: the shard leader's liveness decisions (see liveness.go).

// HandleHeartbeat answers a broker's BrokerHeartbeat on the controller.
// connID names the connection it came on (0: in process), so that its
// closing can fence the broker at once (HeartbeatConnClosed). Any
// goroutine; it never blocks on Raft (decisions are proposed on their own
// goroutines).
func (n *Node) HandleHeartbeat(connID uint64, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	resp.Version = req.Version
	if !n.IsLeader() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	im := n.Image()
	b, ok := im.Broker(req.BrokerID)
	switch {
	case !ok:
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		return resp
	case uint64(req.BrokerEpoch) != b.Epoch:
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp
	}
	now := time.Now()
	c := n.ctrl
	c.mu.Lock()
	if !c.heard[b.ID] {
		c.heard[b.ID] = true
		n.log.Info("broker heartbeat reached this controller", "broker", b.ID, "fenced", b.Fenced)
	}
	c.lastBeat[b.ID] = now
	c.deadline[b.ID], c.epochs[b.ID] = now.Add(n.opts.SessionTimeout), b.Epoch
	if connID != 0 {
		c.conns[connID] = b.ID
	}
	offline := len(req.OfflineLogDirs) > 0
	if req.WantShutdown || offline {
		// A failed log dir moves leaderships away like a controlled
		// shutdown; the broker is not told it may stop.
		c.shutdown[b.ID] = b.Epoch
	}
	decideNow := offline && !b.ShuttingDown && !c.inflight[b.ID]
	if b.Fenced {
		c.unfence[b.ID] = true // a fenced broker that heartbeats is alive again
	}
	c.mu.Unlock()
	if decideNow {
		n.log.Error("broker reports a failed log dir; moving its leaderships away", "broker", b.ID, "dirs", len(req.OfflineLogDirs))
		n.decide(c, b, now) // proposes on its own goroutine
	}
	resp.IsCaughtUp = true
	resp.IsFenced = b.Fenced
	resp.ShouldShutdown = req.WantShutdown && b.ShuttingDown && !leadsAny(im, b.ID)
	return resp
}

// leadsAny reports whether broker id leads any partition in im.
func leadsAny(im *Image, id int32) bool {
	for _, name := range im.TopicNames() {
		for _, p := range im.Topic(name).Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// HeartbeatConnClosed tells the controller a heartbeat connection closed:
// unless a heartbeat arrives within connLostGrace (a live broker whose
// connection broke beats again at once on a new one), its broker is fenced
// then, well before its session ends (a killed process closes its sockets
// at once).
func (n *Node) HeartbeatConnClosed(connID uint64) {
	c := n.ctrl
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.conns[connID]
	if !ok {
		return
	}
	delete(c.conns, connID)
	for _, other := range c.conns {
		if other == id {
			return // it heartbeats on another connection too
		}
	}
	if d := time.Now().Add(n.connLostGrace()); d.Before(c.deadline[id]) {
		c.deadline[id] = d
		n.wakeAt(d)
	}
}

// wakeAt runs the controller's decisions just after t (a deadline shorter
// than a tick away), instead of at the next liveness tick.
func (n *Node) wakeAt(t time.Time) {
	time.AfterFunc(time.Until(t)+time.Millisecond, func() {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	})
}

// control runs the controller's decisions on each liveness tick while
// this node leads the shard.
func (n *Node) control(now time.Time) {
	c := n.ctrl
	leader := n.IsLeader()
	c.mu.Lock()
	gap := now.Sub(c.lastTick)
	stalled := !c.lastTick.IsZero() && gap > n.stallAfter()
	c.lastTick = now
	if leader && (!c.leader || stalled) {
		// After a stall (SIGSTOP, a long GC or swap) the deadlines ran out
		// while nobody could heartbeat to this node, and it may not lead
		// any more (it learns so from the next Raft message): deciding now
		// would fence live brokers, and the proposal could commit under
		// the successor (found by the chaos testbed, pause-controller).
		// Start the sessions over, as a new controller does.
		c.becomeControllerLocked(n.Image(), now, n.newControllerGrace(), n.connLostGrace(), !c.leader)
		if c.leader {
			n.log.Warn("controller ticks stalled; sessions start over", "gap", gap.Round(time.Millisecond))
		} else {
			c.rebalance = now.Add(n.opts.LeaderImbalanceCheckInterval)
			n.log.Info("this node is the controller", "deposed", c.deposed)
			if d, ok := c.deadline[c.deposed]; ok && c.deposed >= 0 {
				n.wakeAt(d)
			}
		}
	}
	if !leader && c.leader {
		c.heard = map[int32]bool{}
	}
	c.leader = leader
	c.mu.Unlock()
	if !leader {
		return
	}
	im := n.Image()
	for _, b := range im.Brokers() {
		n.decide(c, b, now)
	}
	if n.opts.AutoLeaderRebalance && c.rebalanceDue(now, n.opts.LeaderImbalanceCheckInterval) {
		n.rebalanceLeaders(im)
	}
}

// becomeControllerLocked starts a controllership at now. A new controller
// does not know when brokers last beat: every live broker gets a short
// grace to reach it (a broker heartbeats the new controller as soon as its
// Raft replica learns of it), not a whole session, unless it already
// heartbeated here (HandleHeartbeat answers once the shard leadership is
// won, before a tick notices it): that heartbeat's session stands.
//
// won says this node has just won the shard leadership (not a stall's
// restart of the sessions). The controller it deposed gets only
// deposedGrace from the win if its Raft streams to this node have ended
// too (a killed process's sockets close at once): a quorum heard nothing
// from it for an election timeout (or none would have voted: CheckQuorum's
// lease), and it is gone, like a broker whose heartbeat connection closed.
// A deposed controller whose streams are still open is frozen (the stall
// that cost it the leadership: measured at load ~40, deposed controllers
// frozen past 50 ms were fenced, 3 times a minute) or cut off: it gets
// the grace of every other broker. Caller holds c.mu.
func (c *controller) becomeControllerLocked(im *Image, now time.Time, grace, deposedGrace time.Duration, won bool) {
	for _, b := range im.Brokers() {
		d := now.Add(grace)
		gone := won && b.ID == c.deposed && !c.wonAt.IsZero() && c.streams[b.ID] <= 0
		if gone {
			d = c.wonAt.Add(deposedGrace)
		}
		if d.After(c.deadline[b.ID]) || (gone && !c.heard[b.ID]) {
			c.deadline[b.ID] = d
		}
		c.epochs[b.ID] = b.Epoch
	}
	c.conns = map[uint64]int32{}
}

// deposedAliveLocked is broker id's fencing deadline, given deadline: for
// the controller this node deposed, once its Raft replica has sent a
// message of the new term (it learnt of the new leader: it is alive, only
// slow to heartbeat, often still recovering from the stall that cost it
// the leadership), at least the new-controller grace from that message,
// like any broker; otherwise deadline. Caller holds c.mu.
func (c *controller) deposedAliveLocked(id int32, deadline time.Time, grace time.Duration) time.Time {
	if id != c.deposed || c.wonTerm == 0 || c.seenTerm[id] < c.wonTerm {
		return deadline
	}
	if d := c.seenAt[id].Add(grace); d.After(deadline) {
		c.deadline[id] = d
		return d
	}
	return deadline
}

// raftStream books a message stream from broker id's replica to this
// node opening or ending.
func (c *controller) raftStream(id int32, open bool) {
	c.mu.Lock()
	if open {
		c.streams[id]++
	} else {
		c.streams[id]--
	}
	c.mu.Unlock()
}

// raftMessage books a Raft message from broker id's replica of the given
// term (the transport calls it for every batch it receives).
func (c *controller) raftMessage(id int32, term uint64, now time.Time) {
	c.mu.Lock()
	if term > c.seenTerm[id] {
		c.seenTerm[id], c.seenAt[id] = term, now
	}
	c.mu.Unlock()
}

// rebalanceDue reports whether the preferred-leader check is due, and if
// so schedules the next one.
func (c *controller) rebalanceDue(now time.Time, every time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.rebalance) {
		return false
	}
	c.rebalance = now.Add(every)
	return true
}

// decide fences, unfences or shuts down one broker as its heartbeats say.
// The controller's own broker is never fenced (it is alive by definition:
// it is deciding) but is unfenced and shut down like any other, so that a
// SIGTERM to it moves its leaderships away too.
func (n *Node) decide(c *controller, b BrokerInfo, now time.Time) {
	c.mu.Lock()
	deadline := c.deadlineLocked(b, now, n.opts.SessionTimeout)
	deadline = c.deposedAliveLocked(b.ID, deadline, n.newControllerGrace())
	beat := c.lastBeat[b.ID]
	wantShutdown := c.wantsShutdownLocked(b)
	busy := c.inflight[b.ID]
	alive := c.unfence[b.ID]
	if busy || b.Fenced {
		delete(c.unfence, b.ID) // consumed below, or stale
	}
	c.mu.Unlock()
	if busy {
		return
	}
	switch {
	case !b.Fenced && now.After(deadline) && b.ID != n.self.ID:
		n.log.Warn("broker heartbeats stopped; fencing", "broker", b.ID, "last_heartbeat", sinceOrNever(now, beat))
		n.proposeFor(c, b.ID, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: b.ID, Epoch: b.Epoch}})
	case b.Fenced && alive && !wantShutdown && !b.ShuttingDown:
		n.log.Info("fenced broker heartbeats again; unfencing", "broker", b.ID)
		n.proposeFor(c, b.ID, &Command{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: b.ID, Epoch: b.Epoch}})
	case wantShutdown && !b.ShuttingDown && !b.Fenced:
		n.log.Info("controlled shutdown: moving leaderships away", "broker", b.ID)
		n.proposeFor(c, b.ID, &Command{Type: CmdShutdownBroker, ShutdownBroker: &ShutdownBroker{ID: b.ID, Epoch: b.Epoch}})
	}
}

// deadlineLocked is when broker b is fenced unless it heartbeats: its
// session from now if this controller has no deadline for b's incarnation
// yet. observe gives a registration its session, but it reads the image
// before the tick's decisions read it again: a registration applied in
// between showed the new incarnation with the old one's expired deadline,
// and the controller fenced a broker that had just registered (seen as
// TestRestartAfterControlledShutdownIsNotShutDownAgain failing 1 in 5).
// Caller holds c.mu.
func (c *controller) deadlineLocked(b BrokerInfo, now time.Time, session time.Duration) time.Time {
	deadline, known := c.deadline[b.ID]
	if !known || c.epochs[b.ID] != b.Epoch {
		deadline = now.Add(session)
		c.deadline[b.ID], c.epochs[b.ID] = deadline, b.Epoch
	}
	return deadline
}

// wantsShutdownLocked reports whether b's current incarnation asked for a
// controlled shutdown. The request is kept with the broker epoch it came
// with: a broker restarted after a SIGTERM registers a new epoch and must
// not inherit the request (it would be put into controlled shutdown again
// at once, and stay out of every ISR, ineligible, for good).
func (c *controller) wantsShutdownLocked(b BrokerInfo) bool {
	e, ok := c.shutdown[b.ID]
	return ok && e == b.Epoch
}

func sinceOrNever(now, t time.Time) string {
	if t.IsZero() {
		return "never (since this controller began)"
	}
	return now.Sub(t).Round(time.Millisecond).String()
}

// proposeFor commits a decision about broker id on its own goroutine, one
// at a time per broker.
func (n *Node) proposeFor(c *controller, id int32, cmd *Command) {
	c.mu.Lock()
	c.inflight[id] = true
	c.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.SessionTimeout+time.Second)
		start := time.Now()
		var err error
		if cmd.Type == CmdFenceBroker {
			err = n.confirmLeadership(ctx)
		}
		if err == nil {
			err = n.Propose(ctx, cmd)
		}
		cancel()
		if err != nil {
			n.log.Warn("controller decision not committed", "command", cmd.Type.String(), "broker", id, "err", err)
		} else {
			n.log.Info("controller decision committed", "command", cmd.Type.String(), "broker", id, "took", time.Since(start))
		}
		c.mu.Lock()
		delete(c.inflight, id)
		c.mu.Unlock()
	}()
}

// errDeposed: a decision taken by a node that no longer leads the shard.
var errDeposed = errors.New("this node no longer leads the metadata shard")

// confirmLeadership returns nil if this node still leads the shard once a
// quorum confirmed a read (one ReadIndex, not retried). A controller that
// stalled shorter than stallAfter wakes still believing it leads, with
// deadlines that ran out while it was frozen, or that a broker's switch
// to the new controller cut short (a closed heartbeat connection);
// dragonboat forwards a follower's proposal to the leader, so its fence
// would commit under its successor. The read makes it hear from its peers
// first: deposed, it steps down and the decision is dropped (seen in the
// failover benchmark: a controller frozen ~200 ms, deposed, woke and
// decided to fence the broker that had just become the controller).
func (n *Node) confirmLeadership(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, n.opts.SessionTimeout)
	defer cancel()
	if _, err := n.nh.SyncRead(actx, shardID, nil); err != nil {
		return fmt.Errorf("confirm the leadership: %w", err)
	}
	if !n.IsLeader() {
		return errDeposed
	}
	return nil
}

// rebalanceLeaders moves leaderships back to preferred replicas that are
// in the ISR and live, in one entry (auto.leader.rebalance.enable).
func (n *Node) rebalanceLeaders(im *Image) {
	var tps []TopicPartition
	for _, name := range im.TopicNames() {
		for i, p := range im.Topic(name).Partitions {
			pref := p.Replicas[0]
			b, ok := im.Broker(pref)
			if p.Leader != pref && ok && !b.Fenced && !b.ShuttingDown && containsID(p.ISR, pref) {
				tps = append(tps, TopicPartition{Topic: name, Partition: int32(i)})
			}
		}
	}
	if len(tps) == 0 {
		return
	}
	n.log.Info("moving leaderships back to preferred replicas", "partitions", len(tps))
	n.proposeFor(n.ctrl, -1, &Command{Type: CmdElectPreferredLeaders, ElectPreferredLeaders: &ElectPreferredLeaders{Partitions: tps}})
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// newControllerGrace is how long a new controller waits for a broker it
// has not heard from yet: two heartbeat intervals (at most a session).
func (n *Node) newControllerGrace() time.Duration {
	return min(n.opts.SessionTimeout, 2*n.opts.HeartbeatInterval)
}

// connLostGrace is how long a broker whose heartbeat connection closed may
// take to beat again before it is fenced: half an interval, at least 20ms.
func (n *Node) connLostGrace() time.Duration {
	return max(n.opts.HeartbeatInterval/2, 20*time.Millisecond)
}

// stallAfter is the gap between control ticks taken for a stall of this
// process: half of what a broker heartbeating on time has left of its
// session, so that a pause shorter than it cannot expire a live broker's
// session.
func (n *Node) stallAfter() time.Duration {
	return (n.opts.SessionTimeout - n.opts.HeartbeatInterval) / 2
}
