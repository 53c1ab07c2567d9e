package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// cmdBench runs the comparison suite and the cluster lab and writes its
// results directory.
func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "", "results directory (default bench-results/<timestamp>)")
	rounds := fs.Int("rounds", 0, "rounds of the runner's scenarios (default: the suite's, 3)")
	clusterOnly := fs.Bool("cluster-only", false, "only the cluster part (make bench-cluster)")
	noCluster := fs.Bool("no-cluster", false, "only the standalone part (Chronik vs kfake)")
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
	res.Finished = time.Now().UTC()
	res.Notes = append(res.Notes, fmt.Sprintf("wall time %.0f s", time.Since(start).Seconds()))
	if err := writeAll(dir, res); err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	benchmarks.WriteClusterText(os.Stdout, res.Cluster)
	if res.Failover != nil {
		benchmarks.WriteFailoverTable(os.Stdout, res.Failover)
	}
	fmt.Printf("\nwall time %.0f s; wrote %s/{results.json,REPORT.md,*.svg}\n", time.Since(start).Seconds(), dir)
	if res.Failover != nil && !res.Failover.OK() {
		return exitError(1)
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
