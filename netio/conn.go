package netio

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// dispatched is a request on its way from the loop to the worker.
type dispatched struct {
	req *Request
	seq uint64
}

// slot holds the state of one unanswered request, indexed by seq modulo
// len(conn.slots). The ring starts at initialSlots and doubles, up to
// MaxQueuedRequests, when a request finds it full: an idle connection
// holds initialSlots slots (72 bytes each), not queued.max.requests'.
type slot struct {
	size   int              // bytes on the wire, for the queued-bytes bound
	done   bool             // respond was called
	out    []byte           // encoded response frame (or its header); nil for "no response"
	outBuf *[]byte          // out's pooled buffer (respBufs), returned once out is written or dropped
	body   [][]byte         // VectoredResponse body after out, borrowed
	vr     VectoredResponse // its ReleaseBody is called once body is written or dropped
}

// drop gives back what an unwritten slot holds.
func (sl *slot) drop() {
	if sl.vr != nil {
		sl.vr.ReleaseBody()
	}
	putRespBuf(sl.outBuf)
}

// VectoredResponse is implemented by responses that arrive encoded as a
// list of byte slices, some of them borrowed (Fetch record bytes mapped
// from the log), so they reach the socket by writev without a copy. netio
// builds only the frame header; ReleaseBody is called exactly once, after
// gnet has written the slices to the socket or copied what the socket
// did not take into its own buffer, or when the connection is gone. After
// ReleaseBody the response must not be used.
type VectoredResponse interface {
	kmsg.Response
	BodyVec() [][]byte
	ReleaseBody()
}

// conn is the per-connection state. Ownership:
//
//   - loop goroutine (gnet callbacks): nextSeq, clientID cache, sends on reqs
//     and closes it (OnClose);
//   - worker goroutine: receives on reqs, calls Handler.Handle;
//   - any goroutine (responders, worker, janitor) under mu: the fields
//     marked "guarded by mu".
type conn struct {
	s      *Server
	gc     gnet.Conn
	id     uint64
	remote string
	inl    Inliner      // the handler, if it handles some requests inline
	queued atomic.Int32 // requests sent on reqs and not yet handled by the worker

	// The worker and its queue, made by the loop for the first request
	// not handled inline (a connection that only produces or fetches
	// never has them: 8 KiB of channel and a goroutine's stack saved).
	reqs chan dispatched // cap MaxQueuedRequests; never full, see admit

	// Loop-owned.
	nextSeq      uint64
	lastClientID string
	outPaused    bool    // reading stopped for unread output
	partial      []byte  // a frame read in part, its full size allocated (see onTraffic)
	partialPool  *[]byte // partial's pool holder (frames.go), nil if not pooled
	partialN     int     // bytes of partial filled

	stopRead        atomic.Bool // no more frames are dispatched (error close pending)
	dead            atomic.Bool // gnet closed the connection
	idleClosed      atomic.Bool
	outWakePending  atomic.Bool // an outputPollInterval timer is armed
	lastActiveNanos atomic.Int64

	mu            sync.Mutex
	inflightReqs  int    // guarded by mu: nextSeq - nextWrite
	inflightBytes int64  // guarded by mu
	nextWrite     uint64 // guarded by mu: seq of the next response to write
	slots         []slot // guarded by mu
	paused        bool   // guarded by mu: the loop stopped reading at a bound
	closeSet      bool   // guarded by mu: close once nextWrite reaches closeAt
	closeAt       uint64 // guarded by mu
	closeIssued   bool   // guarded by mu
	closed        bool   // guarded by mu: after OnClose, responses are dropped
	// Output ownership (see writeLocked): while gnet may hold response
	// bytes not yet on the socket, every response goes through it, in
	// order; otherwise the responder writes to the socket itself.
	asyncOut    int  // guarded by mu: writes handed to gnet whose callback has not run
	outBuffered bool // guarded by mu: the last callback saw gnet's outbound buffer non-empty
	// A flush's gathered write, kept between flushes so that a write the
	// socket takes whole allocates nothing (pendingWrite).
	wr pendingWrite // guarded by mu
}

