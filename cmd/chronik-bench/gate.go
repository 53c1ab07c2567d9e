package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/chronik/chronik/benchmarks"
)

// cmdGate runs the gate suite and compares it with the baseline, or with
// --write-baseline records a new baseline.
func cmdGate(args []string) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	basePath := fs.String("baseline", "benchmarks/baseline.json", "baseline file")
	tol := fs.Float64("tolerance", 0, "allowed fall of a ratio, 0.10 = 10% (default: the baseline's)")
	write := fs.Bool("write-baseline", false, "run the gate suite and write --baseline instead of comparing")
	widen := fs.Bool("widen-noisy", true, "with --write-baseline: give a ratio whose rounds were noisier than --tolerance its own wider tolerance")
	rounds := fs.Int("rounds", 0, "rounds (default: the suite's)")
	out := fs.String("out", "", "also write results.json, REPORT.md and plots here")
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	suite := benchmarks.GateSuite()
	if *rounds > 0 {
		suite.Rounds = *rounds
	}
	r, ctx, done, err := pf.suiteRunner()
	if err != nil {
		return err
	}
	defer done()
	if *write {
		return writeBaseline(ctx, r, suite, *basePath, *tol, *widen, *out)
	}
	base, err := benchmarks.LoadBaseline(*basePath)
	if err != nil {
		return err
	}
	g := benchmarks.Gate{Runner: r, Suite: suite, Baseline: base, Tolerance: *tol, Out: os.Stdout}
	res, rows, passed, err := g.Run(ctx)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := writeAll(*out, res); err != nil {
			return err
		}
	}
	fmt.Printf("\nbench-gate against %s (baseline from %s):\n", *basePath, base.Created.Format("2006-01-02 15:04"))
	benchmarks.WriteGateTable(os.Stdout, rows)
	if !passed {
		fmt.Println("bench-gate: FAIL (a same-run ratio regressed beyond tolerance, after one retry)")
		return exitError(1)
	}
	fmt.Println("bench-gate: PASS")
	return nil
}

func writeBaseline(ctx context.Context, r benchmarks.Runner, suite benchmarks.Suite, path string, tol float64, widen bool, out string) error {
	res, err := r.RunSuite(ctx, suite)
	if err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	if tol == 0 {
		tol = benchmarks.DefaultTolerance
	}
	if out != "" {
		if err := writeAll(out, res); err != nil {
			return err
		}
	}
	if err := benchmarks.WriteJSON(path, benchmarks.NewBaseline(res, tol, widen)); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}
