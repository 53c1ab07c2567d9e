package engine_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fastGroups makes group tests fast: a short initial rebalance delay and
// session timeouts down to 100 ms.
func fastGroups(c *engine.Config) {
	c.GroupInitialRebalanceMs = 50
	c.GroupMinSessionTimeoutMs = 100
}

// groupRun records what the members of one group consumed and committed.
type groupRun struct {
	mu         sync.Mutex
	committed  map[int32]int64 // partition -> next offset acknowledged as committed
	seen       map[string]int  // value -> times consumed
	byMember   map[int]int
	violations []string
}

func newGroupRun() *groupRun {
	return &groupRun{committed: map[int32]int64{}, seen: map[string]int{}, byMember: map[int]int{}}
}

func (r *groupRun) consume(member int, recs []*kgo.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if rec.Offset < r.committed[rec.Partition] {
			r.violations = append(r.violations, fmt.Sprintf("member %d consumed %s (p%d@%d) after offset %d was committed",
				member, rec.Value, rec.Partition, rec.Offset, r.committed[rec.Partition]))
		}
		r.seen[string(rec.Value)]++
		r.byMember[member]++
	}
}

func (r *groupRun) markCommitted(recs []*kgo.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		r.committed[rec.Partition] = max(r.committed[rec.Partition], rec.Offset+1)
	}
}

func (r *groupRun) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *groupRun) memberCount(m int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byMember[m]
}

// groupMember is one consumer of a test group: it polls, commits what it
// polled synchronously, and only then allows a rebalance, so a partition
// never moves with records consumed but not committed.
type groupMember struct {
	cl   *kgo.Client
	done chan struct{}
}

func startMember(t *testing.T, tb *testBroker, run *groupRun, idx int, group, topic string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond), kgo.ClientID(fmt.Sprintf("member-%d", idx)),
	}, opts...)
	m := &groupMember{cl: tb.client(opts...), done: make(chan struct{})}
	t.Cleanup(m.stop) // runs before tb.client's own Close
	go func() {
		defer close(m.done)
		for {
			fs := m.cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			recs := fs.Records()
			run.consume(idx, recs)
			if len(recs) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := m.cl.CommitRecords(ctx, recs...); err == nil {
					run.markCommitted(recs)
				}
				cancel()
			}
			m.cl.AllowRebalance()
		}
	}()
	return m
}

// stop closes the member. With BlockRebalanceOnPoll, kgo's Close waits for
// a rebalance the poll loop may be blocking; CloseAllowingRebalance is the
// documented way out.
func (m *groupMember) stop() {
	m.cl.CloseAllowingRebalance()
	<-m.done
}

func produceN(t *testing.T, cl *kgo.Client, topic string, from, n, parts int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("v%06d", i))})
	}
	if err := cl.ProduceSync(ctxT(t, 20*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// eventually retries check until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStable waits until the group is Stable with n members that all have
// a non-empty assignment.
func waitStable(t *testing.T, adm *kadm.Client, group string, n int) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		dg, err := adm.DescribeGroups(context.Background(), group)
		if err != nil {
			return err
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != n {
			return fmt.Errorf("group %s: state %s with %d members, want Stable with %d", group, g.State, len(g.Members), n)
		}
		for _, m := range g.Members {
			if ca, ok := m.Assigned.AsConsumer(); !ok || len(ca.Topics) == 0 {
				return fmt.Errorf("member %s has no assignment yet", m.MemberID)
			}
		}
		return nil
	})
}

func TestGroupMembersShareTopicAndTakeOverWhenOneStops(t *testing.T) {
	balancers := map[string]kgo.GroupBalancer{
		"range":              kgo.RangeBalancer(),
		"sticky":             kgo.StickyBalancer(),
		"cooperative-sticky": kgo.CooperativeStickyBalancer(),
	}
	for name, bal := range balancers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, fastGroups)
			prod := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
			adm := kadm.NewClient(prod)
			topic, group, parts := "share-"+name, "g-"+name, 6
			createTopic(t, prod, topic, int32(parts), nil)
			run := newGroupRun()
			var members []*groupMember
			for i := range 3 {
				members = append(members, startMember(t, tb, run, i, group, topic, kgo.Balancers(bal)))
			}
			waitStable(t, adm, group, 3)

			const half = 600
			produceN(t, prod, topic, 0, half, parts)
			waitConsumed(t, run, half)
			for i := range 3 {
				if run.memberCount(i) == 0 {
					t.Errorf("member %d consumed nothing while the group had 3 members", i)
				}
			}

			members[0].stop()
			before := run.memberCount(0)
			waitStable(t, adm, group, 2)
			produceN(t, prod, topic, half, half, parts)
			waitConsumed(t, run, 2*half)
			if run.memberCount(0) != before {
				t.Errorf("stopped member consumed %d more records", run.memberCount(0)-before)
			}
			checkLagZero(t, adm, group, topic)
			members[1].stop()
			members[2].stop()
			run.mu.Lock()
			defer run.mu.Unlock()
			for _, v := range run.violations {
				t.Error(v)
			}
		})
	}
}

