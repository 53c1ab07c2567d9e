package engine

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/engine/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceCall is one Produce request from decode to response, pooled so
// the steady-state produce path allocates nothing: the decoded request,
// one result per partition, the Sync waiters of an acks=-1 request (each
// with its done callback made once per pooled object) and the encoded
// response. It is the response too: a netio VectoredResponse whose body
// is the one framed slice; netio calls ReleaseBody once it is written.
// A caller that never calls ReleaseBody just leaves it to the garbage
// collector.
//
// Lifetime: refs counts the holders — the response (until ReleaseBody),
// each acks=-1 wait (until its Sync callback, which may come after the
// request timed out and was answered) and the timeout timer while armed;
// the last one returns the call to the pool. pending counts what the
// answer waits for: the waits not yet settled and the handler itself. A
// wait is settled once, by its callback or by the timeout (state CAS), so
// a late callback changes nothing in an answer already sent.
//
// The embedded kmsg.ProduceResponse carries the version and the
// kmsg.Response methods; its fields stay empty. AppendTo is overridden
// (a copy of the body) for callers that do not know BodyVec.
//
// Wire layout written (kmsg's field order; flexible = v9+):
//
//	Topics [ Topic string (v3-12) | TopicID uuid (v13+)
//	         Partitions [ Partition i32 | ErrorCode i16 | BaseOffset i64
//	                      | LogAppendTime i64 | LogStartOffset i64 (v5+)
//	                      | ErrorRecords [] (v8+) | ErrorMessage nullable
//	                        string (v8+) | tags ]
//	         | tags ]
//	| ThrottleMillis i32 | tags
//
// CurrentLeader and NodeEndpoints (v10+ tagged fields) are never set by
// Chronik, so, as kmsg does for default values, they are not written.
type produceCall struct {
	kmsg.ProduceResponse

	req     produceRequest
	results []produceResult // one per req.parts entry
	waits   []*produceWait  // grown once, reused with their callbacks
	nWaits  int
	pending atomic.Int32 // waits not yet settled, +1 while the handler registers them
	refs    atomic.Int32 // holders of the call (see Lifetime above)
	timer   *time.Timer  // the acks=-1 timeout, made once per pooled call
	armed   bool         // timer armed for this request (set before the handler's done)
	respond func(kmsg.Response)

	appendedTo []*partition.Partition // partitions this request appended to, for runWaiters
	body       interface{ Release() } // Request.BodyOwner: the request frame, released in recycle

	frame []byte
	vec   [][]byte
}

// produceResult is one partition's answer.
type produceResult struct {
	errCode                                 int16
	hasMsg                                  bool   // errMsg is sent (v8+); else null
	errMsg                                  string // a kerr message: static, no allocation
	baseOffset, logAppendTime, logStartOffs int64
}

// produceWait is one partition of an acks=-1 request waiting for its
// offsets to be durable.
type produceWait struct {
	c     *produceCall
	part  int // index in results
	done  func(*kerr.Error)
	state atomic.Int32 // waitPending, then waitSynced or waitTimedOut
}

// States of a produceWait.
const (
	waitPending int32 = iota
	waitSynced
	waitTimedOut
)

var produceCalls = sync.Pool{New: func() any { return new(produceCall) }}

func getProduceCall() *produceCall {
	c := produceCalls.Get().(*produceCall)
	c.refs.Store(1) // the response's
	c.armed = false
	return c
}

// resetResults sizes results for the decoded request, all zero.
func (c *produceCall) resetResults() {
	n := len(c.req.parts)
	if cap(c.results) < n {
		c.results = make([]produceResult, n)
	}
	c.results = c.results[:n]
	clear(c.results)
	c.nWaits = 0
	c.appendedTo = c.appendedTo[:0]
}

// runWaiters wakes the parked fetches of every partition the request
// appended to, on the handler's goroutine (no lock is held here): one
// fetch answer can carry all of the request's batches, with no goroutine
// hand-off between the append and the answer.
func (c *produceCall) runWaiters() {
	for _, p := range c.appendedTo {
		p.RunWaiters()
	}
	clear(c.appendedTo)
	c.appendedTo = c.appendedTo[:0]
}

// addWait returns a waiter for results[part], reusing a pooled one.
func (c *produceCall) addWait(part int) *produceWait {
	if c.nWaits == len(c.waits) {
		w := &produceWait{c: c}
		w.done = w.synced
		c.waits = append(c.waits, w)
	}
	w := c.waits[c.nWaits]
	c.nWaits++
	w.part = part
	w.state.Store(waitPending)
	return w
}

// synced is the AwaitCommit callback: an error (storage, leadership
// lost, ISR too small) becomes the partition's answer; the last wait to
// settle answers. After a timeout settled the wait it only drops its
// reference.
func (w *produceWait) synced(err *kerr.Error) {
	c := w.c
	if w.state.CompareAndSwap(waitPending, waitSynced) {
		if err != nil {
			r := &c.results[w.part]
			r.errCode, r.hasMsg, r.baseOffset = err.Code, false, -1
		}
		c.done()
	}
	c.unref()
}

