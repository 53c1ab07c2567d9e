package raftmeta

import (
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"
)

// FSM is the metadata state machine. It implements dragonboat's
// statemachine.IStateMachine: the whole state is a small in-memory Image,
// the Raft log (dragonboat's LogDB) is what makes it durable, and
// SaveSnapshot writes the full image so dragonboat can compact the log.
// IOnDiskStateMachine would only pay off for state too large to rewrite at
// each snapshot; metadata is kilobytes to a few megabytes.
//
// Update runs on dragonboat's apply goroutine. It is deterministic: it reads
// only the entry and the current image (no clock, no randomness, and every
// walk over topics is in name order), so every replica that applies the same
// log holds the same image (Image.Hash).
//
// Image and Subscribe may be called from any goroutine.
type FSM struct {
	image atomic.Pointer[Image]
	hub   hub
}

var _ sm.IStateMachine = (*FSM)(nil)

// NewFSM returns a state machine holding an empty image.
func NewFSM() *FSM {
	f := &FSM{}
	f.image.Store(emptyImage())
	return f
}

// Image returns the current image (immutable; see Image).
func (f *FSM) Image() *Image { return f.image.Load() }

// Subscribe registers for change events; at most limit undelivered events
// are queued before the subscription resets (see Subscription).
func (f *FSM) Subscribe(limit int) *Subscription { return f.hub.subscribe(limit) }

// Unsubscribe stops deliveries to s.
func (f *FSM) Unsubscribe(s *Subscription) { f.hub.unsubscribe(s) }

// Update applies one log entry. The result's Value is the Kafka error code
// of the outcome (0 = applied or already applied), Data an error message.
// It never returns an error: a bad entry is a deterministic rejection.
func (f *FSM) Update(e sm.Entry) (sm.Result, error) {
	a := &applier{cur: f.image.Load(), index: e.Index}
	code, msg := a.apply(e.Cmd)
	if a.next != nil {
		a.next.Index = e.Index
		f.image.Store(a.next)
	}
	f.hub.publish(a.evs, false)
	return sm.Result{Value: uint64(uint16(code)), Data: []byte(msg)}, nil
}

// ResultError turns an Update result into a *kerr.Error (nil on success).
func ResultError(r sm.Result) error {
	if r.Value == 0 {
		return nil
	}
	code := int16(uint16(r.Value))
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok && len(r.Data) > 0 {
			return &ResultErr{Err: ke, Message: string(r.Data)}
		}
		return err
	}
	return fmt.Errorf("metadata result code %d", code)
}

// ResultErr is a rejected command: the Kafka error and the reason.
type ResultErr struct {
	Err     *kerr.Error
	Message string
}

func (e *ResultErr) Error() string { return e.Err.Message + ": " + e.Message }
func (e *ResultErr) Unwrap() error { return e.Err }

// Lookup returns the current *Image; the query is ignored.
func (f *FSM) Lookup(any) (any, error) { return f.Image(), nil }

// SaveSnapshot writes the image (format in doc.go).
func (f *FSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	if _, err := w.Write(f.Image().encode()); err != nil {
		return fmt.Errorf("save metadata snapshot: %w", err)
	}
	return nil
}

