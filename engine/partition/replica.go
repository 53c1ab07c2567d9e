package partition

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Roles of a replica on this broker.
const (
	RoleLeader   = 1 // takes produce; serves consumers and followers
	RoleFollower = 2 // fetches from the leader (package replicate)
)

// Leadership is what the metadata says about a partition: who leads it at
// which epoch, its replicas and in-sync replicas, and the partition epoch
// (compare-and-set version of ISR changes).
type Leadership struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	// Ineligible are the replicas whose broker is fenced (or unknown): they
	// neither count towards the high watermark nor join the ISR, however
	// recently they were caught up (Kafka's isReplicaIsrEligible).
	Ineligible []int32
}

// ISRChange is a change of the ISR the leader asks the controller for
// (KIP-497 AlterPartition): the new ISR, valid only against the leader
// epoch and partition epoch it was computed from.
type ISRChange struct {
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// BrokerEpochs, one per ISR member: the registration epoch of a
	// replica being added, as its fetches carried it, so the controller
	// refuses the change if that broker registered again since (KIP-903);
	// -1 for the others.
	BrokerEpochs []int64
}

// Settings of a partition's replication.
type Settings struct {
	Self       int32         // this broker's id
	LagTimeMax time.Duration // replica.lag.time.max.ms
	// ProposeISR asks the controller to commit an ISR change; it must not
	// block (it runs the commit on its own goroutine) and must call done
	// with the outcome. The committed change comes back through
	// SetLeadership from the metadata; done only clears the pending mark.
	ProposeISR func(p *Partition, c ISRChange, done func(error))
	// Eligible reports whether a follower may join the ISR, or hold the
	// high watermark back while it catches up outside it (Kafka's
	// isReplicaIsrEligible, KIP-841): its broker is registered at
	// brokerEpoch (the epoch its fetches carry; <= 0 unknown), not fenced
	// and not in controlled shutdown. Nil: every follower is. Called under
	// the partition's replication lock: it must not block or take locks
	// that may be held while calling into the partition.
	Eligible func(replica int32, brokerEpoch int64) bool
	Now      func() time.Time
}

// leaderState is the leader's view of its followers. Guarded by rmu.
type leaderState struct {
	lead       Leadership
	since      time.Time // when this broker became leader at lead.LeaderEpoch
	epochStart int64     // the LEO then: the epoch's first offset
	followers  map[int32]*followerState
	pending    *ISRChange // proposed, not committed; at most one at a time
}

// followerState is what the leader knows of one follower (Kafka's
// ReplicaState), updated by each of its fetches.
type followerState struct {
	leo                int64 // its fetch offset: everything below is on its disk; -1 unknown
	logStart           int64 // its log start offset (Fetch v5+); -1 unknown
	lastFetch          time.Time
	lastFetchLeaderLEO int64 // the leader's LEO at the previous fetch
	lastCaughtUp       time.Time
	brokerEpoch        int64
}

// hwWaiter is an acks=-1 append waiting for the high watermark; err is
// its outcome once released.
type hwWaiter struct {
	through int64
	minISR  int
	done    func(*kerr.Error)
	err     *kerr.Error
}

// SetSettings installs the replication settings (once, before the
// partition is shared).
func (p *Partition) SetSettings(s Settings) {
	if s.Now == nil {
		s.Now = time.Now
	}
	p.settings = s
}

// Role is RoleLeader or RoleFollower (0 before the first SetLeadership).
func (p *Partition) Role() int { return int(p.role.Load()) }

// IsLeader reports whether this broker leads the partition now.
func (p *Partition) IsLeader() bool { return p.role.Load() == RoleLeader }

// Leadership returns the leadership the partition last applied.
func (p *Partition) Leadership() Leadership {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.lead
}

