package raftmeta

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits every decoder checks before it allocates, so a corrupt or hostile
// entry cannot make the state machine allocate without bound.
const (
	maxStringBytes  = 1 << 16 // topic names, addresses, config values
	maxListLen      = 1 << 20 // partitions of a topic, topics, brokers, configs
	maxReplicaCount = 1 << 10 // replicas / ISR of one partition
)

var errShort = errors.New("truncated")

// writer appends big-endian fields to a byte slice.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) i32(v int32)  { w.u32(uint32(v)) }
func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
func (w *writer) str(s string) { w.u32(uint32(len(s))); w.b = append(w.b, s...) }
func (w *writer) id(id [16]byte) {
	w.b = append(w.b, id[:]...)
}
func (w *writer) i32s(vs []int32) {
	w.u32(uint32(len(vs)))
	for _, v := range vs {
		w.i32(v)
	}
}

// kvs writes key/value pairs in key order (the caller's map order never
// reaches the bytes).
func (w *writer) kvs(m map[string]string) {
	keys := sortedKeys(m)
	w.u32(uint32(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(m[k])
	}
}

// reader consumes big-endian fields; the first error sticks and later reads
// return zero values, so decoders check r.err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail(errShort)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) i32() int32 { return int32(r.u32()) }

func (r *reader) bool() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("bad bool %d", v))
		return false
	}
}

// count reads a list length and checks it against limit.
func (r *reader) count(limit int) int {
	n := r.u32()
	if n > uint32(limit) {
		r.fail(fmt.Errorf("length %d over limit %d", n, limit))
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.count(maxStringBytes)
	return string(r.take(n))
}

func (r *reader) id() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

func (r *reader) i32s() []int32 {
	n := r.count(maxReplicaCount)
	out := make([]int32, 0, n)
	for range n {
		out = append(out, r.i32())
	}
	return out
}

func (r *reader) kvs() map[string]string {
	n := r.count(maxListLen)
	m := make(map[string]string, n)
	for range n {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

// done fails the read when bytes are left over.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("%d trailing bytes", len(r.b)))
	}
	return r.err
}