// RecoverFromSnapshot replaces the image with a snapshot's and tells every
// subscriber to reset.
func (f *FSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	data, err := io.ReadAll(io.LimitReader(r, maxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("read metadata snapshot: %w", err)
	}
	if len(data) > maxSnapshotBytes {
		return fmt.Errorf("metadata snapshot over %d bytes", maxSnapshotBytes)
	}
	im, err := decodeImage(data)
	if err != nil {
		return err
	}
	f.image.Store(im)
	f.hub.publish(nil, true)
	return nil
}

// maxSnapshotBytes bounds what RecoverFromSnapshot reads.
const maxSnapshotBytes = 1 << 30

// Close implements IStateMachine; there is nothing to release.
func (f *FSM) Close() error { return nil }

// applier applies one entry: it clones the image on the first change and
// collects events.
type applier struct {
	cur   *Image
	next  *Image
	index uint64
	evs   []Event
}

func (a *applier) img() *Image {
	if a.next != nil {
		return a.next
	}
	return a.cur
}

func (a *applier) mut() *Image {
	if a.next == nil {
		a.next = a.cur.clone()
	}
	return a.next
}

func (a *applier) apply(cmd []byte) (int16, string) {
	c, err := DecodeCommand(cmd)
	if err != nil {
		return kerr.InvalidRequest.Code, err.Error()
	}
	switch c.Type {
	case CmdRegisterBroker:
		return a.registerBroker(c.RegisterBroker)
	case CmdHeartbeat:
		return a.heartbeat(c.Heartbeat)
	case CmdFenceBroker:
		return a.fenceBroker(c.FenceBroker)
	case CmdCreateTopic:
		return a.createTopic(c.CreateTopic)
	case CmdDeleteTopic:
		return a.deleteTopic(c.DeleteTopic)
	case CmdCreatePartitions:
		return a.createPartitions(c.CreatePartitions)
	case CmdAlterConfigs:
		return a.alterConfigs(c.AlterConfigs)
	case CmdChangeISR:
		return a.changeISR(c.ChangeISR)
	case CmdElectLeader:
		return a.electLeader(c.ElectLeader)
	case CmdAllocateProducerIDs:
		return a.allocateProducerIDs(c.AllocateProducerIDs)
	case CmdShutdownBroker:
		return a.shutdownBroker(c.ShutdownBroker)
	case CmdElectPreferredLeaders:
		return a.electPreferredLeaders(c.ElectPreferredLeaders)
	}
	return kerr.InvalidRequest.Code, "unknown command"
}

func ok() (int16, string) { return 0, "" }

func fail(e *kerr.Error, format string, args ...any) (int16, string) {
	return e.Code, fmt.Sprintf(format, args...)
}

// ---- brokers

func (a *applier) registerBroker(x *RegisterBroker) (int16, string) {
	if x.ID < 0 || x.KafkaAddr == "" {
		return fail(kerr.InvalidRequest, "broker %d: bad id or empty Kafka address", x.ID)
	}
	im := a.mut()
	nb := BrokerInfo{ID: x.ID, KafkaAddr: x.KafkaAddr, ReplicationAddr: x.ReplicationAddr,
		RaftAddr: x.RaftAddr, Rack: x.Rack, Epoch: a.index}
	i, found := slices.BinarySearchFunc(im.brokers, x.ID, func(b BrokerInfo, id int32) int { return int(b.ID) - int(id) })
	if found {
		// A new incarnation (a restart, maybe on an empty disk): the old
		// one leaves every ISR it is not the last member of and every
		// leadership, as if fenced; the new one rejoins ISRs only by
		// catching up (KIP-903).
		a.removeFromPartitions(x.ID)
		im.brokers[i] = nb
	} else {
		im.brokers = slices.Insert(im.brokers, i, nb)
	}
	a.evs = append(a.evs, Event{Kind: EventBroker, Index: a.index, BrokerID: x.ID})
	a.electLeaderless()
	return ok()
}

func (a *applier) brokerIndex(id int32, epoch uint64) (int, int16, string) {
	im := a.img()
	i, found := slices.BinarySearchFunc(im.brokers, id, func(b BrokerInfo, id int32) int { return int(b.ID) - int(id) })
	if !found {
		c, m := fail(kerr.BrokerIDNotRegistered, "broker %d", id)
		return -1, c, m
	}
	if im.brokers[i].Epoch != epoch {
		c, m := fail(kerr.StaleBrokerEpoch, "broker %d: epoch %d, current %d", id, epoch, im.brokers[i].Epoch)
		return -1, c, m
	}
	return i, 0, ""
}

func (a *applier) heartbeat(x *Heartbeat) (int16, string) {
	i, code, msg := a.brokerIndex(x.ID, x.Epoch)
	if code != 0 {
		return code, msg
	}
	a.evs = append(a.evs, Event{Kind: EventHeartbeat, Index: a.index, BrokerID: x.ID})
	if !a.img().brokers[i].Fenced {
		return ok()
	}
	a.mut().brokers[i].Fenced = false
	a.evs = append(a.evs, Event{Kind: EventBroker, Index: a.index, BrokerID: x.ID})
	a.electLeaderless()
	return ok()
}

func (a *applier) fenceBroker(x *FenceBroker) (int16, string) {
	i, code, msg := a.brokerIndex(x.ID, x.Epoch)
	if code != 0 || a.img().brokers[i].Fenced {
		return code, msg
	}
	im := a.mut()
	im.brokers[i].Fenced = true
	a.evs = append(a.evs, Event{Kind: EventBroker, Index: a.index, BrokerID: x.ID})
	a.removeFromPartitions(x.ID)
	return ok()
}

// removeFromPartitions takes broker id out of every ISR it is not the
// last member of and moves every leadership it holds (withoutBroker), in
// one entry for all partitions.
func (a *applier) removeFromPartitions(id int32) {
	im := a.mut()
	for _, name := range im.TopicNames() {
		var nt *Topic
		t := im.topics[name]
		for pi, p := range t.Partitions {
			if p.Leader != id && !slices.Contains(p.ISR, id) {
				continue
			}
			if nt == nil {
				nt = copyTopic(t)
			}
			nt.Partitions[pi] = a.withoutBroker(p, id, uncleanAllowed(t))
			a.evs = append(a.evs, partitionEvent(a.index, nt, int32(pi)))
		}
		if nt != nil {
			im.putTopic(nt)
		}
	}
}

// shutdownBroker moves a broker's leaderships to other in-sync replicas
// and takes it out of the ISRs (controlled shutdown); it stays registered
// and unfenced until its process stops.
func (a *applier) shutdownBroker(x *ShutdownBroker) (int16, string) {
	i, code, msg := a.brokerIndex(x.ID, x.Epoch)
	if code != 0 {
		return code, msg
	}
	if a.img().brokers[i].ShuttingDown {
		return ok() // applied before
	}
	im := a.mut()
	im.brokers[i].ShuttingDown = true
	a.evs = append(a.evs, Event{Kind: EventBroker, Index: a.index, BrokerID: x.ID})
	a.removeFromPartitions(x.ID)
	return ok()
}

// electPreferredLeaders moves each listed partition's leadership to its
// preferred replica where that is possible; the rest are left alone.
func (a *applier) electPreferredLeaders(x *ElectPreferredLeaders) (int16, string) {
	for _, tp := range x.Partitions {
		t := a.img().topics[tp.Topic]
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		p := t.Partitions[tp.Partition]
		pref := p.Replicas[0]
		if p.Leader == pref || !slices.Contains(p.ISR, pref) || !a.live(pref) {
			continue
		}
		nt := copyTopic(t)
		p.Leader = pref
		p.LeaderEpoch++
		p.PartitionEpoch++
		nt.Partitions[tp.Partition] = p
		a.mut().putTopic(nt)
		a.evs = append(a.evs, partitionEvent(a.index, nt, tp.Partition))
	}
	return ok()
}

// withoutBroker takes a fenced broker out of a partition's ISR (unless it
// is the last member, which keeps its place so it can lead again) and, if
// it led, elects the next live ISR member, or (unclean allowed) a live
// replica outside the ISR, or none.
func (a *applier) withoutBroker(p Partition, id int32, unclean bool) Partition {
	if len(p.ISR) > 1 {
		p.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
	}
	if p.Leader == id {
		p.Leader = a.pickLeader(p)
		if p.Leader == -1 && unclean {
			p = a.uncleanElection(p)
		}
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	return p
}

// uncleanLeaderElection is the topic config that lets a replica outside
// the ISR lead when no ISR member can (unclean.leader.election.enable,
// default false): availability over the records only the lost ISR held.
const uncleanLeaderElection = "unclean.leader.election.enable"

func uncleanAllowed(t *Topic) bool { return t.Configs[uncleanLeaderElection] == "true" }

// uncleanElection makes the first live replica leader and the only ISR
// member (Kafka's unclean election), or leaves the partition leaderless.
func (a *applier) uncleanElection(p Partition) Partition {
	for _, r := range p.Replicas {
		if a.live(r) {
			p.Leader, p.ISR = r, []int32{r}
			return p
		}
	}
	return p
}

// pickLeader returns the first replica (preferred order) that is in the ISR
// and live, or -1.
func (a *applier) pickLeader(p Partition) int32 {
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && a.live(r) {
			return r
		}
	}
	return -1
}

// live reports whether a broker may lead or join an ISR: registered, not
// fenced, not shutting down.
func (a *applier) live(id int32) bool {
	b, ok := a.img().Broker(id)
	return ok && !b.Fenced && !b.ShuttingDown
}

// electLeaderless gives every leaderless partition a leader if a live ISR
// member exists.
func (a *applier) electLeaderless() {
	im := a.mut()
	for _, name := range im.TopicNames() {
		var nt *Topic
		t := im.topics[name]
		for pi, p := range t.Partitions {
			if p.Leader != -1 {
				continue
			}
			l := a.pickLeader(p)
			if l == -1 && uncleanAllowed(t) {
				p = a.uncleanElection(p)
				l = p.Leader
			}
			if l == -1 {
				continue
			}
			if nt == nil {
				nt = copyTopic(t)
			}
			p.Leader = l
			p.LeaderEpoch++
			p.PartitionEpoch++
			nt.Partitions[pi] = p
			a.evs = append(a.evs, partitionEvent(a.index, nt, int32(pi)))
		}
		if nt != nil {
			im.putTopic(nt)
		}
	}
}

// allocateProducerIDs hands the broker the next block of producer ids;
// the block's first id is the result's data (8 bytes, big-endian).
func (a *applier) allocateProducerIDs(x *AllocateProducerIDs) (int16, string) {
	if _, code, msg := a.brokerIndex(x.BrokerID, x.BrokerEpoch); code != 0 {
		return code, msg
	}
	im := a.mut()
	first := im.nextProducerID
	im.nextProducerID += ProducerIDBlockSize
	return 0, string(binary.BigEndian.AppendUint64(nil, uint64(first)))
}

// ---- topics

// ValidTopicName follows Kafka's Topic.validate: 1-249 chars of
// [a-zA-Z0-9._-], not "." or "..".
func ValidTopicName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CollidingTopic returns the name among existing that name collides with:
// Kafka refuses a topic whose name differs from an existing one only in
// '.' versus '_' (metric names would clash). An identical name is not a
// collision (that is TOPIC_ALREADY_EXISTS).
func CollidingTopic(name string, existing iter.Seq[string]) (string, bool) {
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range existing {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return other, true
		}
	}
	return "", false
}

