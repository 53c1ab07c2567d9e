package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	text := "# HELP chronik_wal_appends_total WAL batch appends.\n# TYPE chronik_wal_appends_total counter\n" +
		"chronik_wal_appends_total 9886\nchronik_wal_appended_bytes_total 4.7868432e+07\n" +
		"chronik_consumer_fetch_bytes_total{role=\"leader\"} 12\n\nnot a metric\n"
	m := parseMetrics(text)
	if m["chronik_wal_appends_total"] != 9886 || m["chronik_wal_appended_bytes_total"] != 47868432 ||
		m[`chronik_consumer_fetch_bytes_total{role="leader"}`] != 12 || len(m) != 3 {
		t.Fatalf("parsed %v", m)
	}
}

func TestParseProcFigures(t *testing.T) {
	limits := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             unlimited            unlimited            processes \n" +
		"Max open files            20000                20000                files     \n"
	if n, err := parseLimitsNoFile([]byte(limits)); err != nil || n != 20000 {
		t.Fatalf("parseLimitsNoFile = %d, %v", n, err)
	}
	if _, err := parseLimitsNoFile([]byte("Max processes 1 1\n")); err == nil {
		t.Fatal("no open-files line accepted")
	}
	status := "Name:\tchronik\nVmHWM:\t   53744 kB\nVmRSS:\t   21896 kB\n"
	if b, err := statusKB([]byte(status), "VmRSS"); err != nil || b != 21896*1024 {
		t.Fatalf("VmRSS = %d, %v", b, err)
	}
	if _, err := statusKB([]byte("VmRSS:\t12 MB\n"), "VmRSS"); err == nil {
		t.Fatal("a unit other than kB accepted")
	}
}

func TestFootprintOfThisProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), bytes.Repeat([]byte{1}, 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := footprint(os.Getpid(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// 10,000 bytes take at least three 4 KiB blocks; a process has files open and memory mapped.
	if f.DiskBytes < 12288 || f.RSSBytes <= 0 || f.OpenFiles < 3 || f.Maps < 10 {
		t.Fatalf("footprint %+v", f)
	}
}

func TestConnStepsGoUpThenDown(t *testing.T) {
	idle, phase := connSteps([]int{1, 100, 1000})
	want := []int{1, 100, 1000, 100, 1}
	wantPhase := []string{phaseUp, phaseUp, phaseUp, phaseDown, phaseDown}
	if len(idle) != len(want) || len(phase) != len(wantPhase) {
		t.Fatalf("steps %v %v", idle, phase)
	}
	for i := range want {
		if idle[i] != want[i] || phase[i] != wantPhase[i] {
			t.Fatalf("steps %v %v, want %v %v", idle, phase, want, wantPhase)
		}
	}
}

func TestSummarizeConns(t *testing.T) {
	mk := func(round int, phase string, idle int, msg, p99 float64, rssBefore, rss int64, filesBefore int) ConnMeasure {
		return ConnMeasure{Round: round, Phase: phase, Idle: idle, MsgPerSec: msg, Latency: LatencySummary{P99Ms: p99},
			Before:    ProcFootprint{RSSBytes: rssBefore, AnonBytes: rssBefore / 2, OpenFiles: filesBefore},
			Footprint: ProcFootprint{RSSBytes: rss, AnonBytes: rss / 2, OpenFiles: 10 + idle}}
	}
	ms := []ConnMeasure{
		mk(0, phaseUp, 1, 100, 2, 1000, 1000, 11), mk(0, phaseUp, 11, 90, 3, 3000, 3000+10*500, 11), mk(0, phaseDown, 1, 100, 2, 9000, 9000, 21),
		mk(1, phaseUp, 1, 200, 4, 2000, 2000, 11), mk(1, phaseUp, 11, 200, 4, 2500, 2500+10*700, 11), mk(1, phaseDown, 1, 200, 4, 9000, 9000, 21),
	}
	pts := summarizeConns(ms, []int{1, 11})
	if len(pts) != 2 || pts[0].Measurements != 4 || pts[1].Measurements != 2 {
		t.Fatalf("points %+v", pts)
	}
	if pts[0].MsgRatio != 1 || pts[0].RSSPerConn != 0 {
		t.Fatalf("first point %+v", pts[0])
	}
	// Each measurement over its own round's base: 90/100 and 200/200; p99 3/2 and 4/4.
	if math.Abs(pts[1].MsgRatio-0.95) > 1e-9 || math.Abs(pts[1].P99Ratio-1.25) > 1e-9 {
		t.Fatalf("ratios %+v", pts[1])
	}
	// Per idle connection, across each step up alone: median of 500 and 700; one file each.
	if pts[1].RSSPerConn != 600 || pts[1].AnonPerConn != 300 || pts[1].FilesPerConn != 1 {
		t.Fatalf("per connection %+v", pts[1])
	}
}

func TestLoadPointsShareTheCrossing(t *testing.T) {
	cfg := DefaultScaleConfig()
	pts := loadPoints(cfg)
	// 4 producer counts + 3 sizes - the shared point (4 producers, 1 KB), at each acks.
	if want := 2 * (4 + 3 - 1); len(pts) != want {
		t.Fatalf("%d points, want %d", len(pts), want)
	}
	seen := map[string]bool{}
	for _, sc := range pts {
		if err := sc.Validate(); err != nil {
			t.Fatal(err)
		}
		if seen[sc.Name] {
			t.Fatalf("point %s twice", sc.Name)
		}
		seen[sc.Name] = true
		if sc.BatchBytes < int32(sc.RecordBytes) {
			t.Fatalf("%s: batch %d smaller than a record", sc.Name, sc.BatchBytes)
		}
		if sc.Producers == cfg.LoadProducersAt && sc.RecordBytes == cfg.LoadRecordBytesAt && sc.SliceGroup != "both" {
			t.Fatalf("%s: the shared point is on curve %q", sc.Name, sc.SliceGroup)
		}
	}
	if !seen["p4-1MB-acks-1"] || !seen["p64-1KB-acks1"] || !seen["p4-100B-acks1"] {
		t.Fatalf("points %v", seen)
	}
}

func TestLimitsMatchTheWriteSize(t *testing.T) {
	if pow2(0) != 0 || pow2(math.NaN()) != 0 || pow2(100) != 4096 || pow2(112*1024) != 128<<10 || pow2(1e6) != 1<<20 || pow2(1e9) != 1<<26 {
		t.Fatalf("pow2: %d %d %d %d", pow2(100), pow2(112*1024), pow2(1e6), pow2(1e9))
	}
	pts := []LoadPoint{
		{Acks: 1, AppendBytes: 110 << 10, SyncBytes: 4 << 20, Chronik: sliceFigures{MBPerSec: 300}},
		{Acks: -1, AppendBytes: 70 << 10, SyncBytes: 250 << 10, Chronik: sliceFigures{MBPerSec: 100}},
	}
	limits := []Limit{{Kind: LimitDisk, WriteBytes: 128 << 10, MBPerSec: 50}, {Kind: LimitLoopback, WriteBytes: 128 << 10, MBPerSec: 2000},
		{Kind: LimitDisk, WriteBytes: 256 << 10, MBPerSec: 200}, {Kind: LimitLoopback, WriteBytes: 256 << 10, MBPerSec: 2500}}
	for i := range pts {
		applyLimits(&pts[i], limits)
	}
	if pts[0].DiskFraction != 0 || pts[0].LoopbackFraction != 0.15 || pts[0].DiskLimitMBPerSec != 50 {
		t.Fatalf("acks=1 point %+v (no disk fraction: it does not wait for fdatasync)", pts[0])
	}
	if pts[1].DiskFraction != 0.5 || pts[1].LoopbackFraction != 0.04 {
		t.Fatalf("acks=-1 point %+v", pts[1])
	}
}

func TestPairRatioAndFigures(t *testing.T) {
	a := []Interval{{Seconds: 1, Records: 200, CPUSeconds: 2}, {Seconds: 1, Records: 300, CPUSeconds: 3}}
	b := []Interval{{Seconds: 1, Records: 100, CPUSeconds: 2}, {Seconds: 2, Records: 300, CPUSeconds: 3}}
	if r := pairRatio(a, b, sliceMsgs); math.Abs(r-2) > 1e-9 { // 200/100 and 300/150
		t.Fatalf("msg ratio %v", r)
	}
	if r := pairRatio(a, b, sliceCPUPM); math.Abs(r-math.Sqrt(0.5)) > 1e-9 { // 0.5 and 1
		t.Fatalf("cpu ratio %v", r)
	}
	f := figuresOf([]sliceResult{{iv: a[0], bytes: 2e6}, {iv: a[1], bytes: 3e6}}, nil)
	if f.MsgPerSec != 250 || f.MBPerSec != 2.5 || f.CPUSecPerMillion != 1e4 || len(f.Slices) != 2 {
		t.Fatalf("figures %+v", f)
	}
	if finite(math.NaN()) != 0 || finite(math.Inf(1)) != 0 || finite(2) != 2 {
		t.Fatal("finite")
	}
	if _, err := json.Marshal(figuresOf(nil, nil)); err != nil { // no slices: zeros, not NaN
		t.Fatal(err)
	}
}

func TestApiVersionsFrame(t *testing.T) {
	f := apiVersionsFrame(7)
	if got := int(f[0])<<24 | int(f[1])<<16 | int(f[2])<<8 | int(f[3]); got != len(f)-4 {
		t.Fatalf("size prefix %d, frame %d", got, len(f))
	}
	if f[4] != 0 || f[5] != 18 || f[11] != 7 { // api key 18 (ApiVersions), correlation id 7
		t.Fatalf("header % x", f[:12])
	}
	resp := []byte{0, 0, 0, 6, 0, 0, 0, 7, 0, 0}
	if err := readFrame(bytes.NewReader(resp), 7); err != nil {
		t.Fatal(err)
	}
	if err := readFrame(bytes.NewReader(resp), 8); err == nil {
		t.Fatal("wrong correlation id accepted")
	}
}

// TestScaleSmoke runs every sweep at its smallest against real processes.
func TestScaleSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	peers := testPeers(t, chronikBin(t), nil)
	cfg := ScaleConfig{Sweeps: []string{SweepPartitions, SweepConnections, SweepLoad},
		PartitionCounts: []int{1, 4}, PartitionReference: 4, PartitionSlices: 2, PartitionSliceRecords: 5000,
		ConnCounts: []int{1, 20}, ConnRounds: 1, ConnBusyProducers: 1, ConnSlices: 1, ConnSliceRecords: 5000,
		ConnLatencyRate: 500, ConnLatencyWindow: 200 * time.Millisecond,
		LoadProducers: []int{1}, LoadRecordBytes: []int{1000}, LoadProducersAt: 1, LoadRecordBytesAt: 1000,
		LoadAcks: []int{1}, LoadSlices: 2, LoadSliceBytes: 1 << 20, LimitWindow: 0.05}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	r, err := RunScale(ctx, peers, cfg, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	p := r.Partitions
	if len(p.Points) != 2 || p.Points[1].CPURatio != 1 || p.Points[0].Load.MsgPerSec <= 0 || p.Points[0].RestartMs <= 0 ||
		p.Points[1].FilesPerPartition <= 0 || p.Points[1].DiskPerPartition <= 0 || p.Points[0].AppendBytes <= 0 {
		t.Fatalf("partitions %+v", p.Points)
	}
	c := r.Connections
	if len(c.Points) != 2 || c.Points[1].Measurements != 1 || c.Points[1].FilesPerConn < 0.9 || c.Points[0].MsgPerSec <= 0 {
		t.Fatalf("connections %+v", c.Points)
	}
	l := r.Load
	if len(l.Points) != 1 || l.Points[0].Kfake.MsgPerSec <= 0 || l.Points[0].LoopbackFraction <= 0 || len(l.Limits) != 2 {
		t.Fatalf("load %+v", l)
	}
	dir := t.TempDir()
	res := &Results{Schema: SchemaVersion, Suite: "scale", Scale: r}
	plots, err := WritePlots(dir, res)
	if err != nil || len(plots) < 5 {
		t.Fatalf("plots %v, %v", plots, err)
	}
	if err := WriteReport(filepath.Join(dir, "REPORT.md"), res, plots); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "REPORT.md"))
	for _, want := range []string{"### Partitions", "### Connections", "### Producers and record sizes", "scale-partitions-cost.svg"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("REPORT.md lacks %q", want)
		}
	}
}
