package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// writeEpochCheckpoint writes the leader-epoch checkpoint unless the file
// holds lines already (every writer of the file goes through it, so
// epochsOnDisk is its content). Callers hold ckptMu, or are Open.
func (l *Log) writeEpochCheckpoint(lines []string) error {
	content := strings.Join(lines, "\n")
	if l.epochsWritten && content == l.epochsOnDisk {
		return nil
	}
	if err := writeCheckpoint(l.fsys, l.dir, leaderEpochCheckpoint, lines); err != nil {
		l.epochsWritten = false // unknown now
		return err
	}
	l.epochsOnDisk, l.epochsWritten = content, true
	return nil
}

// persistEpochs rewrites the leader-epoch checkpoint from the cache.
func (l *Log) persistEpochs() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	lines := l.epochs.lines()
	l.mu.Unlock()
	if err := l.writeEpochCheckpoint(lines); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fail(err)
	}
	return nil
}

// LatestEpoch returns the newest leader epoch that wrote to the log.
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with Kafka's semantics:
// for the latest epoch, (epoch, LEO); otherwise the largest known epoch <=
// epoch and the start offset of the first epoch above it; for an epoch
// below every known one, (epoch, start of the first known epoch); for an
// epoch above every known one, or with no epochs, (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// BeginEpoch records that leader epoch epoch starts at the log end, as a
// new partition leader does before it accepts any produce (Kafka's
// Partition.makeLeader: LeaderEpochFileCache.assign(epoch, logEndOffset)).
// If epoch is newer than the latest known epoch, (epoch, LEO) is added to
// the epoch cache and the leader-epoch checkpoint rewritten (fsync'd)
// before it returns started=true; appends wait meanwhile (as for a
// TruncateTo), so no batch lands between the LEO it read and the durable
// checkpoint, and a later Append or AppendReplica carrying epoch adds no
// second entry. An epoch at or below the latest known one is a no-op
// (false, nil); a negative one is refused. EndOffsetForEpoch answers for
// the epochs before it with its start offset from then on, for epoch
// itself with the LEO.
//
// Until the epoch's first batch is appended its entry starts at the LEO,
// and Open drops it, as Kafka's LogLoader.load does
// (truncateFromEnd(logEndOffset) removes entries starting at or after
// the LEO): a leader calls BeginEpoch again after Open, as Kafka's
// makeLeader does on every leadership change. Once a batch of the epoch
// is below the LEO, the entry survives Open. A write error is sticky
// (ErrStorage). Any goroutine may call it.
func (l *Log) BeginEpoch(epoch int32) (started bool, err error) {
	if epoch < 0 {
		return false, fmt.Errorf("begin epoch %d in %s: negative epoch", epoch, l.dir)
	}
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	l.waitAppendableLocked()
	switch {
	case l.closed:
		err = ErrClosed
	case l.werr != nil:
		err = l.werr
	}
	leo := l.leo.Load()
	if err != nil || !l.epochs.assign(epoch, leo) {
		l.mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("begin epoch %d in %s: %w", epoch, l.dir, err)
		}
		return false, nil
	}
	l.beginning = true
	lines := l.epochs.lines()
	l.mu.Unlock()
	err = l.writeEpochCheckpoint(lines)
	if err := l.resumeAppends(&l.beginning, err); err != nil {
		return false, fmt.Errorf("begin epoch %d in %s at %d: %w", epoch, l.dir, leo, err)
	}
	return true, nil
}

// epochEntry says leader epoch Epoch wrote its first batch at StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader-epoch history, ascending in both fields, as in
// Kafka's LeaderEpochFileCache. Guarded by Log.mu.
type epochCache struct {
	entries []epochEntry
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at start if epoch is newer than the
// latest known one; it reports whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if last, ok := c.latest(); ok && (epoch <= last.Epoch || start < last.StartOffset) {
		return false
	}
	if epoch < 0 {
		return false
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: start})
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch like Kafka's
// LeaderEpochFileCache.endOffsetFor: for the latest epoch, (epoch, leo);
// otherwise the largest known epoch <= requested and the start offset of
// the next higher one; a requested epoch below every known one gets
// (requested, start of the first epoch above it); an unknown future epoch
// or an empty cache gets (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	last, ok := c.latest()
	switch {
	case !ok || epoch < 0:
		return -1, -1
	case epoch == last.Epoch:
		return epoch, leo
	case epoch > last.Epoch:
		return -1, -1
	}
	hi := 0
	for hi < len(c.entries) && c.entries[hi].Epoch <= epoch {
		hi++
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}

// truncateFromEnd drops epochs that start at or after leo.
func (c *epochCache) truncateFromEnd(leo int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= leo {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops epochs wholly below logStart and moves the start
// of the epoch containing logStart up to it.
func (c *epochCache) truncateFromStart(logStart int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= logStart {
		i++
	}
	changed := i > 0
	c.entries = c.entries[i:]
	if len(c.entries) > 0 && c.entries[0].StartOffset < logStart {
		c.entries[0].StartOffset = logStart
		changed = true
	}
	return changed
}

func (c *epochCache) lines() []string {
	out := make([]string, len(c.entries))
	for i, e := range c.entries {
		out[i] = fmt.Sprintf("%d %d", e.Epoch, e.StartOffset)
	}
	return out
}

// parseEpochLines decodes checkpoint entry lines, checking order.
func parseEpochLines(lines []string) (epochCache, error) {
	var c epochCache
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return c, fmt.Errorf("epoch line %q: %w", l, errCorruptCheckpoint)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || !c.assign(int32(e), o) {
			return c, fmt.Errorf("epoch line %q: %w", l, errCorruptCheckpoint)
		}
	}
	return c, nil
}
