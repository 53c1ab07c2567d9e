package engine

import (
	"fmt"
	"maps"
	"slices"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/raftmeta"
	"github.com/chronik/chronik/replicate"
)

// The cluster mirror: the broker holds exactly the replicas the metadata
// assigns it, each with the leadership the metadata gives it.
//
// A broker opens, recovers, flushes and retains only its replicas; a
// replica moved or deleted away is closed and its files removed. The
// order of the steps keeps every partition written by one side at a time:
//
//  1. replicas that stay and are followed here: become follower (produce
//     stops before the fetcher starts);
//  2. the fetchers follow exactly those (Set: a partition leaving a
//     fetcher is never written by it once Set returns);
//  3. topics gone from the image, and replicas moved away, are deleted;
//  4. topics created, reconfigured or grown; new replicas opened;
//  5. every replica led here becomes leader (its epoch's start recorded
//     before any produce), new followed replicas become followers;
//  6. the fetchers follow every followed replica.

// mirrorLocked applies im. Caller holds b.adminMu.
func (b *Broker) mirrorLocked(im *raftmeta.Image) error {
	// Steps 1-2.
	var targets []replicate.Target
	for _, t := range b.topicList() {
		it := im.Topic(t.name)
		if it == nil || it.ID != t.id {
			continue
		}
		for i, p := range b.topicPartitions(t) {
			if p == nil || i >= len(it.Partitions) || !b.isReplica(it.Partitions[i]) || it.Partitions[i].Leader == b.cfg.NodeID {
				continue
			}
			if err := p.SetLeadership(leadershipOf(im, it.Partitions[i])); err != nil {
				return err
			}
			targets = append(targets, targetOf(it, int32(i), p))
		}
	}
	b.replicas.Set(targets)
	// Step 3.
	for _, t := range b.topicList() {
		if it := im.Topic(t.name); it == nil || it.ID != t.id {
			if err := b.deleteTopic(t); err != nil {
				return err
			}
			continue
		}
		if err := b.dropMovedReplicas(t, im.Topic(t.name)); err != nil {
			return err
		}
	}
	// Steps 4-6.
	targets = targets[:0]
	for _, name := range im.TopicNames() {
		it := im.Topic(name)
		t, err := b.mirrorTopic(it)
		if err != nil {
			return err
		}
		for i, p := range b.topicPartitions(t) {
			if p == nil || i >= len(it.Partitions) {
				continue
			}
			ip := it.Partitions[i]
			if err := p.SetLeadership(leadershipOf(im, ip)); err != nil {
				return err
			}
			if ip.Leader != b.cfg.NodeID {
				targets = append(targets, targetOf(it, int32(i), p))
			}
		}
	}
	b.replicas.Set(targets)
	return nil
}

// isReplica reports whether this broker holds a replica of ip.
func (b *Broker) isReplica(ip raftmeta.Partition) bool {
	return slices.Contains(ip.Replicas, b.cfg.NodeID)
}

// leadershipOf is what a partition needs of its metadata: leader, epochs,
// replicas, ISR, and which replicas' brokers are fenced or unknown.
func leadershipOf(im *raftmeta.Image, ip raftmeta.Partition) partition.Leadership {
	var ineligible []int32
	for _, r := range ip.Replicas {
		if br, ok := im.Broker(r); !ok || br.Fenced {
			ineligible = append(ineligible, r)
		}
	}
	return partition.Leadership{Leader: ip.Leader, LeaderEpoch: ip.LeaderEpoch, PartitionEpoch: ip.PartitionEpoch,
		Replicas: ip.Replicas, ISR: ip.ISR, Ineligible: ineligible}
}

func targetOf(it *raftmeta.Topic, i int32, p *partition.Partition) replicate.Target {
	ip := it.Partitions[i]
	return replicate.Target{Topic: it.Name, TopicID: it.ID, Partition: i, Leader: ip.Leader, LeaderEpoch: ip.LeaderEpoch, Replica: p}
}

// dropMovedReplicas deletes the local replicas of t that the image no
// longer assigns to this broker. Caller holds b.adminMu.
func (b *Broker) dropMovedReplicas(t *topic, it *raftmeta.Topic) error {
	ps := b.topicPartitions(t)
	var gone []*partition.Partition
	kept := slices.Clone(ps)
	for i, p := range ps {
		if p != nil && (i >= len(it.Partitions) || !b.isReplica(it.Partitions[i])) {
			kept[i] = nil
			gone = append(gone, p)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := b.saveMeta(func(m *metaFile) { m.putTopicPartitions(t, kept) }); err != nil {
		return err
	}
	b.mu.Lock()
	t.partitions = kept
	b.mu.Unlock()
	b.deletePartitions(gone)
	for _, p := range gone {
		b.log.Info("replica moved away: deleted", "partition", p.String())
	}
	return nil
}

// mirrorTopic brings one local topic up to it: created with the local
// replicas, configs, grown, and replicas newly assigned here opened.
// Caller holds b.adminMu.
func (b *Broker) mirrorTopic(it *raftmeta.Topic) (*topic, error) {
	local := func(i int32) bool { return int(i) < len(it.Partitions) && b.isReplica(it.Partitions[i]) }
	t := b.lookupTopic(it.Name)
	if t == nil {
		var err error
		if t, err = b.createTopic(it.Name, it.ID, int32(len(it.Partitions)), maps.Clone(it.Configs), local); err != nil {
			return nil, err
		}
	}
	if !maps.Equal(t.configs, it.Configs) {
		cfgs := maps.Clone(it.Configs)
		if cfgs == nil {
			cfgs = map[string]string{}
		}
		if e := b.setTopicConfigs(t, cfgs); e != nil {
			return nil, fmt.Errorf("topic %s configs: %w", it.Name, e)
		}
	}
	if n := int32(len(it.Partitions)); int32(len(b.topicPartitions(t))) < n {
		if err := b.growTopic(t, n, local); err != nil {
			return nil, err
		}
	}
	return t, b.openAssignedReplicas(t, local)
}

// openAssignedReplicas opens the replicas local says this broker holds
// but has not opened (a reassignment to it). Caller holds b.adminMu.
func (b *Broker) openAssignedReplicas(t *topic, local func(int32) bool) error {
	ps := b.topicPartitions(t)
	grown := slices.Clone(ps)
	opened := 0
	for i, p := range ps {
		if p != nil || !local(int32(i)) {
			continue
		}
		np, err := b.openPartition(t.name, int32(i), b.walOptionsOf(t))
		if err != nil {
			b.closePartitions(newOnly(grown, ps))
			return err
		}
		grown[i] = np
		opened++
	}
	if opened == 0 {
		return nil
	}
	if err := b.saveMeta(func(m *metaFile) { m.putTopicPartitions(t, grown) }); err != nil {
		b.closePartitions(newOnly(grown, ps))
		return err
	}
	b.mu.Lock()
	t.partitions = grown
	b.mu.Unlock()
	return nil
}

// newOnly returns the entries of grown that old does not hold.
func newOnly(grown, old []*partition.Partition) []*partition.Partition {
	var out []*partition.Partition
	for i, p := range grown {
		if p != nil && (i >= len(old) || old[i] != p) {
			out = append(out, p)
		}
	}
	return out
}
