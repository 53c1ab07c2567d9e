package chaos

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/chronik/chronik/testbed"
)

// roles is who holds what when a fault starts.
type roles struct {
	leader     int32
	followers  []int32 // the partition's other replicas, sorted
	controller int32
	ledBy      map[int32][]int32 // broker -> partitions it leads
}

func (r *run) roles(ctx context.Context, p int32) (roles, error) {
	md, err := r.metadata(ctx)
	if err != nil {
		return roles{}, err
	}
	ro := roles{leader: -1, controller: md.Controller, ledBy: map[int32][]int32{}}
	for _, pd := range md.Topics[Topic].Partitions {
		if pd.Leader >= 0 {
			ro.ledBy[pd.Leader] = append(ro.ledBy[pd.Leader], pd.Partition)
		}
		if pd.Partition == p {
			ro.leader = pd.Leader
			for _, id := range pd.Replicas {
				if id != pd.Leader {
					ro.followers = append(ro.followers, id)
				}
			}
		}
	}
	slices.Sort(ro.followers)
	if ro.leader < 0 {
		return ro, fmt.Errorf("partition %d has no leader", p)
	}
	if ro.controller < 0 {
		ro.controller = ro.leader
	}
	return ro, nil
}

func (r *run) brokerIDs() []int32 {
	var ids []int32
	for _, n := range r.c.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// affected is the partitions the brokers led when the fault started.
func (ro roles) affected(ids ...int32) []int32 {
	var out []int32
	for _, id := range ids {
		out = append(out, ro.ledBy[id]...)
	}
	slices.Sort(out)
	return out
}

// inject runs fault f to its end: it resolves the roles, applies the
// fault, holds it and lifts it (restart, SIGCONT, heal).
func (r *run) inject(ctx context.Context, f Fault) {
	ro, err := r.roles(ctx, f.Partition)
	if err != nil {
		r.warnf("fault %d: %v; skipped", f.N, err)
		return
	}
	ev := FaultEvent{N: f.N, Kind: string(f.Kind), Start: time.Now()}
	nw := r.c.Net
	follower := ro.leader
	if len(ro.followers) > 0 {
		follower = ro.followers[f.Pick%len(ro.followers)]
	}
	kill := func(id int32) {
		if err := r.c.Kill(id); err != nil {
			r.warnf("fault %d: kill %d: %v", f.N, id, err)
		}
	}
	restart := func(ids ...int32) {
		for _, id := range ids {
			if r.c.Node(id).Proc.Pid() != 0 {
				continue
			}
			if err := r.restart(ctx, id); err != nil {
				r.warnf("fault %d: restart %d: %v", f.N, id, err)
			}
		}
	}
	cutFrom := func(a int32, others []int32, both bool) {
		for _, o := range others {
			if o == a {
				continue
			}
			nw.Cut(a, o)
			if both {
				nw.Cut(o, a)
			}
		}
	}
	others := func(id int32) []int32 {
		var out []int32
		for _, o := range r.brokerIDs() {
			if o != id {
				out = append(out, o)
			}
		}
		return out
	}
	switch f.Kind {
	case KillLeader, KillFollower, KillController:
		id := map[Kind]int32{KillLeader: ro.leader, KillFollower: follower, KillController: ro.controller}[f.Kind]
		ev.Targets, ev.Detail = []int32{id}, fmt.Sprintf("kill -9 n%d (p%d leader n%d, controller n%d)", id, f.Partition, ro.leader, ro.controller)
		kill(id)
		sleepCtx(ctx, f.Hold)
		restart(id)
	case PauseLeader, PauseController:
		id := ro.leader
		ev.Detail = fmt.Sprintf("SIGSTOP n%d (p%d leader, controller n%d)", id, f.Partition, ro.controller)
		if f.Kind == PauseController {
			id = ro.controller
			ev.Detail = fmt.Sprintf("SIGSTOP n%d (the controller)", id)
		}
		ev.Targets = []int32{id}
		if err := r.c.Pause(id); err != nil {
			r.warnf("fault %d: pause: %v", f.N, err)
		}
		sleepCtx(ctx, f.Hold)
		if err := r.c.Continue(id); err != nil {
			r.warnf("fault %d: continue: %v", f.N, err)
		}
	case IsolateLeader, OneWayLeader:
		ev.Targets = []int32{ro.leader}
		ev.Detail = fmt.Sprintf("cut n%d <-> %v (p%d leader from its followers)", ro.leader, ro.followers, f.Partition)
		if f.Kind == OneWayLeader {
			ev.Detail = fmt.Sprintf("cut n%d -> %v one way (p%d leader's bytes to its followers)", ro.leader, ro.followers, f.Partition)
		}
		cutFrom(ro.leader, ro.followers, f.Kind == IsolateLeader)
		sleepCtx(ctx, f.Hold)
		nw.HealAll()
	case IsolateMinority:
		ids := r.brokerIDs()
		size := (len(ids) - 1) / 2
		var minority []int32
		for k := range size {
			minority = append(minority, ids[(f.Pick+k)%len(ids)])
		}
		ev.Targets = minority
		ev.Detail = fmt.Sprintf("cut %v from the other brokers and from clients", minority)
		for _, m := range minority {
			for _, o := range append(others(m), testbed.Clients) {
				if !slices.Contains(minority, o) {
					nw.CutBoth(m, o)
				}
			}
		}
		sleepCtx(ctx, f.Hold)
		nw.HealAll()
	case IsolateCtrl:
		ev.Targets, ev.Detail = []int32{ro.controller}, fmt.Sprintf("cut controller n%d from every other broker", ro.controller)
		cutFrom(ro.controller, others(ro.controller), true)
		sleepCtx(ctx, f.Hold)
		nw.HealAll()
	case ClientCut:
		ev.Targets, ev.Detail = []int32{ro.leader}, fmt.Sprintf("cut clients <-> n%d (p%d leader)", ro.leader, f.Partition)
		nw.CutBoth(testbed.Clients, ro.leader)
		sleepCtx(ctx, f.Hold)
		nw.HealAll()
	case SlowLink:
		ev.Targets = []int32{ro.leader}
		ev.Detail = fmt.Sprintf("+%v on n%d <-> %v (p%d leader and followers)", f.Delay, ro.leader, ro.followers, f.Partition)
		for _, o := range ro.followers {
			nw.Delay(ro.leader, o, f.Delay)
			nw.Delay(o, ro.leader, f.Delay)
		}
		sleepCtx(ctx, f.Hold)
		nw.HealAll()
	case DoubleKillLeader:
		first := ro.leader
		kill(first)
		t0 := time.Now()
		second := r.newLeader(ctx, f.Partition, first, f.Second)
		sleepCtx(ctx, f.Second-time.Since(t0))
		ev.Targets = []int32{first, second}
		ev.Detail = fmt.Sprintf("kill -9 n%d (p%d leader), +%v kill -9 n%d (its successor)", first, f.Partition, f.Second, second)
		kill(second)
		sleepCtx(ctx, f.Hold-f.Second)
		restart(first, second)
	case KillAndIsolate:
		kill(follower)
		sleepCtx(ctx, f.Second)
		leader := r.newLeader(ctx, f.Partition, follower, 0)
		ev.Targets = []int32{follower, leader}
		ev.Detail = fmt.Sprintf("kill -9 n%d (p%d follower), +%v cut leader n%d from every other broker", follower, f.Partition, f.Second, leader)
		cutFrom(leader, others(leader), true)
		sleepCtx(ctx, f.Hold-f.Second)
		nw.HealAll()
		restart(follower)
	case LagThenKill:
		// A leader that is not the controller's broker: cut from the
		// controller's, the follower would be fenced, not lagging.
		p := r.partitionLedOutsideController(ctx, f.Partition, &ro)
		follower = ro.followers[f.Pick%len(ro.followers)]
		lagging := r.nonController(ro, follower)
		ev.Targets = []int32{lagging, ro.leader}
		cutFrom(ro.leader, []int32{lagging}, true)
		t0 := time.Now()
		if !r.waitOutOfISR(ctx, ro.leader, p, lagging, r.cfg.RecoverTimeout) {
			r.warnf("fault %d: n%d still in p%d's ISR %v after the cut; killing the leader anyway", f.N, lagging, p, r.cfg.RecoverTimeout)
		}
		out := time.Since(t0)
		sleepCtx(ctx, f.Hold/2) // records acknowledged without the lagging follower
		ev.Detail = fmt.Sprintf("cut n%d <-> n%d (p%d leader, follower), +%v out of the ISR, +%v kill -9 n%d", ro.leader, lagging, p,
			out.Round(100*time.Millisecond), (f.Hold / 2).Round(100*time.Millisecond), ro.leader)
		kill(ro.leader)
		sleepCtx(ctx, f.Hold/2)
		nw.HealAll()
		restart(ro.leader)
	case FsyncFail:
		// The broker must stop acknowledging, answer KAFKA_STORAGE_ERROR,
		// leave every ISR and hand its leaderships over at once; it stays
		// up, unfit, until restarted (kill -9: the fault dies with it).
		id, role := diskTarget(f, ro, follower)
		ev.Targets = []int32{id}
		ev.Detail = fmt.Sprintf("fdatasync fails on n%d (p%d %s), then kill -9 and restart", id, f.Partition, role)
		r.setDiskFault(ctx, f, id, "fsync", 0)
		sleepCtx(ctx, f.Hold)
		kill(id)
		restart(id)
	case SlowDisk:
		id, role := diskTarget(f, ro, follower)
		ev.Targets = []int32{id}
		ev.Detail = fmt.Sprintf("+%v on every fdatasync of n%d (p%d %s)", f.Delay, id, f.Partition, role)
		r.setDiskFault(ctx, f, id, "slow", f.Delay)
		sleepCtx(ctx, f.Hold)
		r.setDiskFault(ctx, f, id, "off", 0)
	default:
		r.warnf("fault %d: unknown kind %s", f.N, f.Kind)
	}
	ev.End = time.Now()
	ev.Affected = ro.affected(ev.Targets...)
	if f.Kind == KillController || f.Kind == IsolateCtrl || f.Kind == PauseController || len(ev.Affected) == 0 {
		ev.Affected = nil // every partition: the controller's loss holds every election
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.logf("fault %d %s: %s, %v", f.N, f.Kind, ev.Detail, ev.End.Sub(ev.Start).Round(time.Millisecond))
}

// partitionLedOutsideController returns the first partition from p on
// (cycling) whose leader is not the controller's broker, with its roles
// in ro; p itself if there is none.
func (r *run) partitionLedOutsideController(ctx context.Context, p int32, ro *roles) int32 {
	for k := range int32(r.cfg.Partitions) {
		q := (p + k) % int32(r.cfg.Partitions)
		if x, err := r.roles(ctx, q); err == nil && x.leader != x.controller && len(x.followers) > 0 {
			*ro = x
			return q
		}
	}
	return p
}

// nonController is the follower a lag-then-kill cuts off: the picked one
// unless it is the controller's broker (cut from the leader, it would
// fence the leader at once), then another follower if there is one.
func (r *run) nonController(ro roles, picked int32) int32 {
	if picked != ro.controller {
		return picked
	}
	for _, f := range ro.followers {
		if f != ro.controller {
			return f
		}
	}
	return picked
}

// waitOutOfISR waits up to d until broker id is out of partition p's ISR,
// or p has left leader, and reports whether either happened. It asks both
// the leader and any broker (the run's metadata): an image cut off from
// the controller lags, and the one answering may be the lagging follower
// or the leader itself, fenced meanwhile (found by make chaos seed
// 20261201: lag-then-kill faults waited up to a minute while the ISR had
// long changed and acknowledgements flowed).
func (r *run) waitOutOfISR(ctx context.Context, leader, p, id int32, d time.Duration) bool {
	moved := func(st testbed.PartitionState) bool { return st.Leader != leader || !slices.Contains(st.ISR, id) }
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, ps, err := testbed.TopicMetadata(ctx, r.c.Node(leader).KafkaAddr, Topic); err == nil {
			if st, ok := ps[p]; ok && moved(st) {
				return true
			}
		}
		if md, err := r.metadata(ctx); err == nil {
			for _, pd := range md.Topics[Topic].Partitions {
				if pd.Partition == p && moved(testbed.PartitionState{Leader: pd.Leader, ISR: pd.ISR}) {
					return true
				}
			}
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return false
}

// diskTarget is the broker a disk fault hits: the partition's leader for
// an even Pick, the follower Pick names for an odd one (a follower whose
// fsync fails must not report what it could not make durable).
func diskTarget(f Fault, ro roles, follower int32) (int32, string) {
	if f.Pick%2 == 0 || follower == ro.leader {
		return ro.leader, "leader"
	}
	return follower, "follower"
}

// setDiskFault switches broker id's disk fault, warning on failure.
func (r *run) setDiskFault(ctx context.Context, f Fault, id int32, fault string, delay time.Duration) {
	if err := r.c.SetDiskFault(ctx, id, fault, delay); err != nil {
		r.warnf("fault %d: %v", f.N, err)
	}
}

// restart starts node id again and waits up to RecoverTimeout for it.
func (r *run) restart(ctx context.Context, id int32) error {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RecoverTimeout)
	defer cancel()
	return r.c.Restart(rctx, id)
}

// newLeader waits up to d for partition p to be led by a broker other than
// old and returns it; past d (or with d 0, at once) it returns the current
// leader, or else a running broker other than old.
func (r *run) newLeader(ctx context.Context, p, old int32, d time.Duration) int32 {
	deadline := time.Now().Add(d)
	for {
		if ro, err := r.roles(ctx, p); err == nil && ro.leader != old && r.c.Node(ro.leader).Proc.Pid() != 0 {
			return ro.leader
		}
		if !time.Now().Before(deadline) {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	for _, n := range r.c.Nodes {
		if n.ID != old && n.Proc.Pid() != 0 {
			return n.ID
		}
	}
	return old
}
