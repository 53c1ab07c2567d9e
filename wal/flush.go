package wal

import "fmt"

// syncWaiter is one Sync call waiting for offsets below through to be
// durable.
type syncWaiter struct {
	through int64
	done    func(error)
}

// Sync registers done to be called once every batch with an offset below
// through is durable (fdatasync'd), or with an error wrapping ErrStorage or
// ErrClosed. done is always called exactly once and always from another
// goroutine than the caller's: the flusher, or for a Sync after Close a new
// goroutine. So done may take locks the caller holds. Waiters are released
// in registration order within a flush round; done must not block long, as
// it delays the waiters behind it.
//
// through is normally <= LogEndOffset (e.g. baseOffset+lastOffsetDelta+1
// after an Append); a larger value waits until later appends reach it.
func (l *Log) Sync(through int64, done func(err error)) {
	l.fmu.Lock()
	if l.stopped {
		l.fmu.Unlock()
		go done(fmt.Errorf("sync %s: %w", l.dir, ErrClosed))
		return
	}
	l.waiters = append(l.waiters, syncWaiter{through: through, done: done})
	l.nWaiting.Add(1)
	l.fmu.Unlock()
	l.kick()
}

// kick wakes the flusher without blocking.
func (l *Log) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flushLoop is the flusher goroutine: one per Log, from Open to Close.
func (l *Log) flushLoop() {
	defer close(l.flushDone)
	for {
		select {
		case <-l.wake:
			l.flushRound()
		case <-l.quit:
			l.flushRound()
			l.releaseAll(fmt.Errorf("sync %s: %w", l.dir, ErrClosed))
			return
		}
	}
}

// flushRound makes everything appended so far durable, then releases the
// waiters it covers.
func (l *Log) flushRound() {
	if l.nWaiting.Load() == 0 {
		return
	}
	target, err := l.syncData()
	l.release(target, err)
}

// syncData fdatasyncs rolled segments, the directory if segments were
// created, and the active segment, and returns the new durable offset.
func (l *Log) syncData() (int64, error) {
	l.mu.Lock()
	if l.werr != nil {
		defer l.mu.Unlock()
		return l.durable.Load(), l.werr
	}
	target, active := l.leo.Load(), l.active()
	rolled, newDirs := l.rolled, l.newDirs
	l.rolled, l.newDirs = nil, false
	l.mu.Unlock()
	if target <= l.durable.Load() && len(rolled) == 0 && !newDirs {
		return target, nil
	}
	if err := l.syncFiles(rolled, newDirs, active); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.durable.Load(), l.fail(err)
	}
	l.stats.syncs.Add(1)
	if target > l.durable.Load() {
		l.durable.Store(target)
	}
	return target, nil
}

func (l *Log) syncFiles(rolled []*segment, newDirs bool, active *segment) error {
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	return l.syncFilesLocked(rolled, newDirs, active)
}

// syncFilesLocked is syncFiles for callers holding readMu.
func (l *Log) syncFilesLocked(rolled []*segment, newDirs bool, active *segment) error {
	for _, s := range rolled {
		if s.deleted {
			continue
		}
		if err := s.syncAll(); err != nil {
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
	if len(rolled) > 0 {
		// Every segment below the active one is now durable: recovery
		// need not scan them.
		return writeOffsetCheckpoint(l.fsys, l.dir, recoveryPointCheckpoint, active.base)
	}
	return nil
}

// release calls done for the waiters through <= target, or for all of
// them with err.
func (l *Log) release(target int64, err error) {
	l.fmu.Lock()
	var ready, keep []syncWaiter
	for _, w := range l.waiters {
		if err != nil || w.through <= target {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	l.waiters = keep
	l.nWaiting.Add(-int64(len(ready)))
	l.fmu.Unlock()
	if err != nil {
		err = fmt.Errorf("sync %s: %w", l.dir, err)
	}
	l.finish(ready, err)
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

func (l *Log) finish(ready []syncWaiter, err error) {
	for _, w := range ready {
		w.done(err)
	}
	l.stats.syncedWaiters.Add(int64(len(ready)))
}