func newConn(s *Server, gc gnet.Conn) *conn {
	cs := &conn{
		s:      s,
		gc:     gc,
		id:     nextConnID.Add(1),
		remote: gc.RemoteAddr().String(),
		slots:  make([]slot, min(initialSlots, s.opts.MaxQueuedRequests)),
	}
	cs.inl, _ = s.h.(Inliner)
	cs.touch()
	return cs
}

func (cs *conn) touch() { cs.lastActiveNanos.Store(time.Now().UnixNano()) }

// idle reports whether nothing is queued or awaiting an answer.
func (cs *conn) idle() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.inflightReqs == 0
}

// onTraffic frames and dispatches every complete request in gnet's inbound
// buffer, until a bound is reached. Loop goroutine; never blocks.
//
// A frame whose bytes are not all there yet is allocated whole (within
// partialBudget) and filled as they arrive: gnet then copies
// nothing into its inbound ring buffer, and nothing out of it, so a large
// produce request is copied once from the socket's read buffer, not
// three times.
func (cs *conn) onTraffic() gnet.Action {
	gc, s := cs.gc, cs.s
	if gc.InboundBuffered() > 0 {
		cs.touch()
	}
	for {
		if cs.stopRead.Load() {
			_, _ = gc.Discard(gc.InboundBuffered())
			cs.dropPartial()
			return gnet.None
		}
		if s.stopping.Load() {
			if cs.nextSeq == 0 {
				resetOnClose(gc) // nothing answered here yet: see resetOnClose
			}
			return gnet.None // leave it; Stop closes the connection
		}
		if cs.partial != nil {
			n, _ := gc.Read(cs.partial[cs.partialN:]) // what gnet holds comes first
			cs.partialN += n
			if cs.partialN < len(cs.partial) && gc.InboundBuffered() == 0 {
				cs.partialN += readDirect(gc.Fd(), cs.partial[cs.partialN:])
			}
			if cs.partialN < len(cs.partial) {
				return gnet.None // every byte there was taken; more to come
			}
			frame, holder := cs.partial, cs.partialPool
			cs.partial, cs.partialPool, cs.partialN = nil, nil, 0
			s.partialBytes.Add(-int64(len(frame)))
			if !cs.dispatchFrame(frame, holder) {
				return gnet.Close
			}
			continue
		}
		buffered := gc.InboundBuffered()
		if buffered < 4 {
			return gnet.None
		}
		p, err := gc.Peek(4)
		if err != nil {
			return gnet.None
		}
		size := int32(binary.BigEndian.Uint32(p))
		if size < 0 || size > s.opts.MaxRequestBytes {
			s.c.oversize.Add(1)
			s.log.Warn("closing connection: request size out of bounds",
				"conn", cs.id, "remote", cs.remote, "size", size, "max", s.opts.MaxRequestBytes)
			return gnet.Close
		}
		if !cs.admit() || cs.outputStalled() {
			if int64(buffered) > s.opts.MaxQueuedBytes+int64(s.opts.MaxRequestBytes)+4 {
				s.c.overflow.Add(1)
				s.log.Warn("closing connection: peer sends past the queue bounds",
					"conn", cs.id, "remote", cs.remote, "buffered", buffered)
				return gnet.Close
			}
			return gnet.None // woken when the queue drains or output flows
		}
		whole := buffered >= 4+int(size)
		if !whole && !s.reservePartial(size) {
			return gnet.None // over the budget: gnet buffers the bytes until the frame is whole
		}
		frame, holder := getFrame(int(size))
		_, _ = gc.Discard(4)
		n, _ := gc.Read(frame)
		if !whole {
			cs.partial, cs.partialPool, cs.partialN = frame, holder, n
			continue // the rest, straight from the socket if it is there
		}
		if n != int(size) {
			return gnet.Close // cannot happen: InboundBuffered said it was there
		}
		if !cs.dispatchFrame(frame, holder) {
			return gnet.Close
		}
	}
}

