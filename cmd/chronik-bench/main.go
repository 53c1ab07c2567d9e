// Command chronik-bench is Chronik's benchmark lab.
//
//	chronik-bench bench   [--out DIR] [--rounds N] [--no-scale]   the comparison suite, cluster lab, short scale sweeps (make bench)
//	chronik-bench gate    [--baseline FILE] [--scenarios S]  the regression gate (make bench-gate)
//	chronik-bench gate-rates [--runs N] [--slowdown ...]    how often the gate fails, unchanged and slowed
//	chronik-bench profile [--scenario NAME] [--out DIR]     pprof capture during a scenario (make profile)
//	chronik-bench profile-diff BEFORE AFTER                 what grew between two captures
//	chronik-bench produce|consume|e2e [flags]               one scenario, Chronik vs kfake (or --brokers)
//	chronik-bench failover [--kills N] [--controller-kills N] [--sigterms N]   leaders stopped under acks=-1 load (make bench-failover)
//	chronik-bench restart [--arms a=BIN,b=BIN] [--sizes 1GiB,10GiB]   kill -9 with data / many idle partitions: time to serve again
//	chronik-bench scale [--sweeps partitions,connections,load] [--short]   cost as the work grows (make bench-scale)
//	chronik-bench report DIR                                REPORT.md and plots drawn again from DIR/results.json
//	chronik-bench kfake-serve [--listen ADDR] [--data-dir D --sync]   the kfake peer process
//
// Brokers under test are started by the lab as separate processes (Chronik
// from --chronik-bin, kfake by running this binary's kfake-serve) on free
// 127.0.0.1 ports with fresh data directories, and stopped by pid.
package main

import (
	"fmt"
	"os"

	"github.com/chronik/chronik/benchmarks"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "kfake-serve":
		err = benchmarks.ServeKfake(args)
	case "bench":
		err = cmdBench(args)
	case "gate":
		err = cmdGate(args)
	case "gate-rates":
		err = cmdGateRates(args)
	case "profile":
		err = cmdProfile(args)
	case "profile-diff":
		err = cmdProfileDiff(args)
	case "failover":
		err = cmdFailover(args)
	case "restart":
		err = cmdRestart(args)
	case "scale":
		err = cmdScale(args)
	case "report":
		err = cmdReport(args)
	case benchmarks.KindProduce, benchmarks.KindConsume, benchmarks.KindE2E:
		err = cmdScenario(cmd, args)
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "chronik-bench: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chronik-bench:", err)
		if exit, ok := err.(exitError); ok {
			os.Exit(int(exit))
		}
		os.Exit(1)
	}
}

// exitError is a failure already reported (the gate's verdict): only the
// exit code is left to give.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func usage() {
	fmt.Fprint(os.Stderr, `usage: chronik-bench COMMAND [flags]   (COMMAND -h for its flags)
  bench          comparison suite Chronik vs kfake -> bench-results/<timestamp>/
  gate           short suite compared with benchmarks/baseline.json; exit 1 on a regression
  gate-rates     run the gate N times unchanged and slowed (chronik-debug): false alarms and detections
  profile        run a scenario against Chronik while capturing pprof profiles
  profile-diff   compare two profile captures: what grew
  produce|consume|e2e   one scenario (see -h)
  failover       3-broker RF=3 cluster: kill -9 / SIGTERM of leaders under acks=-1 load, latency and data check
  restart        kill -9 of a broker holding data (two sizes) and start with 10,000 idle partitions: time to serve again
  scale          partitions, connections, producers and record sizes swept one at a time (make bench-scale)
  report DIR     draw REPORT.md and the plots of a results directory again from its results.json
  kfake-serve    run the kfake peer (used by the lab)
`)
}
