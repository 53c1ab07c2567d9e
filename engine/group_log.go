package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf16"

	"github.com/chronik/chronik/wal"
)

// offsetsTopicName is Kafka's internal topic for committed offsets and group
// metadata. Chronik keeps the name, the key encodings and the partitioning.
const offsetsTopicName = "__consumer_offsets"

// isInternalTopic reports whether clients may not produce to name.
func isInternalTopic(name string) bool { return name == offsetsTopicName }

// maxOffsetsBatchBytes bounds one batch of the internal log (a compaction
// snapshot is cut into batches of about this size).
const maxOffsetsBatchBytes = 1 << 20

// groupPartition maps a group id to its __consumer_offsets partition exactly
// as Kafka does: Utils.abs(groupId.hashCode) % partitions, with Java's
// String.hashCode over UTF-16 code units and Utils.abs(MIN_VALUE) = 0.
func groupPartition(groupID string, partitions int32) int32 {
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
	body, err := decompress(h.Attributes&attrCompressionMask, batch[wal.BatchHeaderSize:h.Size()])
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

// offsetsLog is one partition of __consumer_offsets as the coordinator uses
// it: the wal.Log (appends serialised by partition.mu) and the latest value
// appended per key, which compaction rewrites.
type offsetsLog struct {
	p *partition

	// Guarded by p.mu.
	latest     map[string][]byte // key -> latest value appended (tombstones delete)
	records    int64             // records at or after the log start offset
	appended   int64             // records appended since open
	compacting bool
}

func newOffsetsLog(p *partition) *offsetsLog {
	return &offsetsLog{p: p, latest: make(map[string][]byte)}
}

// appendRecords writes recs (cut into batches) and returns the offset to
// Sync through for all of them to be durable. Caller holds p.mu.
func (o *offsetsLog) appendLocked(recs []logRecord, nowMs int64) (int64, error) {
	var through int64
	for start := 0; start < len(recs); {
		end, size := start, 0
		for end < len(recs) && (end == start || size+len(recs[end].key)+len(recs[end].value)+16 <= maxOffsetsBatchBytes) {
			size += len(recs[end].key) + len(recs[end].value) + 16
			end++
		}
		base, err := o.p.log.Append(encodeRecordBatch(recs[start:end], nowMs), o.p.leaderEpoch())
		if err != nil {
			return 0, fmt.Errorf("append to %s: %w", o.p, err)
		}
		through = base + int64(end-start)
		start = end
	}
	for _, r := range recs {
		if r.value == nil {
			delete(o.latest, string(r.key))
		} else {
			o.latest[string(r.key)] = r.value
		}
	}
	o.records += int64(len(recs))
	o.appended += int64(len(recs))
	return through, nil
}

// append writes recs and returns the offset to Sync through.
func (o *offsetsLog) append(recs []logRecord, nowMs int64) (int64, error) {
	o.p.mu.Lock()
	through, err := o.appendLocked(recs, nowMs)
	o.p.mu.Unlock()
	if err == nil {
		o.p.wakeWaiters()
	}
	return through, err
}

// replay reads the log from its start offset to its end, reading at most
// bufBytes at a time, and calls apply with each record in log order. It
// also rebuilds latest. Only Open calls it, before any append.
func (o *offsetsLog) replay(bufBytes int32, apply func(key, value []byte) error) error {
	lso, leo := o.p.log.LogStartOffset(), o.p.log.LogEndOffset()
	for off := lso; off < leo; {
		buf, err := o.p.log.Read(off, bufBytes, leo)
		if err != nil {
			return fmt.Errorf("load %s at %d: %w", o.p, off, err)
		}
		if len(buf) == 0 {
			break
		}
		var recErr error
		err = wal.ForEachBatch(buf, func(h wal.BatchHeader, batch []byte) bool {
			recErr = forEachRecord(h, batch, func(offset int64, key, value []byte) error {
				if offset < lso {
					return nil
				}
				o.records++
				if value == nil {
					delete(o.latest, string(key))
				} else {
					o.latest[string(key)] = append([]byte(nil), value...)
				}
				return apply(key, value)
			})
			off = h.NextOffset()
			return recErr == nil
		})
		if err = errors.Join(err, recErr); err != nil {
			return fmt.Errorf("load %s: %w", o.p, err)
		}
	}
	return nil
}

// compactionDue reports whether the log holds at least segmentBytes and a
// share of superseded records of at least ratio. Caller holds p.mu.
func (o *offsetsLog) compactionDue(segmentBytes int64, ratio float64) bool {
	if o.compacting || o.records == 0 || o.p.log.Size() < segmentBytes {
		return false
	}
	garbage := o.records - int64(len(o.latest))
	return float64(garbage) >= ratio*float64(o.records)
}

// compact rewrites the log as its latest value per key: it appends every
// live key/value again at the end (a snapshot), waits until the snapshot is
// durable, then raises the log start offset to the snapshot's first offset,
// which drops the older segments. Replaying from any log start offset the
// log can have after a crash gives the same state: the snapshot repeats the
// values already appended before it, and later appends follow it.
func (o *offsetsLog) compact(nowMs int64) error {
	o.p.mu.Lock()
	if o.compacting {
		o.p.mu.Unlock()
		return nil
	}
	o.compacting = true
	start := o.p.log.LogEndOffset()
	keys := make([]string, 0, len(o.latest))
	for k := range o.latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	recs := make([]logRecord, len(keys))
	for i, k := range keys {
		recs[i] = logRecord{key: []byte(k), value: o.latest[k]}
	}
	mark := o.appended
	through, err := o.appendLocked(recs, nowMs)
	if len(recs) == 0 {
		through = start
	}
	o.p.mu.Unlock()
	defer func() {
		o.p.mu.Lock()
		o.compacting = false
		o.p.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	synced := make(chan error, 1)
	o.p.log.Sync(through, func(err error) { synced <- err })
	if err := <-synced; err != nil {
		return fmt.Errorf("compact %s: sync snapshot: %w", o.p, err)
	}
	if err := o.p.log.DeleteRecordsBefore(start); err != nil {
		return fmt.Errorf("compact %s: drop before %d: %w", o.p, start, err)
	}
	o.p.mu.Lock()
	o.records = o.appended - mark
	o.p.mu.Unlock()
	return nil
}
