package engine

import (
	"encoding/binary"
	"sync"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchResponse is a Fetch response (v4-16) encoded by hand so that record
// bytes stay where the log keeps them: frame holds every byte of framing,
// views the record slices borrowed from mapped segments, and BodyVec
// interleaves the two. netio writes it with writev and calls ReleaseBody
// once the bytes are on the socket; then the views are released and the
// response goes back to a pool. Only the framing is built per request.
//
// The embedded kmsg.FetchResponse carries the version and the
// kmsg.Response methods; its fields stay empty. AppendTo is overridden to
// the same bytes (a copy) for callers that do not know BodyVec.
//
// Wire layout written (kmsg's field order; flexible = v12+):
//
//	ThrottleMillis i32 | ErrorCode i16 (v7+) | SessionID i32 (v7+)
//	Topics [ Topic string (v4-12) | TopicID uuid (v13+)
//	         Partitions [ Partition i32 | ErrorCode i16 | HighWatermark i64
//	                      | LastStableOffset i64 | LogStartOffset i64 (v5+)
//	                      | AbortedTransactions null | PreferredReadReplica
//	                        i32 = -1 (v11+) | RecordBatches bytes
//	                      | tags (v12+: DivergingEpoch tag 0 for followers) ]
//	         | tags ]
//	| tags
type fetchResponse struct {
	kmsg.FetchResponse

	frame  []byte
	pieces []fetchPiece // framing frame[prev end:end] followed by views[view]
	views  []wal.View
	vec    [][]byte
	flex   bool
}

// fetchPiece ends the framing run at frame[:end]; view >= 0 names the
// records that follow it.
type fetchPiece struct{ end, view int }

// fetchPart is one partition's answer, before encoding.
type fetchPart struct {
	partition                int32
	errCode                  int16
	hw, lastStable, logStart int64
	// diverging: a follower's history diverges from the leader's, which
	// ends divergingEpoch at divergingEnd (DivergingEpoch, v12+ tag 0).
	diverging      bool
	divergingEpoch int32
	divergingEnd   int64
}

var fetchResponses = sync.Pool{New: func() any { return new(fetchResponse) }}

// newFetchResponse returns an empty response of version v from the pool,
// with the top-level fields and the topic count written.
func newFetchResponse(version int16, topics int) *fetchResponse {
	r := fetchResponses.Get().(*fetchResponse)
	r.FetchResponse = kmsg.FetchResponse{Version: version}
	r.flex = version >= 12
	r.frame = binary.BigEndian.AppendUint32(r.frame[:0], 0) // ThrottleMillis
	if version >= 7 {
		r.frame = binary.BigEndian.AppendUint16(r.frame, 0) // ErrorCode
		r.frame = binary.BigEndian.AppendUint32(r.frame, 0) // SessionID
	}
	r.appendCount(topics)
	return r
}

// appendCount appends an array length: int32, or uvarint n+1 (compact).
func (r *fetchResponse) appendCount(n int) {
	if r.flex {
		r.frame = binary.AppendUvarint(r.frame, uint64(n)+1)
	} else {
		r.frame = binary.BigEndian.AppendUint32(r.frame, uint32(n))
	}
}

// beginTopic starts a topic of parts partitions: name (v4-12) or id (v13+).
func (r *fetchResponse) beginTopic(name string, id [16]byte, parts int) {
	switch {
	case r.Version >= 13:
		r.frame = append(r.frame, id[:]...)
	case r.flex:
		r.frame = binary.AppendUvarint(r.frame, uint64(len(name))+1)
		r.frame = append(r.frame, name...)
	default:
		r.frame = binary.BigEndian.AppendUint16(r.frame, uint16(len(name)))
		r.frame = append(r.frame, name...)
	}
	r.appendCount(parts)
}

// endTopic writes the topic's tags.
func (r *fetchResponse) endTopic() {
	if r.flex {
		r.frame = append(r.frame, 0)
	}
}

// nextView returns a View to read a partition's records into.
func (r *fetchResponse) nextView() *wal.View {
	if len(r.views) < cap(r.views) {
		r.views = r.views[:len(r.views)+1]
	} else {
		r.views = append(r.views, wal.View{})
	}
	return &r.views[len(r.views)-1]
}

// addPartition encodes p; its records are the View last returned by
// nextView when withView, none otherwise.
func (r *fetchResponse) addPartition(p fetchPart, withView bool) {
	b := binary.BigEndian.AppendUint32(r.frame, uint32(p.partition))
	b = binary.BigEndian.AppendUint16(b, uint16(p.errCode))
	b = binary.BigEndian.AppendUint64(b, uint64(p.hw))
	b = binary.BigEndian.AppendUint64(b, uint64(p.lastStable))
	if r.Version >= 5 {
		b = binary.BigEndian.AppendUint64(b, uint64(p.logStart))
	}
	if r.flex {
		b = append(b, 0) // null aborted transactions
	} else {
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	if r.Version >= 11 {
		b = binary.BigEndian.AppendUint32(b, 0xffffffff) // preferred read replica -1
	}
	n := int64(0)
	if withView {
		n = r.views[len(r.views)-1].Len
	}
	if r.flex {
		b = binary.AppendUvarint(b, uint64(n)+1) // never null: librdkafka rejects -1
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	r.frame = b
	if n > 0 {
		r.pieces = append(r.pieces, fetchPiece{end: len(r.frame), view: len(r.views) - 1})
	}
	if r.flex {
		r.appendPartitionTags(p)
	}
}

// appendPartitionTags writes a partition's tagged fields: DivergingEpoch
// (tag 0: epoch i32, end offset i64, its own empty tags) when set.
func (r *fetchResponse) appendPartitionTags(p fetchPart) {
	if !p.diverging {
		r.frame = append(r.frame, 0)
		return
	}
	r.frame = append(r.frame, 1, 0, 13) // one tag: tag 0, 13 bytes
	r.frame = binary.BigEndian.AppendUint32(r.frame, uint32(p.divergingEpoch))
	r.frame = binary.BigEndian.AppendUint64(r.frame, uint64(p.divergingEnd))
	r.frame = append(r.frame, 0)
}

// finish writes the top-level tags and builds the vector.
func (r *fetchResponse) finish() {
	if r.flex {
		r.frame = append(r.frame, 0)
	}
	r.vec = r.vec[:0]
	prev := 0
	for _, pc := range r.pieces {
		r.vec = append(r.vec, r.frame[prev:pc.end])
		r.vec = append(r.vec, r.views[pc.view].Slices...)
		prev = pc.end
	}
	r.vec = append(r.vec, r.frame[prev:])
}

// BodyVec is the response body: framing and borrowed record slices.
func (r *fetchResponse) BodyVec() [][]byte { return r.vec }

// AppendTo appends the body (copying the records).
func (r *fetchResponse) AppendTo(dst []byte) []byte {
	for _, b := range r.vec {
		dst = append(dst, b...)
	}
	return dst
}

// ReleaseBody releases the record views and returns r to the pool.
func (r *fetchResponse) ReleaseBody() {
	for i := range r.views {
		r.views[i].Release()
	}
	r.views = r.views[:0]
	r.pieces = r.pieces[:0]
	clear(r.vec)
	r.vec = r.vec[:0]
	if cap(r.frame) > 64<<10 { // do not pin a rare huge frame
		r.frame = nil
	}
	fetchResponses.Put(r)
}
