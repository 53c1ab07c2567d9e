package itest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkReadReplicas: three brokers in racks a, b and c with the
// rack-aware selector, one RF=3 topic of 3 partitions all led by broker 1
// (rack a), and one franz-go consumer per rack reading every partition
// while an acks=-1 producer writes 100 B records at a fixed rate. Without
// readable replicas broker 1 would serve every consumer byte; with them
// each broker serves its own rack, about a third each (brokerN-share).
// The consumer in rack a reads from the leader, those in b and c from
// followers; the end-to-end latency (producer send -> consumer poll, both
// in this process) of each side is reported as p50/p99 in milliseconds,
// with the follower/leader ratios. A follower serves up to its own high
// watermark, which it learns from the leader's next fetch response, so the
// ratio measures how fresh the leader keeps its followers' watermarks.
//
//	make build && CHRONIK_BIN=$PWD/bin/chronik go test -run '^$' -bench ReadReplicas -benchtime 3x ./itest
func BenchmarkReadReplicas(b *testing.B) {
	const rate, perOp, warmup = 2000, 6000, 1000
	assign := [][]int32{{1, 2, 3}, {1, 3, 2}, {1, 2, 3}}
	const topic = "rr-bench"
	c := startRackCluster(b)
	ctx := context.Background()
	createAssigned(b, ctx, c.Node(1).KafkaAddr, topic, assign)
	waitAllKnow(b, ctx, c, topic, len(assign))

	racks := []string{"a", "b", "c"}
	readers := make([]*latencyReader, len(racks))
	for i, rack := range racks {
		readers[i] = startLatencyReader(b, ctx, c, topic, len(assign), rack)
	}
	prod := newClient(b, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	// Warm up: connections, producer id, and each reader finds its replica.
	produced := producePaced(b, ctx, prod, topic, len(assign), warmup, rate)
	for _, r := range readers {
		r.waitCount(b, produced)
		r.reset()
	}
	before := scrapeAll(b, ctx, c)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		produced += producePaced(b, ctx, prod, topic, len(assign), perOp, rate)
		for _, r := range readers {
			r.waitCount(b, produced)
		}
	}
	b.StopTimer()

	after := scrapeAll(b, ctx, c)
	const fb, lb = `chronik_consumer_fetch_bytes_total{role="follower"}`, `chronik_consumer_fetch_bytes_total{role="leader"}`
	served, total := map[int32]float64{}, 0.0
	for _, n := range c.Nodes {
		d := after[n.ID][fb] + after[n.ID][lb] - before[n.ID][fb] - before[n.ID][lb]
		served[n.ID] = d
		total += d
	}
	for _, n := range c.Nodes {
		b.Logf("broker %d (rack %s) served %.0f consumer bytes (%.1f%%), %.0f of them as a follower",
			n.ID, racks[n.ID-1], served[n.ID], 100*served[n.ID]/total, after[n.ID][fb]-before[n.ID][fb])
		b.ReportMetric(served[n.ID]/total, fmt.Sprintf("broker%d-share", n.ID))
	}

	leader := readers[0].snapshot()
	follower := readers[1].snapshot()
	follower.Merge(readers[2].snapshot())
	ms := func(h *hdrhistogram.Histogram, q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	b.ReportMetric(ms(leader, 50), "leader-p50-ms")
	b.ReportMetric(ms(leader, 99), "leader-p99-ms")
	b.ReportMetric(ms(follower, 50), "follower-p50-ms")
	b.ReportMetric(ms(follower, 99), "follower-p99-ms")
	b.ReportMetric(ms(follower, 50)/ms(leader, 50), "follower/leader-p50")
	b.ReportMetric(ms(follower, 99)/ms(leader, 99), "follower/leader-p99")
}

// producePaced produces n 100 B records acks=-1 round-robin over parts
// partitions at about rate a second (a batch every millisecond), each
// value starting with its send time in Unix nanoseconds, and waits until
// all are acknowledged. It returns n.
func producePaced(b testing.TB, ctx context.Context, cl *kgo.Client, topic string, parts, n, rate int) int {
	b.Helper()
	perTick := max(1, rate/1000)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var failed atomic.Int64
	var firstErr atomic.Value
	for sent := 0; sent < n; {
		<-tick.C
		for j := 0; j < perTick && sent < n; j, sent = j+1, sent+1 {
			v := make([]byte, 100)
			binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(sent % parts), Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d produces failed, the first: %v", f, firstErr.Load())
	}
	return n
}

// latencyReader consumes every partition of a topic from the start in a
// rack and records each record's end-to-end latency in microseconds.
type latencyReader struct {
	mu   sync.Mutex
	hist *hdrhistogram.Histogram
	n    int
}

func startLatencyReader(b testing.TB, ctx context.Context, c *testbed.Cluster, topic string, parts int, rack string) *latencyReader {
	b.Helper()
	offs := map[int32]kgo.Offset{}
	for p := range parts {
		offs[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl := newClient(b, c.Node(1).KafkaAddr, kgo.Rack(rack), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	r := &latencyReader{hist: hdrhistogram.New(1, 60_000_000, 3)}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			fs := cl.PollFetches(cctx)
			now := time.Now().UnixNano()
			r.mu.Lock()
			fs.EachRecord(func(rec *kgo.Record) {
				r.n++
				r.hist.RecordValue(max(1, (now-int64(binary.BigEndian.Uint64(rec.Value)))/1000))
			})
			r.mu.Unlock()
		}
	}()
	return r
}

// waitCount waits until the reader has read n records in all.
func (r *latencyReader) waitCount(b testing.TB, n int) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r.mu.Lock()
		got := r.n
		r.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("a reader read %d of %d records in a minute", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *latencyReader) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist.Reset()
}

func (r *latencyReader) snapshot() *hdrhistogram.Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	return hdrhistogram.Import(r.hist.Export())
}
