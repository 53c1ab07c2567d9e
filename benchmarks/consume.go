package benchmarks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeTimeout bounds a consume run and the e2e drain.
const consumeTimeout = 120 * time.Second

func consumerClient(addr, topic string) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	return cl, nil
}

// preload writes n records as fast as the client can, outside any window.
func preload(ctx context.Context, addr, topic string, n int64, sc Scenario) error {
	cl, err := kgo.NewClient(producerOpts(addr, topic, sc)...)
	if err != nil {
		return fmt.Errorf("preload client: %w", err)
	}
	defer cl.Close()
	value := make([]byte, sc.RecordBytes)
	var (
		mu    sync.Mutex
		first error
	)
	for i := int64(0); i < n && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	err = flushAll(ctx, []*kgo.Client{cl})
	mu.Lock()
	defer mu.Unlock()
	if err = errors.Join(err, first, ctx.Err()); err != nil {
		return fmt.Errorf("preload %d records: %w", n, err)
	}
	return nil
}

// runConsume preloads Count records, then reads them all from the start
// with one consumer. The window is the read; latency is the time of each
// PollFetches call that returned records.
func runConsume(ctx context.Context, addr, topic string, sc Scenario, w Window, progress io.Writer, label string) (Measurement, error) {
	if err := preload(ctx, addr, topic, sc.Count, sc); err != nil {
		return Measurement{}, err
	}
	cl, err := consumerClient(addr, topic)
	if err != nil {
		return Measurement{}, err
	}
	defer cl.Close()
	c, lat := &counters{}, newLatencyRec()
	stop := make(chan struct{})
	go progressLoop(progress, label, &c.records, &c.errs, stop)
	defer close(stop)
	w.start()
	start := time.Now()
	smp := startSampler(&c.records, w)
	err = consumeN(ctx, cl, sc.Count, c, lat)
	elapsed := time.Since(start)
	intervals := smp.finish()
	w.end()
	if err != nil {
		return Measurement{}, err
	}
	return Measurement{Records: c.records.Load(), Bytes: c.bytes.Load(), Errors: c.errs.Load(),
		Elapsed: elapsed, Latency: lat.h, Intervals: intervals}, nil
}

// consumeN polls cl until it has counted n records into c (within
// consumeTimeout). Latency is the time of each PollFetches call that
// returned records.
func consumeN(ctx context.Context, cl *kgo.Client, n int64, c *counters, lat *latencyRec) error {
	ctx, cancel := context.WithTimeout(ctx, consumeTimeout)
	defer cancel()
	for c.records.Load() < n {
		polled := time.Now()
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("consume: %d of %d records: %w", c.records.Load(), n, ctx.Err())
		}
		fs.EachError(func(string, int32, error) { c.errs.Add(1) })
		if k := fs.NumRecords(); k > 0 {
			lat.record(time.Since(polled))
			c.records.Add(int64(k))
		}
		fs.EachRecord(func(r *kgo.Record) { c.bytes.Add(int64(len(r.Value))) })
	}
	return nil
}

// e2e record values: send time (unix ns), a window flag, then padding.
const (
	e2eStampBytes = 8
	e2eFlagOffset = 8
)

func stampValue(size int, now time.Time, inWindow bool) []byte {
	v := make([]byte, size)
	binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
	if inWindow {
		v[e2eFlagOffset] = 1
	}
	return v
}
