package raftmeta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"
)

func cmd(t testing.TB, c *Command) []byte {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reg(id int32, rack string) *Command {
	return &Command{Type: CmdRegisterBroker, RegisterBroker: &RegisterBroker{ID: id, KafkaAddr: "127.0.0.1:1", RaftAddr: "r", Rack: rack}}
}

func tid(b byte) [16]byte { return [16]byte{15: b} }

// commandLog is a log touching every command type, including rejected ones.
func commandLog(t testing.TB) [][]byte {
	cs := []*Command{
		reg(1, "a"), reg(2, "b"), reg(3, "a"),
		{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "orders", ID: tid(1), Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"},
			Assignments: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}}},
		{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "logs", ID: tid(2), Assignments: [][]int32{{1}, {2}, {3}}}},
		{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "logs", ID: tid(9), Assignments: [][]int32{{1}}}}, // exists
		{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: 2, Epoch: 2}},
		{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: 2, Epoch: 2}},
		{Type: CmdCreatePartitions, CreatePartitions: &CreatePartitions{Name: "orders", From: 3, Assignments: [][]int32{{1, 3, 2}}}},
		{Type: CmdAlterConfigs, AlterConfigs: &AlterConfigs{Name: "orders", Set: map[string]string{"segment.bytes": "1048576"}, Delete: []string{"retention.ms"}}},
		{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "orders", Partition: 0, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1, ISR: []int32{1}}},
		{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: 2, Epoch: 2}},                                           // unfences 2
		{Type: CmdElectLeader, ElectLeader: &ElectLeader{Topic: "orders", Partition: 1, Type: ElectPreferred}}, // 2 left the ISR: not available
		{Type: CmdDeleteTopic, DeleteTopic: &DeleteTopic{Name: "logs", ID: tid(2)}},
		reg(4, "b"),
		{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "m", ID: tid(3), Assignments: [][]int32{{4, 1}, {1, 4}}}},
	}
	var out [][]byte
	for _, c := range cs {
		out = append(out, cmd(t, c))
	}
	return append(out, []byte{commandVersion, 200}, []byte{7, 1}) // unknown type, unknown version
}

