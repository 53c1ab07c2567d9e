// Package wal is Chronik's per-partition log on disk.
//
// One directory per partition holds segment files of byte-exact Kafka v2
// RecordBatches, each named by the base offset of its first batch, with a
// sparse offset index and a time index beside it. Batches are written with
// pwrite at a tracked position; durability is explicit (Sync registers a
// waiter that a single flusher goroutine releases after fdatasync). Every
// disk operation goes through the FS interface (package vfs; OSFS is the
// real one) so tests can inject errors and simulate crashes with memfs.FS
// (package vfs/memfs, test support the shipped binaries do not link).
//
// wal imports no other package of Chronik's but its own vfs.
//
// # Directory
//
//	<dir>/
//	  00000000000000000000.log         segment: batches [0, 1200)
//	  00000000000000000000.index       its offset index
//	  00000000000000000000.timeindex   its time index
//	  00000000000000001200.log         active segment: batches [1200, LEO),
//	                                   then a preallocated zero tail
//	  00000000000000001200.index       sized (sparse) to MaxIndexBytes, mmap'd rw
//	  00000000000000001200.timeindex
//	  leader-epoch-checkpoint          epoch -> start offset
//	  log-start-offset-checkpoint      first readable offset
//	  recovery-point-offset-checkpoint how far recovery trusts the log
//	                                   without a scan (recoverypoint.go)
//	  truncate-fully-checkpoint        present only while TruncateFullyAndStartAt
//	                                   runs (or a crash interrupted it): the
//	                                   offset the log restarts empty at; Open
//	                                   finishes the restart first
//	  .clean                           present only between Close and Open
//	  <offset>.snapshot                not the wal's: its owner's files beside
//	                                   the log (engine/partition's producer
//	                                   state), untouched by Open
//	  *.tmp                            half-written checkpoint, or the copy of a
//	                                   pinned segment TruncateTo renames over
//	                                   it (<base>.log.tmp); removed at Open
//	  next-segment.{log,index,timeindex}.tmp
//	                                   the next segment, prepared ahead of the
//	                                   roll that renames it (removed at Open)
//
// # Segment (.log)
//
// v2 RecordBatches back to back, no framing of our own. The file is
// preallocated (Allocator: fallocate) ahead of the append position (64 KiB
// for a fresh log, so an idle partition reserves 64 KiB; then as far ahead
// as the segment holds, at least 1 MiB, up to PreallocateBytes, 16 MiB by
// default),
// so it may end in zeros: a header of 61 zero bytes marks the
// logical end (no batch header is all zeros). The log tracks that end
// (segment.size); a rolled segment is trimmed to it by the flusher before
// it is synced, the active one at Close. Append stamps baseOffset and
// partitionLeaderEpoch (outside the CRC); nothing else is changed, so the
// bytes can be served to consumers and followers as stored. AppendReplica
// stores a leader's batches without changing a byte, so every replica
// holds the same bytes at the same offsets.
//
//	pos 0              pos p                        size
//	+------------------+------------------+ ... ----+
//	| batch base=1200  | batch base=1203  |         |
//	+------------------+------------------+ ... ----+
//
//	batch = baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32
//	      | magic int8 (2) | crc uint32 (CRC32C of attributes..end)
//	      | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64
//	      | maxTimestamp int64 | producerId int64 | producerEpoch int16
//	      | baseSequence int32 | recordCount int32 | records...
//	        (61-byte header; whole batch = 12 + batchLength bytes)
//
// # Offset index (.index), big-endian, 8 bytes per entry
//
//	+---------------------------+---------------------------+
//	| relative base offset u32  | position in .log u32      |  one entry per
//	+---------------------------+---------------------------+  IndexIntervalBytes
//
// An entry names the first byte of a batch (its base offset minus the
// segment base). There is no entry for position 0. To find offset o: binary
// search the last entry <= o, then walk batch headers from its position.
//
// # Time index (.timeindex), big-endian, 12 bytes per entry
//
//	+---------------------------+---------------------------+
//	| max timestamp so far i64  | relative base offset u32  |
//	+---------------------------+---------------------------+
//
// Written with the offset index entries, only when the segment's largest
// timestamp grew, and once more when the segment is sealed, so the last
// entry holds the segment's largest timestamp. Timestamps strictly
// increase. To find timestamp t: the last entry with timestamp < t; every
// batch up to it is older than t; walk headers from there.
//
// While their segment is active, indexes are sized (sparse, ftruncate) to
// MaxIndexBytes and mapped (with an FS whose files implement Mmapper;
// otherwise kept in memory and written through); they are trimmed to
// their entries when the segment is sealed (by the flusher after a roll,
// or at Close). They are never fsync'd on the append
// path: after an unclean stop they are rebuilt from the segment, and at any
// Open an index that fails its sanity check is rebuilt.
//
// # Checkpoints (text, replaced atomically: write .tmp, fsync, rename, fsync dir)
//
//	leader-epoch-checkpoint     log-start-offset-checkpoint
//	  0            version        0
//	  2            count          1
//	  0 0          epoch start    1200
//	  3 1450
//
// truncate-fully-checkpoint has the format of log-start-offset-checkpoint;
// recovery-point-offset-checkpoint too, or its one entry line has five
// fields, the exact point:
//
//	recovery-point-offset-checkpoint
//	  0                                              version
//	  1                                              count
//	  1450 1200 18233 4 3                            offset segmentBase position
//	                                                 offsetIndexEntries timeIndexEntries
//
// (every batch below 1450 is durable and fills segment 1200 up to byte
// 18233, whose first 4 offset-index and 3 time-index entries are durable;
// the segments below 1200 are durable and sealed). The one-field form
// names a segment base: the segments below it are durable and sealed.
// An epoch enters the leader-epoch
// checkpoint when its first batch is appended, or before any when a new
// leader calls BeginEpoch (its start is then the LEO); Open drops entries
// starting at or after the LEO, as Kafka's LogLoader does, so a leader
// calls BeginEpoch again after a restart.
//
// # Recovery
//
// First a truncate-fully-checkpoint a crash left is acted on: every
// segment file is removed and the checkpoints say empty at its offset
// (restart.go). Then the recovery point decides what is read
// (recoverypoint.go). It is written by CheckpointRecoveryPoint (the
// broker calls it every log.flush.offset.checkpoint.interval.ms for each
// log that grew by log.flush.offset.checkpoint.min.bytes, by
// BytesPastRecoveryPoint, and every 12th interval for each log that grew
// at all: a flush round, then the active segment's two index files
// fsync'd, then the checkpoint), at Close, after a roll once the rolled
// segments are synced (the short form, at the new segment), and by Open
// after it recovered a tail; it only moves forward, except that TruncateTo
// lowers it below a cut and TruncateFullyAndStartAt sets it to the
// restart offset. On Open:
//
//  1. the segments wholly below the point are trusted: their indexes are
//     sanity-checked (order, bounds), not rebuilt; one that fails is
//     scanned;
//  2. the point's segment (an exact point): its indexes are cut to the
//     recorded entries and checked, the batches from the last kept
//     offset-index entry to the point's position (at most one index
//     interval) are walked with their CRCs, and must end exactly at the
//     position with the point's offset next; then only the bytes after the
//     position are scanned;
//  3. scanning reads batch by batch (length, magic 2, each base offset at
//     or after the previous batch's next offset, CRC32C), rebuilds the
//     indexes, adds epochs found in batches to the cache, and cuts the log
//     at the first bad batch (a torn tail); later segments are dropped, as
//     they are when a segment ends before the next one's base. A zero tail
//     is the logical end, not a cut (Stats().Recovery.ZeroTailBytes): it
//     is trimmed, and the active segment preallocated again.
//
// A point that does not hold in step 2 (segment shorter than the
// position, index entries missing or out of order, batches not ending at
// the position) is rejected (Stats().Recovery.RecoveryPointRejected): the
// segment is scanned whole, from 0. An unreadable checkpoint means every
// segment is scanned. What was scanned is then fsync'd, with the
// directory, and the LEO recorded as the new point, so DurableOffset
// starts at the LEO; when nothing was scanned (a crash with nothing
// appended since the last point, or a clean stop) Open syncs and writes
// nothing. Recovery after a crash so costs what was appended since the
// last checkpoint, not the size of the log (Stats().Recovery.ScannedBytes,
// WalkedBytes). The epochs starting at or after the LEO are dropped
// (Kafka's LogLoader: truncateFromEnd(LEO)).
//
// The .clean marker Close writes is trusted (the files taken as they are,
// the active segment's tail walked by headers from its last index entry)
// only when the recovery point on disk is not exact (a log from before
// recovery points, or after a truncation lowered it); then its removal is
// synced at Open. With an exact point, which Close writes at the LEO, Open
// recovers from the point, finds nothing to scan, and removes the marker
// without a sync: the marker is never trusted while an exact point is on
// disk, and the first write of a less exact point syncs the directory,
// and with it the removal, before it replaces the exact one. The leader-epoch
// checkpoint is rewritten only when its content changes, so an idle
// partition opens with no fsync at all.

