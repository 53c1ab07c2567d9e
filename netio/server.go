package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// Request is one decoded Kafka request frame. Body is the request body after
// the header, owned by the handler (a copy, never aliasing gnet buffers).
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string // "" when null
	Body          []byte
	Size          int // frame size (the size field: header + body), for accounting
	RemoteAddr    string
	ConnID        uint64 // unique among every Server's connections in the process

	frame *[]byte // Body's pooled frame (frames.go), until Release
}

// Release gives the memory of Body back to the server, for the frames of
// later requests. A handler calls it at most once, from any goroutine,
// when nothing reads Body or a slice of it again (after, those bytes are
// another request's); a request never released is left to the garbage
// collector, so a handler calls it only where it knows the body's last
// use (the engine: a produce request once its response is written).
func (r *Request) Release() {
	if h := r.frame; h != nil {
		r.frame, r.Body = nil, nil
		putFrame(h)
	}
}

// Responder sends the response of one request. It must be called exactly
// once, from any goroutine. resp == nil means "no response" (acks=0 produce),
// and the connection's next responses still go out in order. A second call
// for the same request is ignored and logged.
type Responder func(resp kmsg.Response)

// Handler serves requests. Handle is called on the connection's worker
// goroutine (never on a gnet loop goroutine), one request at a time per
// connection in arrival order; it may call respond later from another
// goroutine (a parked request), so that the next request of the connection is
// handled before the previous is answered. A non-nil error closes the
// connection (broken/undecodable request, unsupported version) after
// responses already queued ahead of it are written.
type Handler interface {
	Handle(req *Request, respond Responder) error
}

// nextConnID numbers connections across every Server of the process, so a
// ConnID names one connection even when a Handler serves several
// listeners (a broker's client and replication listeners).
var nextConnID atomic.Uint64

// ConnCloser is implemented by Handlers that want to know when a
// connection is gone: ConnClosed(id) is called once per connection, on its
// worker goroutine after its last request was handled (never on an event
// loop), with the ConnID its requests carried.
type ConnCloser interface {
	ConnClosed(connID uint64)
}

// Inliner is implemented by Handlers some of whose requests may be
// handled on the event loop itself, without the hand-off to the
// connection's worker goroutine (a channel send that wakes another
// thread: at a low request rate the hand-offs, not the requests, were
// most of the broker's CPU). Inline reports whether a request of that
// key, version and frame size may be: its Handle must not block (no lock
// held across a slow call, no wait for another request, no network
// round trip), since every connection of the loop waits for it. netio
// asks only when the connection's worker is idle (nothing queued or being
// handled), so a connection's requests are still handled one at a time,
// in order.
type Inliner interface {
	Inline(key, version int16, size int) bool
}

// Drainer is implemented by Handlers that hold requests back (a long-poll
// fetch parked until data arrives or its max wait ends): Stop calls
// Drain once, before it waits for every request read to be answered, so
// that they are answered now and a stop does not last as long as the
// longest wait a client asked for.
type Drainer interface {
	Drain()
}

// Options configures a Server. Zero values take the defaults listed.
type Options struct {
	Addr              string        // host:port, e.g. 127.0.0.1:9092 (default 127.0.0.1:9092)
	MaxRequestBytes   int32         // socket.request.max.bytes: a frame larger closes the connection at once (default 100 MiB)
	MaxQueuedRequests int           // per-connection bound on requests read but not yet answered (default 100)
	MaxQueuedBytes    int64         // per-connection bound on bytes of requests read but not answered (default 100 MiB)
	IdleTimeout       time.Duration // connections.max.idle.ms (default 10 min)
	Multicore         bool          // gnet multicore loops (default true in cmd)
	Logger            *slog.Logger  // default: discard
}

