package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/chronik/chronik/raftmeta"
	"github.com/chronik/chronik/replicate"
	"github.com/twmb/franz-go/pkg/kerr"
)

// raftCluster is the Cluster of a broker that is a member of a raftmeta
// shard. Reads come from the node's local image (lock-free); topic changes
// are committed through the shard and then mirrored into the engine's local
// topics before the call returns.
type raftCluster struct {
	b         *Broker
	node      *raftmeta.Node
	clusterID string
}

// JoinCluster makes the broker a member of a cluster: metadata comes from
// node from now on. Call it once, after node.Sync (the node has applied
// every committed change), before serving requests and before the broker
// registers (it must be ready to lead before it is eligible).
// Local topics the metadata does not know are deleted, replicas this
// broker holds are opened and given their leadership, and the follower
// fetchers start (see mirror).
func (b *Broker) JoinCluster(node *raftmeta.Node, clusterID string) error {
	rc := &raftCluster{b: b, node: node, clusterID: clusterID}
	var c Cluster = rc
	b.clusterImpl.Store(&c)
	o := b.cfg.Replication
	b.replicas = replicate.NewManager(replicate.Options{
		Self:        b.cfg.NodeID,
		BrokerEpoch: func() int64 { return int64(node.BrokerEpoch()) },
		LeaderAddr: func(id int32) (string, bool) {
			br, ok := node.Image().Broker(id)
			return br.ReplicationAddr, ok && br.ReplicationAddr != ""
		},
		MaxWait:           time.Duration(o.FetchWaitMaxMs) * time.Millisecond,
		MinBytes:          o.FetchMinBytes,
		PartitionMaxBytes: o.FetchMaxBytes,
		ResponseMaxBytes:  o.FetchResponseMaxBytes,
		Backoff:           time.Duration(o.FetchBackoffMs) * time.Millisecond,
		Fsync:             o.FsyncEnable,
		WholeNode:         o.WholeNode,
		Logger:            b.log,
	})
	sub := node.Subscribe(mirrorEventLimit) // before the first mirror: no change slips between
	if err := b.mirror(node.Image()); err != nil {
		node.Unsubscribe(sub)
		return fmt.Errorf("mirror cluster metadata: %w", err)
	}
	b.groups.TopicsChanged()
	if b.StorageFailed() { // a log failed before the broker joined (storage.go)
		node.ReportOfflineLogDir(b.cfg.DataDir)
	}
	b.bg.Add(1)
	go b.followMetadata(node, sub)
	return nil
}

// mirrorRetry is how soon a failed mirror is tried again.
const mirrorRetry = time.Second

// followMetadata mirrors every metadata change until Close.
func (b *Broker) followMetadata(node *raftmeta.Node, sub *raftmeta.Subscription) {
	defer b.bg.Done()
	defer node.Unsubscribe(sub)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-b.closed:
			return
		case <-sub.Ready():
			evs, reset := sub.Drain()
			if !reset && !slices.ContainsFunc(evs, func(e raftmeta.Event) bool { return e.Kind != raftmeta.EventHeartbeat }) {
				continue
			}
		case <-retry.C:
		}
		if err := b.mirror(node.Image()); err != nil {
			b.log.Error("mirror cluster metadata; retrying", "err", err, "in", mirrorRetry)
			retry.Reset(mirrorRetry)
		}
		b.groups.TopicsChanged()
	}
}

// remirror brings the local topics up to the cluster metadata now; a no-op
// standalone.
func (b *Broker) remirror() error {
	rc, ok := b.cluster().(*raftCluster)
	if !ok {
		return nil
	}
	return b.mirror(rc.node.Image())
}

// mirrorEventLimit bounds the events queued for the mirror goroutine; past
// it the subscription resets and the mirror re-reads the image.
const mirrorEventLimit = 4096

// mirror makes the local replicas match the image, applying images in log
// order only (an image at or below the last applied one is skipped: a
// caller may have read it before a newer one was mirrored). It takes
// b.adminMu, serialising it with every other topic change; see
// mirror_replicas.go for the steps.
func (b *Broker) mirror(im *raftmeta.Image) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if im.Index <= b.mirroredIndex {
		return nil
	}
	if err := b.mirrorLocked(im); err != nil {
		return err
	}
	b.mirroredIndex = im.Index
	return nil
}

func (rc *raftCluster) ClusterID() string { return rc.clusterID }

func (rc *raftCluster) Brokers() ([]ClusterBroker, int32) {
	var out []ClusterBroker
	for _, br := range rc.node.Image().LiveBrokers() {
		host, port, _ := hostPort(br.KafkaAddr)
		cb := ClusterBroker{ID: br.ID, Host: host, Port: port}
		if br.Rack != "" {
			cb.Rack = strp(br.Rack)
		}
		out = append(out, cb)
	}
	ctrl, ok := rc.node.LeaderID()
	if !ok {
		ctrl = -1
	}
	return out, ctrl
}

