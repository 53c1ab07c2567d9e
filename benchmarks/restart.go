package benchmarks

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The restart scenario (chronik-bench restart): how long a broker takes to
// serve again after a kill -9, as the data it holds grows, and how long it
// takes to start with many idle partitions.
//
// Per arm (a chronik binary: e.g. the main branch's and this one's) and
// per size: a fresh broker, one topic of Partitions partitions, Producers
// idempotent acks=-1 franz-go producers filling it round-robin with
// RecordBytes records until SizeBytes are acknowledged; the broker is
// killed (SIGKILL) while they still write. Then Rounds times: the broker
// is started again on the same data directory, the time from the start
// to the first acknowledged produce of a new record and its fetch is the
// round's figure (serve), and the broker's own "engine ready" recovery
// time is read from its log; the producers write for Between, and the
// broker is killed again in the middle of that. The idle rows create one
// topic of IdlePartitions partitions, stop the broker with SIGTERM and
// restart it (clean), then kill it and restart it (unclean), Rounds times
// each. Brokers are processes on free loopback ports, stopped by pid.

// RestartConfig is the restart scenario's knobs.
type RestartConfig struct {
	Arms           []RestartArm
	SizesBytes     []int64
	Partitions     int
	Producers      int
	RecordBytes    int
	Rounds         int
	Between        time.Duration
	IdlePartitions int // 0: no idle rows
	ServeTimeout   time.Duration
	Dir            string            // work directory; each arm's data is removed after its rows
	Properties     map[string]string // extra broker properties
}

// RestartArm is one broker binary under test.
type RestartArm struct {
	Name string `json:"name"`
	Bin  string `json:"bin"`
}

// DefaultRestartConfig is 100 partitions, 1 GB and 10 GB, 3 rounds.
func DefaultRestartConfig() RestartConfig {
	return RestartConfig{
		SizesBytes: []int64{1 << 30, 10 << 30}, Partitions: 100, Producers: 4, RecordBytes: 4096,
		Rounds: 3, Between: 5 * time.Second, IdlePartitions: 10000, ServeTimeout: 10 * time.Minute,
	}
}

// RestartResult is results.json's "restart" section.
type RestartResult struct {
	Partitions  int          `json:"partitions"`
	Producers   int          `json:"producers"`
	RecordBytes int          `json:"record_bytes"`
	Arms        []RestartArm `json:"arms"`
	Rows        []RestartRow `json:"rows"`
}

// RestartRow is one arm's restarts in one case.
type RestartRow struct {
	Arm        string `json:"arm"`
	Case       string `json:"case"` // kill9-with-data, sigterm-idle, kill9-idle
	Partitions int    `json:"partitions"`
	// DataBytes is what the broker held when first killed (acknowledged
	// record values; the log is a little larger).
	DataBytes int64           `json:"data_bytes"`
	FillMBps  float64         `json:"fill_mb_per_sec,omitempty"`
	Samples   []RestartSample `json:"samples"`
	// Medians over the samples.
	ServeSeconds    float64 `json:"serve_seconds"`
	RecoverySeconds float64 `json:"recovery_seconds"`
}

// RestartSample is one restart.
type RestartSample struct {
	// ServeSeconds: process start to a new record acknowledged (acks=-1)
	// and fetched back.
	ServeSeconds float64 `json:"serve_seconds"`
	// RecoverySeconds: the broker's "engine ready" recovery time (every
	// partition opened), from its log; -1 if not found.
	RecoverySeconds float64 `json:"recovery_seconds"`
	DiskBytes       int64   `json:"disk_bytes"` // data directory, allocated blocks
}

// RunRestart runs every arm's rows, arm after arm for each size.
func RunRestart(ctx context.Context, c RestartConfig, log io.Writer) (*RestartResult, error) {
	raiseFileLimit()
	res := &RestartResult{Partitions: c.Partitions, Producers: c.Producers, RecordBytes: c.RecordBytes, Arms: c.Arms}
	for _, size := range c.SizesBytes {
		for _, arm := range c.Arms {
			row, err := runDataRestarts(ctx, c, arm, size, log)
			if err != nil {
				return res, fmt.Errorf("%s, %d bytes: %w", arm.Name, size, err)
			}
			res.Rows = append(res.Rows, row)
		}
	}
	if c.IdlePartitions > 0 {
		for _, arm := range c.Arms {
			rows, err := runIdleRestarts(ctx, c, arm, log)
			if err != nil {
				return res, fmt.Errorf("%s, %d idle partitions: %w", arm.Name, c.IdlePartitions, err)
			}
			res.Rows = append(res.Rows, rows...)
		}
	}
	return res, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE (hard too, where allowed) so that a
// broker with 10,000 partitions (three files each) can open them; the
// brokers inherit it.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	want := max(lim.Max, 1<<17)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) != nil {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
	}
}

// restartBroker is one broker's process and its fixed address and data.
type restartBroker struct {
	proc    *testbed.Proc
	addr    string
	dataDir string
}

