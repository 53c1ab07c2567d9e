package wal

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Log is one partition's log: a directory of segments, the leader-epoch
// history and the log start offset. All methods are safe for concurrent use.
//
// Locking. mu serialises appends, rolls and segment-list changes and guards
// the epoch cache, options and sticky error; no fsync runs under it. readMu
// is held shared by readers and the flusher while they use segment files,
// and exclusively by whoever closes or removes segment files, so a segment
// is never closed under a reader. ckptMu serialises checkpoint writes. fmu
// guards the Sync waiter queue. Lock order: ckptMu, readMu, mu, then the
// leaves: rpMu, a segment's allocMu, an index's mutex, a segment's mapping mutex
// (then a mapping's pinSet), a file's pinSet, fmu and FlushPool.mu; no
// other lock is taken while a leaf is held. TruncateTo and
// TruncateFullyAndStartAt hold ckptMu and readMu exclusively and mark the
// log truncating under mu, BeginEpoch holds ckptMu and marks it beginning;
// appends wait on appendable meanwhile.
type Log struct {
	fsys FS
	dir  string

	mu      sync.Mutex
	opts    Options
	epochs  epochCache
	werr    error       // sticky storage error, wraps ErrStorage
	failed  atomic.Bool // werr != nil, for lock-free checks (Failed)
	closed  bool
	rolled  []*segment // sealed segments not yet synced by the flusher
	newDirs bool       // directory entries created since the last SyncDir
	spare   *segment   // the next segment, prepared ahead of a roll (prepare.go)
	eager   bool       // a roll found no spare: prepare each next one at once
	maxTs   maxTimestamp
	// truncating is set while TruncateTo or TruncateFullyAndStartAt
	// replaces segment files, beginning while BeginEpoch makes a new
	// epoch durable; appends wait on appendable (signalled with mu) until
	// both are clear.
	truncating bool
	beginning  bool
	appendable sync.Cond
	// truncations counts TruncateTo and TruncateFullyAndStartAt calls;
	// bumped under readMu (exclusive) and mu, so a flush round planned
	// before one can tell (flush.go).
	truncations atomic.Int64

	segs     atomic.Pointer[[]*segment] // copy-on-write, ascending; last is active
	leo      atomic.Int64
	logStart atomic.Int64
	durable  atomic.Int64
	size     atomic.Int64
	readMu   sync.RWMutex
	ckptMu   sync.Mutex
	recovery RecoveryStats
	scanned  []*segment // segments recovery scanned, until Open syncs them
	// epochsRecovered: recovery found epochs the checkpoint lacked.
	epochsRecovered bool
	// epochsOnDisk is the leader-epoch checkpoint's content (its entry
	// lines joined), when epochsWritten; guarded by ckptMu.
	epochsOnDisk  string
	epochsWritten bool

	rpMu sync.Mutex    // serialises recovery-point writes; a leaf
	rp   recoveryPoint // the recovery point last written (recoverypoint.go)
	// markerUnsynced: Open removed a clean marker without syncing the
	// directory (an exact point was on disk); guarded by rpMu.
	markerUnsynced bool

	fmu       sync.Mutex
	waiters   []syncWaiter
	ready     []syncWaiter // reused by release; owned by the running round
	stopped   bool         // no more waiters accepted (Close)
	nWaiting  atomic.Int64
	wake      chan struct{}
	quit      chan struct{}
	flushDone chan struct{}

	preparing atomic.Bool    // a prepare step is running (prepare.go)
	bg        sync.WaitGroup // prepare steps, waited for by Close

	pool          *FlushPool // shared flusher, or nil: flushLoop runs per log
	pstate        int        // state in pool, guarded by pool.mu
	syncedThrough atomic.Int64

	stats struct {
		appends, appendedBytes, rolls, syncs, syncedWaiters atomic.Int64
		syncedAppends                                       atomic.Int64
		preparedRolls, prepareErrors                        atomic.Int64
		truncations, truncationCopies, fullTruncations      atomic.Int64
		syncLatency                                         latencyRecorder
	}
}

// maxTimestamp is the batch with the largest MaxTimestamp (KIP-734).
type maxTimestamp struct {
	ts, lastOffset int64
	ok             bool
}

// Stats are counters for tests, metrics and the lab.
type Stats struct {
	Appends       int64 // batches appended since Open
	AppendedBytes int64
	Rolls         int64 // segments rolled since Open
	Syncs         int64 // flusher rounds that ran fdatasync
	SyncedWaiters int64 // Sync waiters released (with nil or an error)
	Recovery      RecoveryStats

	// SyncedAppends counts the appends that flush rounds made durable;
	// SyncedAppends/Syncs is the appends per fsync (group commit factor).
	SyncedAppends int64
	// SyncLatency is the time each flush round spent making data durable
	// (fdatasync of the files, or the shared syncfs).
	SyncLatency LatencyHistogram

	// PreparedRolls counts rolls that found the next segment prepared
	// (a rename, no file creation on the append path); PrepareErrors the
	// preparations and preallocations that failed (the roll then creates
	// the segment itself; appends are not affected).
	PreparedRolls, PrepareErrors int64

	// Truncations counts TruncateTo calls that removed batches;
	// TruncationCopies those that had to copy the kept part of a segment
	// into a new file because a View or Ranges pinned bytes past the cut.
	Truncations, TruncationCopies int64
	// FullTruncations counts TruncateFullyAndStartAt calls that finished.
	FullTruncations int64
}

