package engine

import (
	"encoding/binary"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// validateBatch checks a produced partition's records field: exactly one
// v2 RecordBatch, length, magic, CRC32C, attributes, record count and (for
// uncompressed batches) the record framing, and the size limit. It does not
// decompress. On success it returns the parsed header.
func validateBatch(b []byte, maxMessageBytes int64) (wal.BatchHeader, *kerr.Error) {
	h, err := wal.ParseBatchHeader(b)
	if err != nil {
		return h, kerr.CorruptMessage
	}
	size := h.Size()
	switch {
	case h.BatchLength < wal.BatchHeaderSize-12 || size > int64(len(b)):
		return h, kerr.CorruptMessage
	case size < int64(len(b)):
		// Kafka takes exactly one batch per partition from v3 on.
		if _, err := wal.ParseBatchHeader(b[size:]); err == nil {
			return h, kerr.InvalidRecord
		}
		return h, kerr.CorruptMessage
	case h.Magic != 2:
		return h, kerr.CorruptMessage
	case !wal.CheckBatchCRC(b):
		return h, kerr.CorruptMessage
	case size > maxMessageBytes:
		return h, kerr.MessageTooLarge
	case h.Attributes&wal.AttrCompressionMask > 4:
		return h, kerr.CorruptMessage
	case h.Attributes&wal.AttrControl != 0:
		return h, kerr.InvalidRecord // clients may not produce control batches
	case h.Attributes&wal.AttrTransactional != 0:
		return h, kerr.InvalidTxnState // transactions are not supported
	case h.RecordCount <= 0 || h.LastOffsetDelta != h.RecordCount-1:
		return h, kerr.CorruptMessage
	case h.ProducerID >= 0 && (h.BaseSequence < 0 || h.ProducerEpoch < 0):
		return h, kerr.InvalidRecord
	}
	if h.Attributes&wal.AttrCompressionMask == 0 && !validRecordFraming(b[wal.BatchHeaderSize:], h.RecordCount) {
		return h, kerr.CorruptMessage
	}
	return h, nil
}

// validRecordFraming walks uncompressed records: each is a varint length
// followed by that many bytes whose offset delta must equal its index. The
// walk must consume the records exactly.
func validRecordFraming(recs []byte, count int32) bool {
	for i := int32(0); i < count; i++ {
		n, w := varint(recs)
		if w <= 0 || n < 3 || n > int64(len(recs)-w) {
			return false
		}
		rec := recs[w : w+int(n)]
		recs = recs[w+int(n):]
		// attributes int8, timestampDelta varlong, offsetDelta varint
		_, tw := varint(rec[1:])
		if tw <= 0 {
			return false
		}
		od, ow := varint(rec[1+tw:])
		if ow <= 0 || od != int64(i) {
			return false
		}
	}
	return len(recs) == 0
}

// varint is binary.Varint with the one- and two-byte cases (record
// lengths below 8 KiB, timestamp deltas below 8 s, offset deltas below
// 8192: nearly every record) decoded inline: the framing walk runs it
// three times per record (BenchmarkRecordFraming).
func varint(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := int64(b[0])
		return u>>1 ^ -(u & 1), 1
	}
	if len(b) > 1 && b[1] < 0x80 {
		u := int64(b[0]&0x7f) | int64(b[1])<<7
		return u>>1 ^ -(u & 1), 2
	}
	return binary.Varint(b)
}

// setLogAppendTime stamps a batch with the broker's append time: the
// timestamp-type bit and maxTimestamp change, so the CRC is recomputed.
func setLogAppendTime(b []byte, nowMs int64) {
	attrs := binary.BigEndian.Uint16(b[21:23])
	binary.BigEndian.PutUint16(b[21:23], attrs|wal.AttrLogAppendTime)
	binary.BigEndian.PutUint64(b[35:43], uint64(nowMs))
	binary.BigEndian.PutUint32(b[17:21], wal.CRC32C(b[21:]))
}
