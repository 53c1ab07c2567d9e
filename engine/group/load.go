package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Load attaches __consumer_offsets if the broker has it and loads every
// group and committed offset of the partitions this broker leads. The
// engine calls it once, after its topics are loaded and before requests
// are served.
func (c *Coordinator) Load() error {
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.host.Topic()
	if !ok {
		return nil
	}
	if err := c.attachLocked(t); err != nil {
		return fmt.Errorf("load consumer groups: %w", err)
	}
	c.log.Info("consumer groups loaded", "groups", len(c.groups), "took", time.Since(start))
	return nil
}

// EnsureTopic attaches __consumer_offsets, creating it on first use as
// Kafka does (Host.CreateTopic; too few live brokers in a cluster:
// COORDINATOR_NOT_AVAILABLE, as Kafka). No lock is held while the Host
// creates it: two callers may both ask, and the second finds it exists.
func (c *Coordinator) EnsureTopic() *kerr.Error {
	c.mu.Lock()
	closed, attached := c.closed, c.attached
	c.mu.Unlock()
	if closed {
		return kerr.NotCoordinator
	}
	if attached {
		return nil
	}
	err := c.host.CreateTopic()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return kerr.NotCoordinator
	case c.attached:
		return nil
	}
	if err == nil {
		// Read again under c.mu: a deletion since CreateTopic returned has
		// already called TopicsChanged, which found nothing attached.
		t, ok := c.host.Topic()
		if !ok {
			err = errors.New("deleted again right after its creation")
		} else {
			err = c.attachLocked(t)
		}
	}
	if err != nil {
		c.log.Error("open internal topic", "topic", TopicName, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	c.log.Info("internal topic attached", "topic", TopicName, "partitions", len(c.logs), "led_here", c.ledLocked())
	return nil
}

// ledLocked counts the partitions whose groups are loaded here. Caller
// holds c.mu.
func (c *Coordinator) ledLocked() int {
	n := 0
	for _, o := range c.logs {
		if o != nil {
			n++
		}
	}
	return n
}

// attachLocked makes the coordinator use t's partitions and loads the
// groups of those this broker leads. Groups are placed over
// offsets.topic.num.partitions partitions, or fewer if t has fewer (it was
// created under a smaller setting): partitions added later by
// CreatePartitions never change where a group lives. Caller holds c.mu.
func (c *Coordinator) attachLocked(t Topic) error {
	c.attached, c.topicID, c.logs = true, t.ID, nil
	c.nparts = min(t.Partitions, c.cfg.TopicPartitions)
	return c.syncLeadershipLocked(t.Partitions, false)
}

// TopicsChanged follows changes of __consumer_offsets: its deletion (every
// group unloaded; the topic is created again on next use), growth and, in
// a cluster, leadership moves. The broker calls it after applying a
// metadata change, and after deleting topics, holding none of its locks.
func (c *Coordinator) TopicsChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.attached {
		return // attached on first use
	}
	t, ok := c.host.Topic()
	if !ok || t.ID != c.topicID {
		for _, o := range c.logs {
			if o != nil {
				c.unloadLocked(o)
			}
		}
		c.attached, c.logs = false, nil
		c.log.Info("internal topic deleted: consumer groups unloaded", "topic", TopicName)
		return
	}
	if err := c.syncLeadershipLocked(t.Partitions, true); err != nil {
		c.log.Error("load consumer groups", "err", err)
	}
}

// syncLeadershipLocked loads the groups of every one of the n internal
// partitions this broker has come to lead and unloads those of partitions
// it no longer leads; moved logs each load and unload. Caller holds c.mu.
func (c *Coordinator) syncLeadershipLocked(n int32, moved bool) error {
	for int32(len(c.logs)) < n {
		c.logs = append(c.logs, nil)
	}
	var errs []error
	for i := range n {
		errs = append(errs, c.syncPartitionLocked(i, moved))
	}
	return errors.Join(errs...)
}

// syncPartitionLocked loads or unloads partition i's groups to match its
// leadership; moved logs a load. Caller holds c.mu.
func (c *Coordinator) syncPartitionLocked(i int32, moved bool) error {
	l := c.host.Leader(i)
	if o := c.logs[i]; l != nil && o != nil && l.LeaderEpoch() != o.epoch {
		// Led again at another epoch: what this broker holds in memory may
		// predate records another leader wrote meanwhile.
		c.unloadLocked(o)
		c.logs[i] = nil
		c.log.Info("consumer groups reloaded: the partition's leader epoch changed", "partition", o.name, "from", o.epoch, "to", l.LeaderEpoch())
	}
	switch o := c.logs[i]; {
	case l != nil && o == nil:
		o = newOffsetsLog(l, i)
		if err := c.loadLocked(o); err != nil {
			return err
		}
		c.logs[i] = o
		if moved {
			c.log.Info("consumer groups loaded: this broker leads the partition", "partition", o.name)
		}
	case l == nil && o != nil:
		c.unloadLocked(o)
		c.logs[i] = nil
		c.log.Info("consumer groups unloaded: another broker leads the partition", "partition", o.name)
	}
	return nil
}

// unloadLocked drops the groups living on o, answering their parked
// requests NOT_COORDINATOR. Caller holds c.mu.
func (c *Coordinator) unloadLocked(o *offsetsLog) {
	for id, g := range c.groups {
		if g.log != o {
			continue
		}
		g.mu.Lock()
		g.unload()
		g.mu.Unlock()
		delete(c.groups, id)
	}
}

// loadLocked replays one partition of __consumer_offsets into groups.
// Caller holds c.mu.
func (c *Coordinator) loadLocked(o *offsetsLog) error {
	type loading struct {
		meta    *kmsg.GroupMetadataValue
		offsets map[topicPartition]committedOffset
	}
	state := map[string]*loading{}
	err := o.replay(c.cfg.LoadBufferBytes, func(key, value []byte) error {
		r, err := decodeRecord(key, value)
		if err != nil {
			return err
		}
		l := state[r.group]
		if l == nil {
			l = &loading{offsets: map[topicPartition]committedOffset{}}
			state[r.group] = l
		}
		switch {
		case r.tp != nil && r.offset != nil:
			l.offsets[*r.tp] = *r.offset
		case r.tp != nil:
			delete(l.offsets, *r.tp)
		default:
			l.meta = r.meta
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, l := range state {
		if l.meta == nil && len(l.offsets) == 0 {
			continue
		}
		g := newGroup(c, id, o)
		g.mu.Lock()
		g.offsets = l.offsets
		g.restore(l.meta)
		g.mu.Unlock()
		c.groups[id] = g
	}
	return nil
}

// maybeCompact starts a compaction of o when enough of it is superseded.
// Any goroutine may call it, holding c.mu or a group.mu but not o.mu.
func (c *Coordinator) maybeCompact(o *offsetsLog) {
	if !o.compactionDue(c.cfg.SegmentBytes, c.cfg.MinCleanableRatio) {
		return
	}
	c.bgMu.Lock()
	if c.bgClosed {
		c.bgMu.Unlock()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		start := time.Now()
		before := o.log.Size()
		if err := o.compact(c.now().UnixMilli()); err != nil {
			c.log.Warn("compaction of internal log failed", "partition", o.name, "err", err)
			return
		}
		c.log.Info("compacted internal log", "partition", o.name, "bytes_before", before,
			"bytes_after", o.log.Size(), "log_start_offset", o.log.LogStartOffset(), "took", time.Since(start))
	}()
}
