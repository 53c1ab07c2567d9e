package raftmeta

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker liveness, off the Raft log.
//
// A registered broker heartbeats the controller (the shard leader)
// directly every HeartbeatInterval with Kafka's BrokerHeartbeat (API 63)
// on the controller's replication listener; the controller keeps the
// heartbeats in memory and commits only decisions: fence (a broker silent
// for SessionTimeout, or whose heartbeat connection closed and did not
// come back within one interval: a killed process), unfence (a fenced
// broker heartbeating again), controlled shutdown (a heartbeat asking for
// it), preferred-leader elections (auto.leader.rebalance.enable). A
// partitioned minority cannot fence the majority: only the shard leader,
// which needs a quorum to commit, decides.
//
//	broker ──BrokerHeartbeat{id, epoch, wantShutDown, offlineLogDirs}──▶ controller
//	       ◀──{isFenced, shouldShutDown} or NOT_CONTROLLER─┘
//
// A broker whose disk failed (ReportOfflineLogDir) heartbeats at once with
// the failed directory in OfflineLogDirs (KIP-858's field); the controller
// takes that broker out of every ISR and moves its leaderships to other
// ISR members in one entry, as for a controlled shutdown (ShutdownBroker,
// proposed on receipt, not at the next tick), and the broker stays
// ineligible until it registers again after a restart. It is not told it
// may stop: the process stays up, answering KAFKA_STORAGE_ERROR for its
// failed partitions, until it is restarted.

// registerTimeout bounds one registration attempt.
const registerTimeout = 10 * time.Second

// Register commits this broker's registration (a new registration epoch;
// the broker becomes eligible to lead) and starts its heartbeats. Call it
// once the broker's logs are recovered and it is listening. It retries
// until ctx ends.
func (n *Node) Register(ctx context.Context) error {
	rb := &Command{Type: CmdRegisterBroker, RegisterBroker: &RegisterBroker{ID: n.self.ID,
		KafkaAddr: n.self.KafkaAddr, ReplicationAddr: n.self.ReplicationAddr, RaftAddr: n.self.RaftAddr, Rack: n.self.Rack}}
	for {
		actx, cancel := context.WithTimeout(ctx, registerTimeout)
		err := n.Propose(actx, rb)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: register broker %d: %w (last: %v)", n.self.ID, ctx.Err(), err)
		case <-n.stop:
			return errors.New("raftmeta: node closed")
		default:
		}
		n.log.Warn("broker registration not committed yet; retrying", "err", err)
	}
	n.registerOnce.Do(func() { close(n.registered) })
	n.log.Info("broker registered", "epoch", n.epoch())
	return nil
}

// ControlledShutdown asks the controller to move this broker's
// leaderships away and take it out of the ISRs, and waits until the
// controller says it may stop (or ctx ends).
func (n *Node) ControlledShutdown(ctx context.Context) error {
	n.wantShutdown.Store(true)
	select {
	case <-n.mayShutdown:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raftmeta: controlled shutdown of broker %d: %w", n.self.ID, ctx.Err())
	case <-n.stop:
		return errors.New("raftmeta: node closed")
	}
}

// ReportOfflineLogDir tells the controller that the disk of log directory
// dir failed (a write or fsync error in it): this broker must give up its
// leaderships and leave every ISR now. The next heartbeat, sent at once,
// and every one after it carry the directory's id. Any goroutine; it does
// not block.
func (n *Node) ReportOfflineLogDir(dir string) {
	id := LogDirID(dir)
	for {
		old := n.offlineDirs.Load()
		var dirs [][16]byte
		if old != nil {
			if slices.Contains(*old, id) {
				break
			}
			dirs = slices.Clone(*old)
		}
		dirs = append(dirs, id)
		if n.offlineDirs.CompareAndSwap(old, &dirs) {
			n.log.Error("log directory offline; asking the controller to move this broker's leaderships away", "dir", dir)
			break
		}
	}
	select {
	case n.beatNow <- struct{}{}:
	default:
	}
}

