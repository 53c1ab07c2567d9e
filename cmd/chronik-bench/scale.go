package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// scaleFlags are the sweeps' knobs, shared by `chronik-bench scale` and
// bench's --scale-flags.
type scaleFlags struct {
	c                                           benchmarks.ScaleConfig
	sweeps, partitions, conns, producers, sizes *string
	acks                                        *string
	short                                       *bool
}

func (s *scaleFlags) register(fs *flag.FlagSet) {
	s.c = benchmarks.DefaultScaleConfig()
	c := &s.c
	s.sweeps = fs.String("sweeps", strings.Join(c.Sweeps, ","), "sweeps to run: partitions, connections, load")
	s.partitions = fs.String("partitions", joinInts(c.PartitionCounts), "partition counts, one broker each")
	fs.IntVar(&c.PartitionReference, "partition-reference", c.PartitionReference, "the partition count the ratios are over (must be in --partitions)")
	fs.IntVar(&c.PartitionSlices, "partition-slices", c.PartitionSlices, "measured slices per partitions broker")
	fs.Int64Var(&c.PartitionSliceRecords, "partition-slice-records", c.PartitionSliceRecords, "records per partitions slice")
	s.conns = fs.String("connections", joinInts(c.ConnCounts), "idle connection counts, up then down")
	fs.IntVar(&c.ConnRounds, "conn-rounds", c.ConnRounds, "connections rounds, a fresh broker each")
	fs.IntVar(&c.ConnBusyProducers, "conn-producers", c.ConnBusyProducers, "busy producers of the connections sweep")
	fs.IntVar(&c.ConnSlices, "conn-slices", c.ConnSlices, "throughput slices per step of the connections sweep")
	fs.Int64Var(&c.ConnSliceRecords, "conn-slice-records", c.ConnSliceRecords, "records per throughput slice of the connections sweep")
	fs.IntVar(&c.ConnLatencyRate, "conn-rate", c.ConnLatencyRate, "records/s of the connections sweep's latency window")
	fs.DurationVar(&c.ConnLatencyWindow, "conn-latency-window", c.ConnLatencyWindow, "length of each latency window")
	s.producers = fs.String("producers", joinInts(c.LoadProducers), "producer counts of the load sweep")
	s.sizes = fs.String("record-sizes", joinInts(c.LoadRecordBytes), "record sizes (bytes) of the load sweep")
	fs.IntVar(&c.LoadProducersAt, "producers-at", c.LoadProducersAt, "producers of the record-size curve")
	fs.IntVar(&c.LoadRecordBytesAt, "record-size-at", c.LoadRecordBytesAt, "record size of the producers curve")
	s.acks = fs.String("acks", joinInts(c.LoadAcks), "acks of the load sweep (1, -1)")
	fs.IntVar(&c.LoadSlices, "load-slices", c.LoadSlices, "measured slices per system per load point")
	fs.Int64Var(&c.LoadSliceBytes, "load-slice-bytes", c.LoadSliceBytes, "value bytes per load slice (a quarter at acks=-1)")
	fs.Float64Var(&c.LimitWindow, "limit-seconds", c.LimitWindow, "seconds per disk and loopback limit measurement")
	s.short = fs.Bool("short", false, "a quick pass (about 2 min): partitions up to 1,000, connections up to 5,000, producers up to 16, acks=1 only, fewer slices and rounds")
}

// config is the ScaleConfig the parsed flags say.
func (s *scaleFlags) config() (benchmarks.ScaleConfig, error) {
	c := s.c
	c.Sweeps = splitList(*s.sweeps)
	for _, l := range []struct {
		s   string
		dst *[]int
	}{{*s.partitions, &c.PartitionCounts}, {*s.conns, &c.ConnCounts}, {*s.producers, &c.LoadProducers},
		{*s.sizes, &c.LoadRecordBytes}, {*s.acks, &c.LoadAcks}} {
		var err error
		if *l.dst, err = parseInts(l.s); err != nil {
			return c, err
		}
	}
	if *s.short {
		c = shortScale(c)
	}
	return c, nil
}

// parseScaleFlags reads a ScaleConfig from scale's flags in args (bench's
// --scale-flags).
func parseScaleFlags(args []string) (benchmarks.ScaleConfig, error) {
	fs := flag.NewFlagSet("scale-flags", flag.ContinueOnError)
	var sf scaleFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return benchmarks.ScaleConfig{}, err
	}
	if fs.NArg() > 0 {
		return benchmarks.ScaleConfig{}, fmt.Errorf("--scale-flags: unexpected %q", fs.Args())
	}
	return sf.config()
}

// cmdScale runs the scale sweeps (make bench-scale) and writes results.json
// (its "scale" section), REPORT.md and the plots.
func cmdScale(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	out := fs.String("out", "", "results directory (default bench-results/scale-<timestamp>)")
	var sf scaleFlags
	sf.register(fs)
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := sf.config()
	if err != nil {
		return err
	}
	if *out == "" {
		*out = "bench-results/scale-" + time.Now().UTC().Format("20060102T150405Z")
	}
	dir, err := resultsDir(*out, "bench-results")
	if err != nil {
		return err
	}
	peers, cleanup, err := pf.peers()
	if err != nil {
		return err
	}
	defer cleanup()
	ctx, stop := signalContext()
	defer stop()
	res := &benchmarks.Results{Schema: benchmarks.SchemaVersion, Suite: "scale", Command: strings.Join(os.Args, " "),
		Started: time.Now().UTC(), Host: benchmarks.HostInfo()}
	sr, err := benchmarks.RunScale(ctx, peers, c, os.Stderr)
	if err != nil {
		return err
	}
	res.Finished, res.Scale = time.Now().UTC(), sr
	if err := writeAll(dir, res); err != nil {
		return err
	}
	benchmarks.WriteScaleSummary(os.Stdout, sr)
	fmt.Printf("\nwrote %s/{results.json,REPORT.md,scale-*.svg} in %.0f s\n", dir, res.Finished.Sub(res.Started).Seconds())
	return nil
}

// shortScale trims c to a quick pass: the largest partition counts and
// producer counts and the acks=-1 load stay out, every point gets fewer
// slices. The connections keep 5,000 (issue 15's goal is read there; idle
// connections are cheap to open).
func shortScale(c benchmarks.ScaleConfig) benchmarks.ScaleConfig {
	keep := func(xs []int, limit int) []int {
		var out []int
		for _, x := range xs {
			if x <= limit {
				out = append(out, x)
			}
		}
		return out
	}
	c.PartitionCounts = keep(c.PartitionCounts, 1000)
	c.PartitionSlices = 3
	c.ConnCounts = keep(c.ConnCounts, 5000)
	c.ConnRounds, c.ConnSlices, c.ConnLatencyWindow = 1, 2, time.Second
	c.LoadProducers = keep(c.LoadProducers, 16)
	c.LoadAcks = []int{1}
	c.LoadSlices, c.LoadSliceBytes, c.LimitWindow = 2, 8<<20, 0.5
	return c
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseInts parses "1,10,1000" (underscores allowed: 10_000).
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil {
			return nil, fmt.Errorf("%q: want comma-separated integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(xs []int) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.Itoa(x))
	}
	return strings.Join(parts, ",")
}
