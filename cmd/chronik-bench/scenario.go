package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// cmdScenario runs one scenario: against lab-started Chronik and kfake in
// interleaved rounds, or against an already running broker (--brokers).
func cmdScenario(kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	sc := benchmarks.Scenario{Kind: kind}
	fs.StringVar(&sc.Name, "name", kind, "scenario name (topic bench-NAME)")
	fs.IntVar(&sc.Producers, "producers", 1, "producer clients")
	partitions := fs.Int("partitions", 4, "partitions of the topic")
	fs.IntVar(&sc.RecordBytes, "record-size", 100, "record value bytes (>= 8)")
	fs.IntVar(&sc.Acks, "acks", 1, "0, 1 or -1")
	fs.DurationVar(&sc.Linger, "linger", 5*time.Millisecond, "producer linger")
	batch := fs.Int("batch-bytes", 128<<10, "producer batch max bytes")
	fs.StringVar(&sc.Compression, "compression", "none", "none, gzip, snappy, lz4, zstd")
	fs.DurationVar(&sc.Duration, "duration", 5*time.Second, "measured window (produce, e2e); 0 with --count")
	fs.DurationVar(&sc.Warmup, "warmup", time.Second, "excluded warm-up (produce, e2e)")
	fs.Int64Var(&sc.Count, "count", 0, "produce: stop after this many records; consume: records to preload and read")
	fs.IntVar(&sc.Rate, "rate", 0, "records/s over all producers; 0 = as fast as possible (e2e needs a rate)")
	fs.BoolVar(&sc.Durable, "durable", false, "run kfake with a data dir and SyncWrites")
	fs.IntVar(&sc.Inflight, "inflight", 0, "acks=1/acks=0: produce requests in flight per broker (default 5; kgo's own default is 1)")
	slices := fs.Int("slices", 0, "with --count: run the systems side by side in this many alternating slices")
	rounds := fs.Int("rounds", 3, "interleaved rounds")
	systems := fs.String("systems", "chronik,kfake", "systems to start, comma-separated")
	brokers := fs.String("brokers", "", "run against this running broker instead of starting peers")
	pid := fs.Int("pid", 0, "with --brokers: the broker's pid, for CPU and RSS from /proc")
	out := fs.String("out", "", "also write results.json, REPORT.md and plots here")
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc.Partitions, sc.BatchBytes, sc.Slices = int32(*partitions), int32(*batch), *slices
	if kind == benchmarks.KindConsume && sc.Count == 0 {
		sc.Count = 500_000
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if *brokers != "" {
		return runExternal(ctx, *brokers, *pid, sc)
	}
	peers, cleanup, err := pf.peers()
	if err != nil {
		return err
	}
	defer cleanup()
	r := benchmarks.Runner{Peers: peers, Systems: strings.Split(*systems, ","), Progress: os.Stderr}
	res, err := r.RunSuite(ctx, benchmarks.Suite{Name: kind, Rounds: *rounds, Scenarios: []benchmarks.Scenario{sc}})
	if err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	if *out != "" {
		return writeAll(*out, res)
	}
	return nil
}

// runExternal measures a broker the lab did not start.
func runExternal(ctx context.Context, addr string, pid int, sc benchmarks.Scenario) error {
	var before, after benchmarks.ProcStats
	w := benchmarks.Window{}
	if pid > 0 {
		w.Start = func() { before, _ = benchmarks.ReadProcStats(pid) }
		w.End = func() { after, _ = benchmarks.ReadProcStats(pid) }
		w.CPU = func() (float64, error) {
			d, err := benchmarks.ReadProcCPU(pid)
			return d.Seconds(), err
		}
	}
	m, err := benchmarks.RunWorkload(ctx, addr, sc, w, os.Stderr, "["+sc.Name+" "+addr+"]")
	if err != nil {
		return err
	}
	run := benchmarks.NewRun(sc, addr, 0, m, after.CPUSeconds-before.CPUSeconds, after.PeakRSSBytes)
	fmt.Printf("%s on %s: %.0f msg/s, %.2f MB/s, errors %d, latency ms p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n",
		sc.Name, addr, run.MsgPerSec, run.MBPerSec, run.Errors, run.Latency.P50Ms, run.Latency.P90Ms,
		run.Latency.P99Ms, run.Latency.P999Ms, run.Latency.MaxMs)
	if pid > 0 {
		fmt.Printf("broker pid %d: %.2f CPU-s, %.2f CPU-s per million records, peak RSS %.1f MiB\n",
			pid, run.CPUSeconds, run.CPUSecPerMillion, float64(run.PeakRSSBytes)/(1<<20))
	}
	return nil
}

// writeAll writes results.json, REPORT.md and the plots into dir.
func writeAll(dir string, res *benchmarks.Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := benchmarks.WriteJSON(dir+"/results.json", res); err != nil {
		return err
	}
	return writeReport(dir, res)
}

// writeReport draws the plots and writes REPORT.md into dir.
func writeReport(dir string, res *benchmarks.Results) error {
	plots, err := benchmarks.WritePlots(dir, res)
	if err != nil {
		return err
	}
	return benchmarks.WriteReport(dir+"/REPORT.md", res, plots)
}
