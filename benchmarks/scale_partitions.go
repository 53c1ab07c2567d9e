package benchmarks

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PartitionSweep is the partitions curve: one broker per partition count.
type PartitionSweep struct {
	Workload  string           `json:"workload"`
	Reference int              `json:"reference"` // the partition count the ratios are over
	Points    []PartitionPoint `json:"points"`
}

// PartitionPoint is one broker holding one topic of Partitions partitions.
type PartitionPoint struct {
	Partitions int    `json:"partitions"`
	Error      string `json:"error,omitempty"` // why the point has no load figures

	StartMs  float64 `json:"start_ms"`  // exec of a broker with an empty data dir -> Metadata answered
	CreateMs float64 `json:"create_ms"` // CreateTopics of the partitions -> answered
	// RestartMs is SIGTERM'd and started again on its data: exec ->
	// Metadata answered; RestartAckMs exec -> acknowledgement of a record
	// produced to the last partition.
	RestartMs    float64 `json:"restart_ms"`
	RestartAckMs float64 `json:"restart_ack_ms"`

	Before ProcFootprint `json:"before"` // started, no topic
	Idle   ProcFootprint `json:"idle"`   // the topic created, no record yet
	// Per idle partition: (Idle - Before) / Partitions.
	RSSPerPartition   float64 `json:"rss_bytes_per_partition"`
	FilesPerPartition float64 `json:"open_files_per_partition"`
	MapsPerPartition  float64 `json:"maps_per_partition"`
	DiskPerPartition  float64 `json:"disk_bytes_per_partition"`
	// IdleCPUPercent is the broker's CPU over an idle window with the
	// topic, in percent of one core.
	IdleCPUPercent float64 `json:"idle_cpu_percent"`

	Load sliceFigures `json:"load"`
	// AppendBytes is the broker's bytes per append (one batch) in the
	// measured slices, from its /metrics: the batching the load got.
	AppendBytes float64 `json:"append_bytes"`
	// Over the reference point's slices (IQM of slice pairs k/k).
	MsgRatio float64       `json:"msg_ratio"`
	CPURatio float64       `json:"cpu_ratio"`
	After    ProcFootprint `json:"after_load"`
}

// idleCPUWindow is how long a broker's idle CPU is read.
const idleCPUWindow = time.Second

// partitionScenario is the load of the partitions sweep: bench's acks=1
// produce (2 producers, 100-byte records, linger 5 ms, 128 KiB batches)
// with kgo's default partitioner (sticky per batch for unkeyed records):
// batches stay as large as with few partitions, so what grows with the
// partition count is the broker's per-partition cost, not the batching.
func partitionScenario(n int, cfg ScaleConfig) Scenario {
	sc := produceScenario(fmt.Sprintf("partitions-%d", n), 1, false, cfg.PartitionSliceRecords*int64(cfg.PartitionSlices), 0)
	sc.Partitions, sc.Slices, sc.Warmup = int32(n), cfg.PartitionSlices, 0
	return sc
}

// openFilesMargin is the descriptors a broker holds besides its
// partitions' (listeners, epoll, the flush pool, clients).
const openFilesMargin = 200

