package netio

import (
	"bytes"
	"sync/atomic"
	"testing"

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
