package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// FlushMode says how a FlushPool makes logs durable.
type FlushMode int

const (
	// FlushEachLog runs each pending log's own flush round (fdatasync of
	// its active segment, plus rolled segments and directory when needed)
	// on one of the pool's workers: bounded parallel fdatasync.
	FlushEachLog FlushMode = iota
	// FlushSyncFS takes every pending log at once and makes them all
	// durable with one syncfs(2) of the file system holding Dir. It
	// flushes every dirty page of that file system, other tenants' too.
	FlushSyncFS
)

func (m FlushMode) String() string {
	if m == FlushSyncFS {
		return "syncfs"
	}
	return "each-log"
}

// FlushPoolOptions configure a FlushPool.
type FlushPoolOptions struct {
	Workers int       // goroutines running flush rounds; default 4
	Mode    FlushMode // default FlushEachLog
	FS      FS        // FlushSyncFS: the FS to call SyncFS on
	Dir     string    // FlushSyncFS: a directory on the file system to sync
}

// FlushPool is a group-commit flusher shared by many logs (Options.Flusher):
// a log with Sync waiters is queued once; a worker takes it, runs one
// flush round covering every append made so far, releases the waiters it
// covered in order, and queues the log again if waiters arrived meanwhile.
// A log is flushed by at most one worker at a time. Safe for concurrent use.
type FlushPool struct {
	opts FlushPoolOptions

	mu      sync.Mutex
	work    *sync.Cond // signalled when queue gains a log or the pool closes
	idle    *sync.Cond // broadcast when a log stops running (detach waits)
	queue   []*Log
	head    int
	closed  bool
	workers sync.WaitGroup

	stats struct {
		rounds, syscalls, logsFlushed atomic.Int64
		latency                       latencyRecorder
	}
}

// Pool states of a Log (Log.pstate, guarded by FlushPool.mu).
const (
	poolIdle = iota
	poolQueued
	poolRunning
	poolRunningDirty // waiters arrived while running: queue again after
	poolDetached
)

// NewFlushPool starts the pool's workers. Close it after every log using it.
func NewFlushPool(opts FlushPoolOptions) (*FlushPool, error) {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Mode == FlushSyncFS {
		if _, ok := opts.FS.(FileSystemSyncer); !ok {
			return nil, fmt.Errorf("flush pool: syncfs mode needs an FS with SyncFS, got %T", opts.FS)
		}
	}
	p := &FlushPool{opts: opts}
	p.work = sync.NewCond(&p.mu)
	p.idle = sync.NewCond(&p.mu)
	p.workers.Add(opts.Workers)
	for range opts.Workers {
		go p.run()
	}
	return p, nil
}

// Options returns the pool's options, defaults filled in.
func (p *FlushPool) Options() FlushPoolOptions { return p.opts }

// Close stops the workers once the queue is empty. Logs still attached
// must have been closed first.
func (p *FlushPool) Close() {
	p.mu.Lock()
	p.closed = true
	p.work.Broadcast()
	p.mu.Unlock()
	p.workers.Wait()
}

// FlushPoolStats are the pool's counters.
type FlushPoolStats struct {
	Rounds      int64 // worker rounds
	Syscalls    int64 // syncfs calls (FlushSyncFS) or log flush rounds that synced (FlushEachLog)
	LogsFlushed int64 // log flush rounds run by the pool
	Latency     LatencyHistogram
}

// Stats returns a snapshot of the pool's counters.
func (p *FlushPool) Stats() FlushPoolStats {
	return FlushPoolStats{
		Rounds:      p.stats.rounds.Load(),
		Syscalls:    p.stats.syscalls.Load(),
		LogsFlushed: p.stats.logsFlushed.Load(),
		Latency:     p.stats.latency.snapshot(),
	}
}

// schedule queues l unless it is queued already; a running log is marked
// to run again. Any goroutine.
func (p *FlushPool) schedule(l *Log) {
	p.mu.Lock()
	if p.queueLocked(l) {
		p.work.Signal()
	}
	p.mu.Unlock()
}

// queueLocked queues l unless it is queued already, or marks it to run
// again if it is running; it reports whether it queued l. Callers hold mu.
func (p *FlushPool) queueLocked(l *Log) bool {
	switch l.pstate {
	case poolIdle:
		l.pstate = poolQueued
		p.queue = append(p.queue, l)
		return true
	case poolRunning:
		l.pstate = poolRunningDirty
	}
	return false
}

// SyncLogs makes every log of logs durable through its LEO as it is when
// SyncLogs is called, and then calls done once: with nil when all of them
// are, else with the first error a log's waiter got (ErrStorage,
// ErrClosed, ErrTruncated: see Log.Sync). It is a follower's group commit:
// the logs its fetch cycle appended to, made durable together before it
// reports its new fetch offsets. The logs attached to p are queued in one
// step, so in FlushSyncFS mode one worker takes them all and one syncfs(2)
// covers them (a loop of Log.Sync calls lets the first worker to wake take
// only the logs queued by then, and others run more syncfs rounds for the
// rest); in FlushEachLog mode each log still gets its own round
// (fdatasync), on up to Workers workers at once. A log attached to no pool
// or another one is synced by its own flusher. A log already running a
// round is flushed again after it, as for Sync. done runs on a flusher
// goroutine (or a new one), never on the caller's; an empty logs calls
// done(nil) on a new goroutine. logs is not retained. Any goroutine.
func (p *FlushPool) SyncLogs(logs []*Log, done func(error)) {
	if len(logs) == 0 {
		go done(nil)
		return
	}
	all := &syncAll{left: int64(len(logs)), done: done}
	mine := make([]*Log, 0, len(logs))
	for _, l := range logs {
		if !l.addWaiter(l.leo.Load(), all.release) {
			continue
		}
		if l.pool == p {
			mine = append(mine, l)
		} else {
			l.kick()
		}
	}
	p.scheduleAll(mine)
}

