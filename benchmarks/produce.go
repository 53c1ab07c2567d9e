package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// counters are shared by a run's producers, consumer and progress line.
type counters struct {
	measuring atomic.Bool  // inside the measured window
	records   atomic.Int64 // records counted in the window
	bytes     atomic.Int64 // their value bytes
	errs      atomic.Int64 // failed records (any time)
}

func newClients(n int, opts []kgo.Opt) ([]*kgo.Client, error) {
	var cls []*kgo.Client
	for i := 0; i < n; i++ {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			closeClients(cls)
			return nil, fmt.Errorf("new client: %w", err)
		}
		cls = append(cls, cl)
	}
	return cls, nil
}

func closeClients(cls []*kgo.Client) {
	for _, cl := range cls {
		cl.Close()
	}
}

// flushAll waits (bounded) for every buffered record to be acknowledged.
func flushAll(ctx context.Context, cls []*kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var errs []error
	for _, cl := range cls {
		if err := cl.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush: %w", err))
		}
	}
	return errors.Join(errs...)
}

// runProduce: producers write as fast as they can (or at Rate); acks that
// arrive inside the measured window are counted. Latency is from the
// Produce call to the acknowledgement, so when the client's buffer is full
// it includes the wait for buffer space.
func runProduce(ctx context.Context, addr, topic string, sc Scenario, w Window, progress io.Writer, label string) (Measurement, error) {
	cls, err := newClients(sc.Producers, producerOpts(addr, topic, sc))
	if err != nil {
		return Measurement{}, err
	}
	defer closeClients(cls)
	c, lat := &counters{}, newLatencyRec()
	value := make([]byte, sc.RecordBytes) // shared: the client only reads it
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	wait := paceProducers(pctx, cls, sc, value, c, lat)
	stop := make(chan struct{})
	go progressLoop(progress, label, &c.records, &c.errs, stop)
	m, werr := measureWindow(ctx, sc, c, w)
	close(stop)
	stopProducing()
	wait()
	ferr := flushAll(ctx, cls)
	m.Latency, m.Errors = lat.h, c.errs.Load()
	return m, errors.Join(werr, ferr)
}

// paceProducers makes each client produce value at its share of sc.Rate
// (or as fast as it takes them) until pctx ends; acks count into c. The
// records are produced with a background context, so that those in flight
// when pctx ends are still answered. wait returns once every loop stopped.
func paceProducers(pctx context.Context, cls []*kgo.Client, sc Scenario, value []byte, c *counters, lat *latencyRec) (wait func()) {
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPacer(perProducerRate(sc))
			for p.wait(pctx) {
				sent := time.Now()
				cl.Produce(context.Background(), &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					c.ack(r, err, sent, lat)
				})
			}
		}()
	}
	return wg.Wait
}

// ack is a produce promise: it counts a record acknowledged in the window.
func (c *counters) ack(r *kgo.Record, err error, sent time.Time, lat *latencyRec) {
	if err != nil {
		c.errs.Add(1)
		return
	}
	if c.measuring.Load() {
		lat.record(time.Since(sent))
		c.records.Add(1)
		c.bytes.Add(int64(len(r.Value)))
	}
}

func perProducerRate(sc Scenario) int {
	if sc.Rate <= 0 {
		return 0
	}
	return max(sc.Rate/sc.Producers, 1)
}

// measureWindow waits out the warm-up, then opens the window for Duration
// (or until Count records are counted) and closes it.
func measureWindow(ctx context.Context, sc Scenario, c *counters, w Window) (Measurement, error) {
	if !sleepCtx(ctx, sc.Warmup) {
		return Measurement{}, ctx.Err()
	}
	w.start()
	start := time.Now()
	c.measuring.Store(true)
	smp := startSampler(&c.records, w)
	for {
		if sc.Count > 0 && c.records.Load() >= sc.Count {
			break
		}
		if sc.Duration > 0 && time.Since(start) >= sc.Duration {
			break
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			smp.finish()
			c.measuring.Store(false)
			w.end()
			return Measurement{}, ctx.Err()
		}
	}
	c.measuring.Store(false)
	elapsed := time.Since(start)
	w.end()
	return Measurement{Records: c.records.Load(), Bytes: c.bytes.Load(), Elapsed: elapsed, Intervals: smp.finish()}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