// Defaults, named after the Kafka settings they stand for.
const (
	DefaultAddr              = "127.0.0.1:9092"
	DefaultMaxRequestBytes   = 100 << 20 // socket.request.max.bytes
	DefaultMaxQueuedRequests = 100
	DefaultMaxQueuedBytes    = 100 << 20
	DefaultIdleTimeout       = 10 * time.Minute // connections.max.idle.ms
)

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.MaxQueuedRequests <= 0 {
		o.MaxQueuedRequests = DefaultMaxQueuedRequests
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats are cumulative counters of a Server (gauges say so).
type Stats struct {
	OpenConns          int64  // gauge: connections open now
	AcceptedConns      uint64 // connections opened
	InFlight           int64  // gauge: requests read but not answered, over all connections
	Requests           uint64 // request frames read and dispatched
	Responses          uint64 // response frames handed to the socket
	NoResponses        uint64 // requests answered with nil (acks=0): nothing written
	BytesIn            uint64 // request bytes consumed, size prefixes included
	BytesOut           uint64 // response bytes handed to the socket, size prefixes included
	Pauses             uint64 // times a connection stopped reading because its queue was full
	OutputPauses       uint64 // times a connection stopped reading because its peer did not read MaxQueuedBytes of responses
	ClosedOversize     uint64 // connections closed for a negative or too-large frame size
	ClosedBadHeader    uint64 // connections closed for an unparseable request header
	ClosedHandlerError uint64 // connections closed because Handle returned an error (or panicked)
	ClosedIdle         uint64 // connections closed after IdleTimeout without traffic
	ClosedOverflow     uint64 // paused connections closed because the peer kept sending past every bound
	DirectWrites       uint64 // response writes the responder put on the socket itself, all of it (not through the loop)
	Inlined            uint64 // requests handled on the event loop (Inliner), not by the connection's worker
}

type counters struct {
	openConns, inFlight, asyncWrites      atomic.Int64
	accepted, requests, responses, noResp atomic.Uint64
	bytesIn, bytesOut, pauses             atomic.Uint64
	oversize, badHeader, handlerErr, idle atomic.Uint64
	overflow, outputPauses, directWrites  atomic.Uint64
	inlined                               atomic.Uint64
}

// Server is a Kafka-framed TCP server on gnet event loops.
type Server struct {
	opts Options
	h    Handler
	log  *slog.Logger

	booted  chan struct{} // closed by OnBoot
	runDone chan struct{} // closed when gnet.Run returns
	runErr  error         // written before runDone is closed
	eng     gnet.Engine   // written by OnBoot before booted is closed
	addr    string        // written by OnBoot before booted is closed

	stopping     atomic.Bool
	partialBytes atomic.Int64 // frames allocated ahead of their bytes (conn.partial), over every connection
	partialLimit atomic.Int64 // partialBudget (tests lower it)
	stopOnce     sync.Once
	janitorEnd   chan struct{}
	workers      sync.WaitGroup

	mu    sync.Mutex
	conns map[uint64]*conn // guarded by mu

	c counters
}

// NewServer returns a server for opts (defaults filled in) that hands
// requests to h. It does not listen until Start.
func NewServer(opts Options, h Handler) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:       opts,
		h:          h,
		log:        opts.Logger.With("component", "netio"),
		booted:     make(chan struct{}),
		runDone:    make(chan struct{}),
		janitorEnd: make(chan struct{}),
		conns:      make(map[uint64]*conn),
	}
	s.partialLimit.Store(partialBudget)
	return s
}

// Start listens on Options.Addr and serves in the background. It returns
// once the listener is bound, or the error that prevented it.
func (s *Server) Start() error {
	go func() {
		err := gnet.Run(&loopHandler{s: s}, "tcp://"+s.opts.Addr,
			gnet.WithMulticore(s.opts.Multicore),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReuseAddr(true), // rebind at once after a crash (TIME_WAIT)
			// Level-triggered (gnet's default): readDirect leaves the bytes
			// after a frame in the socket, which stays readable for gnet.
			gnet.WithEdgeTriggeredIO(false),
			gnet.WithLogger(gnetLogger{s.log}),
		)
		s.runErr = err
		close(s.runDone)
	}()
	select {
	case <-s.booted:
		go s.janitor()
		s.log.Info("listening", "addr", s.addr, "multicore", s.opts.Multicore)
		return nil
	case <-s.runDone:
		if s.runErr == nil {
			return errors.New("netio: server stopped before it started")
		}
		return fmt.Errorf("netio: listen on %s: %w", s.opts.Addr, s.runErr)
	}
}

// Addr returns the bound address (the real port when Options.Addr had port
// 0). Valid after Start returned nil.
func (s *Server) Addr() string { return s.addr }

