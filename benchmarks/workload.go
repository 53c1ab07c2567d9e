package benchmarks

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Window hooks let the runner read the broker's figures exactly at the
// edges of the measured window. Any may be nil.
type Window struct {
	Start func()
	End   func()
	// CPU returns the broker's CPU seconds so far. The sampler reads it at
	// every sub-interval edge, so each Interval has its own CPU figure.
	CPU func() (float64, error)
}

func (w Window) start() {
	if w.Start != nil {
		w.Start()
	}
}

func (w Window) end() {
	if w.End != nil {
		w.End()
	}
}

// Measurement is what one workload run saw in its measured window.
type Measurement struct {
	Records int64
	Bytes   int64
	Errors  int64
	Elapsed time.Duration
	Latency *hdrhistogram.Histogram // microseconds
	// Intervals are consecutive sampleIntervals of the window; the medians
	// of their rates and CPU costs are the run's steady figures, which a
	// short burst of load from other processes on the machine does not move.
	Intervals []Interval
}

// Interval is one sub-interval of a measured window.
type Interval struct {
	Seconds    float64 `json:"s"`
	Records    int64   `json:"records"`
	CPUSeconds float64 `json:"cpu_s"` // the broker's, in the interval (0 when not read)
	// P99Ms is the p99 of the latencies recorded in a slice (sliced runs
	// only): produce -> ack for produce, send -> receive for e2e.
	P99Ms float64 `json:"p99_ms,omitempty"`
}

// latencyRec is a histogram safe for concurrent Record calls.
type latencyRec struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newLatencyRec() *latencyRec {
	return &latencyRec{h: hdrhistogram.New(1, 120_000_000, 3)} // 1 µs .. 120 s
}

// merge adds o's latencies (o is no longer written to).
func (l *latencyRec) merge(o *latencyRec) {
	l.mu.Lock()
	l.h.Merge(o.h)
	l.mu.Unlock()
}

// p99Ms is the p99 of the latencies recorded so far, in milliseconds (0
// when none).
func (l *latencyRec) p99Ms() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.h.ValueAtQuantile(99)) / 1000
}

func (l *latencyRec) record(d time.Duration) {
	us := max(d.Microseconds(), 1)
	l.mu.Lock()
	l.h.RecordValue(min(us, 120_000_000))
	l.mu.Unlock()
}

// RunWorkload runs sc against the broker at addr. Progress lines go to
// progress (nil: none), prefixed with label.
func RunWorkload(ctx context.Context, addr string, sc Scenario, w Window, progress io.Writer, label string) (Measurement, error) {
	if err := sc.Validate(); err != nil {
		return Measurement{}, err
	}
	return runWorkloadRF(ctx, addr, 1, sc, w, progress, label)
}

// runWorkloadRF is RunWorkload with a topic of rf replicas (min.insync.replicas
// rf-1 when rf > 1).
func runWorkloadRF(ctx context.Context, addr string, rf int16, sc Scenario, w Window, progress io.Writer, label string) (Measurement, error) {
	topic := "bench-" + sc.Name
	if err := createTopic(ctx, addr, topic, sc.Partitions, rf); err != nil {
		return Measurement{}, err
	}
	switch sc.Kind {
	case KindProduce:
		return runProduce(ctx, addr, topic, sc, w, progress, label)
	case KindConsume:
		return runConsume(ctx, addr, topic, sc, w, progress, label)
	default:
		return runE2E(ctx, addr, topic, sc, w, progress, label)
	}
}

// createTopic creates topic with partitions and rf replicas; with rf > 1
// its min.insync.replicas is rf-1 (RF=3, min.insync=2: one follower may
// lag or stop without failing acks=-1). It waits up to 15 s, or
// createTimeout for more than manyPartitions partitions (each is a
// directory and files made durable).
func createTopic(ctx context.Context, addr, topic string, partitions int32, rf int16) error {
	timeout := 15 * time.Second
	if partitions > manyPartitions {
		timeout = createTimeout
	}
	return createTopicWithin(ctx, addr, topic, partitions, rf, timeout)
}

// manyPartitions is the partition count above which createTopic waits up
// to createTimeout.
const manyPartitions = 100