// readDirect reads the rest of a partial frame from the non-blocking
// socket fd into dst, up to maxDirectRead bytes, and returns how many it
// read. gnet would read them into its loop buffer first and the frame
// would copy them out of it: at acks=1 that copy was 11% of the broker's
// CPU (perf, 2 producers as fast as they go). Only the frame's own bytes
// are read, so the next frame's stay in the socket for gnet. Loop
// goroutine, after gnet's buffered bytes are taken: nothing else reads
// the socket then. An error or end of stream stops it with nothing
// consumed that gnet needs: the socket stays readable (level-triggered),
// and gnet's next read sees the same end or error and closes.
func readDirect(fd int, dst []byte) int {
	total := 0
	for len(dst) > 0 && total < maxDirectRead {
		n, err := unix.Read(fd, dst[:min(len(dst), maxDirectRead-total)])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return total
		}
		total += n
		dst = dst[n:]
	}
	return total
}

// maxDirectRead bounds what one readDirect takes, so that a large frame
// arriving fast does not hold the loop from its other connections (the
// loop comes back to it at once: the socket is still readable).
const maxDirectRead = 1 << 20

// dispatchFrame counts a whole frame in and dispatches it. Loop goroutine.
func (cs *conn) dispatchFrame(frame []byte, holder *[]byte) bool {
	cs.s.c.bytesIn.Add(uint64(len(frame)) + 4)
	return cs.dispatch(frame, holder)
}

// dropPartial gives up a frame read in part (the connection stops reading
// or is gone). Loop goroutine.
func (cs *conn) dropPartial() {
	if cs.partial != nil {
		cs.s.partialBytes.Add(-int64(len(cs.partial)))
		if cs.partialPool != nil {
			putFrame(cs.partialPool) // never dispatched: nothing else has it
		}
		cs.partial, cs.partialPool, cs.partialN = nil, nil, 0
	}
}

// partialBudget bounds the bytes of frames allocated ahead of their
// arrival over every connection of a server (Server.partialLimit): past
// it, peers announcing large frames and sending them slowly make gnet
// buffer what they sent, as without partial frames, instead of costing
// memory they did not send.
const partialBudget = 64 << 20

// reservePartial takes size bytes of the partial-frame budget.
func (s *Server) reservePartial(size int32) bool {
	if s.partialBytes.Add(int64(size)) > s.partialLimit.Load() {
		s.partialBytes.Add(-int64(size))
		return false
	}
	return true
}

// admit reports whether one more request may be read. When not, the
// connection is marked paused so that the responder that frees room wakes
// the loop. Loop goroutine.
func (cs *conn) admit() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.outBuffered && cs.asyncOut == 0 && cs.gc.OutboundBuffered() == 0 {
		cs.outBuffered = false // gnet drained its buffer: answers go straight out again
	}
	if cs.inflightReqs < cs.s.opts.MaxQueuedRequests && cs.inflightBytes < cs.s.opts.MaxQueuedBytes {
		return true
	}
	if !cs.paused {
		cs.paused = true
		cs.s.c.pauses.Add(1)
	}
	return false
}

// outputPollInterval is how often a connection whose peer does not read its
// responses checks whether gnet's outbound buffer has drained (gnet has no
// drain callback).
const outputPollInterval = 10 * time.Millisecond