// armTimeout starts the request's timeout. The handler calls it after
// registering every wait and before its own done.
func (c *produceCall) armTimeout(d time.Duration) {
	if c.timer == nil {
		c.timer = time.AfterFunc(time.Hour, c.expire)
		c.timer.Stop()
	}
	c.armed = true
	c.refs.Add(1) // the timer's
	c.timer.Reset(d)
}

// expire is the timeout: every wait not yet settled answers
// REQUEST_TIMED_OUT.
func (c *produceCall) expire() {
	n := int32(0)
	for _, w := range c.waits[:c.nWaits] {
		if w.state.CompareAndSwap(waitPending, waitTimedOut) {
			r := &c.results[w.part]
			r.errCode, r.hasMsg, r.baseOffset = kerr.RequestTimedOut.Code, false, -1
			n++
		}
	}
	if n > 0 && c.pending.Add(-n) == 0 {
		c.answer()
	}
	c.unref()
}

// done drops one pending count and answers when it reaches zero.
func (c *produceCall) done() {
	if c.pending.Add(-1) == 0 {
		if c.armed && c.timer.Stop() {
			c.unref() // the timer's: it will not run
		}
		c.answer()
	}
}

// answer encodes and sends the response (once: pending reached zero).
func (c *produceCall) answer() {
	c.finish()
	c.respond(c)
}

// unref drops one holder; the last returns the call to the pool.
func (c *produceCall) unref() {
	if c.refs.Add(-1) == 0 {
		c.recycle()
	}
}

// finish encodes the response body from the results.
func (c *produceCall) finish() {
	v := c.req.version
	flex := v >= 9
	c.ProduceResponse = kmsg.ProduceResponse{Version: v}
	b := appendArrayLen(c.frame[:0], len(c.req.topics), flex)
	for _, t := range c.req.topics {
		switch {
		case v >= 13:
			b = append(b, t.id[:]...)
		case flex:
			b = binary.AppendUvarint(b, uint64(len(t.name))+1)
			b = append(b, t.name...)
		default:
			b = binary.BigEndian.AppendUint16(b, uint16(len(t.name)))
			b = append(b, t.name...)
		}
		b = appendArrayLen(b, t.n, flex)
		for i := t.first; i < t.first+t.n; i++ {
			b = c.appendPartition(b, i, flex)
		}
		if flex {
			b = append(b, 0)
		}
	}
	b = binary.BigEndian.AppendUint32(b, 0) // ThrottleMillis
	if flex {
		b = append(b, 0)
	}
	c.frame = b
	c.vec = append(c.vec[:0], c.frame)
}

func (c *produceCall) appendPartition(b []byte, i int, flex bool) []byte {
	r, v := &c.results[i], c.req.version
	b = binary.BigEndian.AppendUint32(b, uint32(c.req.parts[i].partition))
	b = binary.BigEndian.AppendUint16(b, uint16(r.errCode))
	b = binary.BigEndian.AppendUint64(b, uint64(r.baseOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(r.logAppendTime))
	if v >= 5 {
		b = binary.BigEndian.AppendUint64(b, uint64(r.logStartOffs))
	}
	if v >= 8 {
		b = appendArrayLen(b, 0, flex) // ErrorRecords
		b = appendNullableString(b, r.errMsg, r.hasMsg, flex)
	}
	if flex {
		b = append(b, 0)
	}
	return b
}

func appendArrayLen(b []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendNullableString(b []byte, s string, present, flex bool) []byte {
	switch {
	case !present && flex:
		return append(b, 0)
	case !present:
		return binary.BigEndian.AppendUint16(b, 0xffff)
	case flex:
		b = binary.AppendUvarint(b, uint64(len(s))+1)
	default:
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	}
	return append(b, s...)
}

// BodyVec is the response body: one framed slice.
func (c *produceCall) BodyVec() [][]byte { return c.vec }

// AppendTo appends the body.
func (c *produceCall) AppendTo(dst []byte) []byte { return append(dst, c.frame...) }

// ReleaseBody drops the response's hold on the call; it must not be used
// after.
func (c *produceCall) ReleaseBody() { c.unref() }

// recycle returns the call to the pool once nothing holds it.
func (c *produceCall) recycle() {
	c.respond = nil
	if c.body != nil {
		// Last holder gone: the response is written (names were copied
		// into it), every batch is in the log, and every wait has run.
		c.body.Release()
		c.body = nil
	}
	clear(c.req.topics)
	c.req.topics = c.req.topics[:0]
	clear(c.req.parts) // drop references to request bodies
	c.req.parts = c.req.parts[:0]
	clear(c.vec)
	c.vec = c.vec[:0]
	if cap(c.frame) > 64<<10 || cap(c.results) > 4096 { // do not pin rare huge requests
		c.frame, c.results, c.req.parts = nil, nil, nil
	}
	produceCalls.Put(c)
}