// MaxNewPartitions bounds how many partitions one CreatePartitions may add
// to a topic.
const MaxNewPartitions = 10000

// CheckPartitionGrowth applies CreatePartitions' checks on the counts, with
// Kafka's messages: the new total must exceed the current count cur, grow
// by at most MaxNewPartitions, and a manual assignment must list exactly
// the new partitions.
func CheckPartitionGrowth(cur, total int32, manual [][]int32) error {
	switch {
	case total == cur:
		return &ResultErr{Err: kerr.InvalidPartitions, Message: fmt.Sprintf("topic already has %d partitions", cur)}
	case total < cur:
		return &ResultErr{Err: kerr.InvalidPartitions, Message: fmt.Sprintf("topic currently has %d partitions, which is higher than the requested %d", cur, total)}
	case total-cur > MaxNewPartitions:
		return &ResultErr{Err: kerr.InvalidPartitions, Message: fmt.Sprintf("cannot add more than %d partitions at once", MaxNewPartitions)}
	case manual != nil && int32(len(manual)) != total-cur:
		return &ResultErr{Err: kerr.InvalidReplicaAssignment, Message: fmt.Sprintf("increasing the number of partitions by %d but %d assignments provided", total-cur, len(manual))}
	}
	return nil
}

// newPartitions validates assignments (every replica registered, none twice
// in a partition, the same count in every partition, equal to rf when rf >
// 0, at least one live replica) and builds the partitions: ISR = live
// replicas, leader = the first of them.
func (a *applier) newPartitions(as [][]int32, rf int) ([]Partition, int16, string) {
	out := make([]Partition, 0, len(as))
	for i, reps := range as {
		if len(reps) == 0 || (rf > 0 && len(reps) != rf) || (i > 0 && len(reps) != len(as[0])) {
			c, m := fail(kerr.InvalidReplicaAssignment, "partition %d: %d replicas", i, len(reps))
			return nil, c, m
		}
		var isr []int32
		for j, r := range reps {
			if _, ok := a.img().Broker(r); !ok || slices.Contains(reps[:j], r) {
				c, m := fail(kerr.InvalidReplicaAssignment, "partition %d: replica %d unknown or repeated", i, r)
				return nil, c, m
			}
			if a.live(r) {
				isr = append(isr, r)
			}
		}
		if len(isr) == 0 {
			c, m := fail(kerr.InvalidReplicaAssignment, "partition %d: every replica is fenced", i)
			return nil, c, m
		}
		out = append(out, Partition{Replicas: slices.Clone(reps), ISR: isr, Leader: isr[0]})
	}
	return out, 0, ""
}

