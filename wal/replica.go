package wal

import (
	"errors"
	"fmt"
)

// Follower appends.
//
// A follower stores the leader's batches byte-exact: offsets and
// partitionLeaderEpoch stay as the leader stamped them, so the bytes on
// every replica are the same and can be served to consumers as stored.
// AppendReplica takes what a fetch response carries for the partition:
// whole batches back to back, continuing the follower's log at its end.

// ErrUnexpectedOffset is returned by AppendReplica when the batches do not
// continue the log: the first base offset is not the LEO, or a batch does
// not start at the offset after the previous one (Kafka's
// UnexpectedAppendOffsetException and OffsetsOutOfOrderException).
var ErrUnexpectedOffset = errors.New("wal: batch offset does not continue the log")

// AppendReplica appends batches, one or more whole v2 RecordBatches back
// to back as the leader sent them, without changing a byte. Every batch is
// checked first (header, magic 2, lengths, CRC32C, offsets); on any
// failure nothing is appended:
//
//   - a torn or partial trailing batch, or a bad one anywhere, is an error
//     wrapping ErrCorruptBatch (a Kafka leader may end a response with a
//     partial batch; a Chronik leader sends whole batches only, and a
//     caller that expects partial ones cuts them first with ForEachBatch);
//   - the first base offset must equal the LEO, and each batch must start
//     at the offset after the previous one, else ErrUnexpectedOffset.
//     Kafka followers accept gaps left by compaction; Chronik does not
//     compact, so a gap means a lost batch and is refused.
//
// The batches are written to the active segment with one pwrite per
// segment touched, rolling as Append does, and indexed. Each batch's
// partitionLeaderEpoch, when newer than the latest known epoch, starts
// that epoch at the batch's base offset; the leader-epoch checkpoint is
// rewritten (fsync'd) once per call if any did. AppendReplica does not
// fsync the batches: use Sync with the returned LEO.
//
// headers gets one BatchHeader per batch appended, in order, and is
// returned (pass a reused slice with room to append without allocating);
// the caller updates producer state from them. On error it is returned as
// passed. A storage error may leave a prefix of the batches written (the
// log refuses appends from then on: ErrStorage is sticky). batches is
// neither modified nor retained. An empty batches is a no-op. Any
// goroutine may call it; it waits for a TruncateTo in progress.
func (l *Log) AppendReplica(batches []byte, headers []BatchHeader) ([]BatchHeader, error) {
	start := len(headers)
	hs, err := checkReplicaBatches(batches, headers)
	if err != nil || len(hs) == start {
		return headers, err
	}
	added := hs[start:]
	l.mu.Lock()
	newEpoch, err := l.appendReplicaLocked(batches, added)
	prepare := err == nil && l.prepareDue()
	l.mu.Unlock()
	if prepare {
		l.startPrepare()
	}
	if err != nil {
		return headers, fmt.Errorf("append replica %s at %d: %w", l.dir, added[0].BaseOffset, err)
	}
	if newEpoch {
		if err := l.persistEpochs(); err != nil {
			return headers, fmt.Errorf("append replica %s at %d: %w", l.dir, added[0].BaseOffset, err)
		}
	}
	if l.nWaiting.Load() > 0 {
		l.kick()
	}
	return hs, nil
}

