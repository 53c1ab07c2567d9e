package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// shardID is the one metadata shard.
const shardID = 1

// Member is one node of the cluster, as the cluster config lists it.
type Member struct {
	ID              int32
	KafkaAddr       string // host:port clients dial
	ReplicationAddr string // host:port followers fetch from (replicate)
	RaftAddr        string // host:port of this node's dragonboat transport
	Rack            string // optional
}

// Options configure a Node. Durations of zero take the defaults below.
type Options struct {
	NodeID  int32
	Members []Member // every voter, this node included; 1, 3, 5 or 7 of them
	Dir     string   // dragonboat's data directory (Raft log, snapshots)
	// ListenAddr is where the Raft transport binds when peers reach this
	// node at its Member.RaftAddr through something in between (a
	// proxy); empty: RaftAddr.
	ListenAddr string

	RTT           time.Duration // Raft tick; default 10ms
	ElectionTicks uint64        // default 10 (100ms at the default RTT; controller.quorum.election.timeout.ms)
	// ElectionTimeout, when set, gives ElectionTicks as a duration
	// (controller.quorum.election.timeout.ms), rounded to whole ticks.
	ElectionTimeout time.Duration
	HeartbeatTicks  uint64 // default 2
	// SnapshotEntries: a snapshot every this many applied entries, after
	// which all but CompactionOverhead entries of the log are compacted.
	SnapshotEntries    uint64 // default 1024
	CompactionOverhead uint64 // default 256

	HeartbeatInterval time.Duration // broker.heartbeat.interval.ms, default 100ms
	SessionTimeout    time.Duration // broker.session.timeout.ms, default 1s
	// HeartbeatDial opens a heartbeat connection to the controller's
	// replication address; default: Kafka's BrokerHeartbeat over kwire.
	HeartbeatDial func(ctx context.Context, addr string, self int32) (HeartbeatConn, error)
	// AutoLeaderRebalance moves leaderships back to preferred replicas
	// every LeaderImbalanceCheckInterval (auto.leader.rebalance.enable,
	// leader.imbalance.check.interval.seconds; defaults true, 5s).
	AutoLeaderRebalance          bool
	LeaderImbalanceCheckInterval time.Duration
	// ProposeAttemptTimeout bounds one attempt of a proposal; Propose retries
	// temporary failures until its context ends. Default 3s.
	ProposeAttemptTimeout time.Duration

	Logger *slog.Logger

	// builtinTransport: dragonboat's own TCP transport instead of
	// transport.go's (tests: the two talk to each other).
	builtinTransport bool
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RTT, 10*time.Millisecond)
	def(&o.HeartbeatInterval, 100*time.Millisecond)
	def(&o.SessionTimeout, time.Second)
	def(&o.LeaderImbalanceCheckInterval, 5*time.Second)
	if o.HeartbeatDial == nil {
		o.HeartbeatDial = dialHeartbeat
	}
	def(&o.ProposeAttemptTimeout, 3*time.Second)
	if o.ElectionTimeout > 0 && o.ElectionTicks == 0 {
		o.ElectionTicks = uint64(max((o.ElectionTimeout+o.RTT/2)/o.RTT, 1))
	}
	for _, x := range []struct {
		p *uint64
		v uint64
	}{{&o.ElectionTicks, 10}, {&o.HeartbeatTicks, 2}, {&o.SnapshotEntries, 1024}, {&o.CompactionOverhead, 256}} {
		if *x.p == 0 {
			*x.p = x.v
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks the membership and settings.
func (o *Options) Validate() error {
	switch n := len(o.Members); n {
	case 1, 3, 5, 7:
	default:
		return fmt.Errorf("raftmeta: %d voters; use 1, 3, 5 or 7 (an even count tolerates no more failures than one fewer)", n)
	}
	ids, addrs := map[int32]bool{}, map[string]bool{}
	self := false
	for _, m := range o.Members {
		if m.ID < 0 || ids[m.ID] {
			return fmt.Errorf("raftmeta: node id %d negative or repeated", m.ID)
		}
		if m.RaftAddr == "" || addrs[m.RaftAddr] {
			return fmt.Errorf("raftmeta: node %d: Raft address %q empty or repeated", m.ID, m.RaftAddr)
		}
		ids[m.ID], addrs[m.RaftAddr] = true, true
		self = self || m.ID == o.NodeID
	}
	if !self {
		return fmt.Errorf("raftmeta: node id %d is not a member", o.NodeID)
	}
	if o.Dir == "" {
		return errors.New("raftmeta: no data directory")
	}
	if o.ElectionTicks <= 2*o.HeartbeatTicks || o.SessionTimeout <= 2*o.HeartbeatInterval {
		return errors.New("raftmeta: election must be > 2 heartbeats, session timeout > 2 heartbeat intervals")
	}
	return nil
}

func (o *Options) self() Member {
	for _, m := range o.Members {
		if m.ID == o.NodeID {
			return m
		}
	}
	return Member{}
}

// replicaID maps a broker id (may be 0) to a dragonboat replica id (> 0).
func replicaID(id int32) uint64 { return uint64(id) + 1 }

// deploymentID derives dragonboat's deployment id from the membership, so
// nodes of different clusters on one host refuse each other's messages.
func deploymentID(ms []Member) uint64 {
	keys := make([]string, 0, len(ms))
	for _, m := range ms {
		keys = append(keys, strconv.Itoa(int(m.ID))+"@"+m.RaftAddr)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Node is this broker's member of the metadata shard: a dragonboat NodeHost,
// the local FSM it applies into, and the liveness loop (registration,
// heartbeats, and, while this node leads the shard, fencing of brokers whose
// session timed out). All methods are safe for concurrent use; Propose and
// Sync block up to their context's deadline and must not be called on a
// network event loop.
type Node struct {
	opts Options
	self Member
	log  *slog.Logger
	nh   *dragonboat.NodeHost
	fsm  *FSM

	registered   chan struct{} // closed once this broker's registration is applied (Register)
	registerOnce sync.Once
	wantShutdown atomic.Bool   // heartbeats ask for a controlled shutdown
	mayShutdown  chan struct{} // closed when the controller says it may stop
	shutdownOnce sync.Once
	offlineDirs  atomic.Pointer[[][16]byte] // log dirs whose disk failed (ReportOfflineLogDir); heartbeats carry them
	beatNow      chan struct{}              // ReportOfflineLogDir: heartbeat at once, not at the next interval
	ctrl         *controller                // liveness decisions while this node leads the shard
	hb           *heartbeater               // this broker's heartbeats (the liveness loop's; LeaderUpdated retargets them)
	// leaderChanged gets a token when dragonboat reports a new shard
	// leader (LeaderUpdated): the liveness loop heartbeats the new
	// controller and runs the controller's tick at once.
	leaderChanged chan struct{}
	// wake gets a token when a short deadline the controller set (a
	// closed heartbeat connection, a deposed controller) runs out, so
	// that the decision does not wait for the next liveness tick.
	wake      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start opens (or creates) the node's data, joins the shard and starts the
// liveness loop. It does not wait for a quorum: see Ready.
func Start(opts Options) (*Node, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts, self: opts.self(), log: opts.Logger.With("component", "raftmeta", "node", opts.NodeID),
		fsm: NewFSM(), registered: make(chan struct{}), mayShutdown: make(chan struct{}), beatNow: make(chan struct{}, 1), ctrl: newController(),
		leaderChanged: make(chan struct{}, 1), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	n.hb = newHeartbeater(n)
	nh, err := dragonboat.NewNodeHost(n.nodeHostConfig())
	if err != nil {
		return nil, fmt.Errorf("raftmeta: start node host on %s: %w", n.self.RaftAddr, err)
	}
	n.nh = nh
	members := make(map[uint64]dragonboat.Target, len(opts.Members))
	for _, m := range opts.Members {
		members[replicaID(m.ID)] = m.RaftAddr
	}
	create := func(uint64, uint64) sm.IStateMachine { return n.fsm }
	if err := nh.StartReplica(members, false, create, n.replicaConfig()); err != nil {
		nh.Close()
		return nil, fmt.Errorf("raftmeta: start metadata shard: %w", err)
	}
	n.wg.Add(1)
	go n.liveness()
	return n, nil
}

func (n *Node) nodeHostConfig() config.NodeHostConfig {
	logdb := config.GetTinyMemLogDBConfig()
	logdb.Shards = 1 // one shard: one pebble instance, not 16
	logdb.KVWriteBufferSize = 1 << 20
	logdb.KVMaxWriteBufferNumber = 2
	var tf config.TransportFactory = transportFactory{log: n.log,
		seen:   func(from, term uint64) { n.ctrl.raftMessage(int32(from)-1, term, time.Now()) },
		stream: func(from uint64, open bool) { n.ctrl.raftStream(int32(from)-1, open) }}
	if n.opts.builtinTransport {
		tf = nil
	}
	return config.NodeHostConfig{
		DeploymentID:   deploymentID(n.opts.Members),
		WALDir:         filepath.Join(n.opts.Dir, "wal"),
		NodeHostDir:    n.opts.Dir,
		RTTMillisecond: uint64(max(n.opts.RTT.Milliseconds(), 1)),
		RaftAddress:    n.self.RaftAddr,
		ListenAddress:  n.opts.ListenAddr,
		// RaftEventListener: n (LeaderUpdated).
		RaftEventListener: n,
		Expert: config.ExpertConfig{
			Engine:           config.EngineConfig{ExecShards: 1, CommitShards: 1, ApplyShards: 1, SnapshotShards: 1, CloseShards: 1},
			LogDB:            logdb,
			TransportFactory: tf,
		},
	}
}

func (n *Node) replicaConfig() config.Config {
	return config.Config{
		ReplicaID:          replicaID(n.opts.NodeID),
		ShardID:            shardID,
		ElectionRTT:        n.opts.ElectionTicks,
		HeartbeatRTT:       n.opts.HeartbeatTicks,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    n.opts.SnapshotEntries,
		CompactionOverhead: n.opts.CompactionOverhead,
	}
}

// LeaderUpdated implements raftio.IRaftEventListener: dragonboat calls it
// on its event goroutine when this replica learns of a new shard leader
// (or of none). It must not block.
func (n *Node) LeaderUpdated(info raftio.LeaderInfo) {
	if info.ShardID != shardID {
		return
	}
	if info.LeaderID == 0 {
		n.log.Info("raft leader lost", "term", info.Term)
		return
	}
	leader := int32(info.LeaderID - 1)
	n.log.Info("raft leader changed", "leader", leader, "term", info.Term)
	n.ctrl.leaderChanged(leader, info.Term, n.self.ID, time.Now())
	n.hb.leaderIs(leader)
	select {
	case n.leaderChanged <- struct{}{}:
	default:
	}
}

// ID is this node's broker id.
func (n *Node) ID() int32 { return n.opts.NodeID }

// Image returns the local image: what this node has applied, which may lag
// the shard leader (call Sync first for a read that sees every committed
// change).
func (n *Node) Image() *Image { return n.fsm.Image() }

// Subscribe registers for change events (see FSM.Subscribe).
func (n *Node) Subscribe(limit int) *Subscription { return n.fsm.Subscribe(limit) }

// Unsubscribe stops deliveries to s.
func (n *Node) Unsubscribe(s *Subscription) { n.fsm.Unsubscribe(s) }

// Registered is closed once Register has committed this broker's
// registration.
func (n *Node) Registered() <-chan struct{} { return n.registered }

// LeaderID returns the shard leader's broker id (the controller), if known.
func (n *Node) LeaderID() (int32, bool) {
	id, _, ok := n.leader()
	return id, ok
}

// leader is the shard leader this node's replica knows of, and its term.
func (n *Node) leader() (int32, uint64, bool) {
	id, term, valid, err := n.nh.GetLeaderID(shardID)
	if err != nil || !valid || id == 0 {
		return -1, 0, false
	}
	return int32(id - 1), term, true
}

// IsLeader reports whether this node leads the shard.
func (n *Node) IsLeader() bool {
	id, ok := n.LeaderID()
	return ok && id == n.opts.NodeID
}

// Propose commits c through the shard and returns once it is applied
// locally. The error is the command's *ResultErr / *kerr.Error rejection,
// or the context's error if no attempt succeeded in time. Temporary
// failures (no leader yet, busy, one attempt timing out) are retried; a
// retried command may be applied twice, so commands are written to make the
// second application a successful no-op (see doc.go).
func (n *Node) Propose(ctx context.Context, c *Command) error {
	_, err := n.ProposeResult(ctx, c)
	return err
}

// ProposeResult is Propose returning the data of an applied command's
// result (AllocateProducerIDs' block).
func (n *Node) ProposeResult(ctx context.Context, c *Command) ([]byte, error) {
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	var res sm.Result
	err = n.retry(ctx, "propose "+c.Type.String(), func(actx context.Context) error {
		var perr error
		res, perr = n.nh.SyncPropose(actx, n.nh.GetNoOPSession(shardID), data)
		return perr
	})
	if err != nil {
		return nil, err
	}
	if err := ResultError(res); err != nil {
		return nil, err
	}
	return res.Data, nil
}

// Sync waits until the local image holds every change committed before the
// call (a linearizable read barrier).
func (n *Node) Sync(ctx context.Context) error {
	return n.retry(ctx, "sync", func(actx context.Context) error {
		_, err := n.nh.SyncRead(actx, shardID, nil)
		return err
	})
}

// retry runs op with per-attempt timeouts until it succeeds, fails
// permanently, or ctx ends.
func (n *Node) retry(ctx context.Context, what string, op func(context.Context) error) error {
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, n.opts.ProposeAttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !dragonboat.IsTempError(err) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("raftmeta: %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: %s: %w (last: %v)", what, ctx.Err(), err)
		case <-n.stop:
			return fmt.Errorf("raftmeta: %s: node closed", what)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// Close stops the liveness loop and the node host. Safe to call twice, and
// on a nil *Node (a standalone broker has none).
func (n *Node) Close() {
	if n == nil {
		return
	}
	n.closeOnce.Do(func() {
		close(n.stop)
		n.wg.Wait()
		n.nh.Close()
	})
}