// SetLeadership applies what the metadata says. Becoming leader (or a new
// leader epoch) records the epoch's start offset durably in the log before
// any produce of the epoch is taken; becoming follower stops produce at
// once and fails the acks=-1 appends still waiting with
// NOT_LEADER_OR_FOLLOWER. The same leader epoch with another ISR or
// replica set updates the leader's view (an ISR shrink may advance the
// high watermark). A leadership older than the applied one (by leader
// epoch, then partition epoch) is ignored.
func (p *Partition) SetLeadership(l Leadership) error {
	p.mu.Lock() // serialise with appends: role and epoch change between two of them
	defer p.mu.Unlock()
	p.rmu.Lock()
	cur := p.lead
	stale := p.role.Load() != 0 && (l.LeaderEpoch < cur.LeaderEpoch ||
		l.LeaderEpoch == cur.LeaderEpoch && l.PartitionEpoch < cur.PartitionEpoch)
	same := p.role.Load() != 0 && sameLeadership(cur, l)
	p.rmu.Unlock()
	if stale || same {
		return nil
	}
	if l.Leader == p.settings.Self {
		return p.becomeLeaderLocked(l)
	}
	p.becomeFollowerLocked(l)
	return nil
}

// setSoleLocked changes whether this broker is the only in-sync replica.
// A sole leader's high watermark is its LEO (not stored); leaving that
// state stores it, so the high watermark never goes back. Caller holds
// p.mu (no append in flight) and rmu.
func (p *Partition) setSoleLocked(sole bool) {
	if p.sole.Load() && !sole {
		p.hw.Store(max(p.hw.Load(), p.log.LogEndOffset()))
	}
	p.sole.Store(sole)
}

func sameLeadership(a, b Leadership) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.ISR, b.ISR) && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.Ineligible, b.Ineligible)
}

// becomeLeaderLocked applies a leadership led by this broker. Caller holds
// p.mu.
func (p *Partition) becomeLeaderLocked(l Leadership) error {
	wasLeader := p.role.Load() == RoleLeader
	p.rmu.Lock()
	sameEpoch := wasLeader && p.lead.LeaderEpoch == l.LeaderEpoch
	p.rmu.Unlock()
	if !sameEpoch {
		if _, err := p.log.BeginEpoch(l.LeaderEpoch); err != nil {
			return fmt.Errorf("become leader of %s at epoch %d: %w", p, l.LeaderEpoch, err)
		}
	}
	p.rmu.Lock()
	if !sameEpoch {
		now := p.settings.Now()
		ls := &leaderState{since: now, epochStart: p.log.LogEndOffset(), followers: map[int32]*followerState{}}
		if wasLeader && p.ls != nil {
			// Re-elected at a new epoch (the controller bumps it when an
			// ISR shrinks): the followers' offsets still hold, as the log
			// did not change; their catch-up time restarts as Kafka's
			// resetReplicaState does (now in the ISR, never outside it).
			for id, f := range p.ls.followers {
				g := *f
				g.lastCaughtUp = time.Time{}
				if slices.Contains(l.ISR, id) {
					g.lastCaughtUp = now
				}
				ls.followers[id] = &g
			}
		}
		p.ls = ls
	}
	for id, f := range p.ls.followers {
		if slices.Contains(p.lead.ISR, id) && !slices.Contains(l.ISR, id) {
			// Out of the ISR (fenced, shut down, lagging): it holds the high
			// watermark back again only once it has caught up anew (Kafka
			// also requires it to be eligible: a fenced broker never is).
			f.lastCaughtUp = time.Time{}
		}
	}
	p.lead = l
	p.ls.lead = l
	if p.ls.pending != nil && l.PartitionEpoch > p.ls.pending.PartitionEpoch {
		p.ls.pending = nil // committed (or overtaken): the metadata has moved on
	}
	for _, r := range l.Replicas {
		if r != p.settings.Self && p.ls.followers[r] == nil {
			p.ls.followers[r] = &followerState{leo: -1, logStart: -1, lastFetchLeaderLEO: -1}
		}
	}
	p.epoch.Store(l.LeaderEpoch)
	p.setSoleLocked(len(l.ISR) == 1 && l.ISR[0] == p.settings.Self)
	p.role.Store(RoleLeader)
	ready := p.advanceHWLocked()
	p.rmu.Unlock()
	if !sameEpoch {
		p.lg.Info("leading partition", "partition", p.String(), "epoch", l.LeaderEpoch, "isr", l.ISR, "epoch_start", p.log.LogEndOffset())
	}
	p.finishWaiters(ready)
	p.changed()
	return nil
}

