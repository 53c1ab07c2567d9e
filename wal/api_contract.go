package wal

// CONTRACT (temporary file, replaced by the implementation): the exported
// surface the engine programs against. Signatures here are binding.

import (
	"errors"
	"time"
)

// Errors with meaning to callers.
var (
	ErrOffsetOutOfRange = errors.New("wal: offset out of range")
	ErrCorruptBatch     = errors.New("wal: corrupt record batch")
	ErrClosed           = errors.New("wal: log closed")
)

// BatchHeaderSize is the fixed size of a v2 RecordBatch header.
const BatchHeaderSize = 61

// BatchHeader is the decoded fixed header of a v2 RecordBatch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the BatchLength field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Options for one partition log. Zero values take the documented defaults.
type Options struct {
	SegmentBytes       int64         // log.segment.bytes, default 1 GiB
	SegmentMs          time.Duration // log.roll.ms, default 7 days
	IndexIntervalBytes int           // log.index.interval.bytes, default 4096
	MaxIndexBytes      int           // log.index.size.max.bytes, default 10 MiB
	RetentionMs        int64         // retention.ms, -1 = forever; default 7 days
	RetentionBytes     int64         // retention.bytes, -1 = unlimited
	Now                func() time.Time
}
