package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/chronik/chronik/benchmarks"
)

// cmdBench runs the comparison suite and writes its results directory.
func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "", "results directory (default bench-results/<timestamp>)")
	rounds := fs.Int("rounds", 0, "rounds (default: the suite's)")
	clusterOnly := fs.Bool("cluster-only", false, "only the cluster part (make bench-cluster)")
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	suite := benchmarks.BenchSuite()
	if *clusterOnly {
		suite = benchmarks.ClusterSuite()
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
	res, err := r.RunSuite(ctx, suite)
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes, benchmarks.DurabilityNote)
	if err := writeAll(dir, res); err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	fmt.Printf("\nwrote %s/{results.json,REPORT.md,*.svg}\n", dir)
	return nil
}
