package wal

import (
	"math"
	"time"
)

// Defaults taken by zero-valued Options fields (Kafka's broker defaults).
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
	DefaultMaxIndexBytes      = 10 << 20
	DefaultRetentionMs        = int64(7 * 24 * time.Hour / time.Millisecond)
	DefaultRetentionBytes     = -1 // unlimited
	// DefaultPreallocateBytes is how much of a segment file is reserved
	// ahead of the append position (capped at SegmentBytes).
	DefaultPreallocateBytes = 16 << 20
)

// prepareAtQuarters: the next segment is prepared once the active one is
// this full (numerator over 4), so a roll finds it ready.
const prepareAtQuarters = 2

// maxSegmentBytes bounds SegmentBytes: index positions are uint32.
const maxSegmentBytes = math.MaxInt32

// Retention is a retention bound, retention.ms or retention.bytes, with
// Kafka's meaning of the number: -1 is unlimited, 0 keeps nothing (every
// segment below the high watermark may go), n > 0 is the bound. The zero
// Retention is unset: the option's default applies. Build one with Retain.
type Retention struct {
	n   int64
	set bool
}

// Retain is the Retention n; values below -1 are unlimited, as -1 is.
func Retain(n int64) Retention { return Retention{n: max(n, -1), set: true} }

// Value returns the bound (-1 for unlimited); ok is false when r is unset.
func (r Retention) Value() (n int64, ok bool) { return r.n, r.set }

// orDefault returns r, or Retain(def) when r is unset.
func (r Retention) orDefault(def int64) Retention {
	if !r.set {
		return Retain(def)
	}
	return r
}

// Options for one partition log. Zero values take the documented defaults.
type Options struct {
	SegmentBytes       int64         // log.segment.bytes, default 1 GiB (max 2 GiB-1)
	SegmentMs          time.Duration // log.roll.ms, default 7 days
	IndexIntervalBytes int           // log.index.interval.bytes, default 4096
	MaxIndexBytes      int           // log.index.size.max.bytes, default 10 MiB
	RetentionMs        Retention     // retention.ms; default 7 days
	RetentionBytes     Retention     // retention.bytes; default unlimited
	// PreallocateBytes is the most disk space reserved (fallocate) ahead
	// of the append position of the active segment, up to SegmentBytes.
	// The reservation grows with the data (Options.ahead): a fresh log
	// reserves minPreallocateAhead; once appends eat into it, each
	// extension reserves as much as the segment holds, at least
	// minGrowAhead, up to this; a segment prepared ahead of a roll (a busy
	// log) starts with all of it. Default 16 MiB; -1 turns preallocation
	// off. Only files implementing Allocator are preallocated.
	PreallocateBytes int64
	Now              func() time.Time
	// Flusher, if set, is the group-commit pool shared with other logs;
	// nil gives the log a flusher goroutine of its own. Fixed at Open.
	Flusher *FlushPool
	// OnStorageError, if set, is called once per log, on a goroutine of
	// its own, when the log's first write or sync error makes it refuse
	// appends and syncs for good (ErrStorage, sticky): the owner can take
	// the partition offline and give up its leadership at once instead of
	// waiting for the next produce to fail. err is what Err returns.
	OnStorageError func(l *Log, err error)
}

// withDefaults returns o with every zero field replaced by its default and
// every field clamped to what the on-disk formats can express.
func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	o.SegmentBytes = min(o.SegmentBytes, maxSegmentBytes)
	if o.SegmentMs <= 0 {
		o.SegmentMs = DefaultSegmentMs
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.MaxIndexBytes <= 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	// Room for at least a few entries of the larger (time) index.
	o.MaxIndexBytes = max(o.MaxIndexBytes, 4*timeEntrySize)
	o.RetentionMs = o.RetentionMs.orDefault(DefaultRetentionMs)
	o.RetentionBytes = o.RetentionBytes.orDefault(DefaultRetentionBytes)
	switch {
	case o.PreallocateBytes == 0:
		o.PreallocateBytes = DefaultPreallocateBytes
	case o.PreallocateBytes < 0:
		o.PreallocateBytes = -1
	}
	if o.PreallocateBytes > 0 {
		o.PreallocateBytes = min(o.PreallocateBytes, o.SegmentBytes)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// minPreallocateAhead is what a fresh or little-used active segment
// reserves ahead of its end: an idle partition costs this much disk, not
// PreallocateBytes (10,000 idle partitions: 640 MiB instead of 160 GiB).
const minPreallocateAhead = 64 << 10

// ahead is how far ahead of size the active segment's allocation
// reaches: as much as it already holds (the reservation doubles as the
// segment fills), at least least, at most PreallocateBytes. A fresh or
// reopened segment, and the check for whether one is due, use
// minPreallocateAhead; an extension (prepare) uses minGrowAhead.
func (o Options) ahead(size, least int64) int64 {
	return min(o.PreallocateBytes, max(least, size))
}

// minGrowAhead is the least an extension of the active segment reserves
// ahead of its end: a young segment that outgrew its first 64 KiB gets its
// next megabyte with one fallocate instead of a step every third of its
// size (64 -> 86 -> 115 -> 153 -> 204 -> 272 KiB). A fallocate cost about
// 27 us of CPU here whatever its length, so at 1,000 partitions each
// taking its first few hundred KiB, those steps were a large part of the
// broker's CPU per record (the gate's partitions load, four alternated
// runs: 0.207-0.232 -> 0.164-0.206 CPU-s per M records at 1,000
// partitions with this floor, the 4-partition figure within its noise).
const minGrowAhead = 1 << 20
