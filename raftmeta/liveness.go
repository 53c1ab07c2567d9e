package raftmeta

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// liveness registers this broker, then heartbeats every HeartbeatInterval.
// While this node leads the shard it is the controller: a live broker whose
// heartbeats have not been applied for SessionTimeout (by this node's
// monotonic clock) is fenced. Time is read here, outside the state machine;
// the log only records the decisions.
func (n *Node) liveness() {
	defer n.wg.Done()
	sub := n.fsm.Subscribe(livenessEventLimit)
	defer n.fsm.Unsubscribe(sub)
	if !n.register() {
		return
	}
	close(n.registered)
	n.log.Info("broker registered", "epoch", n.epoch())

	c := &controllerState{lastSeen: map[int32]time.Time{}}
	tick := time.NewTicker(n.opts.HeartbeatInterval / 4)
	defer tick.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-sub.Ready():
			c.observe(sub)
		case now := <-tick.C:
			if now.Sub(lastBeat) >= n.opts.HeartbeatInterval {
				lastBeat = now
				n.heartbeat()
			}
			c.observe(sub)
			n.control(c, time.Now())
		}
	}
}

// livenessEventLimit bounds the liveness loop's event queue.
const livenessEventLimit = 4096

// register proposes this broker's registration until it is applied or the
// node closes (false).
func (n *Node) register() bool {
	rb := &Command{Type: CmdRegisterBroker, RegisterBroker: &RegisterBroker{ID: n.self.ID,
		KafkaAddr: n.self.KafkaAddr, ReplicationAddr: n.self.ReplicationAddr, RaftAddr: n.self.RaftAddr, Rack: n.self.Rack}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.SessionTimeout)
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := n.Propose(ctx, rb)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-n.stop:
			return false
		default:
		}
		n.log.Warn("broker registration not committed yet; retrying", "err", err)
	}
}

func (n *Node) epoch() uint64 {
	b, _ := n.Image().Broker(n.self.ID)
	return b.Epoch
}

// heartbeat proposes one heartbeat; a stale epoch (another registration of
// this id won) or a lost registration re-registers.
func (n *Node) heartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.HeartbeatInterval)
	defer cancel()
	err := n.Propose(ctx, &Command{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: n.self.ID, Epoch: n.epoch()}})
	switch {
	case err == nil:
	case errors.Is(err, kerr.StaleBrokerEpoch), errors.Is(err, kerr.BrokerIDNotRegistered):
		n.log.Warn("heartbeat refused; registering again", "err", err)
		n.register()
	default:
		n.log.Debug("heartbeat not committed", "err", err)
	}
}

// controllerState is what the controller remembers between ticks.
type controllerState struct {
	leader   bool
	lastSeen map[int32]time.Time // broker -> when its last heartbeat/registration was seen applied
}

func (c *controllerState) observe(sub *Subscription) {
	evs, _ := sub.Drain()
	now := time.Now()
	for _, e := range evs {
		if e.Kind == EventHeartbeat || e.Kind == EventBroker {
			c.lastSeen[e.BrokerID] = now
		}
	}
}

// control fences brokers whose session timed out, when this node leads.
func (n *Node) control(c *controllerState, now time.Time) {
	leader := n.IsLeader()
	if leader && !c.leader {
		// A new controller gives every broker a full session from now.
		for id := range c.lastSeen {
			c.lastSeen[id] = now
		}
		n.log.Info("this node is the controller")
	}
	c.leader = leader
	if !leader {
		return
	}
	for _, b := range n.Image().LiveBrokers() {
		seen, ok := c.lastSeen[b.ID]
		if !ok {
			c.lastSeen[b.ID] = now
			continue
		}
		if b.ID == n.self.ID || now.Sub(seen) <= n.opts.SessionTimeout {
			continue
		}
		n.log.Warn("broker session timed out; fencing", "broker", b.ID, "last_seen", now.Sub(seen))
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.HeartbeatInterval)
		err := n.Propose(ctx, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: b.ID, Epoch: b.Epoch}})
		cancel()
		if err != nil {
			n.log.Warn("fence broker", "broker", b.ID, "err", err)
		}
	}
}
