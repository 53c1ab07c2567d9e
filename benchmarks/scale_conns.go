package benchmarks

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConnSweep is the connections curve: idle connections grow (then shrink
// again) on one broker per round while a few producers stay busy.
type ConnSweep struct {
	Workload     string        `json:"workload"`
	Measurements []ConnMeasure `json:"measurements"`
	Points       []ConnPoint   `json:"points"` // per idle count, over every measurement of it
}

// ConnMeasure is one step of one round.
type ConnMeasure struct {
	Round int    `json:"round"`
	Phase string `json:"phase"` // up (connections opened) or down (closed again)
	Idle  int    `json:"idle"`  // idle connections open
	// Before is read just before the idle connections were opened or
	// closed to Idle, Footprint 200 ms after: the difference is theirs
	// alone (no load ran in between).
	Before    ProcFootprint `json:"before"`
	Footprint ProcFootprint `json:"footprint"`
	// Throughput slices: the busy producers as fast as they go (medians).
	MsgPerSec        float64    `json:"msg_per_sec"`
	CPUSecPerMillion float64    `json:"cpu_sec_per_million"`
	Slices           []Interval `json:"slices"`
	// Latency window: the busy producers at a fixed rate.
	Latency LatencySummary `json:"latency"`
}

// ConnPoint summarises one idle count.
type ConnPoint struct {
	Idle             int     `json:"idle"`
	Measurements     int     `json:"measurements"`
	MsgPerSec        float64 `json:"msg_per_sec"` // median
	CPUSecPerMillion float64 `json:"cpu_sec_per_million"`
	P50Ms            float64 `json:"p50_ms"` // medians of the latency windows
	P99Ms            float64 `json:"p99_ms"`
	// Median over measurements of the figure over its round's mean
	// (geometric) at the first idle count.
	MsgRatio float64 `json:"msg_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	// Per idle connection, medians over the steps up to this count (every
	// round): the change across the step (Footprint - Before) over the
	// connections it opened. RSS and its anonymous part (heap, stacks).
	RSSPerConn   float64 `json:"rss_bytes_per_idle_conn"`
	AnonPerConn  float64 `json:"anon_bytes_per_idle_conn"`
	FilesPerConn float64 `json:"open_files_per_idle_conn"`
}

// Phases of a connections round.
const (
	phaseUp   = "up"
	phaseDown = "down"
)

func connScenario(cfg ScaleConfig) Scenario {
	sc := produceScenario("connections", 1, false, cfg.ConnSliceRecords, 0)
	sc.Producers, sc.Slices, sc.Warmup, sc.Rate, sc.Duration = cfg.ConnBusyProducers, 1, 0, cfg.ConnLatencyRate, cfg.ConnLatencyWindow
	return sc
}

func runConnSweep(ctx context.Context, peers Peers, cfg ScaleConfig, progress io.Writer) (*ConnSweep, error) {
	sc := connScenario(cfg)
	sw := &ConnSweep{Workload: fmt.Sprintf("%d busy producers (acks=1, %d-byte records, linger %v, %d-byte batches, %d partitions): "+
		"%d throughput slices of %d records as fast as they go (medians), then %v at %d records/s for the latency (produce call -> acknowledgement); "+
		"idle connections are raw TCP connections that sent one ApiVersions request, read its answer and stay open, "+
		"opened up to each count and closed again on the way down",
		sc.Producers, sc.RecordBytes, sc.Linger, sc.BatchBytes, sc.Partitions, cfg.ConnSlices, cfg.ConnSliceRecords, cfg.ConnLatencyWindow, cfg.ConnLatencyRate)}
	for round := 0; round < cfg.ConnRounds; round++ {
		ms, err := connRound(ctx, peers, sc, cfg, round, progress)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", round+1, err)
		}
		sw.Measurements = append(sw.Measurements, ms...)
	}
	sw.Points = summarizeConns(sw.Measurements, cfg.ConnCounts)
	return sw, nil
}

// connSteps is the order of a round: every count up, then back down.
func connSteps(counts []int) (idle []int, phase []string) {
	for _, c := range counts {
		idle, phase = append(idle, c), append(phase, phaseUp)
	}
	for i := len(counts) - 2; i >= 0; i-- {
		idle, phase = append(idle, counts[i]), append(phase, phaseDown)
	}
	return idle, phase
}

func connRound(ctx context.Context, peers Peers, sc Scenario, cfg ScaleConfig, round int, progress io.Writer) ([]ConnMeasure, error) {
	pr, err := peers.Start(ctx, Chronik, sc)
	if err != nil {
		return nil, err
	}
	a := &arm{sc: sc, system: Chronik, pr: pr, topic: "bench-" + sc.Name}
	defer a.close()
	if err := createTopic(ctx, pr.Addr, a.topic, sc.Partitions, pr.RF); err != nil {
		return nil, a.fail("create topic", err)
	}
	if a.cls, err = newClients(sc.Producers, producerOpts(pr.Addr, a.topic, sc)); err != nil {
		return nil, err
	}
	if _, err := a.slice(ctx, newLatencyRec()); err != nil { // warm-up
		return nil, a.fail("warm-up", err)
	}
	idle := &idleConns{}
	defer idle.closeAll()
	var out []ConnMeasure
	counts, phases := connSteps(cfg.ConnCounts)
	for i, n := range counts {
		before, err := footprint(pr.Pid, "")
		if err != nil {
			return nil, err
		}
		if err := idle.resize(ctx, pr.Addr, n); err != nil {
			return nil, a.fail(fmt.Sprintf("%d idle connections", n), err)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return nil, ctx.Err()
		}
		m := ConnMeasure{Round: round, Phase: phases[i], Idle: n, Before: before}
		if m.Footprint, err = footprint(pr.Pid, ""); err != nil {
			return nil, err
		}
		var rates, cpus []float64
		for k := 0; k < max(cfg.ConnSlices, 1); k++ {
			s, err := a.slice(ctx, newLatencyRec())
			if err != nil {
				return nil, a.fail("throughput slice", err)
			}
			m.Slices = append(m.Slices, s.iv)
			rates, cpus = append(rates, sliceMsgs(s.iv)), append(cpus, sliceCPUPM(s.iv))
		}
		m.MsgPerSec, m.CPUSecPerMillion = finite(Median(rates)), finite(Median(cpus))
		lat, err := pacedProduce(ctx, a.cls, sc)
		if err != nil {
			return nil, a.fail("latency window", err)
		}
		m.Latency = summarizeLatency(lat.h)
		fmt.Fprintf(progress, "[connections r%d %-4s %5d idle] %9.0f msg/s %7.3f CPU-s/M; at %d/s p50 %.3f p99 %.3f ms; RSS %.1f MiB, %d files\n",
			round+1, m.Phase, n, m.MsgPerSec, m.CPUSecPerMillion, sc.Rate, m.Latency.P50Ms, m.Latency.P99Ms, mib(m.Footprint.RSSBytes), m.Footprint.OpenFiles)
		out = append(out, m)
	}
	return out, nil
}

// pacedProduce writes sc.Rate records/s through cls for sc.Duration and
// returns the produce latencies.
func pacedProduce(ctx context.Context, cls []*kgo.Client, sc Scenario) (*latencyRec, error) {
	lat, c := newLatencyRec(), &counters{}
	c.measuring.Store(true)
	value := make([]byte, sc.RecordBytes)
	pctx, cancel := context.WithTimeout(ctx, sc.Duration)
	defer cancel()
	paceProducers(pctx, cls, sc, value, c, lat)()
	if err := flushAll(ctx, cls); err != nil {
		return nil, err
	}
	if n := c.errs.Load(); n > 0 {
		return nil, fmt.Errorf("%d records failed", n)
	}
	return lat, ctx.Err()
}

// idleConns are raw connections that each sent one ApiVersions request.
type idleConns struct{ conns []net.Conn }

func (ic *idleConns) resize(ctx context.Context, addr string, n int) error {
	for len(ic.conns) > n {
		last := len(ic.conns) - 1
		ic.conns[last].Close()
		ic.conns = ic.conns[:last]
	}
	// Open in parallel (the broker accepts on its event loops).
	const dialers = 16
	need := n - len(ic.conns)
	if need <= 0 {
		return nil
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	per := (need + dialers - 1) / dialers
	for d := 0; d < dialers; d++ {
		k := min(per, need-d*per)
		if k <= 0 {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < k; j++ {
				c, err := dialIdle(ctx, addr, int32(j))
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				ic.conns = append(ic.conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (ic *idleConns) closeAll() {
	for _, c := range ic.conns {
		c.Close()
	}
	ic.conns = nil
}

// dialIdle connects, sends ApiVersions v0 and reads the answer.
func dialIdle(ctx context.Context, addr string, corr int32) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(apiVersionsFrame(corr)); err != nil {
		c.Close()
		return nil, fmt.Errorf("send ApiVersions: %w", err)
	}
	if err := readFrame(c, corr); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// apiVersionsFrame is a size-prefixed ApiVersions v0 request with header
// v1 (api key, version, correlation id, client id).
func apiVersionsFrame(corr int32) []byte {
	const clientID = "chronik-bench-idle"
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	body := req.AppendTo(nil)
	b := make([]byte, 4, 4+10+len(clientID)+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readFrame reads one response and checks its correlation id.
func readFrame(r io.Reader, corr int32) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("read ApiVersions answer: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr || size < 4 || size > 1<<20 {
		return fmt.Errorf("ApiVersions answer: size %d, correlation id %d, want %d", size, got, corr)
	}
	_, err := io.CopyN(io.Discard, r, int64(size-4))
	return err
}

// summarizeConns groups measurements by idle count.
func summarizeConns(ms []ConnMeasure, counts []int) []ConnPoint {
	if len(counts) == 0 {
		return nil
	}
	first := counts[0]
	baseMsg, baseP99 := map[int][]float64{}, map[int][]float64{}
	for _, m := range ms {
		if m.Idle == first {
			baseMsg[m.Round] = append(baseMsg[m.Round], m.MsgPerSec)
			baseP99[m.Round] = append(baseP99[m.Round], m.Latency.P99Ms)
		}
	}
	var out []ConnPoint
	for k, n := range counts {
		p := ConnPoint{Idle: n}
		var msg, cpu, p50, p99, msgR, p99R, rss, anon, files []float64
		for _, m := range ms {
			if m.Idle != n {
				continue
			}
			p.Measurements++
			msg, cpu = append(msg, m.MsgPerSec), append(cpu, m.CPUSecPerMillion)
			p50, p99 = append(p50, m.Latency.P50Ms), append(p99, m.Latency.P99Ms)
			msgR = append(msgR, Ratio(m.MsgPerSec, geoMean(baseMsg[m.Round])))
			p99R = append(p99R, Ratio(m.Latency.P99Ms, geoMean(baseP99[m.Round])))
			if m.Phase == phaseUp && k > 0 {
				opened := float64(n - counts[k-1])
				rss = append(rss, float64(m.Footprint.RSSBytes-m.Before.RSSBytes)/opened)
				anon = append(anon, float64(m.Footprint.AnonBytes-m.Before.AnonBytes)/opened)
				files = append(files, float64(m.Footprint.OpenFiles-m.Before.OpenFiles)/opened)
			}
		}
		p.MsgPerSec, p.CPUSecPerMillion, p.P50Ms, p.P99Ms = finite(Median(msg)), finite(Median(cpu)), finite(Median(p50)), finite(Median(p99))
		p.MsgRatio, p.P99Ratio = finite(Median(msgR)), finite(Median(p99R))
		if len(rss) > 0 {
			p.RSSPerConn, p.AnonPerConn, p.FilesPerConn = finite(Median(rss)), finite(Median(anon)), finite(Median(files))
		}
		out = append(out, p)
	}
	return out
}

// geoMean is the geometric mean of the positive xs; NaN without any.
func geoMean(xs []float64) float64 {
	var sum float64
	n := 0
	for _, x := range xs {
		if x > 0 {
			sum += math.Log(x)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Exp(sum / float64(n))
}