func waitConsumed(t *testing.T, run *groupRun, n int) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if got := run.distinct(); got != n {
			return fmt.Errorf("consumed %d distinct records, want %d", got, n)
		}
		return nil
	})
}

// checkLagZero waits until the group's committed offsets equal the end
// offsets of every partition of topic.
func checkLagZero(t *testing.T, adm *kadm.Client, group, topic string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		lag, err := adm.Lag(context.Background(), group)
		if err != nil {
			return err
		}
		gl := lag[group]
		if gl.Error() != nil {
			return gl.Error()
		}
		total, parts := gl.Lag.TotalByTopic()[topic], len(gl.Lag[topic])
		if total.Lag != 0 || parts == 0 {
			return fmt.Errorf("group %s lag on %s = %d over %d partitions, want 0", group, topic, total.Lag, parts)
		}
		return nil
	})
}

// consumerMeta is the consumer-protocol subscription of topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

type joinOpts struct {
	group, member string
	instance      *string
	sessionMs     int32
	rebalanceMs   int32 // 5000 when 0
	topics        []string
	version       int16
}

// rawJoin sends one JoinGroup and returns the response.
func rawJoin(t *testing.T, cl *kgo.Client, o joinOpts) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = o.version
	if req.Version == 0 {
		req.Version = 9
	}
	req.Group, req.MemberID, req.InstanceID = o.group, o.member, o.instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = o.sessionMs, o.rebalanceMs
	if req.RebalanceTimeoutMillis == 0 {
		req.RebalanceTimeoutMillis = 5000
	}
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", consumerMeta(o.topics...)
	req.Protocols = append(req.Protocols, p)
	resp, err := req.RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return resp
}

// joinAndSync joins a dynamic or static member through MEMBER_ID_REQUIRED
// and syncs with assignment (as leader); it returns the join response.
func joinAndSync(t *testing.T, cl *kgo.Client, o joinOpts, assignment []byte) *kmsg.JoinGroupResponse {
	t.Helper()
	j := rawJoin(t, cl, o)
	if j.ErrorCode == kerr.MemberIDRequired.Code {
		o.member = j.MemberID
		j = rawJoin(t, cl, o)
	}
	if err := kerr.ErrorForCode(j.ErrorCode); err != nil {
		t.Fatalf("join: %v", err)
	}
	s := rawSync(t, cl, o.group, j.MemberID, o.instance, j.Generation, j.LeaderID == j.MemberID, assignment)
	if err := kerr.ErrorForCode(s.ErrorCode); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return j
}

func rawSync(t *testing.T, cl *kgo.Client, group, member string, instance *string, gen int32, leader bool, assignment []byte) *kmsg.SyncGroupResponse {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, instance, gen
	if leader {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = member, assignment
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	resp, err := req.RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return resp
}

func rawHeartbeat(t *testing.T, cl *kgo.Client, group, member string, instance *string, gen int32) *kerr.Error {
	t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, instance, gen
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	e, _ := kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error)
	return e
}

func describeGroup(t *testing.T, cl *kgo.Client, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return resp.Groups[0]
}

func TestGroupEvictsMemberThatStopsHeartbeating(t *testing.T) {
	tb := startBroker(t, fastGroups)
	cl := tb.client()
	createTopic(t, cl, "evict", 2, nil)
	// a joins alone, syncs, and then goes silent. Its rebalance timeout is
	// long (30 s): only its 600 ms session timeout can remove it in time.
	a := joinAndSync(t, cl, joinOpts{group: "evict", sessionMs: 600, rebalanceMs: 30000, topics: []string{"evict"}}, consumerMeta())
	// b is a kgo consumer that heartbeats; its join starts a rebalance that
	// a never rejoins.
	b := tb.client(kgo.ConsumerGroup("evict"), kgo.ConsumeTopics("evict"), kgo.Balancers(kgo.RangeBalancer()),
		kgo.HeartbeatInterval(100*time.Millisecond))
	go func() {
		for !b.PollFetches(context.Background()).IsClientClosed() {
		}
	}()
	eventually(t, 10*time.Second, func() error {
		dg := describeGroup(t, cl, "evict")
		if dg.State != "Stable" || len(dg.Members) != 1 || dg.Members[0].MemberID == a.MemberID {
			return fmt.Errorf("group %s with %d members (silent member %s), want Stable with b alone", dg.State, len(dg.Members), a.MemberID)
		}
		ca := kmsg.NewConsumerMemberAssignment()
		if err := ca.ReadFrom(dg.Members[0].MemberAssignment); err != nil || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != 2 {
			return fmt.Errorf("b's assignment %+v (%v), want both partitions", ca.Topics, err)
		}
		return nil
	})
	if err := rawHeartbeat(t, cl, "evict", a.MemberID, nil, a.Generation); err != kerr.UnknownMemberID {
		t.Fatalf("evicted member's heartbeat: %v, want UNKNOWN_MEMBER_ID", err)
	}
}