// outputStalled reports whether gnet holds MaxQueuedBytes or more of
// responses the peer has not read yet. Then no more requests are read (as
// Kafka mutes a channel with a send pending), and a timer re-runs
// OnTraffic to look again. Loop goroutine.
func (cs *conn) outputStalled() bool {
	if int64(cs.gc.OutboundBuffered()) < cs.s.opts.MaxQueuedBytes {
		cs.outPaused = false
		return false
	}
	if !cs.outPaused {
		cs.outPaused = true
		cs.s.c.outputPauses.Add(1)
	}
	if cs.outWakePending.CompareAndSwap(false, true) {
		gc := cs.gc
		time.AfterFunc(outputPollInterval, func() {
			cs.outWakePending.Store(false)
			_ = gc.Wake(nil)
		})
	}
	return true
}

// dispatch parses frame's header and queues the request for the worker.
// It returns false when the connection must close at once. Loop goroutine.
func (cs *conn) dispatch(frame []byte, holder *[]byte) bool {
	s := cs.s
	h, err := parseRequestHeader(frame)
	if err != nil {
		if holder != nil {
			putFrame(holder) // never dispatched
		}
		s.c.badHeader.Add(1)
		s.log.Warn("closing connection: bad request header",
			"conn", cs.id, "remote", cs.remote, "err", err)
		cs.stopRead.Store(true)
		cs.mu.Lock()
		cs.closeAfterLocked(cs.nextSeq)
		cs.mu.Unlock()
		return true
	}
	if string(h.clientID) != cs.lastClientID { // no allocation when equal
		cs.lastClientID = string(h.clientID)
	}
	req := &Request{
		Key:           h.key,
		Version:       h.version,
		CorrelationID: h.correlationID,
		ClientID:      cs.lastClientID,
		Body:          frame[h.headerLen:len(frame):len(frame)],
		Size:          len(frame),
		RemoteAddr:    cs.remote,
		ConnID:        cs.id,
		frame:         holder,
	}
	seq := cs.nextSeq
	cs.nextSeq++
	cs.mu.Lock()
	if cs.inflightReqs == len(cs.slots) {
		cs.growSlotsLocked()
	}
	cs.slots[seq%uint64(len(cs.slots))] = slot{size: len(frame) + 4}
	cs.inflightReqs++
	cs.inflightBytes += int64(len(frame) + 4)
	cs.mu.Unlock()
	s.c.inFlight.Add(1)
	s.c.requests.Add(1)
	d := dispatched{req: req, seq: seq}
	if cs.inl != nil && cs.queued.Load() == 0 && cs.inl.Inline(req.Key, req.Version, len(frame)) {
		// The worker is idle and stays so until the next send on reqs,
		// which only this goroutine makes: the request is handled here,
		// in its turn.
		s.c.inlined.Add(1)
		if err := cs.handle(d); err != nil {
			cs.handlerFailed(d, err)
		}
		return true
	}
	if cs.reqs == nil {
		cs.reqs = make(chan dispatched, s.opts.MaxQueuedRequests)
		s.workers.Add(1)
		go cs.work()
	}
	cs.queued.Add(1)
	select {
	case cs.reqs <- d:
		return true
	default: // admit bounds the queue below its capacity: a bug if reached
		s.log.Error("request queue full despite admission bound", "conn", cs.id)
		return false
	}
}

// work is the connection's worker goroutine: it hands requests to the
// handler one at a time, in arrival order, until the loop closes reqs.
func (cs *conn) work() {
	defer cs.s.workers.Done()
	defer cs.tellClosed()
	failed := false
	for d := range cs.reqs {
		if !failed && !cs.dead.Load() { // else drain: the connection is going away
			if err := cs.handle(d); err != nil {
				failed = true
				cs.handlerFailed(d, err)
			}
		}
		cs.queued.Add(-1)
	}
}

// handlerFailed closes the connection once the responses before d's are
// written, and reads no more of it.
func (cs *conn) handlerFailed(d dispatched, err error) {
	cs.s.c.handlerErr.Add(1)
	cs.s.log.Info("closing connection: handler error", "conn", cs.id, "remote", cs.remote,
		"key", d.req.Key, "version", d.req.Version, "err", err)
	cs.stopRead.Store(true)
	cs.mu.Lock()
	cs.closeAfterLocked(d.seq)
	cs.mu.Unlock()
}

