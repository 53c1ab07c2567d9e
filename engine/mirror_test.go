package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/chronik/chronik/raftmeta"
	"github.com/chronik/chronik/replicate"
	"github.com/chronik/chronik/wal/vfs/memfs"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// metaLog builds real metadata images by applying commands to a raftmeta
// state machine, as the Raft shard would.
type metaLog struct {
	t     *testing.T
	fsm   *raftmeta.FSM
	index uint64
}

func (m *metaLog) apply(c *raftmeta.Command) *raftmeta.Image {
	m.t.Helper()
	cmd, err := c.Encode()
	if err != nil {
		m.t.Fatal(err)
	}
	m.index++
	r, err := m.fsm.Update(sm.Entry{Index: m.index, Cmd: cmd})
	if err != nil || raftmeta.ResultError(r) != nil {
		m.t.Fatalf("apply %v: %v / %v", c.Type, err, raftmeta.ResultError(r))
	}
	return m.fsm.Image()
}

// mirrorBroker is broker 1 of a cluster, its metadata applied only by the
// test (no Raft node, fetchers that reach no leader).
func mirrorBroker(t *testing.T) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.NodeID = "/data", 1
	b, err := Open(cfg, memfs.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b.replicas = replicate.NewManager(replicate.Options{Self: 1, LeaderAddr: func(int32) (string, bool) { return "", false }})
	t.Cleanup(func() { b.Close() })
	return b
}

// TestMirrorNeverAppliesAnOlderImage: an image at or below the last one
// mirrored (a caller that read the image before a newer one was applied)
// changes nothing: a partition added since is not dropped, a topic
// deleted since does not come back.
func TestMirrorNeverAppliesAnOlderImage(t *testing.T) {
	b := mirrorBroker(t)
	m := &metaLog{t: t, fsm: raftmeta.NewFSM()}
	m.apply(&raftmeta.Command{Type: raftmeta.CmdRegisterBroker, RegisterBroker: &raftmeta.RegisterBroker{ID: 1, KafkaAddr: "127.0.0.1:1", RaftAddr: "r"}})
	id := [16]byte{15: 7}
	one := m.apply(&raftmeta.Command{Type: raftmeta.CmdCreateTopic, CreateTopic: &raftmeta.CreateTopic{Name: "m", ID: id, Assignments: [][]int32{{1}}}})
	two := m.apply(&raftmeta.Command{Type: raftmeta.CmdCreatePartitions, CreatePartitions: &raftmeta.CreatePartitions{Name: "m", From: 1, Assignments: [][]int32{{1}}}})
	partitions := func() int {
		t.Helper()
		tp := b.lookupTopic("m")
		if tp == nil {
			return -1
		}
		n := 0
		for _, p := range b.topicPartitions(tp) {
			if p != nil {
				n++
			}
		}
		return n
	}
	for _, step := range []struct {
		name string
		im   *raftmeta.Image
		want int // local partitions of m; -1: no topic
	}{
		{"the newer image", two, 2},
		{"the older image after it", one, 2},
		{"the same image again", two, 2},
	} {
		if err := b.mirror(step.im); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := partitions(); got != step.want {
			t.Fatalf("after mirroring %s (index %d): %d local partitions of m, want %d", step.name, step.im.Index, got, step.want)
		}
	}
	gone := m.apply(&raftmeta.Command{Type: raftmeta.CmdDeleteTopic, DeleteTopic: &raftmeta.DeleteTopic{Name: "m", ID: id}})
	for _, im := range []*raftmeta.Image{gone, two, one} {
		if err := b.mirror(im); err != nil {
			t.Fatal(err)
		}
		if got := partitions(); got != -1 {
			t.Fatalf("after the deletion, mirroring index %d brought m back with %d partitions", im.Index, got)
		}
	}
}
