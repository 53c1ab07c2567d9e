package itest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/engine/group"
	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer-group side of the failover scenarios: members that commit
// what they consumed after each poll, and the book that tells whether a
// coordinator failover lost a commit (a member starting a partition below
// an acknowledged commit re-consumes committed records) or skipped records
// (an offset never consumed).

// foGroup is a consumer group of franz-go members on one topic. Its
// methods are safe for concurrent use.
type foGroup struct {
	topic, id string

	mu        sync.Mutex
	consumed  map[int32]map[int64]int // partition -> offset -> times consumed
	committed map[int32]int64         // the highest commit acknowledged, per partition
	attempted map[int32]int64         // the highest commit sent, per partition
	starts    []string                // where members started partitions assigned to them
	problems  []string

	stop    chan struct{}
	wg      sync.WaitGroup
	clients []*kgo.Client
}

// startFoGroup starts members consumers of topic in group id (see
// addMember).
func startFoGroup(t *testing.T, ctx context.Context, c *testbed.Cluster, topic, id string, members int) *foGroup {
	t.Helper()
	g := &foGroup{topic: topic, id: id, consumed: map[int32]map[int64]int{}, committed: map[int32]int64{},
		attempted: map[int32]int64{}, stop: make(chan struct{})}
	t.Cleanup(g.close)
	for range members {
		g.addMember(t, ctx, c)
	}
	return g
}

// addMember starts one more member, seeded at every broker, polling up to
// 200 records and committing them synchronously (with the per-partition
// outcome booked). Short session timeouts and heartbeats make members
// notice a new coordinator quickly.
func (g *foGroup) addMember(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	t.Helper()
	m := len(g.clients)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup(g.id), kgo.ConsumeTopics(g.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(300*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.ClientID(fmt.Sprintf("fo-member-%d", m)),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, as map[string][]int32) { g.assigned(m, as[g.topic]) }))
	if err != nil {
		t.Fatal(err)
	}
	g.clients = append(g.clients, cl)
	g.wg.Add(1)
	go g.run(ctx, cl, m)
}

// assigned books the acknowledged commits of partitions newly assigned to
// member m: its first record of each must not be below them.
func (g *foGroup) assigned(m int, ps []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range ps {
		g.starts = append(g.starts, fmt.Sprintf("%d:%d:%d", m, p, g.committed[p]))
	}
}

// run is member m's loop: poll, book, commit.
func (g *foGroup) run(ctx context.Context, cl *kgo.Client, m int) {
	defer g.wg.Done()
	firstSeen := map[int32]bool{}
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollRecords(pctx, 200)
		cancel()
		if ctx.Err() != nil {
			return
		}
		offsets := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			g.book(m, r, firstSeen)
			offsets[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		if len(offsets) > 0 {
			g.commit(ctx, cl, offsets)
		}
	}
}

// book records one consumed record. A member's first record of a
// partition (since it was last assigned it) below the partition's
// acknowledged commit means the group lost that commit.
func (g *foGroup) book(m int, r *kgo.Record, firstSeen map[int32]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := r.Partition
	if g.consumed[p] == nil {
		g.consumed[p] = map[int64]int{}
	}
	g.consumed[p][r.Offset]++
	if !firstSeen[p] || g.consumed[p][r.Offset] > 1 {
		firstSeen[p] = true
		if r.Offset < g.committed[p] && len(g.problems) < 10 {
			g.problems = append(g.problems, fmt.Sprintf("member %d read %s-%d at offset %d again, below the acknowledged commit %d",
				m, g.topic, p, r.Offset, g.committed[p]))
		}
	}
}

// commit commits offsets synchronously and books what was acknowledged.
func (g *foGroup) commit(ctx context.Context, cl *kgo.Client, offsets map[int32]kgo.EpochOffset) {
	g.mu.Lock()
	for p, o := range offsets {
		g.attempted[p] = max(g.attempted[p], o.Offset)
	}
	g.mu.Unlock()
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{g.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				return // unknown outcome: neither acknowledged nor refused
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if o, ok := offsets[rp.Partition]; ok && rp.ErrorCode == 0 {
						g.committed[rp.Partition] = max(g.committed[rp.Partition], o.Offset)
					}
				}
			}
		})
}

// committedTotal is the sum of the acknowledged commits.
func (g *foGroup) committedTotal() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, o := range g.committed {
		n += o
	}
	return n
}

// snapshot returns the acknowledged and the attempted commits.
func (g *foGroup) snapshot() (committed, attempted map[int32]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	committed, attempted = map[int32]int64{}, map[int32]int64{}
	for p, o := range g.committed {
		committed[p] = o
	}
	for p, o := range g.attempted {
		attempted[p] = o
	}
	return committed, attempted
}

