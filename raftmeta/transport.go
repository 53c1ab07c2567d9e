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

// The wire format is dragonboat's own TCP transport's, so that brokers of
// this and earlier versions talk to each other: per message the magic
// number, an 18-byte header (method, payload size, the header's CRC-32,
// the payload's CRC-32; IEEE) and the payload, a marshalled MessageBatch
// (method 100) or snapshot Chunk (200). A snapshot connection ends with a
// poison number, answered by the receiver before it closes.
const (
	methodBatch uint16 = 100
	methodChunk uint16 = 200

	magicSize       = 2
	headerSize      = 18
	frameHeaderSize = magicSize + headerSize
	maxFrameSize    = 256 << 20 // dragonboat's batches are at most 64 MiB, chunks 2 MiB
	keptFrameSize   = 1 << 20   // a connection keeps its frame buffer up to this size

	transportDialTimeout  = time.Second
	transportWriteTimeout = 5 * time.Second
	poisonAckTimeout      = 2 * time.Second
)

var (
	magicNumber  = [magicSize]byte{0xAE, 0x7D}
	poisonNumber = [magicSize]byte{0, 0}
)

// putHeader writes the magic number and the header of a payload of
// method into f[:frameHeaderSize].
func putHeader(f []byte, method uint16, payload []byte) {
	copy(f, magicNumber[:])
	h := f[magicSize:frameHeaderSize]
	binary.BigEndian.PutUint16(h, method)
	binary.BigEndian.PutUint64(h[2:], uint64(len(payload)))
	binary.BigEndian.PutUint32(h[10:], 0)
	binary.BigEndian.PutUint32(h[14:], crc32.ChecksumIEEE(payload))
	binary.BigEndian.PutUint32(h[10:], crc32.ChecksumIEEE(h))
}

// parseHeader checks a header and returns its method and payload size
// and CRC.
func parseHeader(h []byte) (method uint16, size uint64, crc uint32, ok bool) {
	sum := binary.BigEndian.Uint32(h[10:])
	binary.BigEndian.PutUint32(h[10:], 0)
	if crc32.ChecksumIEEE(h) != sum {
		return 0, 0, 0, false
	}
	method, size, crc = binary.BigEndian.Uint16(h), binary.BigEndian.Uint64(h[2:]), binary.BigEndian.Uint32(h[14:])
	return method, size, crc, (method == methodBatch || method == methodChunk) && size > 0 && size <= maxFrameSize
}

// transportFactory makes the node host's transport. seen, when set, is
// told the sender and highest term of every batch received.
type transportFactory struct {
	log  *slog.Logger
	seen func(from, term uint64)
	// stream, when set, is told when a peer's message stream to this
	// node opens (its first batch) and when it ends (a killed process's
	// streams end at once; a frozen or cut-off one's stay open).
	stream func(from uint64, open bool)
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
	return &tcpTransport{addr: nh.GetListenAddress(), onBatch: mh, onChunk: ch, onStream: f.stream, log: f.log, conns: map[net.Conn]struct{}{}}
}

func (transportFactory) Validate(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

type tcpTransport struct {
	addr     string
	onBatch  raftio.MessageHandler
	onChunk  raftio.ChunkHandler
	onStream func(from uint64, open bool)
	log      *slog.Logger

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
	from := uint64(0) // the sender, once its first batch came
	defer func() {
		if from != 0 && t.onStream != nil {
			t.onStream(from, false)
		}
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [frameHeaderSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:magicSize]); err != nil {
			return
		}
		if [magicSize]byte(hdr[:magicSize]) == poisonNumber {
			c.SetWriteDeadline(time.Now().Add(poisonAckTimeout))
			c.Write(poisonNumber[:]) // the sender's snapshot is all here
			return
		}
		if [magicSize]byte(hdr[:magicSize]) != magicNumber {
			return
		}
		if _, err := io.ReadFull(r, hdr[magicSize:]); err != nil {
			return
		}
		method, size, crc, ok := parseHeader(hdr[magicSize:])
		if !ok {
			t.log.Warn("raft transport: bad message header; closing")
			return
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if crc32.ChecksumIEEE(buf) != crc {
			t.log.Warn("raft transport: message checksum mismatch; closing")
			return
		}
		if method == methodBatch {
			var b pb.MessageBatch
			if err := b.Unmarshal(buf); err != nil {
				return
			}
			if from == 0 && len(b.Requests) > 0 && b.Requests[0].From != 0 {
				from = b.Requests[0].From
				if t.onStream != nil {
					t.onStream(from, true)
				}
			}
			t.onBatch(b)
		} else {
			var ch pb.Chunk
			if err := ch.Unmarshal(buf); err != nil || !t.onChunk(ch) {
				return
			}
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
	once   bool // a snapshot's: no second attempt, no reader (the receiver answers the poison on it)
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
	if !s.once {
		go func() {
			// The receiving side of a message stream never writes: any
			// return is the peer (or Close) ending the connection.
			var b [1]byte
			c.Read(b[:])
			dead.Store(true)
		}()
	}
	s.conn, s.dead = c, dead
	return nil
}

// send writes one message, on a fresh connection if the current one is
// known closed, and once more on a fresh one if the write fails.
func (s *streamConn) send(method uint16, size int, marshal func([]byte) (int, error)) error {
	if size > maxFrameSize {
		return fmt.Errorf("raft transport: message of %d bytes", size)
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
	putHeader(f, method, f[frameHeaderSize:])
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
	return s.send(methodBatch, b.Size(), b.MarshalTo)
}

func (s *streamConn) SendChunk(c pb.Chunk) error {
	return s.send(methodChunk, c.Size(), c.MarshalTo)
}

// Close ends the stream; a snapshot's after the receiver confirmed it
// read every chunk (the poison number and its answer).
func (s *streamConn) Close() {
	if s.conn == nil {
		return
	}
	if s.once {
		s.conn.SetDeadline(time.Now().Add(poisonAckTimeout))
		if _, err := s.conn.Write(poisonNumber[:]); err == nil {
			var ack [magicSize]byte
			io.ReadFull(s.conn, ack[:])
		}
	}
	s.conn.Close()
	s.conn = nil
}
