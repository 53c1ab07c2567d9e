package wal

import (
	"errors"
	"fmt"
	"time"
)

// syncWaiter is one Sync call waiting for offsets below through to be
// durable.
type syncWaiter struct {
	through int64
	done    func(error)
}

// Sync registers done to be called once every batch with an offset below
// through is durable (fdatasync'd), or with an error wrapping ErrStorage,
// ErrClosed, or ErrTruncated (a TruncateTo removed offsets below through
// before they were released). done is always called exactly once and
// always from another goroutine than the caller's: the flusher, or for a
// Sync after Close or a truncation a new goroutine. So done may take locks
// the caller holds. Waiters are released in registration order within a
// flush round; done must not block long, as it delays the waiters behind
// it.
//
// through is normally <= LogEndOffset (e.g. baseOffset+lastOffsetDelta+1
// after an Append, or the LEO after an AppendReplica); a larger value
// waits until later appends reach it.
func (l *Log) Sync(through int64, done func(err error)) {
	if l.addWaiter(through, done) {
		l.kick()
	}
}

// addWaiter queues a Sync waiter without waking the flusher, or, after
// Close, calls done with ErrClosed on a new goroutine and reports false.
func (l *Log) addWaiter(through int64, done func(err error)) bool {
	l.fmu.Lock()
	if l.stopped {
		l.fmu.Unlock()
		go done(fmt.Errorf("sync %s: %w", l.dir, ErrClosed))
		return false
	}
	l.waiters = append(l.waiters, syncWaiter{through: through, done: done})
	l.nWaiting.Add(1)
	l.fmu.Unlock()
	return true
}

// kick wakes the flusher without blocking: the log's own goroutine, or the
// shared FlushPool.
func (l *Log) kick() {
	if l.pool != nil {
		l.pool.schedule(l)
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flushLoop is the flusher goroutine of a Log without a FlushPool: one per
// Log, from Open to Close.
func (l *Log) flushLoop() {
	defer close(l.flushDone)
	for {
		select {
		case <-l.wake:
			l.flushRound(nil)
		case <-l.quit:
			l.flushRound(nil)
			l.releaseAll(fmt.Errorf("sync %s: %w", l.dir, ErrClosed))
			return
		}
	}
}

// flushRound makes everything appended so far durable, then releases the
// waiters it covers; synced, if set, is told of each sync (its duration)
// before any waiter is released. One flusher at a time runs it for a
// given Log.
func (l *Log) flushRound(synced func(time.Duration)) {
	if l.nWaiting.Load() == 0 {
		return
	}
	plan := l.planFlush()
	if plan.needed() && plan.err == nil {
		start := time.Now()
		plan.err = l.syncFiles(plan)
		d := time.Since(start)
		l.stats.syncLatency.record(d)
		if synced != nil {
			synced(d) // before the waiters hear of it: their counters see it
		}
	}
	target, err := l.commitFlush(plan)
	l.release(target, err)
}

// flushPlan is what one flush round must make durable, taken under mu.
type flushPlan struct {
	target  int64      // the LEO when the round started
	appends int64      // appends counted when the round started
	rolled  []*segment // sealed segments not yet synced
	newDirs bool       // the directory has new entries
	active  *segment
	gen     int64 // Log.truncations when the round started
	err     error // sticky error found (nothing to sync) or sync failure
}

// errStaleFlush ends a flush round that a TruncateTo overtook: what it
// planned to sync may be gone. The round makes nothing durable; its
// rolled segments go back to the queue.
var errStaleFlush = errors.New("wal: flush round overtaken by a truncation")

// needed reports whether the plan has anything to make durable.
func (p flushPlan) needed() bool { return p.active != nil }

// planFlush takes what the next round must sync. The plan is empty (not
// needed) when everything is durable already or a sticky error is set.
func (l *Log) planFlush() flushPlan {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := flushPlan{target: l.leo.Load(), appends: l.stats.appends.Load(), gen: l.truncations.Load()}
	if l.werr != nil {
		p.target, p.err = l.durable.Load(), l.werr
		return p
	}
	if l.truncating { // TruncateTo kicks the flusher when it is done
		p.target = l.durable.Load()
		return p
	}
	if p.target <= l.durable.Load() && len(l.rolled) == 0 && !l.newDirs {
		return p
	}
	p.rolled, p.newDirs, p.active = l.rolled, l.newDirs, l.active()
	l.rolled, l.newDirs = nil, false
	return p
}

// commitFlush records the outcome of a round: the new durable offset, or
// the sticky error. It returns the offset waiters may be released through.
func (l *Log) commitFlush(p flushPlan) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(p.err, errStaleFlush) || (p.needed() && p.gen != l.truncations.Load()) {
		l.requeueLocked(p)
		return l.durable.Load(), nil
	}
	if p.err != nil {
		return l.durable.Load(), l.fail(p.err)
	}
	if !p.needed() {
		return p.target, nil
	}
	l.stats.syncs.Add(1)
	l.stats.syncedAppends.Add(p.appends - l.syncedThrough.Swap(p.appends))
	if p.target > l.durable.Load() { // flushers and TruncateTo store durable, under mu
		l.durable.Store(p.target)
	}
	return p.target, nil
}

// requeueLocked gives the next round what a stale one took: its rolled
// segments that still exist and are not active again, and the directory.
// Callers hold mu.
func (l *Log) requeueLocked(p flushPlan) {
	var back []*segment
	for _, s := range p.rolled {
		if !s.deleted.Load() && s != l.active() {
			back = append(back, s)
		}
	}
	l.rolled = append(back, l.rolled...)
	l.newDirs = l.newDirs || p.newDirs
}

func (l *Log) syncFiles(p flushPlan) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if p.gen != l.truncations.Load() {
		return errStaleFlush
	}
	return l.syncFilesLocked(p.rolled, p.newDirs, p.active)
}

