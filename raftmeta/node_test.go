package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCluster is an in-process metadata shard on 127.0.0.1 free ports.
// Heartbeats go straight to the controller's Node (inprocHeartbeat).
type testCluster struct {
	t     testing.TB
	opts  []Options
	nodes []*Node

	mu     sync.Mutex
	byAddr map[string]*Node // heartbeat "address" -> the node running there now
	frozen map[string]bool  // heartbeat "addresses" that take heartbeats and never answer (SIGSTOP)
	nextID atomic.Uint64
}

// inprocHeartbeat is a heartbeat connection to a node in this process.
type inprocHeartbeat struct {
	c    *testCluster
	addr string
	id   uint64
}

func (h inprocHeartbeat) Heartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) (*kmsg.BrokerHeartbeatResponse, error) {
	h.c.mu.Lock()
	nd, frozen := h.c.byAddr[h.addr], h.c.frozen[h.addr]
	h.c.mu.Unlock()
	if frozen {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if nd == nil {
		return nil, errors.New("connection refused")
	}
	return nd.HandleHeartbeat(h.id, req), nil
}

func (h inprocHeartbeat) Close() {
	h.c.mu.Lock()
	nd := h.c.byAddr[h.addr]
	h.c.mu.Unlock()
	if nd != nil {
		nd.HeartbeatConnClosed(h.id)
	}
}

func (c *testCluster) dial(_ context.Context, addr string, _ int32) (HeartbeatConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byAddr[addr] == nil && !c.frozen[addr] {
		return nil, errors.New("connection refused")
	}
	return inprocHeartbeat{c: c, addr: addr, id: c.nextID.Add(1)}, nil
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with each node's options passed
// through adjust (when not nil) first.
func startClusterWith(t testing.TB, n int, adjust func(i int, o *Options)) *testCluster {
	t.Helper()
	var members []Member
	for i := range n {
		members = append(members, Member{ID: int32(i + 1), KafkaAddr: fmt.Sprintf("127.0.0.1:%d", 9100+i),
			ReplicationAddr: fmt.Sprintf("hb-%d", i+1), RaftAddr: freePort(t)})
	}
	dir := t.TempDir()
	c := &testCluster{t: t, byAddr: map[string]*Node{}, frozen: map[string]bool{}}
	for i := range n {
		c.opts = append(c.opts, Options{
			NodeID: int32(i + 1), Members: members, Dir: filepath.Join(dir, fmt.Sprint(i+1)),
			HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: time.Second,
			SnapshotEntries: 16, CompactionOverhead: 4, HeartbeatDial: c.dial,
		})
		if adjust != nil {
			adjust(i, &c.opts[i])
		}
		c.nodes = append(c.nodes, nil)
		c.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd != nil {
				nd.Close()
			}
		}
	})
	for i := range n {
		c.waitRegistered(i)
	}
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	nd, err := Start(c.opts[i])
	if err != nil {
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	c.nodes[i] = nd
	c.mu.Lock()
	c.byAddr[fmt.Sprintf("hb-%d", i+1)] = nd
	delete(c.frozen, fmt.Sprintf("hb-%d", i+1))
	c.mu.Unlock()
	go nd.Register(context.Background()) // returns once committed, or when the node closes
}

// freeze stands for a SIGSTOP of node i: its Raft replica stops (the
// node is closed) while its heartbeat address still takes connections
// and heartbeats, and answers none.
func (c *testCluster) freeze(i int) {
	c.mu.Lock()
	addr := fmt.Sprintf("hb-%d", i+1)
	delete(c.byAddr, addr)
	c.frozen[addr] = true
	c.mu.Unlock()
	c.nodes[i].Close()
}

// stop closes node i (its heartbeat address then refuses connections).
func (c *testCluster) stop(i int) {
	c.mu.Lock()
	delete(c.byAddr, fmt.Sprintf("hb-%d", i+1))
	c.mu.Unlock()
	c.nodes[i].Close()
}

func (c *testCluster) waitRegistered(i int) {
	c.t.Helper()
	select {
	case <-c.nodes[i].Registered():
	case <-time.After(30 * time.Second):
		c.t.Fatalf("node %d not registered after 30s", i+1)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitTopic waits until node i's image (after a Sync) holds topic name.
func (c *testCluster) waitTopic(i int, name string) *Topic {
	c.t.Helper()
	if err := c.nodes[i].Sync(ctxT(c.t)); err != nil {
		c.t.Fatalf("node %d sync: %v", i+1, err)
	}
	t := c.nodes[i].Image().Topic(name)
	if t == nil {
		c.t.Fatalf("node %d does not see topic %s after sync", i+1, name)
	}
	return t
}

func TestTopicProposedThroughAnyNodeIsVisibleOnAll(t *testing.T) {
	c := startCluster(t, 3)
	for via := range 3 {
		name := fmt.Sprintf("via-%d", via+1)
		id, err := c.nodes[via].CreateTopic(ctxT(t), TopicSpec{Name: name, Partitions: 9, ReplicationFactor: 1})
		if err != nil {
			t.Fatalf("create %s through node %d: %v", name, via+1, err)
		}
		for i := range 3 {
			tp := c.waitTopic(i, name)
			if tp.ID != id || len(tp.Partitions) != 9 {
				t.Fatalf("node %d sees %s as %x with %d partitions", i+1, name, tp.ID, len(tp.Partitions))
			}
			for id, n := range leaderCounts(replicasOf(tp)) {
				if n != 3 {
					t.Fatalf("%s: broker %d leads %d partitions", name, id, n)
				}
			}
		}
	}
	if got := len(c.nodes[0].Image().LiveBrokers()); got != 3 {
		t.Fatalf("%d live brokers, want 3", got)
	}
}

func replicasOf(tp *Topic) [][]int32 {
	var out [][]int32
	for _, p := range tp.Partitions {
		out = append(out, p.Replicas)
	}
	return out
}

func TestMetadataSurvivesMinorityLossAndCatchesUp(t *testing.T) {
	c := startCluster(t, 3)
	if _, err := c.nodes[0].CreateTopic(ctxT(t), TopicSpec{Name: "before", Partitions: 3, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	// Stop the shard leader if it is node 3, or node 3 anyway: either way a
	// minority is gone.
	c.stop(2)
	c.nodes[2] = nil
	for i := range 20 { // enough entries for several snapshots and compactions
		if _, err := c.nodes[i%2].CreateTopic(ctxT(t), TopicSpec{Name: fmt.Sprintf("during-%d", i), Partitions: 2, ReplicationFactor: 2}); err != nil {
			t.Fatalf("create topic with one node down: %v", err)
		}
	}
	// The controller fences the stopped broker once its session times out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := c.nodes[0].Image().Broker(3); b.Fenced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stopped broker 3 was never fenced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := c.waitTopic(0, "before").Partitions[0]; slices.Contains(p.ISR, 3) || p.Leader == 3 {
		t.Fatalf("fenced broker still in ISR or leading: %+v", p)
	}

	c.start(2)
	c.waitRegistered(2)
	for i := range 20 {
		c.waitTopic(2, fmt.Sprintf("during-%d", i))
	}
	// Same state everywhere once all have applied the same log.
	deadline = time.Now().Add(10 * time.Second)
	for {
		for i := range 3 {
			if err := c.nodes[i].Sync(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		h := c.nodes[0].Image().Hash()
		if h == c.nodes[1].Image().Hash() && h == c.nodes[2].Image().Hash() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("images differ after the restarted node caught up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := c.nodes[2].Image().Broker(3); b.Fenced {
		t.Fatal("restarted broker still fenced")
	}
}

func TestOptionsValidate(t *testing.T) {
	m := func(ids ...int32) []Member {
		var out []Member
		for _, id := range ids {
			out = append(out, Member{ID: id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+id)})
		}
		return out
	}
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"single", Options{NodeID: 1, Members: m(1), Dir: "d"}, true},
		{"three", Options{NodeID: 2, Members: m(1, 2, 3), Dir: "d"}, true},
		{"two voters", Options{NodeID: 1, Members: m(1, 2), Dir: "d"}, false},
		{"not a member", Options{NodeID: 4, Members: m(1, 2, 3), Dir: "d"}, false},
		{"repeated id", Options{NodeID: 1, Members: m(1, 1, 3), Dir: "d"}, false},
		{"no dir", Options{NodeID: 1, Members: m(1)}, false},
	}
	for _, c := range cases {
		c.o.setDefaults()
		if err := c.o.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// BenchmarkCommitLatency measures metadata commit latency on a 3-node
// loopback shard: CreateTopic proposed on one node until the topic is in
// every node's image.
func BenchmarkCommitLatency(b *testing.B) {
	c := startCluster(b, 3)
	subs := make([]*Subscription, 3)
	for i, nd := range c.nodes {
		subs[i] = nd.Subscribe(1 << 16)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		if _, err := c.nodes[i%3].CreateTopic(ctx, TopicSpec{Name: name, Partitions: 3, ReplicationFactor: 3}); err != nil {
			b.Fatal(err)
		}
		for j, nd := range c.nodes {
			for nd.Image().Topic(name) == nil {
				<-subs[j].Ready()
				subs[j].Drain()
			}
		}
	}
}