func (a *applier) createTopic(x *CreateTopic) (int16, string) {
	im := a.img()
	if !ValidTopicName(x.Name) {
		return fail(kerr.InvalidTopicException, "topic %q", x.Name)
	}
	if t := im.topics[x.Name]; t != nil {
		if t.ID == x.ID {
			return ok() // this very command, applied before (a retried proposal)
		}
		return fail(kerr.TopicAlreadyExists, "topic %q", x.Name)
	}
	if x.ID == ([16]byte{}) || im.byID[x.ID] != nil {
		return fail(kerr.InvalidRequest, "topic %q: zero or duplicate id", x.Name)
	}
	// An existence check: map order cannot change the outcome, only which
	// colliding name the message shows, and names collide pairwise at most
	// once (two existing topics cannot collide with each other).
	if other, collides := CollidingTopic(x.Name, maps.Keys(im.topics)); collides {
		return fail(kerr.InvalidTopicException, "topic %q collides with %q", x.Name, other)
	}
	if len(x.Assignments) == 0 {
		return fail(kerr.InvalidPartitions, "topic %q: no partitions", x.Name)
	}
	parts, code, msg := a.newPartitions(x.Assignments, 0)
	if code != 0 {
		return code, msg
	}
	cfgs := make(map[string]string, len(x.Configs))
	for k, v := range x.Configs {
		cfgs[k] = v
	}
	t := &Topic{Name: x.Name, ID: x.ID, Configs: cfgs, Partitions: parts}
	a.mut().putTopic(t)
	a.evs = append(a.evs, Event{Kind: EventTopicCreated, Index: a.index, Topic: t.Name, TopicID: t.ID})
	for i := range t.Partitions {
		a.evs = append(a.evs, partitionEvent(a.index, t, int32(i)))
	}
	return ok()
}