func TestStaticMemberRestartsWithoutRebalance(t *testing.T) {
	tb := startBroker(t, fastGroups)
	cl := tb.client()
	createTopic(t, cl, "static", 2, nil)
	s1, s2 := "instance-1", "instance-2"
	o1 := joinOpts{group: "static", instance: &s1, sessionMs: 5000, topics: []string{"static"}}
	o2 := joinOpts{group: "static", instance: &s2, sessionMs: 5000, topics: []string{"static"}}
	// Both static members join the first generation together.
	j2c := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { j2c <- rawJoin(t, cl, o2) }()
	j1 := rawJoin(t, cl, o1)
	j2 := <-j2c
	if j1.ErrorCode != 0 || j2.ErrorCode != 0 || j1.Generation != j2.Generation {
		t.Fatalf("joins: %v gen %d / %v gen %d", kerr.ErrorForCode(j1.ErrorCode), j1.Generation, kerr.ErrorForCode(j2.ErrorCode), j2.Generation)
	}
	leader, follower, fo := j1, j2, o2
	if j2.LeaderID == j2.MemberID {
		leader, follower, fo = j2, j1, o1
	}
	lo := o1
	if leader == j2 {
		lo = o2
	}
	assign := func(p int32) []byte {
		a := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = "static", []int32{p}
		a.Topics = append(a.Topics, at)
		return a.AppendTo(nil)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.InstanceID, sreq.Generation = "static", leader.MemberID, lo.instance, leader.Generation
	for i, m := range []string{leader.MemberID, follower.MemberID} {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = m, assign(int32(i))
		sreq.GroupAssignment = append(sreq.GroupAssignment, a)
	}
	fsync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		fsync <- rawSync(t, cl, "static", follower.MemberID, fo.instance, follower.Generation, false, nil)
	}()
	if resp, err := sreq.RequestWith(ctxT(t, 10*time.Second), cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("leader sync: %v %v", err, resp)
	}
	fs := <-fsync
	if fs.ErrorCode != 0 || string(fs.MemberAssignment) != string(assign(1)) {
		t.Fatalf("follower sync: %v, assignment %x", kerr.ErrorForCode(fs.ErrorCode), fs.MemberAssignment)
	}

	// The follower "restarts": it joins again with its instance id and no
	// member id. It gets a new member id in the same generation at once.
	re := rawJoin(t, cl, joinOpts{group: "static", instance: fo.instance, sessionMs: 5000, topics: []string{"static"}})
	if re.ErrorCode != 0 || re.Generation != follower.Generation || re.MemberID == follower.MemberID {
		t.Fatalf("static rejoin: %v gen %d (want %d) member %s", kerr.ErrorForCode(re.ErrorCode), re.Generation, follower.Generation, re.MemberID)
	}
	rs := rawSync(t, cl, "static", re.MemberID, fo.instance, re.Generation, false, nil)
	if rs.ErrorCode != 0 || string(rs.MemberAssignment) != string(assign(1)) {
		t.Fatalf("restarted member's sync: %v, assignment %x, want its old assignment", kerr.ErrorForCode(rs.ErrorCode), rs.MemberAssignment)
	}
	// No rebalance: the leader's heartbeat is fine; the old id is fenced.
	if err := rawHeartbeat(t, cl, "static", leader.MemberID, lo.instance, leader.Generation); err != nil {
		t.Fatalf("leader heartbeat after static restart: %v, want no error (no rebalance)", err)
	}
	if err := rawHeartbeat(t, cl, "static", follower.MemberID, fo.instance, follower.Generation); err != kerr.FencedInstanceID {
		t.Fatalf("old member id heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if dg := describeGroup(t, cl, "static"); dg.State != "Stable" || len(dg.Members) != 2 {
		t.Fatalf("group after static restart: %s with %d members", dg.State, len(dg.Members))
	}
	// The leader restarting (v9) is told to skip the assignment.
	rl := rawJoin(t, cl, joinOpts{group: "static", instance: lo.instance, sessionMs: 5000, topics: []string{"static"}})
	if rl.ErrorCode != 0 || rl.Generation != leader.Generation || !rl.SkipAssignment || rl.LeaderID != rl.MemberID {
		t.Fatalf("static leader rejoin: %v gen %d skip %v leader %s member %s", kerr.ErrorForCode(rl.ErrorCode), rl.Generation, rl.SkipAssignment, rl.LeaderID, rl.MemberID)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
