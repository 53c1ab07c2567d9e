package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// cmdBench runs the comparison suite, the cluster lab and the scale sweeps
// (short by default) and writes its results directory.
func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "", "results directory (default bench-results/<timestamp>)")
	rounds := fs.Int("rounds", 0, "rounds of the runner's scenarios (default: the suite's, 3)")
	clusterOnly := fs.Bool("cluster-only", false, "only the cluster part (make bench-cluster)")
	noCluster := fs.Bool("no-cluster", false, "no cluster part (the standalone part and the scale sweeps)")
	noScale := fs.Bool("no-scale", false, "no scale sweeps (partitions, connections, producers and record sizes)")
	scaleArgs := fs.String("scale-flags", "--short", "flags of `chronik-bench scale` for the sweeps after the cluster part "+
		"(\"--short=false\": the full sweeps of make bench-scale, ~6-8 min instead of ~1.5)")
	var cf clusterFlags
	cf.register(fs)
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	suite := benchmarks.BenchSuite()
	switch {
	case *clusterOnly && *noCluster:
		return fmt.Errorf("--cluster-only and --no-cluster exclude each other")
	case *clusterOnly:
		suite = benchmarks.ClusterSuite()
	case *noCluster:
		suite = benchmarks.StandaloneSuite()
	}
	if *rounds > 0 {
		suite.Rounds = *rounds
	}
	runScale := !*noScale && !*clusterOnly
	scaleCfg, err := parseScaleFlags(strings.Fields(*scaleArgs))
	if err != nil {
		return err
	}
	dir, err := resultsDir(*out, "bench-results")
	if err != nil {
		return err
	}
	r, ctx, done, err := pf.suiteRunner()
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	res, err := r.RunSuite(ctx, suite)
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes, benchmarks.DurabilityNote)
	if !*noCluster {
		if err := cf.run(ctx, r, pf, res); err != nil {
			return err
		}
	}
	parts := time.Since(start)
	var scaleErr error
	if runScale {
		fmt.Fprintf(os.Stderr, "== scale sweeps (--scale-flags %s)\n", *scaleArgs)
		// A failed sweep keeps the parts before it: they are written, the
		// failure noted, and the exit status 1.
		if res.Scale, scaleErr = benchmarks.RunScale(ctx, r.Peers, scaleCfg, os.Stderr); scaleErr != nil {
			if ctx.Err() != nil {
				return scaleErr
			}
			res.Notes = append(res.Notes, "scale sweeps failed: "+scaleErr.Error())
		}
	}
	res.Finished = time.Now().UTC()
	wall := fmt.Sprintf("wall time %.0f s", time.Since(start).Seconds())
	if runScale {
		wall += fmt.Sprintf(" (scale sweeps %.0f s of it)", (time.Since(start) - parts).Seconds())
	}
	res.Notes = append(res.Notes, wall)
	if err := writeAll(dir, res); err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	benchmarks.WriteClusterText(os.Stdout, res.Cluster)
	if res.Failover != nil {
		benchmarks.WriteFailoverTable(os.Stdout, res.Failover)
	}
	if res.Scale != nil {
		benchmarks.WriteScaleSummary(os.Stdout, res.Scale)
	}
	fmt.Printf("\n%s; wrote %s/{results.json,REPORT.md,*.svg}\n", wall, dir)
	if res.Failover != nil && !res.Failover.OK() {
		return exitError(1)
	}
	if scaleErr != nil {
		return fmt.Errorf("scale sweeps: %w", scaleErr)
	}
	return nil
}

// clusterFlags size the cluster lab's bandwidth, ISR-shrink and failover
// scenarios.
type clusterFlags struct {
	bandwidthRecords int64
	isrWindow        time.Duration
	failover         benchmarks.FailoverConfig
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	c.failover = benchmarks.DefaultFailoverConfig()
	fs.Int64Var(&c.bandwidthRecords, "bandwidth-records", benchmarks.BandwidthRecords, "records per bandwidth run (6 runs)")
	fs.DurationVar(&c.isrWindow, "isr-window", benchmarks.DefaultISRConfig().Window, "each window of the ISR-shrink scenario (3 windows)")
	fs.IntVar(&c.failover.Kills, "kills", c.failover.Kills, "failover: kill -9 events of a leader that is not the controller")
	fs.IntVar(&c.failover.ControllerKills, "controller-kills", c.failover.ControllerKills, "failover: kill -9 events of the controller's broker")
	fs.IntVar(&c.failover.Terminates, "sigterms", c.failover.Terminates, "failover: SIGTERM (controlled shutdown) events of a leader")
}

// run runs the cluster lab into res: bandwidth, ISR shrink, failover.
func (c *clusterFlags) run(ctx context.Context, r benchmarks.Runner, pf peerFlags, res *benchmarks.Results) error {
	lab := benchmarks.ClusterLab{Bin: r.Peers.ChronikBin, Dir: r.Peers.WorkDir, Properties: pf.chronikConfig, Progress: os.Stderr}
	bw, err := lab.RunBandwidth(ctx, benchmarks.BandwidthTopologies, c.bandwidthRecords, true)
	if err != nil {
		return err
	}
	isrCfg := benchmarks.DefaultISRConfig()
	isrCfg.Window = c.isrWindow
	isr, err := lab.RunISR(ctx, isrCfg)
	if err != nil {
		return err
	}
	res.Cluster = &benchmarks.ClusterResult{Bandwidth: bw, ISR: isr}
	fo := c.failover
	fo.Bin, fo.Properties = r.Peers.ChronikBin, maps.Clone(pf.chronikConfig)
	if fo.Dir, err = benchmarks.FailoverWorkDir(r.Peers.WorkDir); err != nil {
		return err
	}
	if res.Failover, err = benchmarks.RunFailover(ctx, fo, os.Stderr); err != nil {
		return err
	}
	return nil
}
