package raftmeta

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// startTransport listens on addr ("127.0.0.1:0" for a free port) and
// hands every batch it receives to got.
func startTransport(t *testing.T, addr string, got chan<- pb.MessageBatch) (*tcpTransport, string) {
	return startTransportChunks(t, addr, got, nil)
}

// startTransportChunks is startTransport also handing the snapshot chunks
// it receives to chunks (when not nil).
func startTransportChunks(t *testing.T, addr string, got chan<- pb.MessageBatch, chunks chan<- pb.Chunk) (*tcpTransport, string) {
	t.Helper()
	if addr == "127.0.0.1:0" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	tr := transportFactory{log: slog.Default()}.Create(config.NodeHostConfig{RaftAddress: addr},
		func(b pb.MessageBatch) { got <- b }, func(c pb.Chunk) bool {
			if chunks != nil {
				chunks <- c
			}
			return true
		}).(*tcpTransport)
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	return tr, addr
}

// streamTo starts a peer delivering to got and a stream to it from
// another transport; both end with the test.
func streamTo(t *testing.T, got chan<- pb.MessageBatch) (peer *tcpTransport, addr string, c raftio.IConnection) {
	t.Helper()
	peer, addr = startTransport(t, "127.0.0.1:0", got)
	sender, _ := startTransport(t, "127.0.0.1:0", make(chan pb.MessageBatch, 1))
	t.Cleanup(func() { sender.Close() })
	c, err := sender.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return peer, addr, c
}

// waitClosedByPeer waits until c's reader saw the peer close it (a
// write before that lands in the kernel's buffer and is lost silently,
// as with dragonboat's transport).
func waitClosedByPeer(t *testing.T, c raftio.IConnection) {
	t.Helper()
	sc := c.(*streamConn)
	for deadline := time.Now().Add(5 * time.Second); !sc.dead.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream never saw its peer close it")
		}
	}
}

func recvBatch(t *testing.T, got <-chan pb.MessageBatch, term uint64) {
	t.Helper()
	select {
	case b := <-got:
		if len(b.Requests) != 1 || b.Requests[0].Term != term {
			t.Fatalf("received %+v, want one message of term %d", b.Requests, term)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("message of term %d never arrived", term)
	}
}

func batchOf(term uint64) pb.MessageBatch {
	return pb.MessageBatch{SourceAddress: "sender", Requests: []pb.Message{{Type: pb.RequestPreVote, ShardID: shardID, From: 1, To: 2, Term: term}}}
}

// TestTransportStreamSurvivesThePeersRestart: a stream opened to a peer
// that then restarted (the process killed, a new one listening on the
// same address) delivers the next message to the new process instead of
// failing it (dragonboat would drop the stream and refuse every message
// to the peer for up to 750 ms: a follower's first vote message after the
// other follower's restart, which stalled controller elections 1-2 s).
func TestTransportStreamSurvivesThePeersRestart(t *testing.T) {
	got := make(chan pb.MessageBatch, 4)
	peer, addr, c := streamTo(t, got)
	if err := c.SendMessageBatch(batchOf(1)); err != nil {
		t.Fatal(err)
	}
	recvBatch(t, got, 1)

	peer.Close() // the peer's process ends: its connections close
	waitClosedByPeer(t, c)
	restarted, _ := startTransport(t, addr, got)
	defer restarted.Close()
	for term := uint64(2); term <= 3; term++ {
		if err := c.SendMessageBatch(batchOf(term)); err != nil {
			t.Fatalf("send after the peer's restart: %v", err)
		}
		recvBatch(t, got, term)
	}
}

// TestTransportFailsToADeadPeer: with nobody listening the send fails
// (dragonboat's breaker then backs off), it is not swallowed.
func TestTransportFailsToADeadPeer(t *testing.T) {
	got := make(chan pb.MessageBatch, 4)
	peer, _, c := streamTo(t, got)
	peer.Close()
	waitClosedByPeer(t, c)
	if err := c.SendMessageBatch(batchOf(1)); err == nil {
		t.Fatal("a send to a peer that is gone succeeded")
	}
}

// TestTransportSnapshotChunks: chunks arrive whole and in order, each
// snapshot on its own connection.
func TestTransportSnapshotChunks(t *testing.T) {
	chunks := make(chan pb.Chunk, 4)
	peer, addr := startTransportChunks(t, "127.0.0.1:0", make(chan pb.MessageBatch, 1), chunks)
	defer peer.Close()
	sender, _ := startTransport(t, "127.0.0.1:0", make(chan pb.MessageBatch, 1))
	defer sender.Close()
	c, err := sender.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := make([]byte, 3<<20) // larger than the kept frame buffer
	for i := range big {
		big[i] = byte(i)
	}
	for id := uint64(0); id < 2; id++ {
		if err := c.SendChunk(pb.Chunk{ShardID: shardID, ReplicaID: 2, From: 1, ChunkId: id, ChunkCount: 2, Data: big[:len(big)-int(id)]}); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(0); id < 2; id++ {
		select {
		case ch := <-chunks:
			if ch.ChunkId != id || len(ch.Data) != len(big)-int(id) || ch.Data[12345] != big[12345] {
				t.Fatalf("chunk %d: got id %d, %d bytes", id, ch.ChunkId, len(ch.Data))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("chunk %d never arrived", id)
		}
	}
}

// TestTransportTalksToDragonboatsOwn: a node on dragonboat's built-in TCP
// transport (a broker of an earlier version, during a rolling upgrade)
// and two on this one form the shard, commit through every node, and
// catch a restarted node of either kind up past compacted logs (snapshot
// chunks both ways).
func TestTransportTalksToDragonboatsOwn(t *testing.T) {
	c := startClusterWith(t, 3, func(i int, o *Options) { o.builtinTransport = i == 0 })
	for via := range 3 {
		name := fmt.Sprintf("via-%d", via+1)
		if _, err := c.nodes[via].CreateTopic(ctxT(t), TopicSpec{Name: name, Partitions: 3, ReplicationFactor: 3}); err != nil {
			t.Fatalf("create %s through node %d: %v", name, via+1, err)
		}
		for i := range 3 {
			c.waitTopic(i, name)
		}
	}
	for _, down := range []int{2, 0} { // one of ours, then the built-in one
		c.stop(down)
		for i := range 20 { // several snapshots and compactions while it is down
			name := fmt.Sprintf("without-%d-%d", down+1, i)
			if _, err := c.nodes[(down+1)%3].CreateTopic(ctxT(t), TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 2}); err != nil {
				t.Fatalf("create %s with node %d down: %v", name, down+1, err)
			}
		}
		c.start(down)
		c.waitRegistered(down)
		for i := range 20 {
			c.waitTopic(down, fmt.Sprintf("without-%d-%d", down+1, i))
		}
	}
}