// handle calls the handler, turning a panic into an error so one bad
// request cannot take the broker down.
func (cs *conn) handle(d dispatched) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
	}()
	seq, corr := d.seq, d.req.CorrelationID
	return cs.s.h.Handle(d.req, func(resp kmsg.Response) { cs.complete(seq, corr, resp) })
}

// complete records the response of request seq and writes every response
// now contiguous from nextWrite. Any goroutine.
func (cs *conn) complete(seq uint64, corr int32, resp kmsg.Response) {
	r := slot{done: true}
	if vr, ok := resp.(VectoredResponse); ok {
		r.body, r.vr, r.outBuf = vr.BodyVec(), vr, getRespBuf()
		r.out = appendVectoredHeader((*r.outBuf)[:0], corr, vr, r.body)
	} else if resp != nil {
		r.outBuf = getRespBuf()
		r.out = appendResponse((*r.outBuf)[:0], corr, resp)
	}
	if r.outBuf != nil {
		*r.outBuf = r.out[:0] // a grown buffer goes back to the pool (putRespBuf bounds it)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		r.drop()
		return
	}
	sl := &cs.slots[seq%uint64(len(cs.slots))]
	if seq < cs.nextWrite || seq >= cs.nextWrite+uint64(cs.inflightReqs) || sl.done {
		cs.s.log.Error("respond called twice for one request", "conn", cs.id, "correlation_id", corr)
		r.drop()
		return
	}
	r.size = sl.size
	*sl = r
	cs.flushLocked()
}

// closeAfterLocked arranges for the connection to close once every response
// before seq is written; request seq and later get none.
func (cs *conn) closeAfterLocked(seq uint64) {
	if !cs.closeSet || seq < cs.closeAt {
		cs.closeSet, cs.closeAt = true, seq
	}
	cs.flushLocked()
}

// initialSlots is the response ring of a new connection (conn.slots).
const initialSlots = 8

// growSlotsLocked doubles the response ring (admit keeps it within
// MaxQueuedRequests), moving each unanswered request's slot to its index in
// the larger ring. Callers hold mu.
func (cs *conn) growSlotsLocked() {
	old := cs.slots
	grown := make([]slot, min(2*len(old), cs.s.opts.MaxQueuedRequests))
	for seq := cs.nextWrite; seq < cs.nextWrite+uint64(cs.inflightReqs); seq++ {
		grown[seq%uint64(len(grown))] = old[seq%uint64(len(old))]
	}
	cs.slots = grown
}

// flushLocked hands the contiguous run of completed responses to the event
// loop in one write, issues a pending close, and wakes a paused loop when
// the queue has room again. Called with mu held, which orders the async
// writes of concurrent responders.
func (cs *conn) flushLocked() {
	s := cs.s
	n := uint64(len(cs.slots))
	w := &cs.wr
	for cs.inflightReqs > 0 && (!cs.closeSet || cs.nextWrite < cs.closeAt) {
		sl := &cs.slots[cs.nextWrite%n]
		if !sl.done {
			break
		}
		if sl.out != nil {
			w.add(sl)
		} else {
			s.c.noResp.Add(1)
		}
		cs.inflightReqs--
		cs.inflightBytes -= int64(sl.size)
		*sl = slot{}
		cs.nextWrite++
		s.c.inFlight.Add(-1)
	}
	if w.count > 0 {
		cs.writeLocked(w)
	}
	if cs.closeSet && cs.nextWrite == cs.closeAt && !cs.closeIssued {
		cs.closeIssued = true
		_ = cs.gc.Close() // queued behind the writes above on the loop
	}
	if cs.paused && cs.inflightReqs < s.opts.MaxQueuedRequests && cs.inflightBytes < s.opts.MaxQueuedBytes {
		cs.paused = false
		_ = cs.gc.Wake(nil) // re-runs OnTraffic on the buffered bytes
	}
}