func runPartitionSweep(ctx context.Context, peers Peers, cfg ScaleConfig, progress io.Writer) (*PartitionSweep, error) {
	peers.AdminListen = true // /metrics: bytes per append
	sw := &PartitionSweep{Reference: cfg.PartitionReference,
		Workload: describeScenario(partitionScenario(cfg.PartitionReference, cfg)) + " kgo's default partitioner (sticky per batch)."}
	var arms []*arm
	var armPoint []int
	defer func() {
		for _, a := range arms {
			a.close()
		}
	}()
	filesPer := 1.0 // until measured: a partition's .log (its mapped indexes hold no descriptor)
	for _, n := range cfg.PartitionCounts {
		pt := PartitionPoint{Partitions: n}
		sc := partitionScenario(n, cfg)
		a, err := preparePartitionPoint(ctx, peers, sc, &pt, filesPer, progress)
		if err != nil {
			return nil, err
		}
		if pt.FilesPerPartition > 0 && n >= 100 {
			filesPer = pt.FilesPerPartition
		}
		if a != nil {
			arms = append(arms, a)
			armPoint = append(armPoint, len(sw.Points))
		}
		sw.Points = append(sw.Points, pt)
	}
	if len(arms) == 0 {
		return sw, nil
	}
	before := make([]map[string]float64, len(arms))
	slices, lats, err := takeTurns(ctx, arms, cfg.PartitionSlices, progress, func(a *arm) string {
		return fmt.Sprintf("[%-16s]", a.sc.Name)
	}, func() (err error) {
		for i, a := range arms {
			if before[i], err = scrapeMetrics(ctx, a.pr.AdminAddr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, a := range arms {
		after, err := scrapeMetrics(ctx, a.pr.AdminAddr)
		if err != nil {
			return nil, err
		}
		sw.Points[armPoint[i]].AppendBytes = finite(Ratio(after["chronik_wal_appended_bytes_total"]-before[i]["chronik_wal_appended_bytes_total"],
			after["chronik_wal_appends_total"]-before[i]["chronik_wal_appends_total"]))
	}
	ref := -1
	for i, a := range arms {
		pt := &sw.Points[armPoint[i]]
		pt.Load = figuresOf(slices[i], lats[i])
		if pt.After, err = footprint(a.pr.Pid, a.pr.dataDir()); err != nil {
			return nil, err
		}
		if pt.Partitions == cfg.PartitionReference {
			ref = i
		}
	}
	if ref >= 0 {
		for i := range arms {
			pt := &sw.Points[armPoint[i]]
			refSlices := sw.Points[armPoint[ref]].Load.Slices
			pt.MsgRatio = finite(pairRatio(pt.Load.Slices, refSlices, sliceMsgs))
			pt.CPURatio = finite(pairRatio(pt.Load.Slices, refSlices, sliceCPUPM))
		}
	}
	// Restarts one at a time, after the load: each broker holds its
	// partitions and the records the slices wrote.
	for i, a := range arms {
		pt := &sw.Points[armPoint[i]]
		closeClients(a.cls)
		a.cls = nil
		if err := restartPoint(ctx, peers, a, pt); err != nil {
			pt.Error = err.Error()
		}
		fmt.Fprintf(progress, "[%-16s] restart %.0f ms, first ack on the last partition %.0f ms\n", a.sc.Name, pt.RestartMs, pt.RestartAckMs)
		a.pr.Stop()
	}
	return sw, nil
}

// preparePartitionPoint starts the broker of one point, measures it empty,
// creates the topic (timed), measures it idle, and returns its arm with
// producers ready; nil (and pt.Error) when the point cannot be run.
func preparePartitionPoint(ctx context.Context, peers Peers, sc Scenario, pt *PartitionPoint, filesPer float64, progress io.Writer) (*arm, error) {
	t0 := time.Now()
	pr, err := peers.Start(ctx, Chronik, sc)
	if err != nil {
		return nil, err
	}
	pt.StartMs = ms(time.Since(t0))
	a := &arm{sc: sc, system: Chronik, pr: pr, topic: "bench-" + sc.Name}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	if pt.Before, err = footprint(pr.Pid, pr.dataDir()); err != nil {
		return nil, err
	}
	limit, err := brokerNoFile(pr.Pid)
	if err != nil {
		return nil, err
	}
	if need := int(filesPer*float64(pt.Partitions)) + pt.Before.OpenFiles + openFilesMargin; need > limit {
		pt.Error = fmt.Sprintf("not run: %d partitions need about %d open files (%.1f per partition), the broker's limit is %d "+
			"(RLIMIT_NOFILE; this box does not let the bench raise its hard limit)", pt.Partitions, need, filesPer, limit)
		fmt.Fprintf(progress, "[%-16s] %s\n", sc.Name, pt.Error)
		return nil, nil
	}
	t1 := time.Now()
	if err := createTopic(ctx, pr.Addr, a.topic, sc.Partitions, 1); err != nil {
		pt.Error = fmt.Sprintf("create %d partitions: %v", pt.Partitions, err)
		fmt.Fprintf(progress, "[%-16s] %s\n", sc.Name, pt.Error)
		return nil, nil
	}
	pt.CreateMs = ms(time.Since(t1))
	if !sleepCtx(ctx, 300*time.Millisecond) {
		return nil, ctx.Err()
	}
	if pt.Idle, err = footprint(pr.Pid, pr.dataDir()); err != nil {
		return nil, err
	}
	n := float64(pt.Partitions)
	pt.RSSPerPartition = float64(pt.Idle.RSSBytes-pt.Before.RSSBytes) / n
	pt.FilesPerPartition = float64(pt.Idle.OpenFiles-pt.Before.OpenFiles) / n
	pt.MapsPerPartition = float64(pt.Idle.Maps-pt.Before.Maps) / n
	pt.DiskPerPartition = float64(pt.Idle.DiskBytes-pt.Before.DiskBytes) / n
	c0, err := pr.CPUSeconds()
	if err != nil {
		return nil, err
	}
	if !sleepCtx(ctx, idleCPUWindow) {
		return nil, ctx.Err()
	}
	c1, err := pr.CPUSeconds()
	if err != nil {
		return nil, err
	}
	pt.IdleCPUPercent = (c1 - c0) / idleCPUWindow.Seconds() * 100
	if a.cls, err = newClients(sc.Producers, producerOpts(pr.Addr, a.topic, sc)); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "[%-16s] start %.0f ms, create %.0f ms; idle per partition: %.0f B RSS, %.2f files, %.2f maps, %.0f B disk; idle CPU %.2f%%\n",
		sc.Name, pt.StartMs, pt.CreateMs, pt.RSSPerPartition, pt.FilesPerPartition, pt.MapsPerPartition, pt.DiskPerPartition, pt.IdleCPUPercent)
	ok = true
	return a, nil
}

// restartPoint restarts the point's broker on its data and times it: until
// Metadata answers, and until a record produced to the last partition is
// acknowledged.
func restartPoint(ctx context.Context, peers Peers, a *arm, pt *PartitionPoint) error {
	t0, ready, err := peers.restartChronik(ctx, a.pr, a.sc)
	if err != nil {
		return err
	}
	pt.RestartMs = ms(ready)
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.pr.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: a.topic, Partition: int32(pt.Partitions - 1), Value: []byte("restarted")}
	if err := cl.ProduceSync(pctx, r).FirstErr(); err != nil {
		return fmt.Errorf("produce after restart: %w", err)
	}
	pt.RestartAckMs = ms(time.Since(t0))
	return nil
}

// createTimeout bounds the creation of a topic of more than manyPartitions
// partitions (createTopic): thousands take a while, each a directory and
// files made durable.
const createTimeout = 5 * time.Minute