// AppendsPerSync is SyncedAppends/Syncs, 0 before the first sync.
func (s Stats) AppendsPerSync() float64 {
	if s.Syncs == 0 {
		return 0
	}
	return float64(s.SyncedAppends) / float64(s.Syncs)
}

// RecoveryStats describe what Open found.
type RecoveryStats struct {
	CleanShutdown     bool  // the .clean marker was present
	SegmentsScanned   int   // segments whose batches were checked and indexes rebuilt
	IndexesRebuilt    int   // segments whose indexes were rebuilt (doubt or unclean)
	TruncatedBytes    int64 // bytes cut from a torn or corrupt tail
	TruncatedAtOffset int64 // LEO after the cut, -1 if nothing was cut
	ZeroTailBytes     int64 // preallocated (zero) tail cut after the last batch: not corruption
	SegmentsDropped   int   // whole segments removed because they followed a cut
	// RecoveryPoint is the offset the recovery-point checkpoint let Open
	// trust without a scan (0 on a clean start or when it was rejected);
	// RecoveryPointRejected says why a checkpoint found was not used.
	RecoveryPoint         int64
	RecoveryPointRejected string
	// ScannedBytes are the batch bytes checked (CRC) and indexed from a
	// segment's start or the recovery point on; WalkedBytes those checked
	// between the point segment's last durable index entry and the point.
	ScannedBytes, WalkedBytes int64
	// FinishedRestart: a TruncateFullyAndStartAt a crash interrupted after
	// its commit point was finished (the log restarted empty).
	FinishedRestart bool
}

// Stats returns a snapshot of the counters.
func (l *Log) Stats() Stats {
	return Stats{
		Appends:       l.stats.appends.Load(),
		AppendedBytes: l.stats.appendedBytes.Load(),
		Rolls:         l.stats.rolls.Load(),
		Syncs:         l.stats.syncs.Load(),
		SyncedWaiters: l.stats.syncedWaiters.Load(),
		Recovery:      l.recovery,
		SyncedAppends: l.stats.syncedAppends.Load(),
		SyncLatency:   l.stats.syncLatency.snapshot(),
		PreparedRolls: l.stats.preparedRolls.Load(),
		PrepareErrors: l.stats.prepareErrors.Load(),

		Truncations:      l.stats.truncations.Load(),
		TruncationCopies: l.stats.truncationCopies.Load(),
		FullTruncations:  l.stats.fullTruncations.Load(),
	}
}

func (l *Log) segments() []*segment { return *l.segs.Load() }

func (l *Log) active() *segment {
	s := l.segments()
	return s[len(s)-1]
}

func (l *Log) setSegments(s []*segment) { l.segs.Store(&s) }

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// FS is the file system the log was opened on (for the files its owner
// keeps beside it, such as producer-state snapshots).
func (l *Log) FS() FS { return l.fsys }

// DurableOffset: every offset below it has been fdatasync'd.
func (l *Log) DurableOffset() int64 { return l.durable.Load() }

// LogEndOffset is the offset the next appended batch will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// LogStartOffset is the first readable offset.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// Size is the number of batch bytes across all segments.
func (l *Log) Size() int64 { return l.size.Load() }

// NumSegments is the number of segment files.
func (l *Log) NumSegments() int { return len(l.segments()) }

// Options returns the options in force, defaults filled in.
func (l *Log) Options() Options {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.opts
}

// SetOptions replaces the options (all but Flusher, fixed at Open); they
// apply to the next append, roll, preallocation or ApplyRetention.
// MaxIndexBytes and SegmentBytes' mapping reserve apply to segments
// created afterwards.
func (l *Log) SetOptions(opts Options) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts = opts.withDefaults()
}

// fail records err as the sticky storage error and returns it.
// Callers hold mu.
func (l *Log) fail(err error) error {
	if l.werr == nil {
		l.werr = fmt.Errorf("%w: %w", ErrStorage, err)
		l.failed.Store(true)
		if cb := l.opts.OnStorageError; cb != nil {
			go cb(l, l.werr)
		}
	}
	return l.werr
}

// Err returns the sticky storage error (wrapping ErrStorage) once a write
// or sync failed, else nil. A failed log never syncs again: what was not
// durable when the error struck is never reported durable, even if a later
// fdatasync would succeed (the kernel may have dropped the dirty pages
// and cleared the error: "fsyncgate"). Any goroutine may call it.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.werr
}

// Failed reports, without a lock, whether Err is not nil.
func (l *Log) Failed() bool { return l.failed.Load() }

