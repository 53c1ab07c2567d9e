package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// v0Response is a small non-flexible response the ordering tests send for
// every request; the correlation id tells them apart.
func v0Response() kmsg.Response {
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 0
	return r
}

func ping(rc *rawClient, corr int32) {
	rc.t.Helper()
	rc.send(&kmsg.ApiVersionsRequest{Version: 0}, corr)
}

func TestApiVersionsAllVersionsOverRawTCP(t *testing.T) {
	s := startServer(t, Options{}, apiVersionsHandler(apiVersionsMax))
	rc := dial(t, s.Addr())
	for v := int16(0); v <= apiVersionsMax; v++ {
		resp := rc.apiVersions(v, int32(100+v))
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].MaxVersion != apiVersionsMax {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	// KIP-511: a version the broker does not know is answered in v0 with
	// UNSUPPORTED_VERSION; the header is v0 even though the request's was v2.
	if resp := rc.apiVersions(apiVersionsMax+1, 200); resp.ErrorCode != 35 || len(resp.ApiKeys) != 1 {
		t.Fatalf("unsupported version answer: %+v", resp)
	}
	if st := s.Stats(); st.Requests != apiVersionsMax+2 || st.Responses != apiVersionsMax+2 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, Options{MaxRequestBytes: 1024}, apiVersionsHandler(apiVersionsMax))
	good, bad := dial(t, s.Addr()), dial(t, s.Addr())
	good.apiVersions(3, 1)

	// Only the size is sent: the server must not wait for the body.
	bad.write(binary.BigEndian.AppendUint32(nil, 1025))
	bad.expectClosed()

	good.apiVersions(3, 2)
	if st := s.Stats(); st.ClosedOversize != 1 {
		t.Fatalf("ClosedOversize %d, want 1", st.ClosedOversize)
	}
	// A frame of exactly the maximum is accepted (and fails as a request).
	edge := dial(t, s.Addr())
	frame := binary.BigEndian.AppendUint32(nil, 1024)
	frame = append(frame, header(18, 0, 5, nil, nil)...)
	edge.write(append(frame, make([]byte, 1024-10)...))
	if corr, _ := edge.mustRead(); corr != 5 {
		t.Fatalf("frame of exactly MaxRequestBytes: got correlation id %d", corr)
	}
}

func TestNegativeFrameSizeClosesConnection(t *testing.T) {
	s := startServer(t, Options{}, apiVersionsHandler(apiVersionsMax))
	rc := dial(t, s.Addr())
	rc.write([]byte{0xff, 0xff, 0xff, 0xfe})
	rc.expectClosed()
	waitFor(t, "oversize counter", func() bool { return s.Stats().ClosedOversize == 1 })
	dial(t, s.Addr()).apiVersions(4, 1)
}

func TestGarbageHeaderClosesConnectionServerServesOthers(t *testing.T) {
	s := startServer(t, Options{}, apiVersionsHandler(apiVersionsMax))
	other := dial(t, s.Addr())
	for _, garbage := range [][]byte{
		{0, 0, 0, 3, 1, 2, 3}, // frame shorter than any header
		append([]byte{0, 0, 0, 8}, header(3, 1, 1, nil, nil)[:8]...), // client id length cut
		append([]byte{0, 0, 0, 11}, append(header(3, 1, 1, nil, nil)[:8], 0x7f, 0xff, 0)...),
	} {
		rc := dial(t, s.Addr())
		rc.write(garbage)
		rc.expectClosed()
		other.apiVersions(3, 7)
	}
	if st := s.Stats(); st.ClosedBadHeader != 3 {
		t.Fatalf("ClosedBadHeader %d, want 3", st.ClosedBadHeader)
	}
}

// TestResponsesInOrderWhenHandlerCompletesOutOfOrder pipelines requests on
// one connection; the handler answers each from its own goroutine with a
// delay that shrinks with the request number, so completions arrive in
// reverse order.
func TestResponsesInOrderWhenHandlerCompletesOutOfOrder(t *testing.T) {
	const n = 20
	s := startServer(t, Options{MaxQueuedRequests: n}, handlerFunc(func(req *Request, respond Responder) error {
		delay := time.Duration(n-req.CorrelationID) * 2 * time.Millisecond
		go func() {
			time.Sleep(delay)
			respond(v0Response())
		}()
		return nil
	}))
	rc := dial(t, s.Addr())
	for i := int32(0); i < n; i++ {
		ping(rc, i)
	}
	for i := int32(0); i < n; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
}

