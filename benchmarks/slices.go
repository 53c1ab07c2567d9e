package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sliced scenarios (Scenario.Slices > 0) run side by side: a round of a
// slice group (consecutive scenarios of a Suite with the same SliceGroup,
// or one sliced scenario alone) starts one fresh broker per scenario and
// system, an "arm"; after one unmeasured warm-up slice per arm, the arms
// take turns, Slices measured slices each, in the order A B C D, D C B A,
// A B C D, ... (reversed again every other round), so that every ratio's
// numerator and denominator were measured in alternation, close in time,
// under nearly the same load from the rest of the machine. While one arm
// works the others are idle. A slice is
//
//	produce  Count/Slices records written through the scenario's producers
//	         as fast as they take them, until every one is acknowledged
//	consume  a fresh consumer reading the Count/Slices records preloaded
//	         into the topic, from the start
//	e2e      Count/Slices records sent at the scenario's Rate through its
//	         producers, until the arm's consumer (one for the arm's life,
//	         long-polling while other arms work) received every one; each
//	         record's latency is its receive time minus its send time
//
// and its window is all of that: the broker's CPU clock is read right
// before and after. The round's Run per arm sums its slices and keeps them
// as Intervals (one per slice).

// arm is one scenario on one system in a sliced round.
type arm struct {
	sc     Scenario
	system string
	pr     *Proc
	topic  string
	cls    []*kgo.Client // producers (produce, e2e)
	reader *e2eReader    // the consumer (e2e)
}

// e2eReader is an e2e arm's consumer: it reads the topic for the arm's
// whole life and counts each flagged record it receives into the slice
// that is on (none between slices: every slice waits for its last record).
type e2eReader struct {
	cl   *kgo.Client
	on   atomic.Pointer[e2eTarget]
	stop context.CancelFunc
	done chan struct{}
}

// e2eTarget is where an e2e slice counts its records.
type e2eTarget struct {
	c   *counters
	lat *latencyRec
}

func startE2EReader(addr, topic string) (*e2eReader, error) {
	cl, err := consumerClient(addr, topic)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &e2eReader{cl: cl, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		e2eConsume(ctx, cl, func(d time.Duration, bytes int) {
			if t := r.on.Load(); t != nil {
				t.c.got(d, bytes, t.lat)
			}
		})
	}()
	return r, nil
}

func (r *e2eReader) close() {
	r.stop()
	<-r.done
	r.cl.Close()
}

// sliceResult is one slice of one arm.
type sliceResult struct {
	iv              Interval
	bytes, failures int64
}

// runSliced runs one round of a slice group and returns a Run per arm:
// for each scenario of group, one per system in r.systemsFor order.
func (r Runner) runSliced(ctx context.Context, group []Scenario, round int) ([]Run, error) {
	var arms []*arm
	defer func() {
		for _, a := range arms {
			a.close()
		}
	}()
	for _, sc := range group {
		for _, sys := range r.systemsFor(sc) {
			a, err := r.startArm(ctx, sys, sc)
			if err != nil {
				return nil, err
			}
			arms = append(arms, a)
		}
	}
	lats := make([]*latencyRec, len(arms))
	slices := make([][]sliceResult, len(arms))
	for i, a := range arms {
		lats[i] = newLatencyRec()
		if _, err := a.slice(ctx, newLatencyRec()); err != nil { // warm-up
			return nil, a.fail("warm-up slice", err)
		}
	}
	for k := 0; k < group[0].Slices; k++ {
		for _, i := range sliceOrder(len(arms), k+round) {
			a := arms[i]
			s, err := a.slice(ctx, lats[i])
			if err != nil {
				return nil, a.fail(fmt.Sprintf("slice %d", k+1), err)
			}
			slices[i] = append(slices[i], s)
			r.progressf("[r%d %-14s %-7s] slice %2d/%d %10.0f msg/s %7.3f CPU-s/M\n", round+1, a.sc.Name, a.system,
				k+1, a.sc.Slices, Ratio(float64(s.iv.Records), s.iv.Seconds), s.iv.CPUSeconds/float64(max(s.iv.Records, 1))*1e6)
		}
	}
	runs := make([]Run, len(arms))
	for i, a := range arms {
		st, err := a.pr.Stats()
		if err != nil {
			return nil, a.fail("read stats", err)
		}
		runs[i] = slicedRun(a, round, slices[i], lats[i].h, st.PeakRSSBytes)
		r.logRun(runs[i])
	}
	return runs, nil
}

// sliceOrder is the order of the arms in slice pair k: forward when k is
// even, reversed when odd (A B, B A, A B, ...).
func sliceOrder(n, k int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
		if k%2 == 1 {
			order[i] = n - 1 - i
		}
	}
	return order
}

func slicedRun(a *arm, round int, slices []sliceResult, lat *hdrhistogram.Histogram, rss int64) Run {
	var m Measurement
	var cpu float64
	for _, s := range slices {
		m.Records += s.iv.Records
		m.Bytes += s.bytes
		m.Errors += s.failures
		m.Elapsed += time.Duration(s.iv.Seconds * float64(time.Second))
		m.Intervals = append(m.Intervals, s.iv)
		cpu += s.iv.CPUSeconds
	}
	m.Latency = lat
	run := NewRun(a.sc, a.system, round, m, cpu, rss)
	run.Durability, run.Sliced = a.pr.Durable, true
	return run
}

