package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupCoordinator runs the classic consumer groups of the partitions of
// __consumer_offsets this broker leads (standalone: all of them). A group
// lives on partition groupPartition(id, nparts): its offsets and metadata
// are written there, and its coordinator is that partition's leader.
//
// In a cluster, leadership of the internal partitions comes from the
// metadata: a partition's groups are loaded (replayed from the local log)
// when this broker finds it leads the partition — on the metadata event
// that made it leader, or at the first request for one of its groups,
// whichever comes first — and unloaded (members answered NOT_COORDINATOR,
// timers stopped) when another broker takes it over. Until replication
// exists the local log is all a new leader has: groups whose partition
// moved to a broker that never led it start empty there.
//
// Lock order: mu, group.mu, partition.mu (append); mu, b.mirrorMu, b.mu.
// Sync callbacks and timers take group.mu only.
type groupCoordinator struct {
	b *Broker

	mu     sync.Mutex
	groups map[string]*group
	topic  *topic        // the __consumer_offsets logs belong to; nil until it exists here
	logs   []*offsetsLog // by partition; nil: not led here (its groups not loaded)
	nparts int32         // partitions groups are placed over
	closed bool

	bgMu     sync.Mutex // leaf lock: bgClosed and bg.Add
	bgClosed bool
	bg       sync.WaitGroup // compactions in flight
}

// openGroups loads every group and committed offset from __consumer_offsets
// (if it exists yet). Open calls it once, after the topics are loaded and
// before the broker may join a cluster, so every local partition is loaded;
// JoinCluster then unloads those another broker leads.
func (b *Broker) openGroups() error {
	c := &groupCoordinator{b: b, groups: make(map[string]*group)}
	b.groups = c
	t := b.lookupTopic(offsetsTopicName)
	if t == nil {
		return nil
	}
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.attachLocked(t); err != nil {
		return fmt.Errorf("load consumer groups: %w", err)
	}
	b.log.Info("consumer groups loaded", "groups", len(c.groups), "took", time.Since(start))
	return nil
}

// attachLocked makes the coordinator use t's partitions and loads the
// groups of those this broker leads. Groups are placed over
// offsets.topic.num.partitions partitions, or fewer if t has fewer (it was
// created under a smaller setting): partitions added later by
// CreatePartitions never change where a group lives. Caller holds c.mu.
func (c *groupCoordinator) attachLocked(t *topic) error {
	c.topic, c.logs = t, nil
	c.nparts = min(int32(len(c.partitions())), c.b.cfg.OffsetsTopicPartitions)
	return c.syncLeadershipLocked()
}

// partitions returns the current partitions of the attached topic.
func (c *groupCoordinator) partitions() []*partition {
	c.b.mu.RLock()
	defer c.b.mu.RUnlock()
	return c.topic.partitions
}

// syncLeadershipLocked loads the groups of every internal partition this
// broker has come to lead and unloads those of partitions it no longer
// leads. Caller holds c.mu and c.topic is set.
func (c *groupCoordinator) syncLeadershipLocked() error {
	ps := c.partitions()
	for len(c.logs) < len(ps) {
		c.logs = append(c.logs, nil)
	}
	var errs []error
	for i, p := range ps {
		errs = append(errs, c.syncPartitionLocked(int32(i), p))
	}
	return errors.Join(errs...)
}

// syncPartitionLocked loads or unloads partition i's groups to match its
// leadership. Caller holds c.mu.
func (c *groupCoordinator) syncPartitionLocked(i int32, p *partition) error {
	leads := !c.b.notLeader(offsetsTopicName, i)
	switch o := c.logs[i]; {
	case leads && o == nil:
		o = newOffsetsLog(p)
		if err := c.loadLocked(o); err != nil {
			return err
		}
		c.logs[i] = o
		if c.b.clustered() {
			c.b.log.Info("consumer groups loaded: this broker leads the partition", "partition", p.String())
		}
	case !leads && o != nil:
		c.unloadLocked(o)
		c.logs[i] = nil
		c.b.log.Info("consumer groups unloaded: another broker leads the partition", "partition", p.String())
	}
	return nil
}