// Append writes one v2 RecordBatch at the log end. It stamps the batch's
// baseOffset and partitionLeaderEpoch in place (the caller's slice is
// modified and not retained), pwrites it, updates the indexes and advances
// the LEO. It does not fsync: use Sync. Any goroutine may call it. If
// leaderEpoch is newer than the latest known epoch, the epoch starts at the
// returned offset and the leader-epoch checkpoint is rewritten (fsync'd)
// before Append returns. It waits for a TruncateTo in progress.
func (l *Log) Append(batch []byte, leaderEpoch int32) (baseOffset int64, err error) {
	h, err := ParseBatchHeader(batch)
	if err == nil {
		err = validateHeader(h)
	}
	if err == nil && h.Size() != int64(len(batch)) {
		err = fmt.Errorf("batch length %d in %d bytes: %w", h.BatchLength, len(batch), ErrCorruptBatch)
	}
	if err != nil {
		return 0, fmt.Errorf("append %s: %w", l.dir, err)
	}
	l.mu.Lock()
	baseOffset, newEpoch, err := l.appendLocked(batch, h, leaderEpoch)
	prepare := err == nil && l.prepareDue()
	l.mu.Unlock()
	if prepare {
		l.startPrepare()
	}
	if err != nil {
		return 0, fmt.Errorf("append %s at %d: %w", l.dir, baseOffset, err)
	}
	if newEpoch {
		if err := l.persistEpochs(); err != nil {
			return 0, fmt.Errorf("append %s at %d: %w", l.dir, baseOffset, err)
		}
	}
	if l.nWaiting.Load() > 0 {
		l.kick()
	}
	return baseOffset, nil
}

// resumeAppends clears flag (truncating or beginning), which made appends
// wait, wakes them, and makes err, if not nil, the sticky storage error,
// which it returns.
func (l *Log) resumeAppends(flag *bool, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*flag = false
	l.appendable.Broadcast()
	if err != nil {
		return l.fail(err)
	}
	return nil
}

func (l *Log) appendLocked(batch []byte, h BatchHeader, epoch int32) (int64, bool, error) {
	l.waitAppendableLocked()
	base := l.leo.Load()
	switch {
	case l.closed:
		return base, false, ErrClosed
	case l.werr != nil:
		return base, false, l.werr
	}
	seg := l.active()
	if l.rollDue(seg, seg.size.Load(), h.Size(), base+int64(h.LastOffsetDelta), indexForecast{}, l.opts.Now()) {
		if err := l.roll(); err != nil {
			return base, false, l.fail(err)
		}
	}
	seg = l.active()
	SetBaseOffset(batch, base)
	SetLeaderEpoch(batch, epoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, epoch
	pos := seg.size.Load()
	if _, err := seg.log.WriteAt(batch, pos); err != nil {
		return base, false, l.fail(err)
	}
	if err := seg.track(h, pos, l.opts.IndexIntervalBytes); err != nil {
		return base, false, l.fail(err)
	}
	l.size.Add(h.Size())
	l.leo.Store(h.NextOffset())
	l.noteMaxTimestamp(h)
	l.stats.appends.Add(1)
	l.stats.appendedBytes.Add(h.Size())
	return base, l.epochs.assign(epoch, base), nil
}

// noteMaxTimestamp records h as the batch with the largest timestamp if it
// is (KIP-734: the first batch holding it). Callers hold mu.
func (l *Log) noteMaxTimestamp(h BatchHeader) {
	if h.MaxTimestamp > l.maxTs.ts || !l.maxTs.ok {
		l.maxTs = maxTimestamp{ts: h.MaxTimestamp, lastOffset: h.LastOffset(), ok: true}
	}
}

// rollDue reports whether a batch of batchBytes whose last offset is
// lastOffset must start a new segment rather than go at pos in seg, with
// the index entries of pend still to be added to seg before it (a replica
// append's earlier batches of the same run). An empty segment takes any
// batch. Callers hold mu.
func (l *Log) rollDue(seg *segment, pos, batchBytes, lastOffset int64, pend indexForecast, now time.Time) bool {
	if pos == 0 {
		return false
	}
	return pos+batchBytes > l.opts.SegmentBytes ||
		now.Sub(seg.created) > l.opts.SegmentMs ||
		seg.idx.room() <= pend.offsets || seg.tidx.room() <= pend.times ||
		lastOffset-seg.base > math.MaxUint32
}

// roll starts a new segment at the LEO: the prepared one renamed into
// place if there is one, else one created now. The old one is sealed,
// trimmed and synced later by the flusher. Callers hold mu.
func (l *Log) roll() error {
	old := l.active()
	seg, err := l.takeSpare(l.leo.Load())
	if seg == nil && err == nil {
		seg, err = l.createSegment(l.leo.Load())
	}
	if err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	segs := append(append([]*segment(nil), l.segments()...), seg)
	l.setSegments(segs)
	l.rolled = append(l.rolled, old)
	l.newDirs = true
	l.stats.rolls.Add(1)
	return nil
}

// MaxTimestamp returns the batch with the largest max timestamp (KIP-734):
// its last offset and that timestamp; ok is false for an empty log.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxTs.lastOffset, l.maxTs.ts, l.maxTs.ok
}
