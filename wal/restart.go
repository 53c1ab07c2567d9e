package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Restart: a follower discarding its whole log (Kafka's
// UnifiedLog.truncateFullyAndStartAt), because its LEO is below the
// leader's log start offset or its log must go.
//
// TruncateFullyAndStartAt deletes every segment and leaves one empty
// segment at the new offset. On disk, each step durable before the next:
//
//  1. truncate-fully-checkpoint is written with the offset: the commit
//     point. From here on Open finishes the restart before it loads
//     anything;
//  2. every segment file (.log, .index, .timeindex) is removed;
//  3. the leader-epoch checkpoint is written empty, the log-start and
//     recovery-point checkpoints with the offset (each write syncs the
//     directory, so the removals are durable too);
//  4. the new segment is created at the offset, truncate-fully-checkpoint
//     removed, the directory synced.
//
// A crash before step 1 is durable leaves the old log; from then on Open
// redoes steps 2 and 3 (they are idempotent), removes the checkpoint and
// creates the segment: the new log. Never a log whose start offset points
// at removed segments, nor an empty log at another offset. The old
// segments are closed only after the switch, so until then the log (and
// after a failure, a log that refuses appends) reads them as before; Views
// and Ranges keep them mapped and open until released, as for any
// deleted segment.

// restartCheckpoint holds the offset a TruncateFullyAndStartAt restarts
// the log at while it runs ("offset"); Open finishes the restart it finds.
const restartCheckpoint = "truncate-fully-checkpoint"

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset, which may be below, at or above the LEO: afterwards
// LogStartOffset, LogEndOffset and DurableOffset are offset, the epoch
// cache is empty, MaxTimestamp has none, and every checkpoint says so. The
// next batch appended (AppendReplica of the leader's batch at offset, or
// Append) gets offset.
//
// It is durable when it returns, and crash-safe: a crash leaves the old
// log or the new one (see restart.go). Every Sync waiter registered before
// it switched the log is called with an error wrapping ErrTruncated.
// Appends and reads wait for it; Views and Ranges handed out before stay
// valid and unchanged. A storage error is sticky (ErrStorage); Open then
// finishes the restart if its commit point was durable. Any goroutine may
// call it.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate %s fully and start at %d: %w", l.dir, offset, ErrOffsetOutOfRange)
	}
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.readMu.Lock()
	defer l.readMu.Unlock()
	old, err := l.beginRestart()
	if err != nil {
		return fmt.Errorf("truncate %s fully and start at %d: %w", l.dir, offset, err)
	}
	seg, err := l.restartFiles(offset)
	if err == nil {
		l.rpMu.Lock()
		l.rp = recoveryPoint{offset: offset} // clearForRestart wrote it
		l.rpMu.Unlock()
		l.epochsOnDisk, l.epochsWritten = "", true // and an empty epoch checkpoint
		gone := l.switchToRestarted(seg, old)
		if len(gone) > 0 {
			go l.finish(gone, fmt.Errorf("sync %s: log restarted at %d: %w", l.dir, offset, ErrTruncated))
		}
		for _, s := range old {
			s.discard() // closed or not, it is gone from the directory
		}
		l.extendActive(seg, l.Options())
	}
	if err := l.resumeAppends(&l.truncating, err); err != nil {
		return fmt.Errorf("truncate %s fully and start at %d: %w", l.dir, offset, err)
	}
	if l.nWaiting.Load() > 0 {
		l.kick()
	}
	return nil
}

// beginRestart marks the log truncating (appends wait, flush rounds
// planned before are stale) and returns its segments. Callers hold readMu
// exclusively.
func (l *Log) beginRestart() ([]*segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, ErrClosed
	case l.werr != nil:
		return nil, l.werr
	}
	l.truncating = true
	l.truncations.Add(1)
	return l.segments(), nil
}

// restartFiles runs steps 1 to 4 and returns the new segment, open. The
// old segments stay open. Callers hold ckptMu and readMu exclusively.
func (l *Log) restartFiles(offset int64) (*segment, error) {
	if err := writeOffsetCheckpoint(l.fsys, l.dir, restartCheckpoint, offset); err != nil {
		return nil, err
	}
	if err := clearForRestart(l.fsys, l.dir, offset); err != nil {
		return nil, err
	}
	seg, err := openSegment(l.fsys, l.dir, offset, l.Options(), true)
	if err != nil {
		return nil, err
	}
	if err := endRestart(l.fsys, l.dir); err != nil {
		seg.close()
		return nil, err
	}
	return seg, nil
}

// switchToRestarted makes the in-memory log the empty one at seg and
// takes every Sync waiter (under mu, so that no flush round releases one
// in between). It returns the waiters, to be failed. Callers hold readMu
// exclusively.
func (l *Log) switchToRestarted(seg *segment, old []*segment) []syncWaiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range old {
		s.deleted.Store(true)
	}
	l.setSegments([]*segment{seg})
	l.leo.Store(seg.base)
	l.logStart.Store(seg.base)
	l.durable.Store(seg.base)
	l.size.Store(0)
	l.maxTs = maxTimestamp{}
	l.epochs = epochCache{}
	l.rolled, l.newDirs = nil, false
	l.stats.fullTruncations.Add(1)
	l.fmu.Lock()
	defer l.fmu.Unlock()
	gone := l.waiters
	l.waiters = nil
	l.nWaiting.Add(-int64(len(gone)))
	return gone
}

// clearForRestart runs steps 2 and 3: it removes every segment file of dir
// and writes the checkpoints of an empty log at offset.
func clearForRestart(fsys FS, dir string, offset int64) error {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, n := range names {
		if !isSegmentFile(n) {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", n, err)
		}
	}
	if err := writeCheckpoint(fsys, dir, leaderEpochCheckpoint, nil); err != nil {
		return err
	}
	if err := writeOffsetCheckpoint(fsys, dir, logStartOffsetCheckpoint, offset); err != nil {
		return err
	}
	return writeOffsetCheckpoint(fsys, dir, recoveryPointCheckpoint, offset)
}

// endRestart removes the commit point durably (step 4): with it go the
// removals and the new segment's entries, all synced with the directory.
func endRestart(fsys FS, dir string) error {
	name := filepath.Join(dir, restartCheckpoint)
	if err := fsys.Remove(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// finishRestart completes, at Open, a TruncateFullyAndStartAt whose commit
// point a crash left: the segment files go, the checkpoints say empty at
// its offset, and Open creates the segment there. It reports whether there
// was one to finish.
func finishRestart(fsys FS, dir string) (bool, error) {
	offset, found, err := readOffsetCheckpoint(fsys, dir, restartCheckpoint)
	if err != nil || !found {
		return false, err
	}
	if err := clearForRestart(fsys, dir, offset); err != nil {
		return false, fmt.Errorf("finish restart at %d: %w", offset, err)
	}
	if err := endRestart(fsys, dir); err != nil {
		return false, fmt.Errorf("finish restart at %d: %w", offset, err)
	}
	return true, nil
}

// isSegmentFile reports whether name is a segment's .log, .index or
// .timeindex file.
func isSegmentFile(name string) bool {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if stem, ok := strings.CutSuffix(name, suffix); ok {
			_, ok := parseSegmentName(stem + logSuffix)
			return ok
		}
	}
	return false
}
