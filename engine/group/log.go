package group

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/chronik/chronik/wal"
)

// offsetsLog is one partition of __consumer_offsets as the coordinator uses
// it: the Log, and the latest value appended per key, which compaction
// rewrites.
type offsetsLog struct {
	log   Log
	name  string // __consumer_offsets-<partition>, for errors and logs
	epoch int32  // the leader epoch it was loaded at

	mu         sync.Mutex        // serialises appends, so latest follows the log's order
	latest     map[string][]byte // key -> latest value appended (tombstones delete)
	records    int64             // records at or after the log start offset
	appended   int64             // records appended since load
	compacting bool
}

func newOffsetsLog(l Log, partition int32) *offsetsLog {
	return &offsetsLog{log: l, name: TopicName + "-" + strconv.Itoa(int(partition)), epoch: l.LeaderEpoch(), latest: make(map[string][]byte)}
}

// appendLocked writes recs (cut into batches) and returns the offset to
// Commit through for all of them. Caller holds o.mu.
func (o *offsetsLog) appendLocked(recs []logRecord, nowMs int64) (int64, error) {
	var through int64
	for start := 0; start < len(recs); {
		end, size := start, 0
		for end < len(recs) && (end == start || size+len(recs[end].key)+len(recs[end].value)+16 <= maxOffsetsBatchBytes) {
			size += len(recs[end].key) + len(recs[end].value) + 16
			end++
		}
		base, err := o.log.Append(encodeRecordBatch(recs[start:end], nowMs))
		if err != nil {
			return 0, fmt.Errorf("append to %s: %w", o.name, err)
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

// append writes recs and returns the offset to Commit through.
func (o *offsetsLog) append(recs []logRecord, nowMs int64) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.appendLocked(recs, nowMs)
}

// replay reads the log from its start offset to its end, reading at most
// bufBytes at a time, and calls apply with each record in log order. It
// also rebuilds latest. Only a load calls it, before any append.
func (o *offsetsLog) replay(bufBytes int32, apply func(key, value []byte) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	lso, leo := o.log.LogStartOffset(), o.log.LogEndOffset()
	for off := lso; off < leo; {
		buf, err := o.log.Read(off, bufBytes, leo)
		if err != nil {
			return fmt.Errorf("load %s at %d: %w", o.name, off, err)
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
			return fmt.Errorf("load %s: %w", o.name, err)
		}
	}
	return nil
}

// compactionDue reports whether the log holds at least segmentBytes and a
// share of superseded records of at least ratio.
func (o *offsetsLog) compactionDue(segmentBytes int64, ratio float64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.compacting || o.records == 0 || o.log.Size() < segmentBytes {
		return false
	}
	garbage := o.records - int64(len(o.latest))
	return float64(garbage) >= ratio*float64(o.records)
}

// compact rewrites the log as its latest value per key: it appends every
// live key/value again at the end (a snapshot), waits until the snapshot is
// committed, then raises the log start offset to the snapshot's first
// offset, which drops the older segments. Replaying from any log start
// offset the log can have after a crash gives the same state: the snapshot
// repeats the values already appended before it, and later appends follow
// it.
func (o *offsetsLog) compact(nowMs int64) error {
	start, through, mark, err := o.appendSnapshot(nowMs)
	if start < 0 {
		return nil // another compaction runs
	}
	defer func() {
		o.mu.Lock()
		o.compacting = false
		o.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	committed := make(chan error, 1)
	o.log.Commit(through, func(err error) { committed <- err })
	if err := <-committed; err != nil {
		return fmt.Errorf("compact %s: commit snapshot: %w", o.name, err)
	}
	if err := o.log.DeleteRecordsBefore(start); err != nil {
		return fmt.Errorf("compact %s: drop before %d: %w", o.name, start, err)
	}
	o.mu.Lock()
	o.records = o.appended - mark
	o.mu.Unlock()
	return nil
}

// appendSnapshot marks the log compacting and appends the latest value of
// every key, in key order. It returns the snapshot's first offset (-1 when
// a compaction already runs), the offset to commit through, and the
// appended count before the snapshot.
func (o *offsetsLog) appendSnapshot(nowMs int64) (start, through, mark int64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.compacting {
		return -1, 0, 0, nil
	}
	o.compacting = true
	start = o.log.LogEndOffset()
	keys := make([]string, 0, len(o.latest))
	for k := range o.latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	recs := make([]logRecord, len(keys))
	for i, k := range keys {
		recs[i] = logRecord{key: []byte(k), value: o.latest[k]}
	}
	mark = o.appended
	through, err = o.appendLocked(recs, nowMs)
	if len(recs) == 0 {
		through = start
	}
	return start, through, mark, err
}
