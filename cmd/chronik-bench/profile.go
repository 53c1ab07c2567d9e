package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
	"github.com/chronik/chronik/perf"
)

// cmdProfile runs one scenario of the bench suite against Chronik with its
// admin listener on and captures profiles over the measured window.
func cmdProfile(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	name := fs.String("scenario", benchmarks.ScenarioProduceAcks1, "bench suite scenario: "+strings.Join(suiteNames(), ", "))
	outFlag := fs.String("out", "", "capture directory (default bench-results/profile-<timestamp>)")
	top := fs.Int("top", 25, "functions per summary table")
	window := fs.Duration("duration", 10*time.Second, "load and CPU profile length (produce, e2e)")
	var pf peerFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, ok := suiteScenario(*name)
	if !ok {
		return fmt.Errorf("unknown scenario %q (have %s)", *name, strings.Join(suiteNames(), ", "))
	}
	out := *outFlag
	if out == "" {
		d, err := resultsDir("", "bench-results")
		if err != nil {
			return err
		}
		os.Remove(d)
		out = filepath.Join(filepath.Dir(d), "profile-"+filepath.Base(d))
	}
	peers, cleanup, err := pf.peers()
	if err != nil {
		return err
	}
	defer cleanup()
	peers.AdminListen = true
	ctx, stop := signalContext()
	defer stop()
	run, err := benchmarks.ProfileRun(ctx, peers, sc, *window, out, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf("%s on chronik: %.0f msg/s, p99 %.3f ms, %.3f CPU-s per million records\n\n",
		sc.Name, run.MsgPerSec, run.Latency.P99Ms, run.CPUSecPerMillion)
	text, err := perf.SummarizeDir(out, *top)
	fmt.Print(text)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s/{cpu,heap,allocs,mutex,block}.pb.gz and summary.txt (go tool pprof -http=: %s/cpu.pb.gz)\n", out, out)
	return nil
}

// cmdProfileDiff compares two capture directories.
func cmdProfileDiff(args []string) error {
	fs := flag.NewFlagSet("profile-diff", flag.ContinueOnError)
	top := fs.Int("top", 20, "functions per table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("usage: chronik-bench profile-diff [--top N] BEFORE_DIR AFTER_DIR")
	}
	return perf.DiffDirs(os.Stdout, fs.Arg(0), fs.Arg(1), *top)
}

func suiteNames() []string {
	var out []string
	for _, sc := range benchmarks.StandaloneSuite().Scenarios {
		out = append(out, sc.Name)
	}
	return out
}

func suiteScenario(name string) (benchmarks.Scenario, bool) {
	for _, sc := range benchmarks.StandaloneSuite().Scenarios {
		if sc.Name == name {
			return sc, true
		}
	}
	return benchmarks.Scenario{}, false
}
