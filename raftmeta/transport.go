package raftmeta

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// The Raft transport: dragonboat's message streams over plain TCP, one
// connection per target, like dragonboat's built-in TCP transport, with
// one difference that matters for controller failover. dragonboat keeps a
// stream to a peer open for a minute of idleness and drops the whole
// stream, tripping a circuit breaker that refuses every message to that
// peer for 250-750 ms, when a write on it fails. Two followers exchange
// messages only during elections, so after a peer restarted the other
// follower's stream to it is one to the dead process: the first vote
// message of the next election fails (or is lost without an error), the
// breaker trips, and the election stalls for up to a second (measured:
// the controller-kill failover's 1-2.4 s outliers, each right after the
// other follower's restart). Here a connection notices the peer closing
// it (a reader sees EOF: the receiving side never writes), and a batch
// that finds its connection closed or fails on it is sent again once on a
// fresh connection before the error reaches dragonboat: a peer that is
// alive gets the message; a dead one refuses the new connection and the
// breaker trips as before.

// transportName is the transport's Name.
const transportName = "chronik-tcp"

// Frame kinds, and the frame header: kind (1 byte), payload length (4),
// CRC-32C of the payload (4).
const (
	frameBatch byte = 1
	frameChunk byte = 2

	frameHeaderSize = 9
	maxFrameSize    = 256 << 20 // dragonboat's batches are at most 64 MiB, chunks 2 MiB
	keptFrameSize   = 1 << 20   // a connection keeps its frame buffer up to this size

	transportDialTimeout  = time.Second
	transportWriteTimeout = 5 * time.Second
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// transportFactory makes the node host's transport. seen, when set, is
// told the sender and highest term of every batch received.
type transportFactory struct {
	log  *slog.Logger
	seen func(from, term uint64)
}

func (f transportFactory) Create(nh config.NodeHostConfig, mh raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	if f.seen != nil {
		next := mh
		mh = func(b pb.MessageBatch) {
			if len(b.Requests) > 0 {
				term := uint64(0)
				for _, m := range b.Requests {
					term = max(term, m.Term)
				}
				f.seen(b.Requests[0].From, term)
			}
			next(b)
		}
	}
	return &tcpTransport{addr: nh.GetListenAddress(), onBatch: mh, onChunk: ch, log: f.log, conns: map[net.Conn]struct{}{}}
}

func (transportFactory) Validate(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

type tcpTransport struct {
	addr    string
	onBatch raftio.MessageHandler
	onChunk raftio.ChunkHandler
	log     *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{} // accepted, still served
	closed bool
	wg     sync.WaitGroup
}

func (t *tcpTransport) Name() string { return transportName }

func (t *tcpTransport) Start() error {
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	t.wg.Add(1)
	go t.accept(ln)
	return nil
}

func (t *tcpTransport) accept(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(c)
	}
}

// serve reads one peer's frames until the connection ends or a frame is
// bad (the sender then starts over on a new connection).
func (t *tcpTransport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [frameHeaderSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(hdr[1:5])
		if size > maxFrameSize {
			t.log.Warn("raft transport: frame too large; closing", "size", size)
			return
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[5:9]) {
			t.log.Warn("raft transport: frame checksum mismatch; closing")
			return
		}
		switch hdr[0] {
		case frameBatch:
			var b pb.MessageBatch
			if err := b.Unmarshal(buf); err != nil {
				return
			}
			t.onBatch(b)
		case frameChunk:
			var ch pb.Chunk
			if err := ch.Unmarshal(buf); err != nil || !t.onChunk(ch) {
				return
			}
		default:
			return
		}
	}
}

func (t *tcpTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	if t.ln != nil {
		t.ln.Close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func (t *tcpTransport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c := &streamConn{target: target}
	if err := c.redial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (t *tcpTransport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	// A snapshot's chunks go on a connection of their own, dialed for
	// it: no stale stream to survive, and a chunk sent again on another
	// connection would arrive out of its stream's order.
	c := &streamConn{target: target, once: true}
	if err := c.redial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// streamConn is the sending side of one stream to a peer. dragonboat
// uses it from one goroutine; dead is set by the connection's reader.
type streamConn struct {
	target string
	once   bool // no second attempt (a snapshot's chunks)
	conn   net.Conn
	dead   *atomic.Bool // this conn's: the peer closed it
	frame  []byte
}

func (s *streamConn) redial(ctx context.Context) error {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	d := net.Dialer{Timeout: transportDialTimeout}
	c, err := d.DialContext(ctx, "tcp", s.target)
	if err != nil {
		return err
	}
	dead := &atomic.Bool{}
	go func() {
		// The receiving side never writes: any return is the peer (or
		// Close) ending the connection.
		var b [1]byte
		c.Read(b[:])
		dead.Store(true)
	}()
	s.conn, s.dead = c, dead
	return nil
}

// send writes one frame, on a fresh connection if the current one is
// known closed, and once more on a fresh one if the write fails.
func (s *streamConn) send(kind byte, size int, marshal func([]byte) (int, error)) error {
	if size > maxFrameSize {
		return fmt.Errorf("raft transport: frame of %d bytes", size)
	}
	f := s.frame
	if cap(f) < frameHeaderSize+size {
		f = make([]byte, frameHeaderSize+size)
		if size <= keptFrameSize {
			s.frame = f
		}
	}
	f = f[:frameHeaderSize+size]
	n, err := marshal(f[frameHeaderSize:])
	if err != nil {
		return err
	}
	f = f[:frameHeaderSize+n]
	f[0] = kind
	binary.BigEndian.PutUint32(f[1:5], uint32(n))
	binary.BigEndian.PutUint32(f[5:9], crc32.Checksum(f[frameHeaderSize:], castagnoli))
	for attempt := 0; ; attempt++ {
		if s.conn == nil || s.dead.Load() {
			if s.once {
				return errors.New("raft transport: snapshot connection closed")
			}
			if err := s.redial(context.Background()); err != nil {
				return err
			}
		}
		s.conn.SetWriteDeadline(time.Now().Add(transportWriteTimeout))
		_, err := s.conn.Write(f)
		if err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
		if attempt > 0 || s.once {
			return err
		}
	}
}

func (s *streamConn) SendMessageBatch(b pb.MessageBatch) error {
	return s.send(frameBatch, b.Size(), b.MarshalTo)
}

func (s *streamConn) SendChunk(c pb.Chunk) error {
	return s.send(frameChunk, c.Size(), c.MarshalTo)
}

func (s *streamConn) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