// becomeFollowerLocked applies a leadership led by another broker (or by
// none). Caller holds p.mu.
func (p *Partition) becomeFollowerLocked(l Leadership) {
	if p.role.Load() != RoleFollower || p.epoch.Load() != l.LeaderEpoch {
		p.lg.Info("following partition", "partition", p.String(), "leader", l.Leader, "epoch", l.LeaderEpoch)
	}
	p.rmu.Lock()
	p.lead = l
	p.ls = nil
	waiting := p.hwWaiters
	p.hwWaiters = nil
	p.epoch.Store(l.LeaderEpoch)
	p.setSoleLocked(false)
	p.role.Store(RoleFollower)
	if hw, leo := p.hw.Load(), p.log.LogEndOffset(); hw > leo {
		p.hw.Store(leo)
	}
	p.rmu.Unlock()
	for _, w := range waiting {
		w.done(kerr.NotLeaderForPartition)
	}
	p.changed()
}

// StorageFailed takes the partition offline on this broker after its log's
// disk failed (wal.Options.OnStorageError; the log refuses appends and
// syncs from then on): acks=-1 appends still waiting for the high
// watermark get KAFKA_STORAGE_ERROR now, rather than when the controller
// moves the leadership (their records may be durable here, but nothing
// more will be: the producer retries on the next leader, idempotence
// drops what was stored twice), and parked fetches look again (they get
// KAFKA_STORAGE_ERROR). Call it only once the log's Failed is true.
func (p *Partition) StorageFailed() {
	p.rmu.Lock()
	waiting := p.hwWaiters
	p.hwWaiters = nil
	p.rmu.Unlock()
	for _, w := range waiting {
		w.done(kerr.KafkaStorageError)
	}
	p.changed()
}

// Abandon gives the partition up before its log is closed or deleted (the
// replica was deleted, moved away, or the broker stops): produce is
// refused, acks=-1 appends still waiting get NOT_LEADER_OR_FOLLOWER and
// parked fetches look again.
func (p *Partition) Abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rmu.Lock()
	l := p.lead
	p.rmu.Unlock()
	l.Leader = -1
	p.becomeFollowerLocked(l)
}

// FollowerHighWatermark sets a follower's high watermark from a fetch
// response: the leader's, bounded by the local LEO.
func (p *Partition) FollowerHighWatermark(leaderHW int64) {
	hw := min(leaderHW, p.log.LogEndOffset())
	if hw != p.hw.Load() {
		p.hw.Store(hw)
		p.changed()
	}
}

// FollowerLag is one follower's lag as its leader sees it.
type FollowerLag struct {
	Replica int32
	Records int64         // leader LEO - follower LEO (the whole log end if it never fetched)
	Time    time.Duration // since it was last caught up (since the election if never)
	InISR   bool
}

// FollowerLags reports every follower's lag; nil unless leader.
func (p *Partition) FollowerLags() []FollowerLag {
	now := p.settings.Now()
	leo := p.log.LogEndOffset()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.ls == nil {
		return nil
	}
	out := make([]FollowerLag, 0, len(p.ls.followers))
	for id, f := range p.ls.followers {
		lag := FollowerLag{Replica: id, Records: leo - max(f.leo, 0), Time: now.Sub(p.ls.lagSince(f)), InISR: slices.Contains(p.lead.ISR, id)}
		if f.leo >= leo {
			lag.Records, lag.Time = 0, 0
		}
		out = append(out, lag)
	}
	slices.SortFunc(out, func(a, b FollowerLag) int { return int(a.Replica - b.Replica) })
	return out
}