// LogDirID is the directory id a heartbeat names a log directory by: the
// first 16 bytes of the SHA-256 of its path (Kafka keeps a random one in
// meta.properties; Chronik has one log directory per broker, so only its
// stability matters).
func LogDirID(dir string) [16]byte {
	sum := sha256.Sum256([]byte(dir))
	return [16]byte(sum[:16])
}

// liveness runs the heartbeats (once registered) and, while this node
// leads the shard, the controller's decisions.
func (n *Node) liveness() {
	defer n.wg.Done()
	sub := n.fsm.Subscribe(livenessEventLimit)
	defer n.fsm.Unsubscribe(sub)
	tick := time.NewTicker(n.opts.HeartbeatInterval / 4)
	defer tick.Stop()
	hb := n.hb
	defer hb.close()
	lastBeat := time.Time{}
	for {
		select {
		case <-n.stop:
			return
		case <-sub.Ready():
			n.ctrl.observe(sub, n.Image(), n.opts.SessionTimeout)
		case <-n.wake:
			n.ctrl.observe(sub, n.Image(), n.opts.SessionTimeout)
			n.control(time.Now())
		case <-n.leaderChanged:
			// A new controller: reach it now, not at the next interval
			// (it fences a broker it does not hear from within a short
			// grace), and, if it is this node, start deciding now.
			if n.isRegistered() {
				lastBeat = time.Now()
				hb.beat()
			}
			n.ctrl.observe(sub, n.Image(), n.opts.SessionTimeout)
			n.control(time.Now())
		case <-n.beatNow:
			if n.isRegistered() {
				lastBeat = time.Now()
				hb.beat()
			}
		case now := <-tick.C:
			if n.isRegistered() && now.Sub(lastBeat) >= n.opts.HeartbeatInterval {
				lastBeat = now
				hb.beat()
			}
			n.ctrl.observe(sub, n.Image(), n.opts.SessionTimeout)
			n.control(time.Now())
		}
	}
}

// livenessEventLimit bounds the liveness loop's event queue.
const livenessEventLimit = 4096

func (n *Node) isRegistered() bool {
	select {
	case <-n.registered:
		return true
	default:
		return false
	}
}

func (n *Node) epoch() uint64 {
	b, _ := n.Image().Broker(n.self.ID)
	return b.Epoch
}

// heartbeatRequest is this broker's next heartbeat.
func (n *Node) heartbeatRequest() *kmsg.BrokerHeartbeatRequest {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = 1
	req.BrokerID = n.self.ID
	req.BrokerEpoch = int64(n.epoch())
	req.CurrentMetadataOffset = int64(n.Image().Index)
	req.WantShutdown = n.wantShutdown.Load()
	if dirs := n.offlineDirs.Load(); dirs != nil {
		req.OfflineLogDirs = *dirs
	}
	return req
}

// handleHeartbeatResponse acts on the controller's answer.
func (n *Node) handleHeartbeatResponse(resp *kmsg.BrokerHeartbeatResponse) {
	switch resp.ErrorCode {
	case 0:
	case kerr.StaleBrokerEpoch.Code, kerr.BrokerIDNotRegistered.Code:
		n.log.Warn("heartbeat refused; registering again", "err", kerr.ErrorForCode(resp.ErrorCode))
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
			defer cancel()
			n.Register(ctx)
		}()
		return
	default:
		return
	}
	if resp.ShouldShutdown {
		n.shutdownOnce.Do(func() { close(n.mayShutdown) })
	}
}

// heartbeater sends this broker's heartbeats: to itself when it is the
// controller, else over one connection to the controller's replication
// listener, re-resolved when the controller changes or a heartbeat fails.
//
// A heartbeat in flight to a controller that is no longer the shard leader
// is abandoned at once (moved): the new controller fences a broker it does
// not hear from within a short grace (newControllerGrace), and a heartbeat
// to a frozen old controller would otherwise hold the liveness loop for its
// whole timeout, twice (CI: a SIGSTOPped controller's successor fenced a
// live partition leader 404 ms after winning, with a 400 ms grace).
type heartbeater struct {
	n    *Node
	ctrl int32
	tr   HeartbeatConn

	mu     sync.Mutex         // guards the fields below; a leaf: nothing is called under it but a cancel
	to     int32              // where the heartbeat in flight goes
	cancel context.CancelFunc // abandons it; nil: none in flight
}