// createTopicWithin is createTopic with a timeout for the whole creation
// (thousands of partitions take minutes on a busy disk).
func createTopicWithin(ctx context.Context, addr, topic string, partitions int32, rf int16, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(timeout))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var configs map[string]*string
	if rf > 1 {
		configs = map[string]*string{"min.insync.replicas": kadm.StringPtr(fmt.Sprint(rf - 1))}
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(timeout.Milliseconds()))
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

func compressionOpt(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("unknown compression %q", name)
}

// producerOpts are the client options every producer of sc uses.
func producerOpts(addr, topic string, sc Scenario) []kgo.Opt {
	codec, _ := compressionOpt(sc.Compression) // Validate checked it
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(sc.Linger), kgo.ProducerBatchCompression(codec),
	}
	if sc.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(sc.BatchBytes))
	}
	// Without idempotency kgo allows one produce request in flight per
	// broker unless told otherwise (idempotent: 5); the non-idempotent
	// producers get 5 too, Java's max.in.flight.requests.per.connection
	// default, or acks=1 would measure one request at a time against
	// acks=-1's five.
	inflight := nonIdempotentInflight
	if sc.Inflight > 0 {
		inflight = sc.Inflight
	}
	switch sc.Acks {
	case -1:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(inflight))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(inflight))
	}
	return opts
}

// nonIdempotentInflight is the produce requests in flight per broker of
// the acks=1 and acks=0 producers: Java's max.in.flight default, and what
// kgo gives its idempotent (acks=-1) producers.
const nonIdempotentInflight = 5

// pacer spaces records at a fixed rate; a zero rate never waits.
type pacer struct {
	start time.Time
	every time.Duration
	n     int64
}

func newPacer(rate int) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.every = time.Second / time.Duration(rate)
	}
	return p
}

// wait blocks until the next record is due, or ctx ends (false).
func (p *pacer) wait(ctx context.Context) bool {
	if p.every > 0 {
		due := p.start.Add(time.Duration(p.n) * p.every)
		p.n++
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
		}
	}
	return ctx.Err() == nil
}

// progressLoop prints the records counted so far once a second until stop
// is closed. On a terminal it rewrites one line.
func progressLoop(out io.Writer, label string, counted *atomic.Int64, errs *atomic.Int64, stop <-chan struct{}) {
	if out == nil {
		return
	}
	start, tick := time.Now(), time.NewTicker(time.Second)
	defer tick.Stop()
	eol := "\n"
	if isTerminal(out) {
		eol = ""
	}
	var last int64
	for {
		select {
		case <-stop:
			if eol == "" {
				fmt.Fprint(out, "\r\033[K")
			}
			return
		case <-tick.C:
			n := counted.Load()
			fmt.Fprintf(out, "\r%s %4.0fs %10d msgs %9.0f msg/s errors %d%s", label,
				time.Since(start).Seconds(), n, float64(n-last), errs.Load(), eol)
			last = n
		}
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// sampleInterval is the width of the sub-intervals whose rates give a
// run's steady throughput.
const sampleInterval = 200 * time.Millisecond

// sampler records the records counted and the broker CPU used over
// consecutive sampleIntervals of the measured window (a partial last
// interval is dropped).
type sampler struct {
	stop      chan struct{}
	done      chan struct{}
	intervals []Interval
}

func startSampler(counter *atomic.Int64, w Window) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(sampleInterval)
		defer tick.Stop()
		cpu := cpuReader(w.CPU)
		last, lastT, lastCPU := counter.Load(), time.Now(), cpu()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tick.C:
				n, c := counter.Load(), cpu()
				iv := Interval{Seconds: now.Sub(lastT).Seconds(), Records: n - last}
				if c >= 0 && lastCPU >= 0 {
					iv.CPUSeconds = c - lastCPU
				}
				s.intervals = append(s.intervals, iv)
				last, lastT, lastCPU = n, now, c
			}
		}
	}()
	return s
}

// cpuReader wraps read so that it returns -1 when there is no reader or
// once a read has failed (the window's edge reads report the error).
func cpuReader(read func() (float64, error)) func() float64 {
	failed := read == nil
	return func() float64 {
		if failed {
			return -1
		}
		c, err := read()
		if err != nil {
			failed = true
			return -1
		}
		return c
	}
}

// finish stops sampling and returns the intervals.
func (s *sampler) finish() []Interval {
	close(s.stop)
	<-s.done
	return s.intervals
}
