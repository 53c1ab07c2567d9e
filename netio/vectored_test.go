package netio

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// vecResp is a VectoredResponse with a flexible header (Fetch v12) whose
// body is many slices; it counts releases.
type vecResp struct {
	kmsg.FetchResponse
	body     [][]byte
	released *atomic.Int64
}

func (r *vecResp) BodyVec() [][]byte { return r.body }
func (r *vecResp) ReleaseBody()      { r.released.Add(1) }

func vecBody(n int, seed byte) [][]byte {
	body := make([][]byte, n)
	for i := range body {
		body[i] = bytes.Repeat([]byte{seed + byte(i)}, 1+i%7)
	}
	return body
}

// TestVectoredResponsesWrittenInOrderAndReleasedOnce mixes plain and
// vectored responses (one with more slices than one writev takes) and
// checks the bytes, the order and that every body is released once.
func TestVectoredResponsesWrittenInOrderAndReleasedOnce(t *testing.T) {
	var released atomic.Int64
	sizes := []int{1, 3, 2000, 0, 40}
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		i := int(req.CorrelationID)
		if i%2 == 1 {
			respond(v0Response())
			return nil
		}
		r := &vecResp{body: vecBody(sizes[i/2], byte(i)), released: &released}
		r.Version = 12
		respond(r)
		return nil
	}))
	rc := dial(t, s.Addr())
	for i := int32(0); i < int32(2*len(sizes)); i++ {
		ping(rc, i)
	}
	for i := 0; i < 2*len(sizes); i++ {
		corr, rest := rc.mustRead()
		if corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if i%2 == 1 {
			continue
		}
		want := append([]byte{0}, bytes.Join(vecBody(sizes[i/2], byte(i)), nil)...) // tag byte, body
		if !bytes.Equal(rest, want) {
			t.Fatalf("response %d: %d bytes, want %d", i, len(rest), len(want))
		}
	}
	waitFor(t, "releases", func() bool { return released.Load() == int64(len(sizes)) })
}

// TestVectoredResponseReleasedWhenConnectionIsGone: a response that
// completes after the client left is released, not leaked.
func TestVectoredResponseReleasedWhenConnectionIsGone(t *testing.T) {
	var released atomic.Int64
	hold := make(chan Responder, 1)
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		hold <- respond
		return nil
	}))
	rc := dial(t, s.Addr())
	ping(rc, 1)
	respond := <-hold
	rc.c.Close()
	waitFor(t, "close seen", func() bool { return s.Stats().InFlight == 0 })
	r := &vecResp{body: vecBody(3, 1), released: &released}
	r.Version = 12
	respond(r)
	if released.Load() != 1 {
		t.Fatalf("released %d times, want 1", released.Load())
	}
}

// TestWritesFullSocketThenGnetInOrder: responders write to the socket
// themselves while gnet holds none of the connection's output, and hand
// the rest to gnet when the socket is full. A client that reads nothing
// for a while makes both happen (large vectored answers fill the socket
// buffer; small ones queue behind them): every response must arrive
// whole, byte-exact and in order, every body released once, and, once
// gnet drained, small answers go straight to the socket again.
func TestWritesFullSocketThenGnetInOrder(t *testing.T) {
	var released atomic.Int64
	const n = 40
	big := func(i int) [][]byte { // three 100 KiB slices, distinct per response
		return [][]byte{bytes.Repeat([]byte{byte(i)}, 100<<10), bytes.Repeat([]byte{byte(i + 1)}, 100<<10), bytes.Repeat([]byte{byte(i + 2)}, 100<<10)}
	}
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		i := int(req.CorrelationID)
		if i%3 == 2 {
			respond(v0Response())
			return nil
		}
		r := &vecResp{body: big(i), released: &released}
		r.Version = 12
		respond(r)
		return nil
	}))
	rc := dial(t, s.Addr())
	for i := int32(0); i < n; i++ {
		ping(rc, i)
	}
	waitFor(t, "every request read", func() bool { return s.Stats().Requests == n })
	time.Sleep(20 * time.Millisecond) // answers pile up against the unread socket
	for i := 0; i < n; i++ {
		corr, rest := rc.mustRead()
		if corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if i%3 == 2 {
			continue
		}
		want := append([]byte{0}, bytes.Join(big(i), nil)...)
		if !bytes.Equal(rest, want) {
			t.Fatalf("response %d: %d bytes differ from the %d sent", i, len(rest), len(want))
		}
	}
	waitFor(t, "releases", func() bool { return released.Load() == int64(n-n/3) })
	before := s.Stats().DirectWrites
	for i := int32(n); i < n+5; i++ {
		ping(rc, i)
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("got %d, want %d", corr, i)
		}
	}
	// Counted just after the socket took the bytes: the client may read
	// the last answer first.
	waitFor(t, "five direct writes counted", func() bool { return s.Stats().DirectWrites-before >= 5 })
	if got := s.Stats().DirectWrites - before; got != 5 {
		t.Fatalf("%d of 5 answers after the drain written directly, want all", got)
	}
}