// # Group commit
//
// Sync registers a waiter; the log's flusher makes everything appended so
// far durable in one round and releases, in order, every waiter it covered.
// Logs opened with Options.Flusher share a FlushPool (the broker's
// default): a log with waiters is queued once, one of the pool's workers
// runs its round (FlushEachLog: fdatasync of its files) or takes every
// queued log at once and runs one syncfs(2) for all (FlushSyncFS), and a
// log is never flushed by two workers at a time. A follower's fetch cycle
// touches many logs and must report its fetch offsets only once all are
// durable: FlushPool.SyncLogs queues every log's waiter in one step and
// calls back once, so one syncfs covers the cycle (a loop of Sync calls
// gives one fdatasync per log in each-log mode too, but in syncfs mode
// up to 1.14 syncfs per cycle of 64 logs: the first worker to wake takes
// the logs queued by then; BenchmarkFollowerCycle). Stats report appends per
// sync and a sync latency histogram. A write or sync error is sticky: the
// log refuses appends and syncs with ErrStorage from then on, and never
// calls a later fdatasync a success for what the failed one should have
// covered (after a failed fsync the kernel may have dropped the dirty pages
// and cleared the error). Options.OnStorageError tells the owner once, at
// the first error; Err and Failed report it.
//
// # Zero-copy reads
//
// ReadView serves the batches Read would copy as slices of a read-only
// shared mmap of each segment (view.go), for writev; ReadRanges serves
// them as (file, position, length) ranges of the segment files, for
// sendfile(2) (Range.Sendfile; ranges.go). Both are pinned (pin.go): the
// segment holds one reference to its mapping and to its file until it is
// closed, each View one pin per mapping it uses and each Ranges one per
// file until Release; the last reference unmaps or closes. A segment
// deleted or replaced under a pending response stays mapped and open,
// unchanged, until the response is released, and only bytes below the
// size published after the pwrite are served. Each pin records the file
// position it reaches, which TruncateTo consults.
//
// Measured on a 2-core VM, fetches of 64 KiB and 1 MiB from the page
// cache to a loopback TCP socket (BenchmarkSendToSocket): writev of the
// mapped slices 1.64 and 1.73 GB/s, sendfile of the ranges 1.52 and 1.45
// GB/s (0.92x and 0.84x), read-and-write 0.80 and 0.66 GB/s; neither
// zero-copy path copies record bytes in user space or allocates per
// fetch. So ReadView + writev is the recommended default; ReadRanges is
// there for sendfile where it wins (a NIC that transmits from the page
// cache without a copy), to be measured in the lab.
//
// # Replication
//
// A follower appends what its leader's fetch responses carry with
// AppendReplica: whole batches, checked (CRC32C), starting at the LEO,
// stored byte-exact with the leader's offsets and epochs, one pwrite per
// segment; the epoch cache follows the batches' partitionLeaderEpoch. To
// cut a diverged tail it calls TruncateTo (truncate.go): batches at and
// after an offset go, the segment holding the cut is shrunk (in place, or
// replaced when a View or Ranges pins bytes past the cut) and becomes the
// active one, later segments are deleted, the epochs cut; each step is
// durable before the next, so a crash leaves the old log or the new one.
// A follower whose LEO is below its leader's log start offset (or whose
// log must go) calls TruncateFullyAndStartAt (restart.go): a durable
// commit point first, then every segment removed, the checkpoints
// rewritten and one empty segment created at the offset; Open finishes a
// restart a crash interrupted. A new leader calls BeginEpoch before it
// accepts produce: its epoch starts at the LEO, durably.
//
// Replicas are compared with CompareDirs (compare.go; chronik wal
// compare): batch by batch from each one's log start offset, the first
// difference named by field, and the offsets only one side holds. It
// reads files only, like InspectDir.
//
// # Retention
//
// ApplyRetention(highWatermark) follows Kafka's UnifiedLog.deleteOldSegments:
// oldest segments first, by retention.bytes, then by retention.ms (-1
// unlimited, 0 keeps nothing), never a segment with an offset at or above
// the high watermark. A non-empty active segment that is due is rolled
// and deleted with the rest. The log-start-offset checkpoint is written
// before files are removed; a segment a View maps stays mapped.
//
// # Prepared segments
//
// See prepare.go: once the active segment is half full (from the start of
// each segment after a roll found nothing ready), a background step
// creates the next segment's files under temporary names, preallocated
// and mapped, and keeps the active segment's allocation ahead of appends;
// the roll renames them into place. New partition directories are synced
// in their parent at Open, the parent again after Delete.
//
// # Goroutines
//
//	Append,           any goroutine; serialised by Log.mu; pwrite, no fsync
//	AppendReplica     (except the leader-epoch checkpoint on a new epoch);
//	                  wait on Log.appendable while a TruncateTo,
//	                  TruncateFullyAndStartAt or BeginEpoch runs
//	BeginEpoch        any goroutine; holds ckptMu across its checkpoint
//	                  write, mu only to assign the epoch and switch state
//	Sync              any goroutine; never blocks; done runs on the flusher
//	flusher           a FlushPool worker, or one goroutine per Log without a
//	                  pool: takes every waiter queued, fdatasyncs rolled
//	                  segments, the directory (after a roll) and the active
//	                  segment once, then calls done in order
//	Read, ReadView,   any goroutine, concurrently with Append; they hold
//	ReadRanges,       Log.readMu shared, so segments are not closed under
//	ScanBatches,      them (a View or Ranges outlives that: see Zero-copy
//	OffsetForTimestamp  reads); View and Ranges Release on any goroutine
//	DeleteRecordsBefore, ApplyRetention, SetOptions
//	                  any goroutine; deletion waits for readers of the segments
//	TruncateTo,       any goroutine; hold ckptMu and readMu exclusively
//	TruncateFully-    across their I/O (readers wait), mu only to switch
//	AndStartAt        state (the restart takes fmu inside mu to fail the
//	                  waiters); flush rounds planned before make nothing
//	                  durable
//	FlushPool.SyncLogs
//	                  any goroutine; each log's fmu, then FlushPool.mu once
//	prepare           one goroutine at a time per log, started by Append;
//	                  holds readMu shared, takes mu briefly
//	Close, Delete     once; wait for the flusher, the prepare step and readers
//
//	CheckpointRecoveryPoint
//	                  any goroutine; waits for a flush round, then holds
//	                  ckptMu and readMu shared across the index fsyncs and
//	                  the checkpoint write (rpMu, a leaf, serialises every
//	                  recovery-point write)
//
// Lock order: ckptMu, readMu, mu, then the leaves: rpMu, a segment's allocMu, an
// index's mutex, a segment's mapping mutex (segMap.mu, which takes a
// mapping's pinSet mutex inside it), a file's pinSet mutex, the waiter
// queue's fmu and FlushPool.mu. No other lock is taken while a leaf is
// held.
package wal