// TestResponseRingGrowsUnderAnsweredRequests: a connection's response
// ring starts at initialSlots and grows as requests pile up. Here the
// even requests wait while the odd ones are answered at once, so the ring
// grows while it holds answers not yet writable; every response must still
// come out once, in order.
func TestResponseRingGrowsUnderAnsweredRequests(t *testing.T) {
	const n = 100
	release := make(chan struct{})
	var handled atomic.Int32
	s := startServer(t, Options{MaxQueuedRequests: n}, handlerFunc(func(req *Request, respond Responder) error {
		defer handled.Add(1)
		if req.CorrelationID%2 == 1 {
			respond(v0Response())
			return nil
		}
		go func() { <-release; respond(v0Response()) }()
		return nil
	}))
	rc := dial(t, s.Addr())
	// Fill the first ring, its odd answers done but held behind request
	// 0; the next request grows the ring over them.
	for i := int32(0); i < initialSlots; i++ {
		ping(rc, i)
	}
	waitFor(t, "the first ring handled", func() bool { return handled.Load() == initialSlots })
	for i := int32(initialSlots); i < n; i++ {
		ping(rc, i)
	}
	waitFor(t, "every request read", func() bool { return s.Stats().Requests == n })
	close(release)
	for i := int32(0); i < n; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
	waitFor(t, "accounting", func() bool { return s.Stats().InFlight == 0 })
}

// TestNilResponseSkippedLaterStillInOrder: requests with an even
// correlation id get no response (acks=0), some answered late; the odd ones
// still arrive, in order.
func TestNilResponseSkippedLaterStillInOrder(t *testing.T) {
	const n = 30
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		var resp kmsg.Response
		if req.CorrelationID%2 == 1 {
			resp = v0Response()
		}
		if req.CorrelationID%3 == 0 {
			go func() { time.Sleep(3 * time.Millisecond); respond(resp) }()
			return nil
		}
		respond(resp)
		return nil
	}))
	rc := dial(t, s.Addr())
	for i := int32(0); i < n; i++ {
		ping(rc, i)
	}
	for i := int32(1); i < n; i += 2 {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("got correlation id %d, want %d", corr, i)
		}
	}
	waitFor(t, "accounting", func() bool { st := s.Stats(); return st.InFlight == 0 && st.NoResponses == n/2 })
}

// TestBackpressureStopsReadingAndResumes: with MaxQueuedRequests=2 and a
// handler that cannot answer, the server takes two requests and no more,
// whatever the client pipelines; once answers flow it reads the rest.
// Resuming needs no new bytes from the client: the last requests sit in
// gnet's inbound buffer and only Conn.Wake (which re-runs OnTraffic in
// gnet v2.10) gets them read.
func TestBackpressureStopsReadingAndResumes(t *testing.T) {
	for _, mode := range []string{"blocked Handle", "purgatory"} {
		t.Run(mode, func(t *testing.T) {
			const n = 10
			release := make(chan struct{})
			var handled atomic.Int32
			s := startServer(t, Options{MaxQueuedRequests: 2}, handlerFunc(func(req *Request, respond Responder) error {
				handled.Add(1)
				if mode == "blocked Handle" {
					<-release
					respond(v0Response())
					return nil
				}
				go func() { <-release; respond(v0Response()) }()
				return nil
			}))
			rc := dial(t, s.Addr())
			for i := int32(0); i < n; i++ {
				ping(rc, i)
			}
			waitFor(t, "two requests read and the connection paused", func() bool {
				st := s.Stats()
				return st.Requests == 2 && st.Pauses >= 1
			})
			time.Sleep(50 * time.Millisecond) // give a broken bound time to show
			if st := s.Stats(); st.Requests != 2 || st.InFlight != 2 {
				t.Fatalf("read %d requests (%d in flight) with a bound of 2", st.Requests, st.InFlight)
			}
			if mode == "purgatory" && handled.Load() != 2 {
				t.Fatalf("handler saw %d requests, want 2", handled.Load())
			}
			close(release)
			for i := int32(0); i < n; i++ {
				if corr, _ := rc.mustRead(); corr != i {
					t.Fatalf("response %d has correlation id %d", i, corr)
				}
			}
			if got := handled.Load(); got != n {
				t.Fatalf("handled %d, want %d", got, n)
			}
		})
	}
}