// checkReplicaBatches validates every batch of buf and appends its header
// to hs: whole, valid, CRC-checked and contiguous in offsets.
func checkReplicaBatches(buf []byte, hs []BatchHeader) ([]BatchHeader, error) {
	start := len(hs)
	for pos := int64(0); pos < int64(len(buf)); {
		h, err := ParseBatchHeader(buf[pos:])
		if err == nil {
			err = validateHeader(h)
		}
		switch {
		case err != nil:
		case h.Size() > int64(len(buf))-pos:
			err = fmt.Errorf("batch at offset %d: %d bytes, %d left: %w", h.BaseOffset, h.Size(), int64(len(buf))-pos, ErrCorruptBatch)
		case h.BaseOffset < 0:
			err = fmt.Errorf("batch at offset %d: %w", h.BaseOffset, ErrCorruptBatch)
		case len(hs) > start && h.BaseOffset != hs[len(hs)-1].NextOffset():
			err = fmt.Errorf("batch at offset %d after one ending at %d: %w", h.BaseOffset, hs[len(hs)-1].NextOffset(), ErrUnexpectedOffset)
		case !CheckBatchCRC(buf[pos : pos+h.Size()]):
			err = fmt.Errorf("batch at offset %d: crc mismatch: %w", h.BaseOffset, ErrCorruptBatch)
		}
		if err != nil {
			return hs[:start], fmt.Errorf("append replica at byte %d: %w", pos, err)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// appendReplicaLocked writes the checked batches hs (the bytes of buf) at
// the log end, one pwrite per run of batches that share a segment, and
// reports whether the epoch cache changed. Callers hold mu.
func (l *Log) appendReplicaLocked(buf []byte, hs []BatchHeader) (newEpoch bool, err error) {
	l.waitAppendableLocked()
	switch {
	case l.closed:
		return false, ErrClosed
	case l.werr != nil:
		return false, l.werr
	case hs[0].BaseOffset != l.leo.Load():
		return false, fmt.Errorf("first batch at %d, log end %d: %w", hs[0].BaseOffset, l.leo.Load(), ErrUnexpectedOffset)
	}
	now := l.opts.Now()
	seg := l.active()
	run, runBytes, runPos := 0, int64(0), seg.size.Load()
	pend := forecastFor(seg)
	for i, h := range hs {
		if l.rollDue(seg, runPos+runBytes, h.Size(), h.LastOffset(), pend, now) {
			if err := l.writeRun(seg, buf[:runBytes], hs[run:i], runPos); err != nil {
				return false, err
			}
			if err := l.roll(); err != nil {
				return false, l.fail(err)
			}
			buf = buf[runBytes:]
			seg, run, runBytes, runPos = l.active(), i, 0, 0
			pend = forecastFor(seg)
		}
		pend.add(h, l.opts.IndexIntervalBytes)
		runBytes += h.Size()
	}
	if err := l.writeRun(seg, buf[:runBytes], hs[run:], runPos); err != nil {
		return false, err
	}
	for _, h := range hs {
		newEpoch = l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) || newEpoch
	}
	return newEpoch, nil
}

// indexForecast counts the index entries segment.track will add for
// batches of a run not yet written, so that the run rolls exactly where
// one Append per batch would.
type indexForecast struct {
	offsets, times         int   // entries the run's batches so far add
	since, maxTs, lastTime int64 // bytesSinceIndex, maxTs and last time entry as track will see them
}

func forecastFor(s *segment) indexForecast {
	f := indexForecast{since: s.bytesSinceIndex, maxTs: s.maxTs.Load(), lastTime: noTimestamp}
	if ts, _, ok := s.tidx.lastTime(); ok {
		f.lastTime = ts
	}
	return f
}

// add counts the entries track adds for h (see segment.track).
func (f *indexForecast) add(h BatchHeader, intervalBytes int) {
	f.maxTs = max(f.maxTs, h.MaxTimestamp)
	if f.since >= int64(intervalBytes) {
		f.offsets++
		if f.maxTs != noTimestamp && (f.lastTime == noTimestamp || f.maxTs > f.lastTime) {
			f.times++
			f.lastTime = f.maxTs
		}
		f.since = 0
	}
	f.since += h.Size()
}

// writeRun pwrites the batches hs (bytes b) at pos in seg, indexes them and
// advances the size and the LEO. Callers hold mu.
func (l *Log) writeRun(seg *segment, b []byte, hs []BatchHeader, pos int64) error {
	if len(hs) == 0 {
		return nil
	}
	if _, err := seg.log.WriteAt(b, pos); err != nil {
		return l.fail(err)
	}
	for _, h := range hs {
		if err := seg.track(h, pos, l.opts.IndexIntervalBytes); err != nil {
			return l.fail(err)
		}
		pos += h.Size()
		l.noteMaxTimestamp(h)
	}
	l.size.Add(int64(len(b)))
	l.leo.Store(hs[len(hs)-1].NextOffset())
	l.stats.appends.Add(int64(len(hs)))
	l.stats.appendedBytes.Add(int64(len(b)))
	return nil
}

// waitAppendableLocked waits (releasing mu) while a truncation replaces
// segment files or BeginEpoch persists a new epoch. Callers hold mu.
func (l *Log) waitAppendableLocked() {
	for l.truncating || l.beginning {
		l.appendable.Wait()
	}
}