func applyAll(t testing.TB, f *FSM, entries [][]byte, from uint64) []sm.Result {
	t.Helper()
	var rs []sm.Result
	for i, e := range entries {
		r, err := f.Update(sm.Entry{Index: from + uint64(i), Cmd: e})
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestFSMIsDeterministic(t *testing.T) {
	entries := commandLog(t)
	a, b := NewFSM(), NewFSM()
	ra := applyAll(t, a, entries, 1)
	rb := applyAll(t, b, entries, 1)
	if a.Image().Hash() != b.Image().Hash() {
		t.Fatal("same log, different image hash")
	}
	if !slices.EqualFunc(ra, rb, func(x, y sm.Result) bool { return x.Value == y.Value && bytes.Equal(x.Data, y.Data) }) {
		t.Fatal("same log, different results")
	}
	// A different log must give a different hash, or the hash proves nothing.
	c := NewFSM()
	applyAll(t, c, entries[:len(entries)-3], 1)
	if c.Image().Hash() == a.Image().Hash() {
		t.Fatal("hash ignores the last topic")
	}
}

func TestFSMSnapshotRoundTrip(t *testing.T) {
	entries := commandLog(t)
	whole := NewFSM()
	applyAll(t, whole, entries, 1)

	half := NewFSM()
	applyAll(t, half, entries[:8], 1)
	var buf bytes.Buffer
	if err := half.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	restored := NewFSM()
	sub := restored.Subscribe(10)
	if err := restored.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, reset := sub.Drain(); !reset {
		t.Fatal("recovery did not reset subscribers")
	}
	if restored.Image().Hash() != half.Image().Hash() {
		t.Fatal("restored image differs from the snapshotted one")
	}
	applyAll(t, restored, entries[8:], 9)
	if restored.Image().Hash() != whole.Image().Hash() {
		t.Fatal("snapshot + rest of the log differs from the whole log")
	}
	// Corrupt snapshots are refused, not half-applied.
	bad := buf.Bytes()
	for _, b := range [][]byte{bad[:len(bad)-1], append(slices.Clone(bad), 0), {1, 2, 3}} {
		if err := NewFSM().RecoverFromSnapshot(bytes.NewReader(b), nil, nil); err == nil {
			t.Errorf("corrupt snapshot of %d bytes accepted", len(b))
		}
	}
}

func TestFSMCommandOutcomes(t *testing.T) {
	f := NewFSM()
	rs := applyAll(t, f, commandLog(t), 1)
	want := []*kerr.Error{nil, nil, nil, nil, nil, kerr.TopicAlreadyExists, nil, nil, nil, nil, nil, nil, kerr.PreferredLeaderNotAvailable, nil, nil, nil, kerr.InvalidRequest, kerr.InvalidRequest}
	for i, r := range rs {
		err := ResultError(r)
		if (want[i] == nil) != (err == nil) || (want[i] != nil && !errors.Is(err, want[i])) {
			t.Errorf("entry %d: got %v, want %v", i, err, want[i])
		}
	}
	im := f.Image()
	o := im.Topic("orders")
	if o == nil || len(o.Partitions) != 4 || im.Topic("logs") != nil {
		t.Fatalf("topics after the log: orders=%v logs=%v", o, im.Topic("logs"))
	}
	// Broker 2 was fenced (left ISRs, lost leadership of partition 1, epoch
	// bump), then unfenced; ISR expansion is the replicas' job, so 2 stays out.
	p1 := o.Partitions[1]
	if p1.Leader != 3 || p1.LeaderEpoch != 1 || slices.Contains(p1.ISR, 2) {
		t.Errorf("orders-1 after fencing 2: %+v", p1)
	}
	if p0 := o.Partitions[0]; !slices.Equal(p0.ISR, []int32{1}) || p0.PartitionEpoch != 2 {
		t.Errorf("orders-0 after ChangeISR: %+v", p0)
	}
	if p3 := o.Partitions[3]; !slices.Equal(p3.ISR, []int32{1, 3}) || p3.Leader != 1 {
		t.Errorf("orders-3 created while 2 was fenced: %+v", p3)
	}
	if o.Configs["segment.bytes"] != "1048576" || o.Configs["retention.ms"] != "" || o.Configs["cleanup.policy"] != "delete" {
		t.Errorf("orders configs: %v", o.Configs)
	}
	if b, _ := im.Broker(4); b.Epoch != 15 || b.Fenced {
		t.Errorf("broker 4: %+v", b)
	}
}

func TestFSMRejectsStaleAndInvalid(t *testing.T) {
	f := NewFSM()
	applyAll(t, f, [][]byte{cmd(t, reg(1, "")), cmd(t, reg(2, "")),
		cmd(t, &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "t", ID: tid(1), Assignments: [][]int32{{1, 2}}}})}, 1)
	cases := []struct {
		name string
		c    *Command
		want *kerr.Error
	}{
		{"heartbeat stale epoch", &Command{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: 1, Epoch: 7}}, kerr.StaleBrokerEpoch},
		{"heartbeat unknown broker", &Command{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: 9, Epoch: 1}}, kerr.BrokerIDNotRegistered},
		{"isr stale leader epoch", &Command{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "t", Leader: 2, ISR: []int32{1}}}, kerr.FencedLeaderEpoch},
		{"isr stale partition epoch", &Command{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "t", Leader: 1, PartitionEpoch: 5, ISR: []int32{1}}}, kerr.InvalidUpdateVersion},
		{"isr not a replica", &Command{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "t", Leader: 1, ISR: []int32{1, 3}}}, kerr.IneligibleReplica},
		{"isr without leader", &Command{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "t", Leader: 1, ISR: []int32{2}}}, kerr.InvalidRequest},
		{"preferred already leads", &Command{Type: CmdElectLeader, ElectLeader: &ElectLeader{Topic: "t", Type: ElectPreferred}}, kerr.ElectionNotNeeded},
		{"unknown partition", &Command{Type: CmdElectLeader, ElectLeader: &ElectLeader{Topic: "t", Partition: 1}}, kerr.UnknownTopicOrPartition},
		{"unknown replica", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "u", ID: tid(2), Assignments: [][]int32{{5}}}}, kerr.InvalidReplicaAssignment},
		{"repeated replica", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "u", ID: tid(2), Assignments: [][]int32{{1, 1}}}}, kerr.InvalidReplicaAssignment},
		{"uneven replicas", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "u", ID: tid(2), Assignments: [][]int32{{1, 2}, {1}}}}, kerr.InvalidReplicaAssignment},
		{"bad name", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "a/b", ID: tid(2), Assignments: [][]int32{{1}}}}, kerr.InvalidTopicException},
		{"name collision", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "T", ID: tid(2), Assignments: [][]int32{{1}}}}, nil},
		{"dot underscore collision", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "a.b", ID: tid(3), Assignments: [][]int32{{1}}}}, nil},
		{"dot underscore collision 2", &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "a_b", ID: tid(4), Assignments: [][]int32{{1}}}}, kerr.InvalidTopicException},
		{"partitions stale count", &Command{Type: CmdCreatePartitions, CreatePartitions: &CreatePartitions{Name: "t", From: 3, Assignments: [][]int32{{1, 2}}}}, kerr.InvalidPartitions},
		{"partitions wrong rf", &Command{Type: CmdCreatePartitions, CreatePartitions: &CreatePartitions{Name: "t", From: 1, Assignments: [][]int32{{1}}}}, kerr.InvalidReplicaAssignment},
		{"delete wrong id", &Command{Type: CmdDeleteTopic, DeleteTopic: &DeleteTopic{Name: "t", ID: tid(9)}}, kerr.UnknownTopicID},
		{"delete unknown", &Command{Type: CmdDeleteTopic, DeleteTopic: &DeleteTopic{Name: "nope"}}, kerr.UnknownTopicOrPartition},
		{"delete again by a gone id", &Command{Type: CmdDeleteTopic, DeleteTopic: &DeleteTopic{Name: "nope", ID: tid(77)}}, nil},
	}
	idx := uint64(10)
	for _, c := range cases {
		before := f.Image().Hash()
		r, _ := f.Update(sm.Entry{Index: idx, Cmd: cmd(t, c.c)})
		idx++
		err := ResultError(r)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if f.Image().Hash() != before {
			t.Errorf("%s: a rejected command changed the image", c.name)
		}
	}
}

