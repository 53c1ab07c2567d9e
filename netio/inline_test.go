package netio

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// inlineHandler handles ApiVersions (all: every request) inline
// (Inliner) and everything else on the connection's worker; it counts
// ConnClosed calls.
type inlineHandler struct {
	handle func(req *Request, respond Responder) error
	all    bool
	closed atomic.Int32
}

func (h *inlineHandler) Handle(req *Request, respond Responder) error { return h.handle(req, respond) }
func (h *inlineHandler) Inline(key, _ int16, _ int) bool              { return key == apiVersionsKey }
func (h *inlineHandler) ConnClosed(uint64)                            { h.closed.Add(1) }

// TestInlineRequestWaitsForTheWorkersTurn: a request the handler would
// take inline is handled on the worker, after the requests before it,
// while the worker has any: a connection's requests are handled one at a
// time, in order. Once the worker is idle they are inline again.
func TestInlineRequestWaitsForTheWorkersTurn(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var events []string
	h := &inlineHandler{handle: func(req *Request, respond Responder) error {
		if req.Key != apiVersionsKey {
			<-release // the worker is busy with this one
			mu.Lock()
			events = append(events, "slow done")
			mu.Unlock()
			respond(v0Response())
			return nil
		}
		mu.Lock()
		events = append(events, "ping")
		mu.Unlock()
		respond(v0Response())
		return nil
	}}
	s := startServer(t, Options{}, h)
	rc := dial(t, s.Addr())
	rc.send(kmsg.NewPtrMetadataRequest(), 0)
	for i := int32(1); i <= 3; i++ {
		ping(rc, i)
	}
	waitFor(t, "the requests read", func() bool { return s.Stats().Requests == 4 })
	time.Sleep(20 * time.Millisecond) // room for a ping wrongly handled now
	mu.Lock()
	early := len(events)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("%d requests handled while the one before them was still being handled", early)
	}
	close(release)
	for i := int32(0); i <= 3; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
	if n := s.Stats().Inlined; n != 0 {
		t.Fatalf("%d requests inlined behind a busy worker, want 0", n)
	}
	// The worker is idle once it has handled all four (it counts them
	// down after each handler returns).
	waitFor(t, "the worker idle", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, cs := range s.conns {
			if cs.queued.Load() != 0 {
				return false
			}
		}
		return true
	})
	ping(rc, 4)
	ping(rc, 5)
	for i := int32(4); i <= 5; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
	if n := s.Stats().Inlined; n != 2 {
		t.Fatalf("Inlined %d after two requests to an idle worker, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"slow done", "ping", "ping", "ping", "ping", "ping"}
	if len(events) != len(want) || events[0] != want[0] {
		t.Fatalf("handled in the order %v, want %v", events, want)
	}
}

// TestConnClosedOnceWithOrWithoutAWorker: the handler hears of a
// connection's end once, whether every request of it was inline (no
// worker was ever started) or some went through its worker.
func TestConnClosedOnceWithOrWithoutAWorker(t *testing.T) {
	h := &inlineHandler{handle: func(req *Request, respond Responder) error {
		respond(v0Response())
		return nil
	}}
	s := startServer(t, Options{}, h)
	inlineOnly := dial(t, s.Addr())
	ping(inlineOnly, 1)
	inlineOnly.mustRead()
	mixed := dial(t, s.Addr())
	mixed.send(kmsg.NewPtrMetadataRequest(), 1)
	ping(mixed, 2)
	mixed.mustRead()
	mixed.mustRead()
	if n := s.Stats().Inlined; n < 1 || n > 2 {
		t.Fatalf("Inlined %d, want 1 or 2", n)
	}
	_ = inlineOnly.c.Close()
	_ = mixed.c.Close()
	waitFor(t, "both connections closed", func() bool { return s.Stats().OpenConns == 0 })
	waitFor(t, "ConnClosed for both", func() bool { return h.closed.Load() >= 2 })
	time.Sleep(20 * time.Millisecond)
	if n := h.closed.Load(); n != 2 {
		t.Fatalf("ConnClosed called %d times for 2 connections", n)
	}
}