// maxWritevSlices bounds the slices of one AsyncWritev (IOV_MAX is 1024).
const maxWritevSlices = 512

// pendingWrite gathers the contiguous responses of one flush: every slice
// in vec, and what to give back once they are written (pooled buffers,
// borrowed bodies). conn.wr keeps one between flushes: a write the socket
// takes whole reuses its slices; one that goes through gnet takes them
// (writeAsyncLocked), and the next flush starts new ones.
type pendingWrite struct {
	vec   [][]byte
	bufs  []*[]byte
	vrs   []VectoredResponse
	count int
	bytes int
}

func (w *pendingWrite) add(sl *slot) {
	w.count++
	w.vec = append(w.vec, sl.out)
	w.bytes += len(sl.out)
	for _, b := range sl.body {
		w.vec = append(w.vec, b)
		w.bytes += len(b)
	}
	if sl.outBuf != nil {
		w.bufs = append(w.bufs, sl.outBuf)
	}
	if sl.vr != nil {
		w.vrs = append(w.vrs, sl.vr)
	}
}

// written gives back what the write held, and empties w for the next
// flush, keeping its slices (their references cleared: a body or buffer
// must not stay reachable from here).
func (w *pendingWrite) written() {
	releaseAll(w.vrs)
	for _, b := range w.bufs {
		putRespBuf(b)
	}
	if cap(w.vec) > maxKeptWriteSlices { // a big fetch's: not kept by an idle connection
		*w = pendingWrite{}
		return
	}
	clear(w.vec)
	clear(w.bufs)
	clear(w.vrs)
	*w = pendingWrite{vec: w.vec[:0], bufs: w.bufs[:0], vrs: w.vrs[:0]}
}

// maxKeptWriteSlices bounds the slices a connection keeps between writes.
const maxKeptWriteSlices = 64

// writeLocked puts w on the socket. When gnet holds no output of this
// connection (nothing handed to it is unwritten), the responder writes
// itself, on its own goroutine: the socket is non-blocking, so this costs
// one writev and never waits, and the loop is not woken for it (a wake is
// an eventfd write, a loop hand-off and two epoll_waits per response).
// What the socket does not take, and every write while gnet still holds
// output, goes through gnet's AsyncWritev, which keeps the order. The fd
// is valid here: gnet closes it only after OnClose, which sets closed
// under mu. Pooled buffers and borrowed bodies are given back once
// written, or by the async write's callback: by then gnet has written
// them or copied the rest.
func (cs *conn) writeLocked(w *pendingWrite) {
	s := cs.s
	vec := w.vec
	// Counted before the bytes can reach the peer: a client that reads
	// a response and then the server's stats sees it counted.
	s.c.responses.Add(uint64(w.count))
	s.c.bytesOut.Add(uint64(w.bytes))
	if cs.asyncOut == 0 && !cs.outBuffered {
		var err error
		if vec, err = writeDirect(cs.gc.Fd(), vec); err != nil {
			s.log.Debug("closing connection: write failed", "conn", cs.id, "remote", cs.remote, "err", err)
			w.written()
			_ = cs.gc.Close()
			return
		}
	}
	cs.touch()
	if len(vec) == 0 { // the socket took it all
		s.c.directWrites.Add(1)
		w.written()
		return
	}
	cs.writeAsyncLocked(vec, w)
}

