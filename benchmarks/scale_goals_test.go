package benchmarks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticScale is a short sweep's result: partitions 1, 4, 1000 with the
// 1000-partition CPU ratio cpu1000; connections 1, 1000, 5000 with the
// 5000-count ratios msg5000 and p995000; load at 1 and 4 producers, 1 KB,
// acks=1 and the 4-producer point at 100 B.
func syntheticScale(cpu1000, msg5000, p995000 float64) *ScaleResult {
	lf := func(msg, cpu float64) sliceFigures {
		return sliceFigures{MsgPerSec: msg, MBPerSec: msg * 100 / 1e6, CPUSecPerMillion: cpu, P99Ms: 2}
	}
	cfg := DefaultScaleConfig()
	cfg.PartitionCounts, cfg.ConnCounts, cfg.LoadProducers, cfg.LoadRecordBytes, cfg.LoadAcks =
		[]int{1, 4, 1000}, []int{1, 1000, 5000}, []int{1, 4}, []int{100, 1000}, []int{1}
	return &ScaleResult{
		Config:      cfg,
		WallSeconds: map[string]float64{SweepPartitions: 30, SweepConnections: 20, SweepLoad: 25},
		Partitions: &PartitionSweep{Workload: "w", Reference: 4, Points: []PartitionPoint{
			{Partitions: 1, StartMs: 40, CreateMs: 5, RestartMs: 50, Idle: ProcFootprint{RSSBytes: 20 << 20, OpenFiles: 30},
				RSSPerPartition: 9000, DiskPerPartition: 8192, Load: lf(300000, 1.0), CPURatio: 1.0, MsgRatio: 1},
			{Partitions: 4, StartMs: 41, CreateMs: 6, RestartMs: 52, Idle: ProcFootprint{RSSBytes: 21 << 20, OpenFiles: 33},
				RSSPerPartition: 8000, DiskPerPartition: 8192, Load: lf(300000, 1.0), CPURatio: 1, MsgRatio: 1},
			{Partitions: 1000, StartMs: 42, CreateMs: 900, RestartMs: 700, Idle: ProcFootprint{RSSBytes: 40 << 20, OpenFiles: 1030},
				RSSPerPartition: 20480, DiskPerPartition: 12288, Load: lf(250000, cpu1000), CPURatio: cpu1000, MsgRatio: 0.8},
		}},
		Connections: &ConnSweep{Workload: "w", Points: []ConnPoint{
			{Idle: 1, Measurements: 2, MsgPerSec: 200000, P99Ms: 2, MsgRatio: 1, P99Ratio: 1},
			{Idle: 1000, Measurements: 2, MsgPerSec: 195000, P99Ms: 2.1, MsgRatio: 0.975, P99Ratio: 1.05, RSSPerConn: 5000, AnonPerConn: 4000, FilesPerConn: 1},
			{Idle: 5000, Measurements: 1, MsgPerSec: 200000 * msg5000, P99Ms: 2 * p995000, MsgRatio: msg5000, P99Ratio: p995000,
				RSSPerConn: 6144, AnonPerConn: 5120, FilesPerConn: 1},
		}},
		Load: &LoadSweep{Workload: "w", Points: []LoadPoint{
			{Name: "p1-1KB-acks1", Curve: "producers", Producers: 1, RecordBytes: 1000, Acks: 1, Chronik: lf(100000, 2), Kfake: lf(80000, 3),
				MsgRatio: 1.25, LoopbackLimitMBPerSec: 2000, LoopbackFraction: 0.05},
			{Name: "p4-1KB-acks1", Curve: "both", Producers: 4, RecordBytes: 1000, Acks: 1, Chronik: lf(200000, 2), Kfake: lf(100000, 3),
				MsgRatio: 2, LoopbackLimitMBPerSec: 2000, LoopbackFraction: 0.1},
			{Name: "p4-100B-acks1", Curve: "record_bytes", Producers: 4, RecordBytes: 100, Acks: 1, Chronik: lf(400000, 2), Kfake: lf(300000, 3),
				MsgRatio: 1.33, LoopbackLimitMBPerSec: 1000, LoopbackFraction: 0.04},
		}, Limits: []Limit{{Point: "p4-1KB-acks1", Kind: LimitLoopback, WriteBytes: 131072, MBPerSec: 2000, OpsPerSec: 15000, Seconds: 0.5}}},
	}
}