// unloadLocked drops the groups living on o, answering their parked
// requests NOT_COORDINATOR. Caller holds c.mu.
func (c *groupCoordinator) unloadLocked(o *offsetsLog) {
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

// topicsChanged follows changes of __consumer_offsets: its deletion (every
// group unloaded; the topic is created again on next use), growth and, in
// a cluster, leadership moves. The cluster mirror calls it after applying
// metadata, DeleteTopics after deleting; never with b.mu or b.mirrorMu held.
func (c *groupCoordinator) topicsChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.topic == nil {
		return // attached on first use
	}
	if c.b.lookupTopic(offsetsTopicName) != c.topic {
		for _, o := range c.logs {
			if o != nil {
				c.unloadLocked(o)
			}
		}
		c.topic, c.logs = nil, nil
		c.b.log.Info("internal topic deleted: consumer groups unloaded", "topic", offsetsTopicName)
		return
	}
	if err := c.syncLeadershipLocked(); err != nil {
		c.b.log.Error("load consumer groups", "err", err)
	}
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

// ensureLogs attaches __consumer_offsets, creating it on first use as
// Kafka does: offsets.topic.num.partitions partitions with the internal
// log's settings, through b.cluster() (in a cluster the controller spreads
// its partitions over the brokers with offsets.topic.replication.factor
// replicas; too few live brokers: COORDINATOR_NOT_AVAILABLE, as Kafka).
func (c *groupCoordinator) ensureLogs() *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return kerr.NotCoordinator
	}
	if c.topic != nil {
		return nil
	}
	t, err := c.b.offsetsTopic()
	if err == nil {
		err = c.attachLocked(t)
	}
	if err != nil {
		c.b.log.Error("open internal topic", "topic", offsetsTopicName, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// offsetsTopic returns the local __consumer_offsets, creating it if the
// broker (standalone) or the cluster has none.
func (b *Broker) offsetsTopic() (*topic, error) {
	if t := b.lookupTopic(offsetsTopicName); t != nil {
		return t, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	err := b.cluster().CreateTopic(ctx, offsetsTopicName, b.cfg.OffsetsTopicPartitions, b.cfg.OffsetsTopicReplication, b.offsetsTopicConfigs(), nil)
	if err != nil && kafkaCode(err) != kerr.TopicAlreadyExists {
		return nil, fmt.Errorf("create %s: %w", offsetsTopicName, err)
	}
	if err := b.remirror(); err != nil {
		return nil, err
	}
	if t := b.lookupTopic(offsetsTopicName); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%s was deleted again right after its creation", offsetsTopicName)
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

// partitionFor returns the internal partition group id lives on, creating
// the internal topic on first use.
func (c *groupCoordinator) partitionFor(id string) (int32, *kerr.Error) {
	if err := c.ensureLogs(); err != nil {
		return -1, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.topic == nil { // deleted since
		return -1, kerr.CoordinatorNotAvailable
	}
	return groupPartition(id, c.nparts), nil
}

// logFor returns the internal log partition that owns group id, or
// NOT_COORDINATOR when this broker does not lead it (checked against the
// metadata now, so a request racing a leadership move is refused rather
// than served from a stale log).
func (c *groupCoordinator) logFor(id string) (*offsetsLog, *kerr.Error) {
	if err := c.ensureLogs(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.topic == nil {
		return nil, kerr.NotCoordinator
	}
	i := groupPartition(id, c.nparts)
	if err := c.syncPartitionLocked(i, c.partitions()[i]); err != nil {
		c.b.log.Error("load consumer groups", "partition", i, "err", err)
		return nil, kerr.CoordinatorNotAvailable
	}
	if c.logs[i] == nil {
		return nil, kerr.NotCoordinator
	}
	return c.logs[i], nil
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

// loadLocked replays one partition of __consumer_offsets into groups.
// Caller holds c.mu.
func (c *groupCoordinator) loadLocked(o *offsetsLog) error {
	type loading struct {
		meta    *kmsg.GroupMetadataValue
		offsets map[topicPartition]committedOffset
	}
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