// writeAsyncLocked hands vec (the unwritten rest of w's slices) to the
// loop, in chunks below IOV_MAX that the loop writes in order; the last
// chunk's callback gives back what w held. w's slices go with it: cs.wr
// starts new ones.
func (cs *conn) writeAsyncLocked(vec [][]byte, w *pendingWrite) {
	s := cs.s
	s.c.asyncWrites.Add(1)
	cs.asyncOut++
	held := *w
	*w = pendingWrite{}
	var once atomic.Bool
	done := func(gc gnet.Conn, _ error) error { // on the loop
		if once.CompareAndSwap(false, true) {
			cs.asyncDone(gc)
			held.written()
		}
		return nil
	}
	var err error
	for len(vec) > 0 && err == nil {
		n := min(len(vec), maxWritevSlices)
		cb := done
		if n < len(vec) {
			cb = nil
		}
		if n == 1 {
			err = cs.gc.AsyncWrite(vec[0], cb)
		} else {
			err = cs.gc.AsyncWritev(vec[:n:n], cb)
		}
		vec = vec[n:]
	}
	if err != nil && once.CompareAndSwap(false, true) { // the loop is gone; the connection dies with it
		cs.asyncOut--
		s.c.asyncWrites.Add(-1)
		held.written()
	}
}

// asyncDone runs on the loop after gnet took an async write: once no other
// is queued and gnet's outbound buffer is empty, responders may write to
// the socket themselves again (nothing of gnet's is left to overtake).
func (cs *conn) asyncDone(gc gnet.Conn) {
	cs.s.c.asyncWrites.Add(-1)
	cs.mu.Lock()
	cs.asyncOut--
	cs.outBuffered = gc.OutboundBuffered() > 0
	cs.mu.Unlock()
}

func releaseAll(vrs []VectoredResponse) {
	for _, vr := range vrs {
		vr.ReleaseBody()
	}
}

// writeDirect writes vec to the non-blocking socket fd until it is all
// written or the socket is full, and returns what is left (slices of vec,
// nil when everything went). An error other than EAGAIN means the
// connection is broken.
func writeDirect(fd int, vec [][]byte) ([][]byte, error) {
	for len(vec) > 0 {
		var n int
		var err error
		if len(vec) == 1 {
			n, err = unix.Write(fd, vec[0])
		} else {
			n, err = unix.Writev(fd, vec[:min(len(vec), maxWritevSlices)])
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return vec, nil
		case err != nil:
			return nil, err
		}
		for n > 0 && len(vec) > 0 {
			if n < len(vec[0]) {
				vec[0] = vec[0][n:]
				break
			}
			n -= len(vec[0])
			vec = vec[1:]
		}
		for len(vec) > 0 && len(vec[0]) == 0 {
			vec = vec[1:]
		}
	}
	return nil, nil
}

// onClose runs on the loop when gnet closes the connection: responses still
// to come are dropped, the worker is told to finish.
func (cs *conn) onClose() {
	cs.dead.Store(true)
	cs.dropPartial()
	cs.mu.Lock()
	cs.closed = true
	for i := range cs.slots { // answered but never written: unpin bodies
		cs.slots[i].drop()
		cs.slots[i] = slot{}
	}
	cs.s.c.inFlight.Add(-int64(cs.inflightReqs))
	cs.inflightReqs, cs.inflightBytes = 0, 0
	cs.mu.Unlock()
	if cs.reqs == nil {
		cs.tellClosed() // no worker: every request was handled inline, here
		return
	}
	close(cs.reqs)
}

// tellClosed tells the handler the connection is gone, once nothing of it is
// being handled: from the worker when it ends, or from onClose when the
// connection never had one.
func (cs *conn) tellClosed() {
	if cc, ok := cs.s.h.(ConnCloser); ok {
		cc.ConnClosed(cs.id)
	}
}

// resetOnClose makes the close of gc, which has not answered anything, a
// reset (SO_LINGER 0) instead of an orderly end: a client takes an EOF
// before the first answer (ApiVersions) for a protocol mismatch (TLS,
// SASL) and gives up; franz-go fails every buffered record of the
// partition then. A reset, like a connection refused once the listener is
// gone, is a network error it retries against another broker. Seen in
// TestFailover/RollingRestartWithSIGTERM: a producer connecting while a
// broker stopped after its controlled shutdown lost 113 records.
func resetOnClose(gc gnet.Conn) {
	_ = gc.SetLinger(0)
}