// startArm starts system's broker, creates the topic and, for produce,
// the producers; for consume it preloads one slice of records.
func (r Runner) startArm(ctx context.Context, system string, sc Scenario) (*arm, error) {
	pr, err := r.Peers.Start(ctx, system, sc)
	if err != nil {
		return nil, err
	}
	a := &arm{sc: sc, system: system, pr: pr, topic: "bench-" + sc.Name}
	if err := createTopic(ctx, pr.Addr, a.topic, sc.Partitions, pr.RF); err != nil {
		a.close()
		return nil, a.fail("create topic", err)
	}
	switch sc.Kind {
	case KindProduce:
		a.cls, err = newClients(sc.Producers, producerOpts(pr.Addr, a.topic, sc))
	case KindE2E:
		if a.cls, err = newClients(sc.Producers, producerOpts(pr.Addr, a.topic, sc)); err == nil {
			a.reader, err = startE2EReader(pr.Addr, a.topic)
		}
	case KindConsume:
		err = preload(ctx, pr.Addr, a.topic, sc.sliceRecords(), sc)
	}
	if err != nil {
		a.close()
		return nil, a.fail("prepare", err)
	}
	return a, nil
}

func (a *arm) close() {
	if a.reader != nil {
		a.reader.close()
		a.reader = nil
	}
	closeClients(a.cls)
	a.cls = nil
	a.pr.Stop()
}

func (a *arm) fail(what string, err error) error {
	return fmt.Errorf("%s on %s: %w\n%s", what, a.system, err, a.pr.logTail())
}

// slice runs one slice and measures it: records, seconds and the broker's
// CPU between the edges, and the p99 of its own latencies; the latencies
// go into lat too.
func (a *arm) slice(ctx context.Context, lat *latencyRec) (sliceResult, error) {
	n := a.sc.sliceRecords()
	c, own := &counters{}, newLatencyRec()
	c.measuring.Store(true)
	cpu0, err := a.pr.CPUSeconds()
	if err != nil {
		return sliceResult{}, err
	}
	start := time.Now()
	switch a.sc.Kind {
	case KindProduce:
		err = produceN(ctx, a.cls, a.sc, n, c, own)
	case KindE2E:
		err = a.e2eSlice(ctx, n, c, own)
	default:
		err = a.consumeSlice(ctx, n, c, own)
	}
	elapsed := time.Since(start)
	cpu1, cerr := a.pr.CPUSeconds()
	if err = errors.Join(err, cerr); err != nil {
		return sliceResult{}, err
	}
	if c.records.Load() == 0 {
		return sliceResult{}, errors.New("no records in the slice")
	}
	lat.merge(own)
	return sliceResult{iv: Interval{Seconds: elapsed.Seconds(), Records: c.records.Load(), CPUSeconds: cpu1 - cpu0, P99Ms: own.p99Ms()},
		bytes: c.bytes.Load(), failures: c.errs.Load()}, nil
}

// e2eSlice sends n stamped records at the scenario's rate, split over the
// arm's producers, and waits until the arm's consumer received them all.
func (a *arm) e2eSlice(ctx context.Context, n int64, c *counters, lat *latencyRec) error {
	a.reader.on.Store(&e2eTarget{c: c, lat: lat})
	defer a.reader.on.Store(nil)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, cl := range a.cls {
		if share := shareOf(n, i, len(a.cls)); share > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e2eProduce(ctx, cl, a.sc, share, c, &sent)
			}()
		}
	}
	wg.Wait()
	return errors.Join(flushAll(ctx, a.cls), waitDrained(ctx, c, &sent))
}

// shareOf is client i's share of n records over k clients (the first
// takes the remainder).
func shareOf(n int64, i, k int) int64 {
	share := n / int64(k)
	if i == 0 {
		share += n % int64(k)
	}
	return share
}

// consumeSlice reads the topic's n records from the start with a fresh
// consumer.
func (a *arm) consumeSlice(ctx context.Context, n int64, c *counters, lat *latencyRec) error {
	cl, err := consumerClient(a.pr.Addr, a.topic)
	if err != nil {
		return err
	}
	defer cl.Close()
	return consumeN(ctx, cl, n, c, lat)
}

// produceN writes n records, split over cls, as fast as the clients take
// them, and waits until every one is acknowledged; acks count into c.
func produceN(ctx context.Context, cls []*kgo.Client, sc Scenario, n int64, c *counters, lat *latencyRec) error {
	value := make([]byte, sc.RecordBytes) // shared: the client only reads it
	var wg sync.WaitGroup
	for i, cl := range cls {
		share := shareOf(n, i, len(cls))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int64(0); j < share && ctx.Err() == nil; j++ {
				sent := time.Now()
				cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) { c.ack(r, err, sent, lat) })
			}
		}()
	}
	wg.Wait()
	if err := flushAll(ctx, cls); err != nil {
		return err
	}
	if got := c.records.Load() + c.errs.Load(); got != n {
		return fmt.Errorf("produce slice: %d of %d records answered", got, n)
	}
	return ctx.Err()
}
