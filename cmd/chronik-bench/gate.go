package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/chronik/chronik/benchmarks"
)

// gateFlags are the flags of gate and gate-rates.
type gateFlags struct {
	basePath  string
	tolerance float64
	rounds    int
	only      string
	cluster   bool
}

func (g *gateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.basePath, "baseline", "benchmarks/baseline.json", "baseline file")
	fs.Float64Var(&g.tolerance, "tolerance", 0, "allowed fall of every ratio, 0.10 = 10% (default: the baseline's, per ratio)")
	fs.IntVar(&g.rounds, "rounds", 0, "rounds (default: the suite's)")
	fs.StringVar(&g.only, "scenarios", "", "run only these gate scenarios (comma-separated; with the rest of their slice groups) "+
		"and judge the ratios they measure")
	fs.BoolVar(&g.cluster, "cluster", true, "also judge the cluster budgets: follower bytes/owned <= 1.05 for each bandwidth "+
		"topology, failover kill9-leader p99 <= 1 s over 10 kills")
}

// clusterGate is the cluster part the flags ask for (nil: none).
func (g *gateFlags) clusterGate() *benchmarks.ClusterGate {
	if !g.cluster {
		return nil
	}
	cg := benchmarks.DefaultClusterGate()
	return &cg
}

// parse registers pf's flags too, parses args and returns the gate suite
// as the flags narrow it.
func (g *gateFlags) parse(fs *flag.FlagSet, pf *peerFlags, args []string) (benchmarks.Suite, error) {
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return benchmarks.Suite{}, err
	}
	return g.suite()
}

// suite is the gate suite as the flags narrow it.
func (g *gateFlags) suite() (benchmarks.Suite, error) {
	suite := benchmarks.GateSuite()
	if g.only != "" {
		suite = suite.Subset(strings.Split(g.only, ","))
		if len(suite.Scenarios) == 0 {
			return suite, fmt.Errorf("--scenarios %q: the gate suite has %v", g.only, scenarioNames(benchmarks.GateSuite()))
		}
	}
	if g.rounds > 0 {
		suite.Rounds = g.rounds
	}
	return suite, nil
}

func scenarioNames(s benchmarks.Suite) []string {
	var out []string
	for _, sc := range s.Scenarios {
		out = append(out, sc.Name)
	}
	return out
}

// cmdGate runs the gate suite and compares it with the baseline, or with
// --write-baseline records a new baseline.
func cmdGate(args []string) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	var gf gateFlags
	gf.register(fs)
	write := fs.Bool("write-baseline", false, "run the gate suite and write --baseline instead of comparing "+
		"(--tolerance: the least tolerance of a ratio, default 0.075); with --scenarios, record only the ratios those "+
		"scenarios measure and keep the file's other ratios")
	widen := fs.Bool("widen-noisy", true, "with --write-baseline: give a ratio whose spread needs more than --tolerance its own")
	out := fs.String("out", "", "also write results.json, REPORT.md and plots here")
	var pf peerFlags
	suite, err := gf.parse(fs, &pf, args)
	if err != nil {
		return err
	}
	r, ctx, done, err := pf.suiteRunner()
	if err != nil {
		return err
	}
	defer done()
	if *write {
		return writeBaseline(ctx, r, suite, gf, *widen, *out)
	}
	base, err := benchmarks.LoadBaseline(gf.basePath)
	if err != nil {
		return err
	}
	g := benchmarks.Gate{Runner: r, Suite: suite, Baseline: base, Tolerance: gf.tolerance, Out: os.Stdout,
		Reproduce: func(scs []string) string { return reproCommand(gf, pf, scs) }, Cluster: gf.clusterGate()}
	v, err := g.Run(ctx)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := writeAll(*out, v.Results); err != nil {
			return err
		}
	}
	fmt.Printf("\nbench-gate against %s (baseline from %s):\n", gf.basePath, base.Created.Format("2006-01-02 15:04"))
	benchmarks.WriteGateTable(os.Stdout, v.Rows)
	if !v.Passed {
		benchmarks.WriteGateFailures(os.Stdout, v.Rows, g.Reproduce)
		fmt.Println("bench-gate: FAIL (a same-run ratio regressed beyond its tolerance over both attempts, or a cluster budget was exceeded twice)")
		return exitError(1)
	}
	fmt.Println("bench-gate: PASS")
	return nil
}

// reproCommand is the gate command line that measures scs (and their
// slice groups) alone, with this run's broker and baseline settings.
func reproCommand(gf gateFlags, pf peerFlags, scs []string) string {
	args := []string{os.Args[0], "gate", "--scenarios", strings.Join(dedupe(scs), ","), "--baseline", gf.basePath,
		"--chronik-bin", pf.chronikBin}
	if gf.rounds > 0 {
		args = append(args, "--rounds", fmt.Sprint(gf.rounds))
	}
	if gf.tolerance > 0 {
		args = append(args, "--tolerance", fmt.Sprint(gf.tolerance))
	}
	keys := make([]string, 0, len(pf.chronikConfig))
	for k := range pf.chronikConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--chronik-config", k+"="+pf.chronikConfig[k])
	}
	return strings.Join(args, " ")
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func writeBaseline(ctx context.Context, r benchmarks.Runner, suite benchmarks.Suite, gf gateFlags, widen bool, out string) error {
	res, err := r.RunSuite(ctx, suite)
	if err != nil {
		return err
	}
	benchmarks.WriteTextSummary(os.Stdout, res)
	tol := gf.tolerance
	if tol == 0 {
		tol = benchmarks.DefaultTolerance
	}
	if out != "" {
		if err := writeAll(out, res); err != nil {
			return err
		}
	}
	b := benchmarks.NewBaseline(res, tol, benchmarks.GateSuite().Rounds, widen)
	if gf.only != "" {
		old, err := benchmarks.LoadBaseline(gf.basePath)
		if err != nil {
			return fmt.Errorf("--write-baseline --scenarios keeps the other ratios of the existing file: %w", err)
		}
		b = benchmarks.MergeBaseline(old, b)
	}
	if err := benchmarks.WriteJSON(gf.basePath, b); err != nil {
		return err
	}
	benchmarks.WriteBaselineTable(os.Stdout, b)
	fmt.Printf("wrote %s\n", gf.basePath)
	return nil
}