func TestFSMRetriedProposalIsANoOp(t *testing.T) {
	f := NewFSM()
	ct := cmd(t, &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "t", ID: tid(1), Assignments: [][]int32{{1}}}})
	cp := cmd(t, &Command{Type: CmdCreatePartitions, CreatePartitions: &CreatePartitions{Name: "t", From: 1, Assignments: [][]int32{{1}}}})
	rs := applyAll(t, f, [][]byte{cmd(t, reg(1, "")), ct, ct, cp, cp}, 1)
	for i, r := range rs {
		if err := ResultError(r); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	if n := len(f.Image().Topic("t").Partitions); n != 2 {
		t.Fatalf("partitions after a duplicated CreatePartitions: %d", n)
	}
}

func TestFenceMovesLeadershipAndUnfenceRestoresIt(t *testing.T) {
	f := NewFSM()
	sub := f.Subscribe(100)
	applyAll(t, f, [][]byte{cmd(t, reg(1, "")), cmd(t, reg(2, "")),
		cmd(t, &Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "t", ID: tid(1), Assignments: [][]int32{{1, 2}, {2, 1}}}}),
		cmd(t, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: 2, Epoch: 2}})}, 1)
	im := f.Image()
	if p := im.Topic("t").Partitions[1]; p.Leader != 1 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("t-1 after fencing its leader: %+v", p)
	}
	evs, _ := sub.Drain()
	last := evs[len(evs)-1]
	if last.Kind != EventPartition || last.Topic != "t" || last.Partition != 1 || last.Leader != 1 || last.LeaderEpoch != 1 || !slices.Equal(last.ISR, []int32{1}) {
		t.Fatalf("leader change event: %+v", last)
	}
	if p := im.Topic("t").Partitions[0]; p.Leader != 1 || p.LeaderEpoch != 0 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("t-0 after fencing a follower: %+v", p)
	}
	// The last ISR member keeps its place, the partition goes
	// leaderless, and comes back when the broker does.
	applyAll(t, f, [][]byte{cmd(t, &Command{Type: CmdFenceBroker, FenceBroker: &FenceBroker{ID: 1, Epoch: 1}})}, 5)
	if p := f.Image().Topic("t").Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("t-0 with its only replica fenced: %+v", p)
	}
	applyAll(t, f, [][]byte{cmd(t, &Command{Type: CmdHeartbeat, Heartbeat: &Heartbeat{ID: 1, Epoch: 1}})}, 6)
	if p := f.Image().Topic("t").Partitions[0]; p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("t-0 after its replica came back: %+v", p)
	}
}

