package netio

import (
	"math/bits"
	"sync"
)

// Request frames are allocated from size-class pools, so that a handler
// that is done with a request's body early (a produce request, once its
// batches are written) can give the frame back with Request.Release and
// the next request of about that size reuses it. Without this, a producer
// sending 512 KiB requests makes the garbage collector sweep half a
// megabyte per request: 10-15% of the broker's CPU at full acks=1
// throughput (BenchmarkFrameAlloc measures the two ways).
//
// Classes are powers of two from minPooledFrame to maxPooledFrame; a frame
// outside them is a plain allocation, and Release leaves it to the
// collector. A frame never released is garbage-collected as before: Release
// is an optimisation, never needed for correctness.
const (
	minPooledFrameShift = 12 // 4 KiB: smaller frames are cheap to allocate
	maxPooledFrameShift = 24 // 16 MiB: larger ones are rare; do not pin them
)

var framePools [maxPooledFrameShift - minPooledFrameShift + 1]sync.Pool

// frameClass is the pool index of a frame of size bytes, or -1 when such
// frames are not pooled.
func frameClass(size int) int {
	if size <= 1<<minPooledFrameShift/2 || size > 1<<maxPooledFrameShift {
		return -1
	}
	shift := bits.Len(uint(size - 1)) // smallest power of two >= size
	if shift < minPooledFrameShift {
		shift = minPooledFrameShift
	}
	return shift - minPooledFrameShift
}

// getFrame returns a frame of size bytes (its contents are garbage) and,
// when it is pooled, its holder, for putFrame.
func getFrame(size int) ([]byte, *[]byte) {
	c := frameClass(size)
	if c < 0 {
		return make([]byte, size), nil
	}
	h, _ := framePools[c].Get().(*[]byte)
	if h == nil {
		b := make([]byte, 1<<(c+minPooledFrameShift))
		h = &b
	}
	return (*h)[:size], h
}

// putFrame gives a pooled frame back by its holder; nothing may use the
// frame after.
func putFrame(h *[]byte) {
	framePools[frameClass(cap(*h))].Put(h)
}

// respBufs pools the buffers responses are encoded into (conn.complete): a
// produce response or a fetch response's header is a few dozen bytes,
// encoded once per request. A buffer goes back once its bytes are on the
// socket or copied by gnet (pendingWrite.written), or with its slot.
var respBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, respBufSize)
	return &b
}}

const (
	respBufSize      = 256
	respBufMaxPooled = 64 << 10 // a larger one (a big metadata response) is left to the GC
)

func getRespBuf() *[]byte { return respBufs.Get().(*[]byte) }

func putRespBuf(b *[]byte) {
	if b == nil || cap(*b) > respBufMaxPooled {
		return
	}
	*b = (*b)[:0]
	respBufs.Put(b)
}
