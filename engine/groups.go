package engine

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupCoordinator runs the classic consumer groups of the partitions of
// __consumer_offsets this broker leads (standalone: all of them). A group
// lives on partition groupPartition(id, n): its offsets and metadata are
// written there, and its coordinator is that partition's leader.
//
// Lock order: mu, group.mu, partition.mu (append). Sync callbacks and
// timers take group.mu only.
type groupCoordinator struct {
	b *Broker

	mu     sync.Mutex
	groups map[string]*group
	logs   []*offsetsLog // by partition; nil until __consumer_offsets exists
	closed bool

	bgMu     sync.Mutex // leaf lock: bgClosed and bg.Add
	bgClosed bool
	bg       sync.WaitGroup // compactions in flight
}

// openGroups loads every group and committed offset from __consumer_offsets
// (if it exists yet). Open calls it once, after the topics are loaded.
func (b *Broker) openGroups() error {
	c := &groupCoordinator{b: b, groups: make(map[string]*group)}
	b.groups = c
	t := b.lookupTopic(offsetsTopicName)
	if t == nil {
		return nil
	}
	c.attach(t)
	start := time.Now()
	if err := c.load(); err != nil {
		return fmt.Errorf("load consumer groups: %w", err)
	}
	b.log.Info("consumer groups loaded", "groups", len(c.groups), "took", time.Since(start))
	return nil
}

// attach makes the coordinator use t's partitions. Caller holds c.mu or is
// openGroups.
func (c *groupCoordinator) attach(t *topic) {
	logs := make([]*offsetsLog, len(t.partitions))
	for i, p := range t.partitions {
		logs[i] = newOffsetsLog(p)
	}
	c.logs = logs
}

// closeGroups stops every timer and answers parked JoinGroup and SyncGroup
// requests with NOT_COORDINATOR, as Kafka does when it unloads a group.
func (b *Broker) closeGroups() {
	c := b.groups
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.unload()
		g.mu.Unlock()
	}
	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	c.bg.Wait()
}

// ensureLogs creates __consumer_offsets on first use, as Kafka does, with
// offsets.topic.num.partitions partitions and the internal log's settings.
func (c *groupCoordinator) ensureLogs() *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.NotCoordinator
	}
	if c.logs != nil {
		return nil
	}
	b := c.b
	b.mu.Lock()
	t := b.topics[offsetsTopicName]
	var err error
	if t == nil {
		t, err = b.createTopic(offsetsTopicName, b.cfg.OffsetsTopicPartitions, b.offsetsTopicConfigs())
	}
	b.mu.Unlock()
	if err != nil {
		b.log.Error("create internal topic", "topic", offsetsTopicName, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	c.attach(t)
	return nil
}

// offsetsTopicConfigs are the overrides of __consumer_offsets: compacted by
// the coordinator, never deleted by time or size.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":  "compact",
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"segment.bytes":   strconv.FormatInt(b.cfg.OffsetsTopicSegmentBytes, 10),
	}
}

// logFor returns the internal log partition that owns group id, or
// NOT_COORDINATOR when this broker does not lead it.
func (c *groupCoordinator) logFor(id string) (*offsetsLog, *kerr.Error) {
	if err := c.ensureLogs(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int32(len(c.logs))
	o := c.logs[groupPartition(id, n)]
	if o == nil {
		return nil, kerr.NotCoordinator
	}
	return o, nil
}

// group returns the live group named id; with create it makes an Empty one
// when there is none. A nil group with a nil error means "no such group".
func (c *groupCoordinator) group(id string, create bool) (*group, *kerr.Error) {
	o, kerrv := c.logFor(id)
	if kerrv != nil {
		return nil, kerrv
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groups[id]
	if g == nil && create {
		g = newGroup(c, id, o)
		c.groups[id] = g
	}
	return g, nil
}

// forget removes g from the map if it is still the group of its id. Caller
// holds c.mu.
func (c *groupCoordinator) forgetLocked(g *group) {
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
}

// snapshotGroups returns the live groups.
func (c *groupCoordinator) snapshotGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	return out
}

// load replays every partition of __consumer_offsets into groups.
func (c *groupCoordinator) load() error {
	type loading struct {
		meta    *kmsg.GroupMetadataValue
		offsets map[topicPartition]committedOffset
	}
	for _, o := range c.logs {
		state := map[string]*loading{}
		err := o.replay(c.b.cfg.OffsetsLoadBufferSize, func(key, value []byte) error {
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
			g.offsets = l.offsets
			g.restore(l.meta)
			c.groups[id] = g
		}
	}
	return nil
}

// maybeCompact starts a compaction of o when enough of it is superseded.
// Any goroutine may call it, holding any of the coordinator's locks but p.mu.
func (c *groupCoordinator) maybeCompact(o *offsetsLog) {
	cfg := c.b.cfg
	o.p.mu.Lock()
	due := o.compactionDue(cfg.OffsetsTopicSegmentBytes, cfg.CleanerMinCleanableRatio)
	o.p.mu.Unlock()
	if !due {
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
		before := o.p.log.Size()
		if err := o.compact(c.b.now().UnixMilli()); err != nil {
			c.b.log.Warn("compaction of internal log failed", "partition", o.p.String(), "err", err)
			return
		}
		c.b.log.Info("compacted internal log", "partition", o.p.String(), "bytes_before", before,
			"bytes_after", o.p.log.Size(), "log_start_offset", o.p.log.LogStartOffset(), "took", time.Since(start))
	}()
}

// validGroupID follows Kafka: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
// need a non-empty id; the offset APIs, DescribeGroups and DeleteGroups
// accept "" for compatibility.
func validGroupID(id string, allowEmpty bool) bool { return allowEmpty || id != "" }