func (a *applier) deleteTopic(x *DeleteTopic) (int16, string) {
	t := a.img().topics[x.Name]
	if t == nil && x.ID != ([16]byte{}) && a.img().byID[x.ID] == nil {
		return ok() // the topic with this id is gone: this very command, applied before
	}
	if t == nil {
		return fail(kerr.UnknownTopicOrPartition, "topic %q", x.Name)
	}
	if x.ID != ([16]byte{}) && x.ID != t.ID {
		return fail(kerr.UnknownTopicID, "topic %q has another id", x.Name)
	}
	im := a.mut()
	delete(im.topics, t.Name)
	delete(im.byID, t.ID)
	a.evs = append(a.evs, Event{Kind: EventTopicDeleted, Index: a.index, Topic: t.Name, TopicID: t.ID})
	return ok()
}

func (a *applier) createPartitions(x *CreatePartitions) (int16, string) {
	t := a.img().topics[x.Name]
	if t == nil {
		return fail(kerr.UnknownTopicOrPartition, "topic %q", x.Name)
	}
	n := int32(len(t.Partitions))
	if n == x.From+int32(len(x.Assignments)) && a.sameAssignments(t.Partitions[x.From:], x.Assignments) {
		return ok() // applied before (a retried proposal)
	}
	if n != x.From {
		return fail(kerr.InvalidPartitions, "topic %q has %d partitions, not %d", x.Name, n, x.From)
	}
	if len(x.Assignments) == 0 {
		return fail(kerr.InvalidPartitions, "topic %q: no new partitions", x.Name)
	}
	parts, code, msg := a.newPartitions(x.Assignments, len(t.Partitions[0].Replicas))
	if code != 0 {
		return code, msg
	}
	nt := copyTopic(t)
	nt.Partitions = append(nt.Partitions, parts...)
	a.mut().putTopic(nt)
	for i := n; i < int32(len(nt.Partitions)); i++ {
		a.evs = append(a.evs, partitionEvent(a.index, nt, i))
	}
	return ok()
}

func (a *applier) sameAssignments(ps []Partition, as [][]int32) bool {
	if len(ps) != len(as) || len(as) == 0 {
		return false
	}
	for i := range ps {
		if !slices.Equal(ps[i].Replicas, as[i]) {
			return false
		}
	}
	return true
}

func (a *applier) alterConfigs(x *AlterConfigs) (int16, string) {
	t := a.img().topics[x.Name]
	if t == nil {
		return fail(kerr.UnknownTopicOrPartition, "topic %q", x.Name)
	}
	nt := copyTopic(t)
	nt.Configs = make(map[string]string, len(t.Configs)+len(x.Set))
	for k, v := range t.Configs {
		nt.Configs[k] = v
	}
	for k, v := range x.Set {
		nt.Configs[k] = v
	}
	for _, k := range x.Delete {
		delete(nt.Configs, k)
	}
	a.mut().putTopic(nt)
	a.evs = append(a.evs, Event{Kind: EventTopicConfigs, Index: a.index, Topic: nt.Name, TopicID: nt.ID})
	return ok()
}

