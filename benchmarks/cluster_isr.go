package benchmarks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The ISR-shrink scenario: acks=-1 throughput on a 3-broker RF=3 cluster
// (min.insync.replicas=2) in three windows while the lab's idempotent
// producers write as fast as they can:
//
//	full      every replica in the ISR
//	stopped   one follower (a broker that is not the controller) SIGSTOPped,
//	          measured once every ISR has dropped it (replica.lag.time.max.ms
//	          ISRLagTimeMs, so the stall before the shrink stays short)
//	returned  after SIGCONT, while it catches up
//
// then the producers stop and the scenario waits until the follower is
// back in every ISR: catch-up = the bytes it read from its leaders'
// replication sockets from SIGCONT until then, over that time.

// ISRLagTimeMs is replica.lag.time.max.ms in the ISR-shrink scenario
// (Kafka's and Chronik's default is 30 s).
const ISRLagTimeMs = 2000

// ISRWindow is one measured window of the scenario.
type ISRWindow struct {
	Name      string  `json:"name"` // full | stopped | returned
	Seconds   float64 `json:"seconds"`
	Records   int64   `json:"records"`
	MsgPerSec float64 `json:"msg_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"` // value bytes, 10^6
}

// ISRResult is the scenario's section of results.json.
type ISRResult struct {
	Partitions   int32       `json:"partitions"`
	LagTimeMaxMs int         `json:"replica_lag_time_max_ms"`
	Victim       int32       `json:"victim"`
	Windows      []ISRWindow `json:"windows"`
	// ShrinkMs is SIGSTOP -> no ISR lists the victim.
	ShrinkMs float64 `json:"shrink_ms"`
	// CatchUp*: SIGCONT -> the victim is in every ISR again.
	CatchUpMs          float64 `json:"catch_up_ms"`
	CatchUpBytes       int64   `json:"catch_up_bytes"`
	CatchUpBytesPerSec float64 `json:"catch_up_bytes_per_sec"`
	Errors             int64   `json:"errors"`
}

// ISRConfig sizes the scenario.
type ISRConfig struct {
	Window     time.Duration // each measured window
	Warmup     time.Duration // before the first
	Partitions int32
	Timeout    time.Duration // for the shrink and for the catch-up
}

// DefaultISRConfig is bench's: 3 s windows.
func DefaultISRConfig() ISRConfig {
	return ISRConfig{Window: 3 * time.Second, Warmup: time.Second, Partitions: 9, Timeout: 60 * time.Second}
}

const isrTopic = "isr"

// RunISR runs the scenario on a fresh cluster.
func (l ClusterLab) RunISR(ctx context.Context, cfg ISRConfig) (*ISRResult, error) {
	c, err := l.start("isr", clusterNodes, map[string]string{"replica.lag.time.max.ms": fmt.Sprint(ISRLagTimeMs)})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := l.isrOn(ctx, c, cfg)
	if err != nil {
		return nil, fmt.Errorf("isr-shrink: %w\n%s", err, c.Logs())
	}
	return res, nil
}