// syncFilesLocked is syncFiles for callers holding readMu.
func (l *Log) syncFilesLocked(rolled []*segment, newDirs bool, active *segment) error {
	for _, s := range rolled {
		if s.deleted.Load() {
			continue
		}
		if err := sealRolled(s); err != nil {
			return err
		}
	}
	if newDirs {
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync dir %s: %w", l.dir, err)
		}
	}
	if err := active.log.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", active.name, err)
	}
	return l.afterSync(rolled, active)
}

// sealRolled finishes a segment the appender rolled away from: the last
// time index entry, indexes trimmed, the preallocated tail cut, all of it
// synced. Off the append path; nothing appends to s any more.
func sealRolled(s *segment) error {
	if err := s.seal(); err != nil {
		return err
	}
	if err := s.trim(); err != nil {
		return err
	}
	return s.syncAll()
}

// afterSync records, once rolled segments are durable, that recovery need
// not scan anything below the active segment.
func (l *Log) afterSync(rolled []*segment, active *segment) error {
	if len(rolled) == 0 {
		return nil
	}
	return l.setRecoveryPoint(recoveryPoint{offset: active.base}, false)
}

// release calls done for the waiters through <= target, or for all of
// them with err.
func (l *Log) release(target int64, err error) {
	l.fmu.Lock()
	ready := l.ready[:0]
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if err != nil || w.through <= target {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
	l.ready = nil // owned by this round until finish returns
	l.nWaiting.Add(-int64(len(ready)))
	l.fmu.Unlock()
	if err != nil {
		err = fmt.Errorf("sync %s: %w", l.dir, err)
	}
	l.finish(ready, err)
	clear(ready)
	l.fmu.Lock()
	l.ready = ready[:0]
	l.fmu.Unlock()
}

// releaseAll fails every remaining waiter with err.
func (l *Log) releaseAll(err error) {
	l.fmu.Lock()
	ready := l.waiters
	l.waiters = nil
	l.nWaiting.Add(-int64(len(ready)))
	l.fmu.Unlock()
	l.finish(ready, err)
}

// finish counts, then calls, the released waiters.
func (l *Log) finish(ready []syncWaiter, err error) {
	l.stats.syncedWaiters.Add(int64(len(ready)))
	for _, w := range ready {
		w.done(err)
	}
}