func TestQueuedBytesBoundPausesReading(t *testing.T) {
	release := make(chan struct{})
	s := startServer(t, Options{MaxQueuedBytes: 1}, handlerFunc(func(req *Request, respond Responder) error {
		go func() { <-release; respond(v0Response()) }()
		return nil
	}))
	rc := dial(t, s.Addr())
	for i := int32(0); i < 5; i++ {
		ping(rc, i)
	}
	waitFor(t, "pause", func() bool { return s.Stats().Pauses >= 1 })
	time.Sleep(20 * time.Millisecond)
	if st := s.Stats(); st.Requests != 1 {
		t.Fatalf("read %d requests past a 1-byte queue bound", st.Requests)
	}
	close(release)
	for i := int32(0); i < 5; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("got %d, want %d", corr, i)
		}
	}
}

// TestHandlerErrorClosesAfterEarlierResponses: request 0 is answered late,
// request 1 makes Handle fail. Response 0 must still arrive, then EOF, and
// request 2 (pipelined behind) is never handled.
func TestHandlerErrorClosesAfterEarlierResponses(t *testing.T) {
	// On the worker, and inline (the same handler as a netio.Inliner of
	// every request): nothing after the failing request is handled either
	// way.
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			var sawTwo atomic.Bool
			h := &inlineHandler{all: inline, handle: func(req *Request, respond Responder) error {
				switch req.CorrelationID {
				case 0:
					go func() { time.Sleep(30 * time.Millisecond); respond(v0Response()) }()
					return nil
				case 1:
					return errors.New("unsupported version")
				}
				sawTwo.Store(true)
				respond(v0Response())
				return nil
			}}
			var hh Handler = h
			if !inline {
				hh = handlerFunc(h.handle)
			}
			s := startServer(t, Options{}, hh)
			rc := dial(t, s.Addr())
			for i := int32(0); i < 3; i++ {
				ping(rc, i)
			}
			if corr, _ := rc.mustRead(); corr != 0 {
				t.Fatalf("got %d, want 0", corr)
			}
			rc.expectClosed()
			if sawTwo.Load() {
				t.Fatal("request after the failing one was handled")
			}
			waitFor(t, "close accounting", func() bool { st := s.Stats(); return st.OpenConns == 0 && st.InFlight == 0 })
			wantInlined := map[bool]uint64{false: 0, true: 2}[inline]
			if st := s.Stats(); st.ClosedHandlerError != 1 || st.Inlined != wantInlined {
				t.Fatalf("ClosedHandlerError %d, Inlined %d; want 1 and %d", st.ClosedHandlerError, st.Inlined, wantInlined)
			}
			if inline {
				waitFor(t, "ConnClosed", func() bool { return h.closed.Load() == 1 })
			}
		})
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		if req.ClientID == "boom" {
			panic("handler bug")
		}
		respond(v0Response())
		return nil
	}))
	boom := dial(t, s.Addr())
	boom.fmtr = kmsg.NewRequestFormatter(kmsg.FormatterClientID("boom"))
	ping(boom, 1)
	boom.expectClosed()
	rc := dial(t, s.Addr())
	ping(rc, 2)
	if corr, _ := rc.mustRead(); corr != 2 {
		t.Fatal(corr)
	}
}

func TestRespondTwiceIsIgnored(t *testing.T) {
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		respond(v0Response())
		respond(v0Response())
		return nil
	}))
	rc := dial(t, s.Addr())
	ping(rc, 1)
	ping(rc, 2)
	for _, want := range []int32{1, 2} {
		if corr, _ := rc.mustRead(); corr != want {
			t.Fatalf("got %d, want %d", corr, want)
		}
	}
	// The counter moves after the write the client just read: wait for
	// it, then give a second (ignored) respond time to be miscounted.
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Responses < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.Responses != 2 {
		t.Fatalf("responses %d, want 2", st.Responses)
	}
}

