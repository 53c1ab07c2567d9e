package engine

import (
	"encoding/binary"
	"errors"
)

// A Produce request (v3-13) decoded by hand, because profiling showed
// kmsg's decode was most of the produce path's allocations (the request,
// its topic and partition slices, a string per topic name). This walk
// allocates nothing once its slices have grown: topic names and records
// are slices of the request body, which the engine owns (Request.Body).
// It accepts and rejects exactly what kmsg's ProduceRequest.ReadFrom does
// (FuzzProduceRequestDecode and TestProduceRequestDecodeMatchesKmsg check
// this against kmsg for every version).
//
// Wire layout (kmsg's field order; flexible = v9+: compact lengths as
// uvarint n+1, tagged fields after each struct):
//
//	TransactionID nullable string | Acks i16 | TimeoutMillis i32
//	Topics [ Topic string (v3-12) | TopicID uuid (v13+)
//	         Partitions [ Partition i32 | Records nullable bytes | tags ]
//	         | tags ]
//	| tags

// errProduceDecode is kmsg's "not enough data" for a malformed request.
var errProduceDecode = errors.New("produce request: not enough data to decode")

// produceRequest is the decoded request. Slices alias the body.
type produceRequest struct {
	version       int16
	acks          int16
	timeoutMillis int32
	topics        []produceTopic
	parts         []producePartReq // every topic's partitions, in order
}

// produceTopic is one topic of the request: its partitions are
// parts[first:first+n].
type produceTopic struct {
	name     []byte // v3-12
	id       [16]byte
	first, n int
}

type producePartReq struct {
	partition int32
	records   []byte // nil when null
}

// wireReader mirrors kmsg's kbin.Reader: any short read makes it bad for
// good, and reads then return zero values.
type wireReader struct {
	src []byte
	bad bool
}

func (r *wireReader) fail() { r.bad, r.src = true, nil }

func (r *wireReader) int16() int16 {
	if len(r.src) < 2 {
		r.fail()
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.src))
	r.src = r.src[2:]
	return v
}

func (r *wireReader) int32() int32 {
	if len(r.src) < 4 {
		r.fail()
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.src))
	r.src = r.src[4:]
	return v
}

// uvarint is kbin.Uvarint: at most 5 bytes, the fifth <= 0x0f.
func (r *wireReader) uvarint() uint32 {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(r.src) {
			break
		}
		c := r.src[i]
		if i == 4 {
			if c > 0x0f {
				break
			}
			r.src = r.src[5:]
			return x | uint32(c)<<28
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			r.src = r.src[i+1:]
			return x
		}
	}
	r.fail()
	return 0
}

func (r *wireReader) span(n int) []byte {
	if n < 0 || len(r.src) < n {
		r.fail()
		return nil
	}
	b := r.src[:n:n]
	r.src = r.src[n:]
	return b
}

// arrayLen is kbin's ArrayLen/CompactArrayLen: negative means null (no
// elements); more elements than bytes left is an error.
func (r *wireReader) arrayLen(flex bool) int32 {
	var n int32
	if flex {
		n = int32(r.uvarint()) - 1
	} else {
		n = r.int32()
	}
	if len(r.src) < int(n) {
		r.fail()
		return 0
	}
	return n
}

// string reads a non-nullable string (a negative length is an error).
func (r *wireReader) string(flex bool) []byte {
	if flex {
		return r.span(int(r.uvarint()) - 1)
	}
	return r.span(int(r.int16()))
}

func (r *wireReader) nullableString(flex bool) {
	var n int
	if flex {
		n = int(r.uvarint()) - 1
	} else {
		n = int(r.int16())
	}
	if n >= 0 {
		r.span(n)
	}
}

func (r *wireReader) nullableBytes(flex bool) []byte {
	var n int
	if flex {
		n = int(r.uvarint()) - 1
	} else {
		n = int(r.int32())
	}
	if n < 0 {
		return nil
	}
	return r.span(n)
}

// skipTags skips a tagged-field section.
func (r *wireReader) skipTags() {
	for n := r.uvarint(); n > 0 && !r.bad; n-- {
		r.uvarint()
		r.span(int(r.uvarint()))
	}
}

// decode parses body as a Produce request of version v (3-13), reusing
// q's slices. Trailing bytes are ignored, as kmsg does.
func (q *produceRequest) decode(v int16, body []byte) error {
	flex := v >= 9
	r := wireReader{src: body}
	q.version = v
	q.topics, q.parts = q.topics[:0], q.parts[:0]
	r.nullableString(flex) // TransactionID: transactions are not supported
	q.acks = r.int16()
	q.timeoutMillis = r.int32()
	nt := r.arrayLen(flex)
	for i := int32(0); i < nt && !r.bad; i++ {
		t := produceTopic{first: len(q.parts)}
		if v <= 12 {
			t.name = r.string(flex)
		} else {
			copy(t.id[:], r.span(16))
		}
		np := r.arrayLen(flex)
		for j := int32(0); j < np && !r.bad; j++ {
			p := producePartReq{partition: r.int32(), records: r.nullableBytes(flex)}
			if flex {
				r.skipTags()
			}
			q.parts = append(q.parts, p)
		}
		if flex {
			r.skipTags()
		}
		t.n = len(q.parts) - t.first
		q.topics = append(q.topics, t)
	}
	if flex {
		r.skipTags()
	}
	if r.bad {
		return errProduceDecode
	}
	return nil
}
