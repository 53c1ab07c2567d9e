// Package kwire is a minimal Kafka wire client for broker-to-broker
// traffic: one connection, Kafka framing (4-byte size, request header
// v1/v2, response header v0/v1), one request at a time, kmsg for the
// bodies. Followers fetch with it (replicate) and brokers heartbeat the
// controller with it (raftmeta): any Kafka tool can read what it sends.
package kwire

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes bounds a response frame a client reads (a leader
// honours a fetch's MaxBytes, except that one batch may exceed it).
const maxResponseBytes = 256 << 20

// Conn is a connection to one broker. It is not safe for concurrent use:
// one goroutine owns it.
type Conn struct {
	nc       net.Conn
	clientID string
	corr     int32
	wbuf     []byte
	// Read buffers, reused: a Fetch response's records live in fbuf until
	// the next Fetch, so other requests made while it is applied
	// (ListOffsets) read into obuf.
	fbuf, obuf []byte
}

// Dial connects to addr; clientID names this side in request headers.
func Dial(ctx context.Context, addr string, timeout time.Duration, clientID string) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &Conn{nc: nc, clientID: clientID}, nil
}

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// RoundTrip writes req and decodes the response into resp (whose version
// it sets). It returns the bytes read. A Fetch response may alias the
// connection's fetch buffer until the next Fetch; other responses the
// other buffer until the next non-Fetch request. Cancelling ctx unblocks
// it.
func (c *Conn) RoundTrip(ctx context.Context, req kmsg.Request, resp kmsg.Response, deadline time.Time) (int, error) {
	return c.RoundTripUnlessAnswering(ctx, context.Background(), req, resp, deadline)
}

// RoundTripUnlessAnswering is RoundTrip, except for a second context:
// cancelling soft unblocks it only while no byte of the response has
// arrived. Once the broker has begun to answer, the response is read whole
// (unless ctx is cancelled): a follower that stops waiting on a parked
// fetch to fetch again with a new partition does not throw away records
// the leader already sent, only to read them again.
func (c *Conn) RoundTripUnlessAnswering(ctx, soft context.Context, req kmsg.Request, resp kmsg.Response, deadline time.Time) (int, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	// Set before the cancels are watched: a context already done unblocks
	// at once, after it.
	var (
		mu                     sync.Mutex
		begun, cut, softCalled bool
	)
	unblock := func() { c.nc.SetDeadline(time.Unix(1, 0)) }
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		cut = true
		unblock()
	})
	defer stop()
	stopSoft := context.AfterFunc(soft, func() {
		mu.Lock()
		defer mu.Unlock()
		if !begun {
			softCalled = true
			unblock()
		}
	})
	defer stopSoft()
	// answering runs once the response's size has arrived: from then on
	// only ctx cuts the exchange short.
	answering := func() error {
		mu.Lock()
		defer mu.Unlock()
		begun = true
		if softCalled && !cut {
			return c.nc.SetDeadline(deadline) // soft came between the size and now
		}
		return nil
	}
	c.corr++
	if err := c.write(req); err != nil {
		return 0, fmt.Errorf("write %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	buf := &c.obuf
	if req.Key() == kmsg.Fetch.Int16() {
		buf = &c.fbuf
	}
	n, body, err := c.read(buf, req.IsFlexible(), answering)
	if err != nil {
		return n, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return n, fmt.Errorf("decode %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return n, nil
}

// write frames req with a request header v1 (v2 when flexible).
func (c *Conn) write(req kmsg.Request) error {
	b := append(c.wbuf[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(c.corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.clientID)))
	b = append(b, c.clientID...)
	if req.IsFlexible() {
		b = append(b, 0) // no header tags
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

// read reads one response frame and returns its body (after the response
// header: correlation id, plus tags when flexible); answering runs once
// the frame's size has arrived.
func (c *Conn) read(buf *[]byte, flexible bool, answering func() error) (int, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, nil, err
	}
	if err := answering(); err != nil {
		return 4, nil, err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponseBytes {
		return 4, nil, fmt.Errorf("response frame of %d bytes", n)
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	frame := (*buf)[:n]
	if _, err := io.ReadFull(c.nc, frame); err != nil {
		return 4, nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != c.corr {
		return 4 + n, nil, fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	body := frame[4:]
	if flexible {
		tags, k := binary.Uvarint(body)
		if k <= 0 || tags != 0 {
			return 4 + n, nil, fmt.Errorf("response header with %d tags", tags)
		}
		body = body[k:]
	}
	return 4 + n, body, nil
}
