package benchmarks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runE2E produces at Rate while one consumer reads. Each value carries its
// send time and whether it was sent inside the window; latency is receive
// time minus send time (same host clock) of the window's records. A window
// record not received within consumeTimeout counts as an error.
func runE2E(ctx context.Context, addr, topic string, sc Scenario, w Window, progress io.Writer, label string) (Measurement, error) {
	cons, err := consumerClient(addr, topic)
	if err != nil {
		return Measurement{}, err
	}
	defer cons.Close()
	cls, err := newClients(sc.Producers, producerOpts(addr, topic, sc))
	if err != nil {
		return Measurement{}, err
	}
	defer closeClients(cls)
	c, lat := &counters{}, newLatencyRec()
	var sentInWindow atomic.Int64
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		e2eConsume(cctx, cons, func(d time.Duration, bytes int) { c.got(d, bytes, lat) })
	}()
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e2eProduce(pctx, cl, sc, 0, c, &sentInWindow)
		}()
	}
	stop := make(chan struct{})
	go progressLoop(progress, label, &c.records, &c.errs, stop)
	m, werr := measureWindow(ctx, sc, c, w)
	close(stop)
	stopProducing()
	wg.Wait()
	ferr := flushAll(ctx, cls)
	derr := waitDrained(ctx, c, &sentInWindow)
	stopConsumer()
	<-consumed
	m.Records, m.Bytes, m.Latency = c.records.Load(), c.bytes.Load(), lat.h
	m.Errors = c.errs.Load() + max(sentInWindow.Load()-m.Records, 0)
	return m, errors.Join(werr, ferr, derr)
}

// e2eProduce sends stamped records at the producer's share of sc.Rate
// until ctx ends, or limit records when limit > 0; those sent while c is
// measuring are flagged, and counted in sentInWindow.
func e2eProduce(ctx context.Context, cl *kgo.Client, sc Scenario, limit int64, c *counters, sentInWindow *atomic.Int64) {
	p := newPacer(perProducerRate(sc))
	for n := int64(0); (limit == 0 || n < limit) && p.wait(ctx); n++ {
		in := c.measuring.Load()
		if in {
			sentInWindow.Add(1)
		}
		v := stampValue(sc.RecordBytes, time.Now(), in)
		cl.Produce(context.Background(), &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				c.errs.Add(1)
			}
		})
	}
}

// e2eConsume polls until ctx ends and calls got with the latency and size
// of every flagged record received.
func e2eConsume(ctx context.Context, cl *kgo.Client, got func(latency time.Duration, bytes int)) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) <= e2eFlagOffset || r.Value[e2eFlagOffset] != 1 {
				return
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Value[:e2eStampBytes])))
			got(now.Sub(sent), len(r.Value))
		})
	}
}

// got counts one record received with latency d into c and lat.
func (c *counters) got(d time.Duration, bytes int, lat *latencyRec) {
	lat.record(d)
	c.records.Add(1)
	c.bytes.Add(int64(bytes))
}

// waitDrained waits until every record sent in the window was consumed.
func waitDrained(ctx context.Context, c *counters, sentInWindow *atomic.Int64) error {
	deadline := time.Now().Add(consumeTimeout)
	for c.records.Load() < sentInWindow.Load() {
		if time.Now().After(deadline) || !sleepCtx(ctx, 10*time.Millisecond) {
			return fmt.Errorf("e2e: %d of %d window records consumed", c.records.Load(), sentInWindow.Load())
		}
	}
	return nil
}