func newHeartbeater(n *Node) *heartbeater { return &heartbeater{n: n, ctrl: -1} }

func (h *heartbeater) close() {
	if h.tr != nil {
		h.tr.Close()
		h.tr = nil
	}
}

// leaderIs abandons a heartbeat in flight to any node but leader, the
// shard leader dragonboat just reported (LeaderUpdated, which must not
// block, and which has booked it in the controller first).
func (h *heartbeater) leaderIs(leader int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil && h.to != leader {
		h.cancel()
	}
}

// controller is the shard leader to heartbeat: the newer of what the
// node host says and what LeaderUpdated reported (either may be first).
func (h *heartbeater) controller() (id int32, term uint64, ok bool) {
	id, term, ok = h.n.leader()
	if rl, rt := h.n.ctrl.reportedLeader(); rl >= 0 && rt > term {
		return rl, rt, true
	}
	return id, term, ok
}

// inFlight books a heartbeat to ctrl (chosen at term) as in flight, then
// abandons it if a newer leader was reported meanwhile. Booked first, read
// second: a report after the booking cancels it in leaderIs, one before
// it is seen here.
func (h *heartbeater) inFlight(ctrl int32, term uint64, cancel context.CancelFunc) {
	h.mu.Lock()
	h.to, h.cancel = ctrl, cancel
	h.mu.Unlock()
	if rl, rt := h.n.ctrl.reportedLeader(); rt > term && rl != ctrl {
		cancel()
	}
}

// landed books the heartbeat in flight as over, and reports whether it was
// abandoned for a new controller.
func (h *heartbeater) landed(ctx context.Context) (moved bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancel = nil
	return errors.Is(ctx.Err(), context.Canceled)
}

// beat sends one heartbeat. One that fails on an established connection
// (the controller fences a broker whose heartbeat connection closes and no
// new one beats soon), or that was abandoned for a new controller, is sent
// again at once, on a new connection.
func (h *heartbeater) beat() {
	reused := h.tr != nil
	if ok, moved := h.beatOnce(); !ok && (reused || moved) {
		h.beatOnce()
	}
}

// beatOnce sends one heartbeat, connecting first if needed; it reports
// whether the heartbeat was answered, and whether it was abandoned because
// the controller changed.
func (h *heartbeater) beatOnce() (answered, moved bool) {
	n := h.n
	ctrl, term, ok := h.controller()
	if !ok {
		return false, false
	}
	req := n.heartbeatRequest()
	if ctrl == n.self.ID {
		h.close()
		n.handleHeartbeatResponse(n.HandleHeartbeat(0, req))
		return true, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.HeartbeatInterval+100*time.Millisecond)
	defer cancel()
	h.inFlight(ctrl, term, cancel)
	answered = h.exchange(ctx, ctrl, req)
	return answered, h.landed(ctx)
}

// exchange sends req to ctrl, connecting first if needed, and acts on the
// answer; it reports whether there was one.
func (h *heartbeater) exchange(ctx context.Context, ctrl int32, req *kmsg.BrokerHeartbeatRequest) bool {
	n := h.n
	if h.tr == nil || h.ctrl != ctrl {
		h.close()
		br, ok := n.Image().Broker(ctrl)
		if !ok || br.ReplicationAddr == "" {
			return false
		}
		tr, err := n.opts.HeartbeatDial(ctx, br.ReplicationAddr, n.self.ID)
		if err != nil {
			n.log.Debug("heartbeat: connect to controller", "controller", ctrl, "err", err)
			return false
		}
		h.tr, h.ctrl = tr, ctrl
	}
	resp, err := h.tr.Heartbeat(ctx, req)
	if err != nil {
		n.log.Debug("heartbeat failed", "controller", ctrl, "err", err)
		h.close()
		return false
	}
	if resp.ErrorCode == kerr.NotController.Code {
		h.close()
		return false
	}
	n.handleHeartbeatResponse(resp)
	return true
}