// ReadReplica is a follower a consumer may be sent to read from (KIP-392).
type ReadReplica struct {
	Replica       int32
	LEO           int64
	SinceCaughtUp time.Duration // since it was last caught up
}

// ReadReplicas lists the followers that can serve a consumer reading at
// offset: in the ISR (never one outside it, which may lag without bound:
// KAFKA-14372) and holding offset (log start <= offset <= LEO), as the
// leader last heard from them. Nil unless this broker leads.
func (p *Partition) ReadReplicas(offset int64) []ReadReplica {
	now := p.settings.Now()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.ls == nil || p.role.Load() != RoleLeader {
		return nil
	}
	var out []ReadReplica
	for _, id := range p.ls.lead.ISR {
		f := p.ls.followers[id]
		if id == p.settings.Self || f == nil || f.leo < offset || f.logStart > offset {
			continue
		}
		out = append(out, ReadReplica{Replica: id, LEO: f.leo, SinceCaughtUp: now.Sub(p.ls.lagSince(f))})
	}
	return out
}

// UnderReplicated reports whether this broker leads the partition with
// fewer in-sync replicas than replicas.
func (p *Partition) UnderReplicated() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.ls != nil && len(p.lead.ISR) < len(p.lead.Replicas)
}

// LeaderEpochStart is the first offset of the current leader epoch on a
// leader (the LEO when it was elected), 0 otherwise.
func (p *Partition) LeaderEpochStart() int64 {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.ls == nil {
		return 0
	}
	return p.ls.epochStart
}

// ISRSize is the number of in-sync replicas the leader counts now.
func (p *Partition) ISRSize() int {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return len(p.lead.ISR)
}

// UpdateFollower records a follower's fetch at fetchOffset (everything
// below it is on that follower's disk) with its log start offset (-1
// unknown): its LEO, whether it is caught up
// (Kafka's rules: it fetched up to the leader's LEO now, or up to the LEO
// at its previous fetch), then advances the high watermark and releases
// the acks=-1 appends it covers, and asks to add the follower to the ISR
// when it has caught up to the high watermark in this leader epoch. It
// returns false when this broker does not lead the partition or replica
// is not one of its followers.
func (p *Partition) UpdateFollower(replica int32, brokerEpoch, fetchOffset, logStart int64) bool {
	now := p.settings.Now()
	leo := p.log.LogEndOffset()
	p.rmu.Lock()
	ls := p.ls
	if ls == nil || p.role.Load() != RoleLeader {
		p.rmu.Unlock()
		return false
	}
	f := ls.followers[replica]
	if f == nil {
		p.rmu.Unlock()
		return false
	}
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, now)
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, f.lastFetch)
	}
	f.leo, f.logStart, f.lastFetch, f.lastFetchLeaderLEO, f.brokerEpoch = fetchOffset, logStart, now, leo, brokerEpoch
	ready := p.advanceHWLocked()
	change := p.expansionLocked(replica, f)
	p.rmu.Unlock()
	p.finishWaiters(ready)
	if change != nil {
		p.propose(*change)
	}
	return true
}

// advanceHWLocked moves the high watermark to the smallest LEO among the
// leader, the ISR (and a pending addition) and the eligible followers
// caught up but not yet in the ISR (so a caught-up follower can reach the
// high watermark and join, as in Kafka; a fenced one, or one shutting
// down or registered again since its fetch, cannot join, so the
// leader does not wait for it), never backwards. It returns the
// acks=-1 waiters it covers. Caller holds rmu.
func (p *Partition) advanceHWLocked() []hwWaiter {
	ls := p.ls
	if ls == nil {
		return nil
	}
	leo := p.log.LogEndOffset()
	hw := leo
	if !p.sole.Load() {
		now := p.settings.Now()
		for id, f := range ls.followers {
			counts := slices.Contains(ls.lead.ISR, id) ||
				(ls.pending != nil && slices.Contains(ls.pending.ISR, id)) ||
				(p.caughtUp(f, leo, now) && !slices.Contains(ls.lead.Ineligible, id) && p.eligible(id, f))
			if counts && f.leo < hw {
				hw = f.leo
			}
		}
	}
	if hw > p.hw.Load() {
		p.hw.Store(hw)
		p.changed()
	}
	return p.readyWaitersLocked()
}

