package wal

import (
	"fmt"
	"strconv"
	"strings"
)

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