// ---- partitions

func (a *applier) partition(topic string, p int32) (*Topic, int16, string) {
	t := a.img().topics[topic]
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		c, m := fail(kerr.UnknownTopicOrPartition, "%s-%d", topic, p)
		return nil, c, m
	}
	return t, 0, ""
}

func (a *applier) changeISR(x *ChangeISR) (int16, string) {
	t, code, msg := a.partition(x.Topic, x.Partition)
	if code != 0 {
		return code, msg
	}
	p := t.Partitions[x.Partition]
	if x.Leader == p.Leader && x.LeaderEpoch == p.LeaderEpoch && sameMembers(x.ISR, p.ISR) {
		return ok() // already the ISR: this very change, applied before (a retried proposal)
	}
	switch {
	case x.LeaderEpoch < p.LeaderEpoch || x.Leader != p.Leader:
		return fail(kerr.FencedLeaderEpoch, "%s-%d: leader %d epoch %d, current leader %d epoch %d", x.Topic, x.Partition, x.Leader, x.LeaderEpoch, p.Leader, p.LeaderEpoch)
	case x.LeaderEpoch > p.LeaderEpoch:
		return fail(kerr.UnknownLeaderEpoch, "%s-%d: leader epoch %d ahead of %d", x.Topic, x.Partition, x.LeaderEpoch, p.LeaderEpoch)
	case x.PartitionEpoch != p.PartitionEpoch:
		return fail(kerr.InvalidUpdateVersion, "%s-%d: partition epoch %d, current %d", x.Topic, x.Partition, x.PartitionEpoch, p.PartitionEpoch)
	case !slices.Contains(x.ISR, p.Leader):
		return fail(kerr.InvalidRequest, "%s-%d: ISR must hold the leader", x.Topic, x.Partition)
	}
	for i, r := range x.ISR {
		if !slices.Contains(p.Replicas, r) || slices.Contains(x.ISR[:i], r) || !a.live(r) {
			return fail(kerr.IneligibleReplica, "%s-%d: replica %d", x.Topic, x.Partition, r)
		}
		if i < len(x.BrokerEpochs) && x.BrokerEpochs[i] >= 0 {
			if b, _ := a.img().Broker(r); uint64(x.BrokerEpochs[i]) != b.Epoch {
				return fail(kerr.IneligibleReplica, "%s-%d: replica %d at broker epoch %d, registered at %d", x.Topic, x.Partition, r, x.BrokerEpochs[i], b.Epoch)
			}
		}
	}
	nt := copyTopic(t)
	p.ISR = slices.Clone(x.ISR)
	p.PartitionEpoch++
	nt.Partitions[x.Partition] = p
	a.mut().putTopic(nt)
	a.evs = append(a.evs, partitionEvent(a.index, nt, x.Partition))
	return ok()
}

// sameMembers reports whether a and b hold the same brokers.
func sameMembers(a, b []int32) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(r int32) bool { return !slices.Contains(b, r) })
}

func (a *applier) electLeader(x *ElectLeader) (int16, string) {
	t, code, msg := a.partition(x.Topic, x.Partition)
	if code != 0 {
		return code, msg
	}
	p := t.Partitions[x.Partition]
	var leader int32
	switch x.Type {
	case ElectPreferred:
		pref := p.Replicas[0]
		if p.Leader == pref {
			return fail(kerr.ElectionNotNeeded, "%s-%d", x.Topic, x.Partition)
		}
		if !slices.Contains(p.ISR, pref) || !a.live(pref) {
			return fail(kerr.PreferredLeaderNotAvailable, "%s-%d: replica %d", x.Topic, x.Partition, pref)
		}
		leader = pref
	case ElectEligible:
		if p.Leader != -1 && a.live(p.Leader) {
			return fail(kerr.ElectionNotNeeded, "%s-%d", x.Topic, x.Partition)
		}
		if leader = a.pickLeader(p); leader == -1 {
			return fail(kerr.EligibleLeadersNotAvailable, "%s-%d", x.Topic, x.Partition)
		}
	default:
		return fail(kerr.InvalidRequest, "election type %d", x.Type)
	}
	nt := copyTopic(t)
	p.Leader = leader
	p.LeaderEpoch++
	p.PartitionEpoch++
	nt.Partitions[x.Partition] = p
	a.mut().putTopic(nt)
	a.evs = append(a.evs, partitionEvent(a.index, nt, x.Partition))
	return ok()
}