func startRestartBroker(c RestartConfig, arm RestartArm, name string) (*restartBroker, error) {
	dir := filepath.Join(c.Dir, arm.Name+"-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	props := map[string]string{"auto.create.topics.enable": "false"}
	for k, v := range c.Properties {
		props[k] = v
	}
	cfg := filepath.Join(dir, "broker.properties")
	if err := os.WriteFile(cfg, []byte(properties(props)), 0o644); err != nil {
		return nil, err
	}
	b := &restartBroker{addr: addr, dataDir: filepath.Join(dir, "data")}
	b.proc = &testbed.Proc{Bin: arm.Bin, LogPath: filepath.Join(dir, "broker.log"),
		Args: []string{"serve", "--listen", addr, "--data-dir", b.dataDir, "--config", cfg}}
	return b, b.proc.Start()
}

// remove stops the broker (if it runs) and deletes its directory.
func (b *restartBroker) remove() {
	b.proc.Reap()
	os.RemoveAll(filepath.Dir(b.dataDir))
}

// restart starts the broker again and times it until it serves topic.
func (b *restartBroker) restart(ctx context.Context, c RestartConfig, topic string, partition int32) (RestartSample, error) {
	start := time.Now()
	if err := b.proc.Start(); err != nil {
		return RestartSample{}, err
	}
	if err := waitServe(ctx, b.addr, topic, partition, c.ServeTimeout); err != nil {
		return RestartSample{}, fmt.Errorf("serve after restart: %w\n%s", err, b.proc.LogTail())
	}
	s := RestartSample{ServeSeconds: time.Since(start).Seconds(), RecoverySeconds: b.recoverySeconds(), DiskBytes: diskUsage(b.dataDir)}
	return s, nil
}

var engineReady = regexp.MustCompile(`msg="engine ready".* recovery=(\S+)`)

// recoverySeconds is the last "engine ready" recovery time in the log.
func (b *restartBroker) recoverySeconds() float64 {
	data, err := os.ReadFile(b.proc.LogPath)
	if err != nil {
		return -1
	}
	m := engineReady.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return -1
	}
	d, err := time.ParseDuration(string(m[len(m)-1][1]))
	if err != nil {
		return -1
	}
	return d.Seconds()
}

// waitServe produces one record to topic/partition (acks=-1) and fetches
// it back, retrying every 25 ms until timeout.
func waitServe(ctx context.Context, addr, topic string, partition int32, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := kgo.RetryBackoffFn(func(int) time.Duration { return 25 * time.Millisecond })
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), backoff,
		kgo.MetadataMinAge(25*time.Millisecond), kgo.DisableIdempotentWrite())
	if err != nil {
		return err
	}
	defer cl.Close()
	value := []byte("restart-probe-" + strconv.FormatInt(time.Now().UnixNano(), 10))
	rec := &kgo.Record{Topic: topic, Partition: partition, Value: value}
	for {
		err := cl.ProduceSync(ctx, rec).FirstErr()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("produce: %w", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), backoff, kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(rec.Offset)}}))
	if err != nil {
		return err
	}
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("fetch offset %d: %w", rec.Offset, ctx.Err())
		}
		for _, r := range fs.Records() {
			if r.Offset == rec.Offset && string(r.Value) == string(value) {
				return nil
			}
		}
	}
}