// waitCommitted waits until the acknowledged commits sum to n or more.
func (g *foGroup) waitCommitted(t *testing.T, ctx context.Context, n int64, what string) {
	t.Helper()
	for g.committedTotal() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: group %s committed %d of %d records at the deadline", what, g.id, g.committedTotal(), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// check fails the test with every commit the group lost and every offset
// below ends (the partitions' high watermarks) no member consumed.
func (g *foGroup) check(t *testing.T, ends map[int32]int64) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.problems {
		t.Error(p)
	}
	again := 0
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			switch n := g.consumed[p][o]; {
			case n == 0:
				t.Errorf("group %s skipped %s-%d offset %d (high watermark %d)", g.id, g.topic, p, o, end)
				return
			case n > 1:
				again += n - 1
			}
		}
		if g.committed[p] != end {
			t.Errorf("group %s's acknowledged commit on %s-%d is %d, want the end %d", g.id, g.topic, p, g.committed[p], end)
		}
	}
	t.Logf("group %s: every record consumed, %d consumed again (uncommitted when a member's assignment changed); assignments (member:partition:commit) %v",
		g.id, again, g.starts)
}

// close stops the members (test cleanup; idempotent).
func (g *foGroup) close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	for _, cl := range g.clients {
		cl.Close()
	}
}

// foCoordinator polls FindCoordinator at a live broker other than not
// until it names a live coordinator other than not, and returns it.
func foCoordinator(t *testing.T, ctx context.Context, c *testbed.Cluster, groupID string, not int32) int32 {
	t.Helper()
	for {
		for _, n := range c.Nodes {
			if n.ID == not || n.Proc.Pid() == 0 {
				continue
			}
			if co := findCoordinator(t, n.KafkaAddr, groupID); co.ErrorCode == 0 && co.NodeID != not {
				return co.NodeID
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no coordinator for %s other than broker %d at the deadline", groupID, not)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// testGroupKeepsCommitsAcrossCoordinatorKill: two franz-go members of a
// group consume a topic under load, committing after each poll; the
// coordinator's broker (leader of the group's __consumer_offsets
// partition, 6 partitions of 3 replicas) is killed with SIGKILL. The new
// coordinator answers OffsetFetch with at least every acknowledged commit
// (and nothing beyond what was sent), no member starts a partition below
// an acknowledged commit, the group goes on committing, and at the end
// every record was consumed and the commits reach the end of the log.
func testGroupKeepsCommitsAcrossCoordinatorKill(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 90*time.Second)
	const topic, groupID, parts = "fo-group", "fo-group-g", 6
	foCreateTopic(t, ctx, c, topic, parts, map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, parts, foLoadOpts{producers: 1, perSecond: 2000})
	g := startFoGroup(t, ctx, c, topic, groupID, 2)
	g.waitCommitted(t, ctx, 3000, "before the kill")

	coord := foCoordinator(t, ctx, c, groupID, -1)
	offsetsPart := group.Partition(groupID, 6)
	if l := foMustMetadata(t, ctx, c, "__consumer_offsets")[offsetsPart].Leader; l != coord {
		t.Fatalf("coordinator of %s is broker %d, but __consumer_offsets-%d is led by %d", groupID, coord, offsetsPart, l)
	}
	kill := time.Now()
	if err := c.Kill(coord); err != nil {
		t.Fatal(err)
	}
	acked, _ := g.snapshot() // the dead coordinator acknowledges nothing more
	next := foCoordinator(t, ctx, c, groupID, coord)
	elected := time.Since(kill)
	// The client finds the coordinator itself and may still be told the
	// dead one (a broker that has not applied the election yet); it keeps
	// a coordinator it failed to dial, so each try takes a new client.
	var fetched kadm.OffsetResponses
	for {
		var err error
		if fetched, err = admin(t, c.Node(next).KafkaAddr).FetchOffsets(ctx, groupID); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("OffsetFetch at the new coordinator %d: %v", next, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	_, attempted := g.snapshot()
	for p := int32(0); p < parts; p++ {
		o, _ := fetched.Lookup(topic, p)
		if o.Err != nil || o.At < acked[p] || o.At > attempted[p] {
			t.Fatalf("%s-%d at the new coordinator %d: commit %d (%v), want between the acknowledged %d and the sent %d",
				topic, p, next, o.At, o.Err, acked[p], attempted[p])
		}
	}
	before := g.committedTotal()
	g.waitCommitted(t, ctx, before+3000, "after the coordinator failover")
	t.Logf("coordinator %d killed: broker %d coordinates %s %v later, with every acknowledged commit; the group committed 3000 more records %v after the kill",
		coord, next, groupID, elected.Round(time.Millisecond), time.Since(kill).Round(time.Millisecond))
	// A third member makes the new coordinator rebalance: the partitions
	// that move start at its commits.
	g.addMember(t, ctx, c)
	g.waitCommitted(t, ctx, g.committedTotal()+3000, "after a rebalance at the new coordinator")

	if err := c.Restart(ctx, coord); err != nil {
		t.Fatalf("restart broker %d: %v", coord, err)
	}
	foWaitFullISR(t, ctx, c, "the restarted coordinator back in every ISR")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, next)
	ends, err := streamcheck.EndOffsets(ctx, c.Node(next).KafkaAddr, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	g.waitCommitted(t, ctx, total, "consuming to the end")
	g.close()
	g.check(t, ends)
}