// Stop stops taking new connections and new requests, lets requests already
// handed to the handler answer (until ctx is done), then closes every
// connection and the listener. It returns ctx.Err() if ctx ended first.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.stop(ctx) })
	return err
}

func (s *Server) stop(ctx context.Context) error {
	s.stopping.Store(true)
	select {
	case <-s.booted:
	default:
		return errors.New("netio: Stop before a successful Start")
	}
	close(s.janitorEnd)
	if d, ok := s.h.(Drainer); ok {
		d.Drain()
	}
	var ctxErr error
	ctxErr = s.waitDrained(ctx)

	// Engine.Stop polls for completion every 500ms; gnet.Run returning
	// says the same sooner, so wait on that instead.
	stopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.eng.Stop(stopCtx) }()
	<-s.runDone

	workersDone := make(chan struct{})
	go func() { s.workers.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	s.log.Info("stopped", "addr", s.addr)
	return ctxErr
}

// waitDrained waits until every request read has been answered and every
// answer handed to its event loop, or ctx is done.
func (s *Server) waitDrained(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.c.inFlight.Load() > 0 || s.c.asyncWrites.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		OpenConns:          s.c.openConns.Load(),
		AcceptedConns:      s.c.accepted.Load(),
		InFlight:           s.c.inFlight.Load(),
		Requests:           s.c.requests.Load(),
		Responses:          s.c.responses.Load(),
		NoResponses:        s.c.noResp.Load(),
		BytesIn:            s.c.bytesIn.Load(),
		BytesOut:           s.c.bytesOut.Load(),
		Pauses:             s.c.pauses.Load(),
		OutputPauses:       s.c.outputPauses.Load(),
		ClosedOversize:     s.c.oversize.Load(),
		ClosedBadHeader:    s.c.badHeader.Load(),
		ClosedHandlerError: s.c.handlerErr.Load(),
		ClosedIdle:         s.c.idle.Load(),
		ClosedOverflow:     s.c.overflow.Load(),
		DirectWrites:       s.c.directWrites.Load(),
		Inlined:            s.c.inlined.Load(),
	}
}

// janitor closes connections idle for longer than IdleTimeout. It runs on
// its own goroutine; gnet's Conn.Close is safe from any goroutine.
func (s *Server) janitor() {
	interval := min(max(s.opts.IdleTimeout/4, 5*time.Millisecond), time.Second)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.janitorEnd:
			return
		case now := <-tick.C:
			s.closeIdle(now)
		}
	}
}

func (s *Server) closeIdle(now time.Time) {
	deadline := now.Add(-s.opts.IdleTimeout).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.conns {
		if cs.lastActiveNanos.Load() < deadline && cs.idle() && cs.idleClosed.CompareAndSwap(false, true) {
			s.c.idle.Add(1)
			s.log.Debug("closing idle connection", "conn", cs.id, "remote", cs.remote)
			_ = cs.gc.Close()
		}
	}
}

// loopHandler adapts Server to gnet's callbacks. Every method runs on a
// gnet event-loop goroutine and must not block.
type loopHandler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (l *loopHandler) OnBoot(eng gnet.Engine) gnet.Action {
	s := l.s
	s.eng = eng
	s.addr = s.opts.Addr
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			s.addr = sockaddrString(sa, s.opts.Addr)
		}
		_ = unix.Close(fd)
	}
	close(s.booted)
	return gnet.None
}

func sockaddrString(sa unix.Sockaddr, fallback string) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return fallback
}

func (l *loopHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := l.s
	if s.stopping.Load() {
		resetOnClose(gc)
		return nil, gnet.Close
	}
	cs := newConn(s, gc)
	gc.SetContext(cs)
	s.mu.Lock()
	s.conns[cs.id] = cs
	s.mu.Unlock()
	s.c.accepted.Add(1)
	s.c.openConns.Add(1)
	return nil, gnet.None
}

func (l *loopHandler) OnClose(gc gnet.Conn, err error) gnet.Action {
	cs, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	s := l.s
	cs.onClose()
	s.mu.Lock()
	delete(s.conns, cs.id)
	s.mu.Unlock()
	s.c.openConns.Add(-1)
	if err != nil {
		s.log.Debug("connection closed", "conn", cs.id, "remote", cs.remote, "err", err)
	}
	return gnet.None
}

func (l *loopHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	cs, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	return cs.onTraffic()
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
