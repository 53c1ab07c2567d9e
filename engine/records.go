package engine

import (
	"encoding/binary"

	"github.com/chronik/chronik/engine/compression"
	"github.com/chronik/chronik/wal"
)

// firstRecordAtOrAfter searches the first batch of recs for the first record
// whose timestamp is >= target and returns its offset and timestamp. For
// LogAppendTime batches every record carries the batch's max timestamp.
func firstRecordAtOrAfter(recs []byte, target int64) (int64, int64, bool) {
	h, err := wal.ParseBatchHeader(recs)
	if err != nil || h.Size() > int64(len(recs)) {
		return -1, -1, false
	}
	if h.Attributes&wal.AttrLogAppendTime != 0 {
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= target
	}
	body, err := compression.Decompress(h.Attributes&wal.AttrCompressionMask, recs[wal.BatchHeaderSize:h.Size()], compression.MaxDecodedBytes)
	if err != nil {
		return -1, -1, false
	}
	for i := int32(0); i < h.RecordCount; i++ {
		n, w := binary.Varint(body)
		if w <= 0 || n < 3 || n > int64(len(body)-w) {
			return -1, -1, false
		}
		rec := body[w+1 : w+int(n)]
		body = body[w+int(n):]
		td, tw := binary.Varint(rec)
		od, ow := binary.Varint(rec[max(tw, 0):])
		if tw <= 0 || ow <= 0 {
			return -1, -1, false
		}
		if ts := h.BaseTimestamp + td; ts >= target {
			return h.BaseOffset + od, ts, true
		}
	}
	return -1, -1, false
}