// HeartbeatConn carries one broker's heartbeats to the controller.
type HeartbeatConn interface {
	Heartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) (*kmsg.BrokerHeartbeatResponse, error)
	Close()
}

// controller is what the shard leader keeps about broker liveness; only
// its decisions are Raft entries. Guarded by mu.
type controller struct {
	mu        sync.Mutex
	leader    bool
	deadline  map[int32]time.Time // fence a broker not heard from by then
	epochs    map[int32]uint64    // the registration epoch each deadline is for
	lastBeat  map[int32]time.Time
	shutdown  map[int32]uint64 // the broker epoch whose heartbeat asked for a controlled shutdown
	conns     map[uint64]int32 // heartbeat connection -> broker
	inflight  map[int32]bool   // a fence/unfence/shutdown proposal runs for the broker
	unfence   map[int32]bool   // a heartbeat came from the broker while the image had it fenced
	rebalance time.Time        // next preferred-leader check
	lastTick  time.Time        // the previous control tick
	heard     map[int32]bool   // brokers that heartbeated since this node last became the shard leader

	// What this node's Raft replica reported (LeaderUpdated): the last
	// leader it knew of, and, once it won the leadership itself, the
	// leader before it (the deposed controller, -1: none known) and when
	// it won.
	raftLeader int32
	raftTerm   uint64
	deposed    int32
	wonAt      time.Time
	wonTerm    uint64
	// The highest term of a Raft message received from each broker's
	// replica, and when the first message of that term came.
	seenTerm map[int32]uint64
	seenAt   map[int32]time.Time
	streams  map[int32]int // open message streams from each broker's replica to this node
}

// reportedLeader is the shard leader dragonboat last reported, and its
// term (-1: none yet).
func (c *controller) reportedLeader() (int32, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raftLeader, c.raftTerm
}

// leaderChanged books a shard leader dragonboat reported.
func (c *controller) leaderChanged(leader int32, term uint64, self int32, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if leader == self && (c.raftLeader != self || term != c.raftTerm) {
		c.deposed, c.wonAt, c.wonTerm = c.raftLeader, now, term
		if c.raftLeader == self {
			c.deposed = -1 // won again with no other leader known in between
		}
	}
	c.raftLeader, c.raftTerm = leader, term
}

func newController() *controller {
	return &controller{deadline: map[int32]time.Time{}, epochs: map[int32]uint64{}, lastBeat: map[int32]time.Time{}, shutdown: map[int32]uint64{},
		conns: map[uint64]int32{}, inflight: map[int32]bool{}, unfence: map[int32]bool{}, heard: map[int32]bool{},
		raftLeader: -1, deposed: -1, seenTerm: map[int32]uint64{}, seenAt: map[int32]time.Time{},
		streams: map[int32]int{}}
}

// observe drains the image events: a registration (a new incarnation)
// gets a full session from now; a reset (snapshot) is treated alike for
// every broker, as the image may have changed wholesale.
func (c *controller) observe(sub *Subscription, im *Image, session time.Duration) {
	evs, reset := sub.Drain()
	if len(evs) == 0 && !reset {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if reset {
		for _, b := range im.Brokers() {
			c.deadline[b.ID], c.epochs[b.ID] = now.Add(session), b.Epoch
		}
		return
	}
	for _, e := range evs {
		if e.Kind != EventBroker {
			continue
		}
		if b, ok := im.Broker(e.BrokerID); ok && b.Epoch == e.Index {
			c.deadline[e.BrokerID], c.epochs[e.BrokerID] = now.Add(session), b.Epoch // registered by this very entry
		}
	}
}