// syncAll is one SyncLogs call: done runs when the last waiter is released.
type syncAll struct {
	left  int64
	mu    sync.Mutex
	first error
	done  func(error)
}

func (a *syncAll) release(err error) {
	a.mu.Lock()
	if a.first == nil {
		a.first = err
	}
	a.left--
	last, first := a.left == 0, a.first
	a.mu.Unlock()
	if last {
		a.done(first)
	}
}

// scheduleAll is schedule for many logs at once: they are queued under
// one lock, and as many workers woken as can take them (one in
// FlushSyncFS mode: it takes the whole queue).
func (p *FlushPool) scheduleAll(ls []*Log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	queued := 0
	for _, l := range ls {
		if p.queueLocked(l) {
			queued++
		}
	}
	if p.opts.Mode == FlushSyncFS {
		queued = min(queued, 1)
	}
	for range min(queued, p.opts.Workers) {
		p.work.Signal()
	}
}

// detach takes l out of the pool for good, waiting for a running round to
// end. Log.Close calls it before its own final round.
func (p *FlushPool) detach(l *Log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l.pstate == poolRunning || l.pstate == poolRunningDirty {
		p.idle.Wait()
	}
	if l.pstate == poolQueued {
		for i := p.head; i < len(p.queue); i++ {
			if p.queue[i] == l {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				break
			}
		}
	}
	l.pstate = poolDetached
}

// take waits for queued logs and returns up to max of them, marked
// running; nil once the pool is closed and drained.
func (p *FlushPool) take(buf []*Log, limit int) []*Log {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == len(p.queue) && !p.closed {
		p.work.Wait()
	}
	for p.head < len(p.queue) && len(buf) < limit {
		l := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		l.pstate = poolRunning
		buf = append(buf, l)
	}
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	return buf
}

// done ends the round of each log in ls, queueing again those that got
// waiters meanwhile.
func (p *FlushPool) done(ls []*Log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range ls {
		if l.pstate == poolRunningDirty {
			l.pstate = poolQueued
			p.queue = append(p.queue, l)
			p.work.Signal()
		} else {
			l.pstate = poolIdle
		}
	}
	p.idle.Broadcast()
}

func (p *FlushPool) run() {
	defer p.workers.Done()
	limit := 1
	if p.opts.Mode == FlushSyncFS {
		limit = 1 << 20
	}
	var buf []*Log
	for {
		buf = p.take(buf[:0], limit)
		if len(buf) == 0 {
			return
		}
		p.stats.rounds.Add(1)
		if p.opts.Mode == FlushSyncFS {
			p.syncFSRound(buf)
		} else {
			p.eachLogRound(buf[0])
		}
		p.done(buf)
		clear(buf)
	}
}

func (p *FlushPool) eachLogRound(l *Log) {
	before := l.stats.syncs.Load()
	start := time.Now()
	l.flushRound()
	if l.stats.syncs.Load() != before {
		p.stats.syscalls.Add(1)
		p.stats.latency.record(time.Since(start))
	}
	p.stats.logsFlushed.Add(1)
}

// syncFSRound makes every log in ls durable with one syncfs, then releases
// their waiters.
func (p *FlushPool) syncFSRound(ls []*Log) {
	plans := make([]flushPlan, len(ls))
	need := false
	for i, l := range ls {
		if l.nWaiting.Load() == 0 {
			continue
		}
		plans[i] = l.planFlush()
		if plans[i].needed() && plans[i].err == nil {
			plans[i].err = l.finishRolled(plans[i])
		}
		need = need || (plans[i].needed() && plans[i].err == nil)
	}
	var err error
	if need {
		start := time.Now()
		err = p.opts.FS.(FileSystemSyncer).SyncFS(p.opts.Dir)
		d := time.Since(start)
		p.stats.latency.record(d)
		p.stats.syscalls.Add(1)
		if err != nil {
			err = fmt.Errorf("syncfs %s: %w", p.opts.Dir, err)
		}
		for i, l := range ls {
			if plans[i].needed() {
				l.stats.syncLatency.record(d)
			}
		}
	}
	for i, l := range ls {
		if l.nWaiting.Load() == 0 && !plans[i].needed() {
			continue
		}
		pl := plans[i]
		if pl.needed() && pl.err == nil {
			pl.err = err
			if err == nil {
				pl.err = l.afterSyncFS(pl)
			}
		}
		target, ferr := l.commitFlush(pl)
		l.release(target, ferr)
		p.stats.logsFlushed.Add(1)
	}
}

// finishRolled seals and trims the rolled segments of a plan before a
// syncfs makes them durable.
func (l *Log) finishRolled(p flushPlan) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if p.gen != l.truncations.Load() {
		return errStaleFlush
	}
	for _, s := range p.rolled {
		if s.deleted.Load() {
			continue
		}
		if err := s.seal(); err != nil {
			return err
		}
		if err := s.trim(); err != nil {
			return err
		}
	}
	return nil
}

// afterSyncFS finishes a round made durable by syncfs: the recovery point
// moves past rolled segments.
func (l *Log) afterSyncFS(p flushPlan) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if p.gen != l.truncations.Load() {
		return errStaleFlush
	}
	return l.afterSync(p.rolled, p.active)
}
