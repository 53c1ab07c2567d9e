package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chronik/chronik/testbed/chaos"
)

// runChaos is `chronik-testbed chaos`: a proxied cluster under a seeded
// fault schedule and a checked workload; results.json, REPORT.md and the
// timeline plot go to -out. Exit status 1 when a check fails.
func runChaos(args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var cfg chaos.Config
	bin := fs.String("bin", besideMe("chronik-debug"), "the chronik binary: bin/chronik-debug (make build-debug) for the disk fault kinds")
	fs.IntVar(&cfg.Brokers, "brokers", 3, "brokers (3 or 5)")
	fs.IntVar(&cfg.Partitions, "partitions", 12, "partitions of the topic written")
	fs.IntVar(&cfg.RF, "rf", 3, "replication factor")
	fs.IntVar(&cfg.MinInsync, "min-insync", 2, "min.insync.replicas of the topic")
	fs.IntVar(&cfg.Rate, "rate", 300, "records per second over all producers")
	fs.IntVar(&cfg.Faults, "faults", 20, "faults in the schedule")
	fs.BoolVar(&cfg.Group, "group", true, "also read with a consumer group member")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", false, "go on with the schedule after the cluster failed to heal")
	seed := fs.Uint64("seed", 0, "schedule seed (0: from the clock; printed)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "bound on the fault phase (0: until the schedule is done)")
	kinds := fs.String("kinds", "", "comma-separated fault kinds (default all: "+kindList()+")")
	out := fs.String("out", "", "directory for results.json and REPORT.md (default chaos-results/<time>-seed<seed>)")
	keep := fs.Bool("keep", false, "keep the cluster's work directory (broker logs, data) under -out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Bin, cfg.Seed, cfg.Log = *bin, *seed, os.Stdout
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	for _, k := range strings.Split(*kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			if !validKind(k) {
				return fmt.Errorf("unknown fault kind %q (have %s)", k, kindList())
			}
			cfg.Schedule.Kinds = append(cfg.Schedule.Kinds, chaos.Kind(k))
		}
	}
	if *out == "" {
		*out = filepath.Join("chaos-results", fmt.Sprintf("%s-seed%d", time.Now().Format("20060102-150405"), cfg.Seed))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	work := filepath.Join(*out, "cluster")
	if !*keep {
		tmp, err := os.MkdirTemp("", "chronik-chaos-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	cfg.Dir = work
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := res.Write(*out); err != nil {
		return err
	}
	med, p90, worst := chaos.GapStats(res.Gaps)
	fmt.Printf("%s  cluster did not heal %d\nfailover gaps: median %v, p90 %v, max %v\nfaults by kind: %v\nwrote %s\n", res.Summary, res.Unhealed,
		med.Round(time.Millisecond), p90.Round(time.Millisecond), worst.Round(time.Millisecond), res.KindCounts,
		filepath.Join(*out, "REPORT.md"))
	if !res.Check.OK() {
		return errors.New("chaos: checks failed (see REPORT.md)")
	}
	if res.Unhealed > 0 {
		return fmt.Errorf("chaos: the cluster did not heal %d times (see the warnings in REPORT.md)", res.Unhealed)
	}
	return nil
}

func kindList() string {
	var ks []string
	for _, k := range chaos.Kinds {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ",")
}

func validKind(k string) bool {
	for _, c := range chaos.Kinds {
		if string(c) == k {
			return true
		}
	}
	return false
}
