package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// cmdFailover runs the failover scenario on a 3-broker cluster and writes
// its results directory (results.json with a "failover" section,
// REPORT.md, failover-cdf.svg). It exits 1 when the data check or a
// produce failed.
func cmdFailover(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	d := benchmarks.DefaultFailoverConfig()
	bin := fs.String("chronik-bin", "bin/chronik", "chronik binary to start")
	workDir := fs.String("work-dir", "", "parent of the cluster's directory (default: the temp dir)")
	keep := fs.Bool("keep", false, "keep the cluster's directory (broker logs, data) after the run")
	out := fs.String("out", "", "results directory (default bench-results/failover-<timestamp>)")
	fs.IntVar(&d.Kills, "kills", d.Kills, "kill -9 events of a leader that is not the controller")
	fs.IntVar(&d.ControllerKills, "controller-kills", d.ControllerKills, "kill -9 events of the controller's broker")
	fs.IntVar(&d.Terminates, "sigterms", d.Terminates, "SIGTERM (controlled shutdown) events of a leader")
	fs.IntVar(&d.Partitions, "partitions", d.Partitions, "partitions of the topic (RF=3)")
	fs.IntVar(&d.Producers, "producers", d.Producers, "idempotent acks=-1 producers, seeded at the brokers in turn")
	fs.IntVar(&d.Rate, "rate", d.Rate, "records per second per producer")
	fs.DurationVar(&d.Down, "down", d.Down, "how long a victim stays down after its partitions took writes again")
	fs.DurationVar(&d.MetadataMinAge, "metadata-min-age", d.MetadataMinAge, "the producers' kgo.MetadataMinAge (kgo's default is 5s)")
	fs.DurationVar(&d.RetryBackoff, "retry-backoff", d.RetryBackoff, "a fixed kgo retry backoff for the producers (0: kgo's default, 250ms doubling)")
	fs.DurationVar(&d.EventTimeout, "event-timeout", d.EventTimeout, "per event: how long partitions may take no write")
	clientLog := fs.String("client-log", "", "write producer 0's kgo debug log to this file (where the client's time goes)")
	props := fs.String("broker-config", "", "extra broker properties, k=v,k=v (e.g. broker.session.timeout.ms=3000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if d.Bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	if _, err := os.Stat(d.Bin); err != nil {
		return fmt.Errorf("chronik binary: %w (run make build)", err)
	}
	if d.Properties, err = parseProps(*props); err != nil {
		return err
	}
	if *clientLog != "" {
		f, err := os.Create(*clientLog)
		if err != nil {
			return err
		}
		defer f.Close()
		d.ClientLog = f
	}
	if d.Dir, err = benchmarks.FailoverWorkDir(*workDir); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintf(os.Stderr, "cluster directory: %s\n", d.Dir)
	} else {
		defer os.RemoveAll(filepath.Dir(d.Dir))
	}
	if *out == "" {
		*out = filepath.Join("bench-results", "failover-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	dir, err := resultsDir(*out, "bench-results")
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	res := &benchmarks.Results{Schema: benchmarks.SchemaVersion, Suite: "failover", Command: strings.Join(os.Args, " "),
		Started: time.Now().UTC(), Host: benchmarks.HostInfo()}
	fr, err := benchmarks.RunFailover(ctx, d, os.Stderr)
	if err != nil {
		return err
	}
	res.Finished, res.Failover = time.Now().UTC(), fr
	if err := writeAll(dir, res); err != nil {
		return err
	}
	benchmarks.WriteFailoverTable(os.Stdout, fr)
	fmt.Printf("\nwrote %s/{results.json,REPORT.md,failover-cdf.svg}\n", dir)
	if !fr.OK() {
		return exitError(1)
	}
	return nil
}

// parseProps parses "k=v,k=v".
func parseProps(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("broker property %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