func (l ClusterLab) isrOn(ctx context.Context, c *testbed.Cluster, cfg ISRConfig) (*ISRResult, error) {
	res := &ISRResult{Partitions: cfg.Partitions, LagTimeMaxMs: ISRLagTimeMs}
	addr := c.Node(1).KafkaAddr
	if err := createTopic(ctx, addr, isrTopic, cfg.Partitions, clusterNodes); err != nil {
		return nil, err
	}
	if _, err := waitTopic(ctx, addr, isrTopic, cfg.Partitions, 30*time.Second); err != nil {
		return nil, err
	}
	ctrl, _, err := testbed.TopicMetadata(ctx, addr, isrTopic)
	if err != nil {
		return nil, err
	}
	res.Victim = int32(clusterNodes)
	for res.Victim == ctrl || res.Victim == 1 {
		res.Victim-- // never the controller, nor broker 1 (the producers' seed and the scenario's metadata source)
	}
	if res.Victim < 1 {
		return nil, fmt.Errorf("no broker to stop: controller %d", ctrl)
	}
	sc := replScenario("isr", -1, 0, 0)
	cls, err := newClients(2, producerOpts(addr, isrTopic, sc))
	if err != nil {
		return nil, err
	}
	defer closeClients(cls)
	cnt := &counters{}
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var wg sync.WaitGroup
	value := make([]byte, sc.RecordBytes)
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				cl.Produce(pctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					if err != nil && pctx.Err() == nil {
						cnt.errs.Add(1)
					} else if err == nil {
						cnt.records.Add(1)
						cnt.bytes.Add(int64(len(r.Value)))
					}
				})
			}
		}()
	}
	stop := func() { stopProducing(); wg.Wait() }
	defer stop()
	window := func(name string) ISRWindow {
		r0, b0, t0 := cnt.records.Load(), cnt.bytes.Load(), time.Now()
		sleepCtx(ctx, cfg.Window)
		w := ISRWindow{Name: name, Seconds: time.Since(t0).Seconds(), Records: cnt.records.Load() - r0}
		w.MsgPerSec = Ratio(float64(w.Records), w.Seconds)
		w.MBPerSec = Ratio(float64(cnt.bytes.Load()-b0), w.Seconds) / 1e6
		l.progressf("[isr-shrink %-8s] %9.0f msg/s %7.2f MB/s\n", name, w.MsgPerSec, w.MBPerSec)
		return w
	}
	sleepCtx(ctx, cfg.Warmup)
	res.Windows = append(res.Windows, window("full"))

	// The victim's count just before it stops is where its catch-up
	// starts: it reads nothing while stopped.
	recv0, err := victimReceived(ctx, c, res.Victim)
	if err != nil {
		return nil, err
	}
	stopped := time.Now()
	if err := c.Pause(res.Victim); err != nil {
		return nil, err
	}
	paused := true
	defer func() {
		if paused {
			c.Continue(res.Victim)
		}
	}()
	if err := waitISR(ctx, addr, cfg.Partitions, res.Victim, false, cfg.Timeout); err != nil {
		return nil, err
	}
	res.ShrinkMs = msSince(stopped)
	res.Windows = append(res.Windows, window("stopped"))

	cont := time.Now()
	if err := c.Continue(res.Victim); err != nil {
		return nil, err
	}
	paused = false
	res.Windows = append(res.Windows, window("returned"))
	stop()
	if err := waitISR(ctx, addr, cfg.Partitions, res.Victim, true, cfg.Timeout); err != nil {
		return nil, err
	}
	res.CatchUpMs = msSince(cont)
	recv1, err := victimReceived(ctx, c, res.Victim)
	if err != nil {
		return nil, err
	}
	res.CatchUpBytes = recv1 - recv0
	res.CatchUpBytesPerSec = Ratio(float64(res.CatchUpBytes), res.CatchUpMs/1000)
	res.Errors = cnt.errs.Load()
	l.progressf("[isr-shrink] shrink %.0f ms; catch-up %d B in %.0f ms = %.1f MB/s; errors %d\n", res.ShrinkMs,
		res.CatchUpBytes, res.CatchUpMs, res.CatchUpBytesPerSec/1e6, res.Errors)
	return res, nil
}

func victimReceived(ctx context.Context, c *testbed.Cluster, id int32) (int64, error) {
	text, err := metrics(ctx, c, id)
	if err != nil {
		return 0, fmt.Errorf("metrics of broker %d: %w", id, err)
	}
	return int64(sumValues(metricValues(text, "chronik_replication_received_bytes_total"))), nil
}

// waitISR waits until, by broker addr, id is in every ISR of the topic
// (in) or in none (!in).
func waitISR(ctx context.Context, addr string, parts int32, id int32, in bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, ps, err := testbed.TopicMetadata(ctx, addr, isrTopic)
		if err == nil && int32(len(ps)) == parts {
			ok := true
			for _, st := range ps {
				if slices.Contains(st.ISR, id) != in {
					ok = false
				}
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker %d in every ISR = %v not reached after %v", id, in, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
