package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf16"

	"github.com/chronik/chronik/engine/compression"
	"github.com/chronik/chronik/wal"
)

// maxOffsetsBatchBytes bounds one batch of the internal log (a compaction
// snapshot is cut into batches of about this size).
const maxOffsetsBatchBytes = 1 << 20

// Partition maps a group id to its __consumer_offsets partition exactly
// as Kafka does: Utils.abs(groupId.hashCode) % partitions, with Java's
// String.hashCode over UTF-16 code units and Utils.abs(MIN_VALUE) = 0.
func Partition(groupID string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

// logRecord is one key/value of the internal log; a nil value is a tombstone.
type logRecord struct {
	key, value []byte
}

// encodeRecordBatch builds an uncompressed v2 RecordBatch holding recs, all
// stamped with timestamp nowMs, not idempotent, base offset 0 (wal sets it).
func encodeRecordBatch(recs []logRecord, nowMs int64) []byte {
	var body []byte
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, 0)        // timestamp delta
		rec = binary.AppendVarint(rec, int64(i)) // offset delta
		rec = binary.AppendVarint(rec, int64(len(r.key)))
		rec = append(rec, r.key...)
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0) // headers
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	be := binary.BigEndian
	out := make([]byte, wal.BatchHeaderSize, wal.BatchHeaderSize+len(body))
	be.PutUint32(out[8:], uint32(wal.BatchHeaderSize-12+len(body)))
	out[16] = 2 // magic
	be.PutUint32(out[23:], uint32(len(recs)-1))
	be.PutUint64(out[27:], uint64(nowMs))
	be.PutUint64(out[35:], uint64(nowMs))
	be.PutUint64(out[43:], math.MaxUint64) // producer id -1
	be.PutUint16(out[51:], math.MaxUint16) // producer epoch -1
	be.PutUint32(out[53:], math.MaxUint32) // base sequence -1
	be.PutUint32(out[57:], uint32(len(recs)))
	out = append(out, body...)
	be.PutUint32(out[17:], wal.CRC32C(out[21:]))
	return out
}

var errBadRecord = errors.New("malformed record")

// forEachRecord calls fn with the offset, key and value (nil for a null
// value) of every record of one whole batch.
func forEachRecord(h wal.BatchHeader, batch []byte, fn func(offset int64, key, value []byte) error) error {
	body, err := compression.Decompress(h.Attributes&wal.AttrCompressionMask, batch[wal.BatchHeaderSize:h.Size()], compression.MaxDecodedBytes)
	if err != nil {
		return fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
	}
	for i := int32(0); i < h.RecordCount; i++ {
		n, w := binary.Varint(body)
		if w <= 0 || n < 1 || n > int64(len(body)-w) {
			return fmt.Errorf("batch at %d record %d: %w", h.BaseOffset, i, errBadRecord)
		}
		rec := body[w+1 : w+int(n)] // skip attributes
		body = body[w+int(n):]
		key, value, delta, err := parseRecord(rec)
		if err != nil {
			return fmt.Errorf("batch at %d record %d: %w", h.BaseOffset, i, err)
		}
		if err := fn(h.BaseOffset+delta, key, value); err != nil {
			return err
		}
	}
	return nil
}

// parseRecord reads timestampDelta, offsetDelta, key and value of a record
// body that starts after its attributes byte.
func parseRecord(rec []byte) (key, value []byte, offsetDelta int64, err error) {
	next := func() (int64, bool) {
		v, w := binary.Varint(rec)
		if w <= 0 {
			return 0, false
		}
		rec = rec[w:]
		return v, true
	}
	bytesField := func() ([]byte, bool) {
		n, ok := next()
		if !ok || n > int64(len(rec)) {
			return nil, false
		}
		if n < 0 {
			return nil, true
		}
		b := rec[:n]
		rec = rec[n:]
		return b, true
	}
	_, ok1 := next()
	od, ok2 := next()
	key, ok3 := bytesField()
	value, ok4 := bytesField()
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, nil, 0, errBadRecord
	}
	return key, value, od, nil
}
