package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// cmdRestart runs the restart scenario (benchmarks/restart.go): kill -9 of
// a broker holding data, time until it serves again, per binary and data
// size; and the start of a broker with many idle partitions. It writes
// results.json (a "restart" section) and REPORT.md.
func cmdRestart(args []string) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	c := benchmarks.DefaultRestartConfig()
	arms := fs.String("arms", "chronik=bin/chronik", "binaries compared, name=path,name=path (e.g. before=bin/chronik-main,after=bin/chronik)")
	sizes := fs.String("sizes", "1GiB,10GiB", "data sizes filled before the first kill, comma-separated (KiB, MiB, GiB)")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of the data topic")
	fs.IntVar(&c.Producers, "producers", c.Producers, "idempotent acks=-1 producers filling it")
	fs.IntVar(&c.RecordBytes, "record-bytes", c.RecordBytes, "record value size")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "kill -9 and restart rounds per arm and size (and per idle case)")
	fs.DurationVar(&c.Between, "between", c.Between, "load between rounds; the kill lands in it")
	fs.IntVar(&c.IdlePartitions, "idle-partitions", c.IdlePartitions, "partitions of the idle-start rows (0: none)")
	fs.DurationVar(&c.ServeTimeout, "serve-timeout", c.ServeTimeout, "longest wait for a restarted broker to serve")
	workDir := fs.String("work-dir", "", "parent of the brokers' data (default: the temp dir; needs the largest size free, per arm in turn)")
	props := fs.String("broker-config", "", "extra broker properties, k=v,k=v")
	out := fs.String("out", "", "results directory (default bench-results/restart-<timestamp>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.Arms, err = parseArms(*arms); err != nil {
		return err
	}
	if c.SizesBytes, err = parseSizes(*sizes); err != nil {
		return err
	}
	if c.Properties, err = parseProps(*props); err != nil {
		return err
	}
	if c.Dir, err = os.MkdirTemp(*workDir, "chronik-restart-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.Dir)
	if *out == "" {
		*out = filepath.Join("bench-results", "restart-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	dir, err := resultsDir(*out, "bench-results")
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	res := &benchmarks.Results{Schema: benchmarks.SchemaVersion, Suite: "restart", Command: strings.Join(os.Args, " "),
		Started: time.Now().UTC(), Host: benchmarks.HostInfo()}
	rr, runErr := benchmarks.RunRestart(ctx, c, os.Stderr)
	res.Finished, res.Restart = time.Now().UTC(), rr
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := benchmarks.WriteJSON(filepath.Join(dir, "results.json"), res); err != nil {
		return err
	}
	var table bytes.Buffer
	benchmarks.WriteRestartTable(&table, rr)
	report := fmt.Sprintf("# Restart\n\n`%s`\n\nhost %s, load %s\n\n%s", res.Command, res.Host.Hostname, res.Host.LoadAvg, table.String())
	if err := os.WriteFile(filepath.Join(dir, "REPORT.md"), []byte(report), 0o644); err != nil {
		return err
	}
	os.Stdout.Write(table.Bytes())
	fmt.Printf("\nwrote %s/{results.json,REPORT.md}\n", dir)
	return runErr
}

func parseArms(s string) ([]benchmarks.RestartArm, error) {
	var arms []benchmarks.RestartArm
	for _, kv := range strings.Split(s, ",") {
		name, bin, ok := strings.Cut(kv, "=")
		if !ok || name == "" || bin == "" {
			return nil, fmt.Errorf("arm %q: want name=path", kv)
		}
		abs, err := filepath.Abs(bin)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("arm %s: %w", name, err)
		}
		arms = append(arms, benchmarks.RestartArm{Name: name, Bin: abs})
	}
	return arms, nil
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue // --sizes '': only the idle rows
		}
		mult := int64(1)
		for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
			if v, ok := strings.CutSuffix(f, suffix); ok {
				f, mult = v, m
			}
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("size %q", f)
		}
		out = append(out, int64(n*float64(mult)))
	}
	return out, nil
}