// diskUsage is the allocated size of the files under dir.
func diskUsage(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

const restartTopic = "restart"

// runDataRestarts is one arm's kill9-with-data row at one size.
func runDataRestarts(ctx context.Context, c RestartConfig, arm RestartArm, size int64, log io.Writer) (RestartRow, error) {
	row := RestartRow{Arm: arm.Name, Case: "kill9-with-data", Partitions: c.Partitions}
	b, err := startRestartBroker(c, arm, strconv.FormatInt(size>>20, 10)+"MiB")
	if err != nil {
		return row, err
	}
	defer b.remove()
	if err := waitServeStart(ctx, b); err != nil {
		return row, err
	}
	if err := createTopic(ctx, b.addr, restartTopic, int32(c.Partitions), 1); err != nil {
		return row, err
	}
	start := time.Now()
	acked, err := loadThenKill(ctx, c, b, func(acked int64) bool { return acked >= size })
	if err != nil {
		return row, err
	}
	row.DataBytes = acked
	row.FillMBps = float64(acked) / time.Since(start).Seconds() / 1e6
	fmt.Fprintf(log, "%s: filled %.2f GB at %.0f MB/s, killed\n", arm.Name, float64(acked)/1e9, row.FillMBps)
	for round := range c.Rounds {
		s, err := b.restart(ctx, c, restartTopic, int32(round%c.Partitions))
		if err != nil {
			return row, err
		}
		row.Samples = append(row.Samples, s)
		fmt.Fprintf(log, "%s: %.2f GB, round %d: serves after %.2f s (recovery %.2f s)\n",
			arm.Name, float64(acked)/1e9, round, s.ServeSeconds, s.RecoverySeconds)
		if round < c.Rounds-1 {
			deadline := time.Now().Add(c.Between)
			if _, err := loadThenKill(ctx, c, b, func(int64) bool { return time.Now().After(deadline) }); err != nil {
				return row, err
			}
		}
	}
	row.summarize()
	return row, nil
}

func (r *RestartRow) summarize() {
	var serve, rec []float64
	for _, s := range r.Samples {
		serve, rec = append(serve, s.ServeSeconds), append(rec, s.RecoverySeconds)
	}
	r.ServeSeconds, r.RecoverySeconds = medianOf(serve), medianOf(rec)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// waitServeStart waits for a freshly started broker's Metadata.
func waitServeStart(ctx context.Context, b *restartBroker) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for probe(ctx, b.addr) != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("broker did not start: %w\n%s", ctx.Err(), b.proc.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// loadThenKill runs the idempotent producers until done says so (given
// the bytes acknowledged so far), then kills the broker while they still
// write, and returns the bytes acknowledged.
func loadThenKill(parent context.Context, c RestartConfig, b *restartBroker, done func(acked int64) bool) (int64, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	var killing atomic.Bool // errors from here on are the kill's
	var wg sync.WaitGroup
	value := make([]byte, c.RecordBytes) // incompressible, and sent uncompressed: the log holds what is acknowledged
	rand.Read(value)
	for range c.Producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(restartTopic),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
			kgo.MaxBufferedBytes(64<<20), kgo.ProducerBatchMaxBytes(1<<20),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			return 0, err
		}
		wg.Go(func() {
			defer cl.Close()
			for ctx.Err() == nil {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					if err == nil {
						acked.Add(int64(len(r.Value)))
					} else if !killing.Load() {
						failed.CompareAndSwap(nil, &err)
					}
				})
			}
		})
	}
	for !done(acked.Load()) && failed.Load() == nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	killing.Store(true)
	kerr := b.proc.Kill()
	cancel()
	wg.Wait()
	if p := failed.Load(); p != nil {
		return acked.Load(), fmt.Errorf("produce: %w", *p)
	}
	return acked.Load(), errors.Join(kerr, parent.Err())
}

const idleTopic = "idle"

// runIdleRestarts is one arm's sigterm-idle and kill9-idle rows.
func runIdleRestarts(ctx context.Context, c RestartConfig, arm RestartArm, log io.Writer) ([]RestartRow, error) {
	b, err := startRestartBroker(c, arm, "idle")
	if err != nil {
		return nil, err
	}
	defer b.remove()
	if err := waitServeStart(ctx, b); err != nil {
		return nil, err
	}
	created := time.Now()
	if err := createTopicWithin(ctx, b.addr, idleTopic, int32(c.IdlePartitions), 1, c.ServeTimeout); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: created %d partitions in %.1f s\n", arm.Name, c.IdlePartitions, time.Since(created).Seconds())
	if err := waitServe(ctx, b.addr, idleTopic, 0, c.ServeTimeout); err != nil {
		return nil, err
	}
	clean := RestartRow{Arm: arm.Name, Case: "sigterm-idle", Partitions: c.IdlePartitions}
	unclean := RestartRow{Arm: arm.Name, Case: "kill9-idle", Partitions: c.IdlePartitions}
	for round := range c.Rounds {
		for _, row := range []*RestartRow{&clean, &unclean} {
			stop := func() error { return terminateWithin(b.proc, c.ServeTimeout) }
			if row == &unclean {
				stop = b.proc.Kill
			}
			if err := stop(); err != nil {
				return nil, fmt.Errorf("stop for %s: %w", row.Case, err)
			}
			s, err := b.restart(ctx, c, idleTopic, int32(round))
			if err != nil {
				return nil, err
			}
			row.Samples = append(row.Samples, s)
			fmt.Fprintf(log, "%s: %s, %d partitions, round %d: serves after %.2f s (recovery %.2f s, %d MB on disk)\n",
				arm.Name, row.Case, c.IdlePartitions, round, s.ServeSeconds, s.RecoverySeconds, s.DiskBytes>>20)
		}
	}
	clean.summarize()
	unclean.summarize()
	return []RestartRow{clean, unclean}, nil
}

// terminateWithin sends SIGTERM and waits up to timeout for the exit (a
// broker closing thousands of partitions may take longer than
// testbed.StopTimeout on a busy disk), then kills it.
func terminateWithin(p *testbed.Proc, timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.Done():
		return p.ExitErr()
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("no exit %v after SIGTERM", timeout)
	}
}

// WriteRestartTable prints the rows.
func WriteRestartTable(w io.Writer, r *RestartResult) {
	fmt.Fprintf(w, "| arm | case | partitions | data GB at first kill | serve s (median) | recovery s (median) | each restart: serve s @ GB on disk |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		var ss []string
		for _, s := range row.Samples {
			ss = append(ss, fmt.Sprintf("%.2f@%.1f", s.ServeSeconds, float64(s.DiskBytes)/1e9))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.2f | %.2f | %v |\n", row.Arm, row.Case, row.Partitions,
			float64(row.DataBytes)/1e9, row.ServeSeconds, row.RecoverySeconds, ss)
	}
}