func goalOf(t *testing.T, goals []ScaleGoal, sweep, figurePrefix string) ScaleGoal {
	t.Helper()
	for _, g := range goals {
		if g.Sweep == sweep && strings.HasPrefix(g.Figure, figurePrefix) {
			return g
		}
	}
	t.Fatalf("no %s goal %q in %+v", sweep, figurePrefix, goals)
	return ScaleGoal{}
}

// The issue's bounds, inclusive: CPU/M at 1,000 partitions <= 1.5x the
// 4-partition figure; at 5,000 idle connections busy msg/s >= 0.9x and p99
// <= 1.1x the first count's.
func TestScaleGoalsJudgeTheIssuesBounds(t *testing.T) {
	for _, c := range []struct {
		name                      string
		cpu, msg, p99             float64
		wantCPU, wantMsg, wantP99 string
	}{
		{"all within", 1.2, 0.97, 1.04, GoalMet, GoalMet, GoalMet},
		{"on the bounds", 1.5, 0.9, 1.1, GoalMet, GoalMet, GoalMet},
		{"cpu over", 1.51, 0.97, 1.04, GoalNotMet, GoalMet, GoalMet},
		{"msg down", 1.2, 0.89, 1.04, GoalMet, GoalNotMet, GoalMet},
		{"p99 up", 1.2, 0.97, 1.11, GoalMet, GoalMet, GoalNotMet},
		{"msg up and p99 down are fine", 1.2, 1.3, 0.7, GoalMet, GoalMet, GoalMet},
		{"everything over", 3, 0.5, 4, GoalNotMet, GoalNotMet, GoalNotMet},
	} {
		goals := ScaleGoals(syntheticScale(c.cpu, c.msg, c.p99))
		cpu := goalOf(t, goals, SweepPartitions, "CPU-s/M")
		msg := goalOf(t, goals, SweepConnections, "busy msg/s")
		p99 := goalOf(t, goals, SweepConnections, "busy p99")
		if cpu.Status != c.wantCPU || cpu.Value != c.cpu || cpu.At != 1000 {
			t.Errorf("%s: cpu goal %+v, want %s", c.name, cpu, c.wantCPU)
		}
		if msg.Status != c.wantMsg || msg.Value != c.msg || msg.At != 5000 {
			t.Errorf("%s: msg goal %+v, want %s", c.name, msg, c.wantMsg)
		}
		if p99.Status != c.wantP99 || p99.Value != c.p99 {
			t.Errorf("%s: p99 goal %+v, want %s", c.name, p99, c.wantP99)
		}
	}
}

// A goal whose point was not measured is neither met nor failed.
func TestScaleGoalsWithoutTheirPoint(t *testing.T) {
	r := syntheticScale(1.2, 0.97, 1.04)
	r.Partitions.Points = r.Partitions.Points[:2] // up to 4 partitions
	r.Connections.Points = r.Connections.Points[:2]
	goals := ScaleGoals(r)
	for _, g := range []ScaleGoal{goalOf(t, goals, SweepPartitions, "CPU-s/M"), goalOf(t, goals, SweepConnections, "busy msg/s"),
		goalOf(t, goals, SweepConnections, "busy p99")} {
		if g.Status != GoalNotMeasured {
			t.Errorf("goal %+v: want %s", g, GoalNotMeasured)
		}
	}
	// The footprints are stated at the largest count measured.
	if g := goalOf(t, goals, SweepPartitions, "RSS per idle"); g.Status != GoalStated || g.At != 4 || g.Value != 8000 {
		t.Errorf("rss goal %+v", g)
	}
	if g := goalOf(t, goals, SweepConnections, "RSS per idle connection"); g.Status != GoalStated || g.At != 1000 || g.Value != 5000 {
		t.Errorf("connection memory %+v", g)
	}

	r = syntheticScale(1.2, 0.97, 1.04)
	r.Partitions.Points[2].CPURatio, r.Partitions.Points[2].Load, r.Partitions.Points[2].Error = 0, sliceFigures{}, "not run: too many files"
	if g := goalOf(t, ScaleGoals(r), SweepPartitions, "CPU-s/M"); g.Status != GoalNotMeasured || !strings.Contains(g.Note, "too many files") {
		t.Errorf("an errored point: %+v", g)
	}
	r = syntheticScale(1.2, 0.97, 1.04)
	r.Partitions.Reference = 10
	if g := goalOf(t, ScaleGoals(r), SweepPartitions, "CPU-s/M"); g.Status != GoalNotMeasured {
		t.Errorf("ratios over 10 partitions: %+v", g)
	}
	r = syntheticScale(1.2, 0.97, 1.04)
	r.Load, r.Connections = nil, nil
	for _, g := range ScaleGoals(r) {
		if g.Sweep != SweepPartitions {
			t.Errorf("a goal of a sweep that did not run: %+v", g)
		}
	}
}

