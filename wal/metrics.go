package wal

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// NumLatencyBuckets is the number of buckets of a LatencyHistogram.
const NumLatencyBuckets = 32

// LatencyHistogram counts durations in power-of-two microsecond buckets:
// bucket 0 holds durations below 1 us, bucket i (1 <= i < last) those in
// [2^(i-1), 2^i) us, and the last bucket everything from 2^30 us (~18 min)
// up. Fixed buckets keep recording lock-free on the flush path.
type LatencyHistogram struct {
	Buckets  [NumLatencyBuckets]int64
	Count    int64
	SumNanos int64
	MaxNanos int64
}

// BucketUpperBound is the exclusive upper bound of bucket i.
func BucketUpperBound(i int) time.Duration {
	if i >= NumLatencyBuckets-1 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(int64(1)<<i) * time.Microsecond
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// capped at the largest value seen; 0 when empty.
func (h LatencyHistogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := int64(q*float64(h.Count) + 0.5)
	rank = min(max(rank, 1), h.Count)
	seen := int64(0)
	for i, n := range h.Buckets {
		if seen += n; seen >= rank {
			return min(BucketUpperBound(i), time.Duration(h.MaxNanos))
		}
	}
	return time.Duration(h.MaxNanos)
}

// Mean is the average duration; 0 when empty.
func (h LatencyHistogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return time.Duration(h.SumNanos / h.Count)
}

// Merge adds o's counts to h.
func (h *LatencyHistogram) Merge(o LatencyHistogram) {
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Count += o.Count
	h.SumNanos += o.SumNanos
	h.MaxNanos = max(h.MaxNanos, o.MaxNanos)
}

// latencyRecorder is the concurrent form of LatencyHistogram.
type latencyRecorder struct {
	buckets [NumLatencyBuckets]atomic.Int64
	count   atomic.Int64
	sum     atomic.Int64
	max     atomic.Int64
}

func latencyBucket(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	return min(bits.Len64(us), NumLatencyBuckets-1)
}

func (r *latencyRecorder) record(d time.Duration) {
	r.buckets[latencyBucket(d)].Add(1)
	r.count.Add(1)
	r.sum.Add(int64(d))
	for {
		cur := r.max.Load()
		if int64(d) <= cur || r.max.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

func (r *latencyRecorder) snapshot() LatencyHistogram {
	var h LatencyHistogram
	for i := range r.buckets {
		h.Buckets[i] = r.buckets[i].Load()
	}
	h.Count, h.SumNanos, h.MaxNanos = r.count.Load(), r.sum.Load(), r.max.Load()
	return h
}