// eligible reports whether follower id, as its last fetch showed it, may
// join the ISR (Settings.Eligible).
func (p *Partition) eligible(id int32, f *followerState) bool {
	return p.settings.Eligible == nil || p.settings.Eligible(id, f.brokerEpoch)
}

// caughtUp is Kafka's ReplicaState.isCaughtUp: at the leader's LEO, or
// caught up within replica.lag.time.max.ms.
func (p *Partition) caughtUp(f *followerState, leaderLEO int64, now time.Time) bool {
	return f.leo == leaderLEO || !f.lastCaughtUp.IsZero() && now.Sub(f.lastCaughtUp) <= p.settings.LagTimeMax
}

// expansionLocked returns the ISR change that adds replica, if it is out of
// the ISR, eligible (its broker not fenced in the partition's leadership,
// and Settings.Eligible), has reached the high watermark and the start of
// this leader epoch, and no change is pending. Caller holds rmu.
func (p *Partition) expansionLocked(replica int32, f *followerState) *ISRChange {
	ls := p.ls
	if ls.pending != nil || slices.Contains(ls.lead.ISR, replica) || slices.Contains(ls.lead.Ineligible, replica) {
		return nil
	}
	if f.leo < p.hw.Load() || f.leo < ls.epochStart || !p.eligible(replica, f) {
		return nil
	}
	isr := append(slices.Clone(ls.lead.ISR), replica)
	slices.Sort(isr)
	epochs := make([]int64, len(isr))
	for i, r := range isr {
		epochs[i] = -1
		if r == replica && f.brokerEpoch > 0 {
			epochs[i] = f.brokerEpoch
		}
	}
	ls.pending = &ISRChange{LeaderEpoch: ls.lead.LeaderEpoch, PartitionEpoch: ls.lead.PartitionEpoch, ISR: isr, BrokerEpochs: epochs}
	return ls.pending
}

// CheckISR asks to remove from the ISR the followers that have not caught
// up within replica.lag.time.max.ms (the engine calls it periodically on
// the partitions it leads). It reports whether a change was proposed.
func (p *Partition) CheckISR() bool {
	now := p.settings.Now()
	leo := p.log.LogEndOffset()
	p.rmu.Lock()
	ls := p.ls
	if ls == nil || ls.pending != nil || p.role.Load() != RoleLeader {
		p.rmu.Unlock()
		return false
	}
	isr := slices.DeleteFunc(slices.Clone(ls.lead.ISR), func(id int32) bool {
		f := ls.followers[id]
		return id != p.settings.Self && f != nil && !p.caughtUp(f, leo, now) && now.Sub(ls.lagSince(f)) > p.settings.LagTimeMax
	})
	if len(isr) == len(ls.lead.ISR) {
		p.rmu.Unlock()
		return false
	}
	ls.pending = &ISRChange{LeaderEpoch: ls.lead.LeaderEpoch, PartitionEpoch: ls.lead.PartitionEpoch, ISR: isr}
	change := *ls.pending
	p.rmu.Unlock()
	p.propose(change)
	return true
}

// lagSince is when a follower's lag started counting: its last catch-up,
// or, for one that never fetched in this leader epoch, when it began (the
// leader gives every follower a full lag period after an election).
func (ls *leaderState) lagSince(f *followerState) time.Time {
	if f.lastCaughtUp.IsZero() {
		return ls.since
	}
	return f.lastCaughtUp
}