func (rc *raftCluster) Partition(topic string, i int32) (PartitionLeadership, bool) {
	im := rc.node.Image()
	t := im.Topic(topic)
	if t == nil || i < 0 || int(i) >= len(t.Partitions) {
		return PartitionLeadership{}, false
	}
	p := t.Partitions[i]
	pl := PartitionLeadership{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, Offline: []int32{}}
	for _, r := range p.Replicas {
		if b, ok := im.Broker(r); !ok || b.Fenced {
			pl.Offline = append(pl.Offline, r)
		}
	}
	return pl, true
}

func (rc *raftCluster) BrokerRack(id int32) (string, bool) {
	br, ok := rc.node.Image().Broker(id)
	return br.Rack, ok && !br.Fenced
}

func (rc *raftCluster) ReplicaBrokers() int { return len(rc.node.Image().LiveBrokers()) }

func (rc *raftCluster) CreateTopic(ctx context.Context, name string, nparts int32, rf int16, configs map[string]string, manual [][]int32) error {
	_, err := rc.node.CreateTopic(ctx, raftmeta.TopicSpec{Name: name, Partitions: nparts, ReplicationFactor: rf, Configs: configs, Assignments: manual})
	return rc.mirrored(err)
}

func (rc *raftCluster) CreatePartitions(ctx context.Context, name string, total int32, manual [][]int32, validateOnly bool) error {
	if err := rc.node.Sync(ctx); err != nil {
		return err
	}
	im := rc.node.Image()
	t := im.Topic(name)
	if t == nil {
		return errWithMessage(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
	}
	if err := raftmeta.CheckPartitionGrowth(int32(len(t.Partitions)), total, manual); err != nil {
		return err
	}
	if err := checkReplicas(im, manual, len(t.Partitions[0].Replicas)); err != nil || validateOnly {
		return err
	}
	return rc.mirrored(rc.node.CreatePartitions(ctx, name, total, manual))
}

// checkReplicas repeats the state machine's checks on a manual assignment
// so that ValidateOnly answers as a commit would: rf replicas each, every
// one a registered broker, none twice.
func checkReplicas(im *raftmeta.Image, manual [][]int32, rf int) error {
	for _, reps := range manual {
		if len(reps) != rf {
			return errWithMessage(kerr.InvalidReplicaAssignment, "replica assignment %v: the topic has replication factor %d", reps, rf)
		}
		for j, r := range reps {
			if _, ok := im.Broker(r); !ok || slices.Contains(reps[:j], r) {
				return errWithMessage(kerr.InvalidReplicaAssignment, "replica assignment %v: broker %d unknown or repeated", reps, r)
			}
		}
	}
	return nil
}

func (rc *raftCluster) DeleteTopic(ctx context.Context, name string, id [16]byte) (string, [16]byte, error) {
	if err := rc.node.Sync(ctx); err != nil {
		return "", [16]byte{}, err
	}
	im := rc.node.Image()
	var byName, byID *topic
	if t := im.Topic(name); t != nil {
		byName = &topic{name: t.Name, id: t.ID}
	}
	if t := im.TopicByID(id); t != nil {
		byID = &topic{name: t.Name, id: t.ID}
	}
	t, err := resolveDeletion(byName, byID, name, id)
	if err != nil {
		return "", [16]byte{}, err
	}
	if err := rc.mirrored(rc.node.DeleteTopic(ctx, t.name, t.id)); err != nil {
		return "", [16]byte{}, err
	}
	return t.name, t.id, nil
}

// AlterTopicConfigs brings the local topics up to the committed metadata,
// computes the new overrides from them and commits the whole set: keys
// compute left out are deleted. Two concurrent alterations of one topic
// through different brokers can both compute from the same base; the later
// commit wins, as with Kafka's non-incremental AlterConfigs.
func (rc *raftCluster) AlterTopicConfigs(ctx context.Context, name string, compute func(*topic) (map[string]string, error), validateOnly bool) error {
	if err := rc.node.Sync(ctx); err != nil {
		return err
	}
	b := rc.b
	if err := b.mirror(rc.node.Image()); err != nil {
		return errWithMessage(kerr.KafkaStorageError, "mirror cluster metadata: %v", err)
	}
	b.mu.RLock()
	t, err := b.alterableTopic(name)
	var cfgs map[string]string
	if err == nil {
		cfgs, err = compute(t)
	}
	var del []string
	if err == nil {
		for k := range t.configs {
			if _, keep := cfgs[k]; !keep {
				del = append(del, k)
			}
		}
	}
	b.mu.RUnlock()
	if err != nil || validateOnly {
		return err
	}
	slices.Sort(del)
	return rc.mirrored(rc.node.AlterTopicConfigs(ctx, name, cfgs, del))
}

// mirrored brings the local topics up to the image after a successful
// commit, so the caller sees its change at once.
func (rc *raftCluster) mirrored(err error) error {
	if err != nil {
		return err
	}
	return rc.b.mirror(rc.node.Image())
}