func TestRequestFieldsReachHandler(t *testing.T) {
	got := make(chan *Request, 1)
	s := startServer(t, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		got <- req
		respond(v0Response())
		return nil
	}))
	rc := dial(t, s.Addr())
	req := &kmsg.MetadataRequest{Version: 12}
	rc.send(req, 42)
	r := <-got
	if r.Key != 3 || r.Version != 12 || r.CorrelationID != 42 || r.ClientID != "raw" ||
		r.ConnID == 0 || r.RemoteAddr != rc.c.LocalAddr().String() {
		t.Fatalf("request %+v", r)
	}
	body := req.AppendTo(nil)
	if string(r.Body) != string(body) || r.Size != 2+2+4+2+3+1+len(body) {
		t.Fatalf("body %x size %d", r.Body, r.Size)
	}
	rc.mustRead()
}

func TestIdleConnectionClosed(t *testing.T) {
	s := startServer(t, Options{IdleTimeout: 50 * time.Millisecond}, apiVersionsHandler(apiVersionsMax))
	rc := dial(t, s.Addr())
	rc.apiVersions(0, 1)
	start := time.Now()
	rc.expectClosed()
	if time.Since(start) < 40*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", time.Since(start))
	}
	if st := s.Stats(); st.ClosedIdle != 1 {
		t.Fatalf("ClosedIdle %d", st.ClosedIdle)
	}
}