// propose hands an ISR change to the engine; its outcome clears the
// pending mark (the change itself arrives with the metadata).
func (p *Partition) propose(c ISRChange) {
	if p.settings.ProposeISR == nil {
		p.isrChangeDone(c, fmt.Errorf("no ISR proposer"))
		return
	}
	p.settings.ProposeISR(p, c, func(err error) { p.isrChangeDone(c, err) })
}

// isrChangeDone clears the pending change after a failed proposal, so the
// next fetch or check may try again. A successful one stays pending until
// the metadata brings it (SetLeadership with a newer partition epoch).
func (p *Partition) isrChangeDone(c ISRChange, err error) {
	if err == nil {
		return
	}
	p.rmu.Lock()
	if p.ls != nil && p.ls.pending != nil && p.ls.pending.PartitionEpoch == c.PartitionEpoch {
		p.ls.pending = nil
	}
	p.rmu.Unlock()
}

// AwaitCommit calls done once the records below through are committed:
// durable on this broker (fdatasync; skipped when sync is false, the
// interval flush policy) and on every ISR member (the high watermark is
// past them), with nil; or with the Kafka error that prevented it:
// KAFKA_STORAGE_ERROR (the sync failed), NOT_LEADER_OR_FOLLOWER
// (leadership moved, or the log was closed, while waiting),
// NOT_ENOUGH_REPLICAS_AFTER_APPEND (the high watermark passed them while
// the ISR was smaller than minISR). done runs exactly once, and never on
// the caller's goroutine when it waits. The acks=-1 produce path and the
// group coordinator's commits wait here.
func (p *Partition) AwaitCommit(through int64, minISR int, sync bool, done func(*kerr.Error)) {
	if !sync {
		p.awaitHW(through, minISR, done)
		return
	}
	p.log.Sync(through, func(err error) {
		switch {
		case errors.Is(err, wal.ErrClosed) || errors.Is(err, wal.ErrTruncated):
			done(kerr.NotLeaderForPartition)
		case err != nil:
			done(kerr.KafkaStorageError)
		default:
			p.awaitHW(through, minISR, done)
		}
	})
}

// awaitHW completes done when the high watermark reaches through.
func (p *Partition) awaitHW(through int64, minISR int, done func(*kerr.Error)) {
	p.rmu.Lock()
	if p.log.Failed() { // after StorageFailed drained the waiters, or about to
		p.rmu.Unlock()
		done(kerr.KafkaStorageError)
		return
	}
	if p.role.Load() != RoleLeader {
		p.rmu.Unlock()
		done(kerr.NotLeaderForPartition)
		return
	}
	if p.HighWatermark() >= through {
		isr := len(p.lead.ISR)
		p.rmu.Unlock()
		done(minISRError(isr, minISR))
		return
	}
	p.hwWaiters = append(p.hwWaiters, hwWaiter{through: through, minISR: minISR, done: done})
	ready := p.advanceHWLocked() // the sync may have been the last step
	p.rmu.Unlock()
	p.finishWaiters(ready)
}

func minISRError(isr, minISR int) *kerr.Error {
	if isr < minISR {
		return kerr.NotEnoughReplicasAfterAppend
	}
	return nil
}

// readyWaitersLocked removes and returns the waiters the high watermark
// covers, each with its outcome decided now. Caller holds rmu.
func (p *Partition) readyWaitersLocked() []hwWaiter {
	if len(p.hwWaiters) == 0 {
		return nil
	}
	hw := p.HighWatermark()
	isr := len(p.lead.ISR)
	var ready []hwWaiter
	keep := p.hwWaiters[:0]
	for _, w := range p.hwWaiters {
		if w.through <= hw {
			w.err = minISRError(isr, w.minISR)
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(p.hwWaiters[len(keep):])
	p.hwWaiters = keep
	return ready
}

// finishWaiters runs released waiters' callbacks with no lock held.
func (p *Partition) finishWaiters(ws []hwWaiter) {
	for _, w := range ws {
		w.done(w.err)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
