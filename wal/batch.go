package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Errors with meaning to callers. Test with errors.Is: returned errors wrap
// these with the operation and offset that failed.
var (
	ErrOffsetOutOfRange = errors.New("wal: offset out of range")
	ErrCorruptBatch     = errors.New("wal: corrupt record batch")
	ErrClosed           = errors.New("wal: log closed")
	// ErrStorage marks a failed disk write or sync. It is sticky: once a
	// Log has returned it, every later Append and Sync fails with it.
	ErrStorage = errors.New("wal: storage error")
)

// BatchHeaderSize is the fixed size of a v2 RecordBatch header.
const BatchHeaderSize = 61

// Byte offsets of the v2 RecordBatch header fields (big-endian).
const (
	offBaseOffset      = 0  // int64
	offBatchLength     = 8  // int32, bytes after this field
	offLeaderEpoch     = 12 // int32
	offMagic           = 16 // int8
	offCRC             = 17 // uint32, CRC32C over [offAttributes:]
	offAttributes      = 21 // int16
	offLastOffsetDelta = 23 // int32
	offBaseTimestamp   = 27 // int64
	offMaxTimestamp    = 35 // int64
	offProducerID      = 43 // int64
	offProducerEpoch   = 51 // int16
	offBaseSequence    = 53 // int32
	offRecordCount     = 57 // int32

	// batchLengthOverhead is the part of a batch not counted by BatchLength.
	batchLengthOverhead = 12
	// minBatchLength is the smallest legal BatchLength (a header, no records).
	minBatchLength = BatchHeaderSize - batchLengthOverhead
	// currentMagic is the only RecordBatch version the log stores.
	currentMagic = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the CRC32C (Castagnoli) of b, the checksum of a v2 batch over
// its bytes from the attributes field to the end.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

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

// Size is the number of bytes the whole batch occupies.
func (h BatchHeader) Size() int64 { return batchLengthOverhead + int64(h.BatchLength) }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// ParseBatchHeader decodes the fixed 61-byte header at the start of b. It
// checks only that b is long enough; see validateHeader for the semantic
// checks recovery applies. b is not retained.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("parse batch header: %d bytes, need %d: %w",
			len(b), BatchHeaderSize, ErrCorruptBatch)
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// validateHeader checks what a stored batch header must satisfy: magic 2, a
// length covering at least the header, and a non-negative offset delta.
func validateHeader(h BatchHeader) error {
	switch {
	case h.Magic != currentMagic:
		return fmt.Errorf("batch at offset %d: magic %d: %w", h.BaseOffset, h.Magic, ErrCorruptBatch)
	case h.BatchLength < minBatchLength:
		return fmt.Errorf("batch at offset %d: length %d: %w", h.BaseOffset, h.BatchLength, ErrCorruptBatch)
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("batch at offset %d: last offset delta %d: %w",
			h.BaseOffset, h.LastOffsetDelta, ErrCorruptBatch)
	}
	return nil
}

// CheckBatchCRC reports whether the CRC32C (Castagnoli) over b[21:] equals
// the header's crc field. b must be exactly one whole batch.
func CheckBatchCRC(b []byte) bool {
	if len(b) < BatchHeaderSize {
		return false
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	return CRC32C(b[offAttributes:]) == want
}

// SetBaseOffset stamps the batch's base offset (outside the CRC).
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetLeaderEpoch stamps the batch's partition leader epoch (outside the CRC).
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// ForEachBatch walks the batches concatenated in buf, calling fn with each
// header and the batch's bytes (a sub-slice of buf, valid while buf is).
// It stops early when fn returns false. A trailing partial batch, or a
// header whose length is impossible, is an error wrapping ErrCorruptBatch;
// CRCs are not checked.
func ForEachBatch(buf []byte, fn func(h BatchHeader, batch []byte) bool) error {
	for pos := 0; pos < len(buf); {
		h, err := ParseBatchHeader(buf[pos:])
		if err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if h.BatchLength < minBatchLength || h.Size() > int64(len(buf)-pos) {
			return fmt.Errorf("batch at byte %d: length %d with %d bytes left: %w",
				pos, h.BatchLength, len(buf)-pos, ErrCorruptBatch)
		}
		end := pos + int(h.Size())
		if !fn(h, buf[pos:end:end]) {
			return nil
		}
		pos = end
	}
	return nil
}