func TestSubscriptionOverflowResets(t *testing.T) {
	f := NewFSM()
	sub := f.Subscribe(2)
	applyAll(t, f, [][]byte{cmd(t, reg(1, "")), cmd(t, reg(2, "")), cmd(t, reg(3, ""))}, 1)
	evs, reset := sub.Drain()
	if !reset || len(evs) != 1 || evs[0].BrokerID != 3 {
		t.Fatalf("after overflow: reset=%v evs=%+v", reset, evs)
	}
	if _, reset := sub.Drain(); reset {
		t.Fatal("reset reported twice")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, e := range commandLog(f) {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded command does not encode: %v", err)
		}
		c2, err := DecodeCommand(again)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		// Applying must never panic, whatever the bytes.
		NewFSM().Update(sm.Entry{Index: 1, Cmd: b})
		_ = c2
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	full := NewFSM()
	applyAll(f, full, commandLog(f), 1)
	f.Add(full.Image().encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := decodeImage(b)
		if err != nil {
			return
		}
		if again, err := decodeImage(im.encode()); err != nil || again.Hash() != im.Hash() {
			t.Fatalf("snapshot does not round-trip: %v", err)
		}
	})
}

// Producer id blocks are disjoint and survive a snapshot; a stale broker
// epoch gets none.
func TestProducerIDBlocksAreDisjointAndSnapshotted(t *testing.T) {
	f := NewFSM()
	idx := uint64(0)
	apply := func(c *Command) sm.Result {
		t.Helper()
		idx++
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.Update(sm.Entry{Index: idx, Cmd: b})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for id := int32(1); id <= 2; id++ {
		apply(&Command{Type: CmdRegisterBroker, RegisterBroker: &RegisterBroker{ID: id, KafkaAddr: "k", RaftAddr: "r"}})
	}
	epoch := func(id int32) uint64 { b, _ := f.Image().Broker(id); return b.Epoch }
	first := func(id int32) int64 {
		t.Helper()
		res := apply(&Command{Type: CmdAllocateProducerIDs, AllocateProducerIDs: &AllocateProducerIDs{BrokerID: id, BrokerEpoch: epoch(id)}})
		if err := ResultError(res); err != nil || len(res.Data) != 8 {
			t.Fatalf("allocate for %d: %v, %d bytes", id, err, len(res.Data))
		}
		return int64(binary.BigEndian.Uint64(res.Data))
	}
	a, b, c := first(1), first(2), first(1)
	if a != 0 || b != ProducerIDBlockSize || c != 2*ProducerIDBlockSize {
		t.Fatalf("blocks %d %d %d, want 0 %d %d", a, b, c, ProducerIDBlockSize, 2*ProducerIDBlockSize)
	}
	res := apply(&Command{Type: CmdAllocateProducerIDs, AllocateProducerIDs: &AllocateProducerIDs{BrokerID: 1, BrokerEpoch: epoch(1) + 7}})
	if err := ResultError(res); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v, want STALE_BROKER_EPOCH", err)
	}
	im, err := decodeImage(f.Image().encode())
	if err != nil {
		t.Fatal(err)
	}
	if im.nextProducerID != 3*ProducerIDBlockSize || im.Hash() != f.Image().Hash() {
		t.Fatalf("snapshot: next id %d, hash equal %v", im.nextProducerID, im.Hash() == f.Image().Hash())
	}
}

// A ChangeISR applied twice (a retried proposal) succeeds the second time:
// the partition already has that ISR, though its partition epoch moved on.
func TestRetriedChangeISRSucceeds(t *testing.T) {
	f := NewFSM()
	idx := uint64(0)
	apply := func(c *Command) error {
		t.Helper()
		idx++
		res, err := f.Update(sm.Entry{Index: idx, Cmd: cmd(t, c)})
		if err != nil {
			t.Fatal(err)
		}
		return ResultError(res)
	}
	for id := int32(1); id <= 3; id++ {
		apply(&Command{Type: CmdRegisterBroker, RegisterBroker: &RegisterBroker{ID: id, KafkaAddr: "k", RaftAddr: "r"}})
	}
	if err := apply(&Command{Type: CmdCreateTopic, CreateTopic: &CreateTopic{Name: "t", ID: [16]byte{1}, Assignments: [][]int32{{1, 2, 3}}}}); err != nil {
		t.Fatal(err)
	}
	p := f.Image().Topic("t").Partitions[0]
	change := &Command{Type: CmdChangeISR, ChangeISR: &ChangeISR{Topic: "t", Partition: 0, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2}}}
	if err := apply(change); err != nil {
		t.Fatalf("first ChangeISR: %v", err)
	}
	if err := apply(change); err != nil {
		t.Fatalf("retried ChangeISR: %v, want success", err)
	}
	stale := *change.ChangeISR
	stale.ISR = []int32{1}
	if err := apply(&Command{Type: CmdChangeISR, ChangeISR: &stale}); !errors.Is(err, kerr.InvalidUpdateVersion) {
		t.Fatalf("a different ISR on the old partition epoch: %v, want INVALID_UPDATE_VERSION", err)
	}
}