func TestScaleGoalsStateTheFootprintsAndTheLoad(t *testing.T) {
	goals := ScaleGoals(syntheticScale(1.2, 0.97, 1.04))
	disk := goalOf(t, goals, SweepPartitions, "disk per idle")
	if disk.Status != GoalStated || disk.At != 1000 || disk.Value != 12288 || !strings.Contains(disk.Note, "117.19 MiB for 10000") {
		t.Errorf("disk goal %+v", disk)
	}
	if g := goalOf(t, goals, SweepConnections, "RSS per idle connection"); g.At != 5000 || g.Value != 6144 {
		t.Errorf("connection memory %+v", g)
	}
	kf := goalOf(t, goals, SweepLoad, "Chronik msg/s over kfake")
	lim := goalOf(t, goals, SweepLoad, "Chronik MB/s over the loopback")
	if kf.Value != 2 || kf.Status != GoalStated || lim.Value != 0.1 || !strings.Contains(kf.Figure, "4 producers, 1KB") {
		t.Errorf("load goals %+v %+v", kf, lim)
	}
}

// make bench's REPORT.md: "Cost as the work grows" after the cluster
// sections, with the judged goals, the compact tables and the plots.
func TestCostSectionInTheBenchReport(t *testing.T) {
	dir := t.TempDir()
	sr := syntheticScale(1.6, 0.95, 1.02)
	sr.Goals = ScaleGoals(sr)
	res := &Results{Schema: SchemaVersion, Suite: "bench", Scale: sr,
		Cluster: &ClusterResult{ISR: &ISRResult{Partitions: 9, Victim: 3, Windows: []ISRWindow{{Name: "full", Seconds: 1, MsgPerSec: 1000}}}}}
	plots, err := WritePlots(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(filepath.Join(dir, "REPORT.md"), res, plots); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "REPORT.md"))
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	cluster, cost := strings.Index(report, "## Cluster: acks=-1 with a follower stopped"), strings.Index(report, "## Cost as the work grows")
	if cluster < 0 || cost < cluster {
		t.Fatalf("cluster section at %d, cost section at %d", cluster, cost)
	}
	row := func(prefix string) string {
		for _, l := range strings.Split(report[cost:], "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, report[cost:])
		return ""
	}
	for _, want := range []struct{ row, has string }{
		{"- idle connections 1 1000 5000, up and down", ": 2 round(s), per step 3 slice(s)"},
		{"- producers 1 4 at 1KB", ", record sizes 100B 1KB at 4 producers, acks 1:"},
		{"| partitions | CPU per record at 1000", "| 1.600 | <= 1.50 | **not met** |"},
		{"| connections | busy producers' msg/s", "| 0.950 | >= 0.90 | **met** | 190000 msg/s; 1 measurement(s) |"},
		{"| connections | busy producers' p99", "| 1.020 | <= 1.10 | **met** |"},
		{"| partitions | memory and disk per idle partition bounded and stated | disk", "| 12.0 KiB |"},
		// The compact tables. Partitions: msg/s, CPU-s/M, ratio, RSS, files, per partition, start, restart.
		{"| 1000 | 250000 |", "| 250000 | 1.600 | 1.600 | 40.0 | 1030 | 20.0 KiB | 12.0 KiB | 42 | 700 |"},
		{"| 5000 | 190000 |", "| 0.950 | 2.040 | 1.020 | 6.0 KiB | 5.0 KiB |"},
		{"| 1 | 4 | 1KB |", "| 200000 | 20.0 | 10.0 | 2.000 | 0.100 | - |"},
	} {
		if l := row(want.row); !strings.Contains(l, want.has) {
			t.Errorf("row %q lacks %q", l, want.has)
		}
	}
	for _, f := range []string{"scale-partitions-cost.svg", "scale-connections.svg", "scale-connections-latency.svg",
		"scale-load-record-bytes-acks1.svg", "scale-load-producers-acks1.svg"} {
		if !strings.Contains(report, "]("+f+")") {
			t.Errorf("REPORT.md does not embed %s", f)
		}
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", f, err)
		}
	}
	// The goals go to results.json as judged.
	j, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Scale struct {
			Goals []ScaleGoal `json:"goals"`
		} `json:"scale"`
	}
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if g := goalOf(t, back.Scale.Goals, SweepPartitions, "CPU-s/M"); g.Status != GoalNotMet || g.Limit != 1.5 {
		t.Errorf("results.json goal %+v", g)
	}
}