func TestStopLetsInFlightRequestAnswer(t *testing.T) {
	entered := make(chan struct{})
	s := NewServer(Options{Addr: "127.0.0.1:0", Logger: testLogger()}, handlerFunc(func(req *Request, respond Responder) error {
		close(entered)
		go func() { time.Sleep(100 * time.Millisecond); respond(v0Response()) }()
		return nil
	}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rc := dial(t, s.Addr())
	ping(rc, 9)
	<-entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	if corr, _ := rc.mustRead(); corr != 9 {
		t.Fatalf("got %d", corr)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	rc.expectClosed()
	if _, err := dialErr(s.Addr()); err == nil {
		t.Fatal("server still accepts after Stop")
	}
}

func dialErr(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = c.Close()
	}
	return c, err
}

func TestStopGivesUpAtContextDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := NewServer(Options{Addr: "127.0.0.1:0"}, handlerFunc(func(req *Request, respond Responder) error {
		<-release
		return nil
	}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rc := dial(t, s.Addr())
	ping(rc, 1)
	waitFor(t, "request in flight", func() bool { return s.Stats().InFlight == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want deadline exceeded", err)
	}
	rc.expectClosed()
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	s := startServer(t, Options{}, apiVersionsHandler(apiVersionsMax))
	other := NewServer(Options{Addr: s.Addr()}, apiVersionsHandler(apiVersionsMax))
	if err := other.Start(); err == nil {
		_ = other.Stop(context.Background())
		t.Fatal("second server listening on a busy address")
	}
}

// TestManyConnectionsConcurrent drives several pipelining connections at
// once, each checking its own order, with handlers finishing at random.
func TestManyConnectionsConcurrent(t *testing.T) {
	s := startServer(t, Options{Multicore: true, MaxQueuedRequests: 4}, handlerFunc(func(req *Request, respond Responder) error {
		if req.CorrelationID%4 == 0 {
			go func() { time.Sleep(time.Millisecond); respond(v0Response()) }()
			return nil
		}
		respond(v0Response())
		return nil
	}))
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := dial(t, s.Addr())
			const n = 200
			go func() {
				for i := int32(0); i < n; i++ {
					ping(rc, i)
				}
			}()
			for i := int32(0); i < n; i++ {
				corr, _, err := rc.read()
				if err != nil || corr != i {
					t.Errorf("conn %d: response %d: corr %d err %v", c, i, corr, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "drained", func() bool { return s.Stats().InFlight == 0 })
}

// TestPausedPeerSendingPastBoundsIsClosed: gnet keeps draining the socket
// of a paused connection into its own buffer, so a peer that keeps
// sending past MaxQueuedBytes+MaxRequestBytes is cut off rather than
// allowed to grow server memory without limit.
func TestPausedPeerSendingPastBoundsIsClosed(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := startServer(t, Options{MaxQueuedRequests: 1, MaxQueuedBytes: 64, MaxRequestBytes: 1024},
		handlerFunc(func(req *Request, respond Responder) error {
			go func() { <-release; respond(v0Response()) }()
			return nil
		}))
	rc := dial(t, s.Addr())
	fmtr := kmsg.NewRequestFormatter()
	var burst []byte
	for i := int32(0); i < 200; i++ {
		burst = append(burst, fmtr.AppendRequest(nil, &kmsg.ApiVersionsRequest{Version: 0}, i)...) // kmsg sizes from dst[0]: one frame per call
	}
	rc.write(burst)
	rc.expectClosed()
	if st := s.Stats(); st.ClosedOverflow != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
	dial(t, s.Addr()) // the server still accepts
}

// TestUnreadResponsesStopReading: a peer that pipelines requests but does
// not read the (large) responses stops being read once MaxQueuedBytes of
// responses wait in gnet's outbound buffer; when it reads, everything
// arrives in order.
func TestUnreadResponsesStopReading(t *testing.T) {
	const n = 200
	big := make([]byte, 256<<10)
	s := startServer(t, Options{MaxQueuedBytes: 1 << 20}, handlerFunc(func(req *Request, respond Responder) error {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 4
		topic := kmsg.NewFetchResponseTopic()
		part := kmsg.NewFetchResponseTopicPartition()
		part.RecordBatches = big
		topic.Partitions = append(topic.Partitions, part)
		resp.Topics = append(resp.Topics, topic)
		respond(resp)
		return nil
	}))
	rc := dial(t, s.Addr())
	go func() {
		for i := int32(0); i < n; i++ {
			if _, err := rc.c.Write(rc.fmtr.AppendRequest(nil, &kmsg.ApiVersionsRequest{Version: 0}, i)); err != nil {
				return
			}
		}
	}()
	waitFor(t, "output pause", func() bool { return s.Stats().OutputPauses >= 1 })
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.Requests >= n {
		t.Fatalf("read all %d requests while the peer read no response", st.Requests)
	}
	for i := int32(0); i < n; i++ {
		if corr, _ := rc.mustRead(); corr != i {
			t.Fatalf("got %d, want %d", corr, i)
		}
	}
}

// TestRandomBytesNeverBreakServer throws seeded random bytes (some with a
// plausible size prefix) at many connections; the server must survive and
// keep answering a well-behaved connection.
func TestRandomBytesNeverBreakServer(t *testing.T) {
	s := startServer(t, Options{MaxRequestBytes: 4096}, apiVersionsHandler(apiVersionsMax))
	good := dial(t, s.Addr())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		junk := make([]byte, 1+rng.IntN(512))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%2 == 0 { // a valid size with a random header and body
			junk = append(binary.BigEndian.AppendUint32(nil, uint32(len(junk))), junk...)
		}
		rc := dial(t, s.Addr())
		rc.write(junk)
		_ = rc.c.Close()
		good.apiVersions(int16(i%5), int32(i))
	}
	waitFor(t, "all junk connections closed", func() bool { return s.Stats().OpenConns == 1 })
}

// TestStopResetsConnectionsThatGotNoAnswer: while Stop waits for requests
// in flight, a connection opened then, or one that has had no answer yet,
// ends with a reset, not an orderly close: clients take an EOF before the
// first answer (ApiVersions) for a TLS or SASL mismatch and give up
// (franz-go fails the partition's buffered records), a reset they retry.
// A connection that was answered before still answers its request in
// flight.
func TestStopResetsConnectionsThatGotNoAnswer(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	var calls atomic.Int32
	s := NewServer(Options{Addr: "127.0.0.1:0", Logger: testLogger()}, handlerFunc(func(req *Request, respond Responder) error {
		if calls.Add(1) == 1 {
			respond(v0Response())
			return nil
		}
		go func() { <-release; respond(v0Response()) }()
		return nil
	}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	busy := dial(t, s.Addr())
	ping(busy, 1)
	busy.mustRead()
	ping(busy, 2) // held in flight: Stop waits for it
	waitFor(t, "request in flight", func() bool { return s.Stats().InFlight == 1 })
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	waitFor(t, "stopping", func() bool { return s.stopping.Load() })
	// A connection accepted while stopping, closed before the client
	// writes (an orderly close would be a FIN here, and the client would
	// read EOF before the reset its write causes). The dial or the write
	// may see the reset already (then the read sees EOF: the error was
	// taken).
	fresh, err := net.Dial("tcp", s.Addr())
	if err == nil {
		defer fresh.Close()
		time.Sleep(50 * time.Millisecond)
		_, err = fresh.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 7))
	}
	if err == nil {
		_ = fresh.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = fresh.Read(make([]byte, 4))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection opened while stopping: %v, want a reset", err)
	}
	free()
	if corr, _ := busy.mustRead(); corr != 2 {
		t.Fatalf("in-flight answer: correlation %d, want 2", corr)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// bodyRecorder is a handler that answers every request and keeps its
// body, in arrival order.
type bodyRecorder struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *bodyRecorder) Handle(req *Request, respond Responder) error {
	r.mu.Lock()
	r.got = append(r.got, req.Body)
	r.mu.Unlock()
	respond(v0Response())
	return nil
}

// take returns the bodies kept so far and forgets them.
func (r *bodyRecorder) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// framesOf builds pipelined v0 requests of the given body sizes
// (correlation ids 0, 1, ...; body bytes derived from seed): the bodies and
// the bytes on the wire.
func framesOf(seed int, sizes ...int) (bodies [][]byte, stream []byte) {
	for i, size := range sizes {
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(seed + i*31 + j*7)
		}
		bodies = append(bodies, body)
		frame := binary.BigEndian.AppendUint32(nil, uint32(10+size))
		frame = append(frame, header(0, 3, int32(i), nil, nil)...)
		stream = append(stream, append(frame, body...)...)
	}
	return bodies, stream
}

// checkServed reads one response per body, in order, and checks that the
// handler got every body byte-exact.
func checkServed(t *testing.T, rc *rawClient, rec *bodyRecorder, sent [][]byte) {
	t.Helper()
	for i := range sent {
		if corr, _ := rc.mustRead(); corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
	got := rec.take()
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("request %d: body of %d bytes differs from the %d sent", i, len(got[i]), len(sent[i]))
		}
	}
}

// TestFramesArrivingInPiecesReachTheHandlerWhole: frames written in small
// pieces, pipelined, reach the handler byte-exact and in order, whether
// they are filled as they arrive (partial frames) or, past the partial
// budget, buffered by gnet until whole; the budget is given back.
func TestFramesArrivingInPiecesReachTheHandlerWhole(t *testing.T) {
	for _, limit := range []int64{partialBudget, 0} {
		t.Run(fmt.Sprintf("partialLimit=%d", limit), func(t *testing.T) {
			rec := &bodyRecorder{}
			s := startServer(t, Options{}, rec)
			s.partialLimit.Store(limit)
			rc := dial(t, s.Addr())
			sent, stream := framesOf(0, 100<<10, 3, 700<<10, 0, 70_000)
			for len(stream) > 0 { // pieces that split sizes, headers and bodies
				n := min(len(stream), 7001)
				rc.write(stream[:n])
				stream = stream[n:]
				time.Sleep(100 * time.Microsecond)
			}
			checkServed(t, rc, rec, sent)
			if n := s.partialBytes.Load(); n != 0 {
				t.Fatalf("%d bytes of the partial budget not given back", n)
			}
		})
	}
}

// TestFramesAfterADirectlyReadFrameAreServed: a large frame and small ones
// behind it arrive in one write. The large frame's rest is read straight
// from the socket (readDirect), and only its own bytes: the frames behind
// it stay in the socket, and gnet, woken again by the still-readable
// socket (level-triggered), reads and serves them. Every body arrives
// byte-exact, in order.
func TestFramesAfterADirectlyReadFrameAreServed(t *testing.T) {
	rec := &bodyRecorder{}
	s := startServer(t, Options{}, rec)
	rc := dial(t, s.Addr())
	for round := range 3 {
		sent, stream := framesOf(round, 900<<10, 5, 17, 3<<20, 64)
		rc.write(stream)
		checkServed(t, rc, rec, sent)
	}
	if n := s.partialBytes.Load(); n != 0 {
		t.Fatalf("%d bytes of the partial budget not given back", n)
	}
}
