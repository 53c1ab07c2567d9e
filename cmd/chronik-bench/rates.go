package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chronik/chronik/benchmarks"
)

// cmdGateRates runs the gate again and again on an unchanged broker and on
// slowed ones, taking turns, and counts the failures.
func cmdGateRates(args []string) error {
	fs := flag.NewFlagSet("gate-rates", flag.ContinueOnError)
	var gf gateFlags
	gf.register(fs)
	runs := fs.Int("runs", 20, "gate runs per variant")
	out := fs.String("out", "", "results directory (default bench-results/gate-rates-<timestamp>)")
	debugBin := fs.String("chronik-debug-bin", "bin/chronik-debug", "chronik built with -tags chronikdebug (make build-debug), for the slowdowns")
	var slowdowns slowdownFlags
	fs.Var(&slowdowns, "slowdown", "NAME:KEY=VALUE[,KEY=VALUE...] a slowed variant, debug.* keys of chronik-debug (repeatable; "+
		"default: "+strings.Join(defaultSlowdowns(), " and ")+")")
	var pf peerFlags
	suite, err := gf.parse(fs, &pf, args)
	if err != nil {
		return err
	}
	base, err := benchmarks.LoadBaseline(gf.basePath)
	if err != nil {
		return err
	}
	if len(slowdowns) == 0 {
		for _, s := range defaultSlowdowns() {
			if err := slowdowns.Set(s); err != nil {
				return err
			}
		}
	}
	dir, err := ratesDir(*out)
	if err != nil {
		return err
	}
	peers, cleanup, err := pf.peers()
	if err != nil {
		return err
	}
	defer cleanup()
	debugPath, err := filepath.Abs(*debugBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(debugPath); err != nil {
		return fmt.Errorf("chronik-debug binary: %w (run make build-debug)", err)
	}
	variants := []benchmarks.RateVariant{{Name: "unchanged", Peers: peers}}
	for _, s := range slowdowns {
		p := peers
		p.ChronikBin, p.ChronikConfig = debugPath, s.config
		variants = append(variants, benchmarks.RateVariant{Name: s.name, Peers: p})
	}
	ctx, stop := signalContext()
	defer stop()
	g := benchmarks.GateRates{Suite: suite, Baseline: base, Variants: variants, Runs: *runs, Tolerance: gf.tolerance,
		Dir: dir, Progress: os.Stdout, Cluster: gf.clusterGate()}
	fmt.Printf("gate-rates: %d runs of %d variants into %s\n", *runs, len(variants), dir)
	for _, s := range slowdowns {
		fmt.Printf("  %s: %v\n", s.name, s.config)
	}
	rs, err := g.Run(ctx)
	fmt.Println()
	benchmarks.WriteRatesSummary(os.Stdout, rs)
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %s/rates.json and each run's gate.log and results.json\n", dir)
	return nil
}

func ratesDir(out string) (string, error) {
	if out != "" {
		return resultsDir(out, "")
	}
	d, err := resultsDir("", "bench-results")
	if err != nil {
		return "", err
	}
	os.Remove(d)
	return resultsDir(filepath.Join(filepath.Dir(d), "gate-rates-"+filepath.Base(d)), "")
}

// defaultSlowdowns are the slowed variants `make bench-gate-rates`
// measures (benchmarks.Slowdown*).
func defaultSlowdowns() []string {
	return []string{benchmarks.SlowdownCPU, benchmarks.SlowdownThroughput, benchmarks.SlowdownReplication, benchmarks.SlowdownFailover,
		benchmarks.SlowdownTail, benchmarks.SlowdownPartitions}
}

type slowdown struct {
	name   string
	config map[string]string
}

// slowdownFlags is a repeatable NAME:KEY=VALUE,... flag.
type slowdownFlags []slowdown

func (s *slowdownFlags) String() string { return fmt.Sprint(*s) }

func (s *slowdownFlags) Set(v string) error {
	name, rest, ok := strings.Cut(v, ":")
	if !ok || name == "" || name == "unchanged" {
		return fmt.Errorf("want NAME:KEY=VALUE[,KEY=VALUE...] with a NAME other than unchanged, got %q", v)
	}
	var kv keyValues
	for _, p := range strings.Split(rest, ",") {
		if err := kv.Set(p); err != nil {
			return err
		}
	}
	*s = append(*s, slowdown{name: name, config: kv})
	return nil
}
