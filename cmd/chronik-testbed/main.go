// Command chronik-testbed runs a local Chronik cluster in the foreground:
//
//	chronik-testbed [-n 3] [-bin bin/chronik] [-dir DIR] [-kafka-ports 9092,9093,9094]
//	                [-racks a,b,c] [-config FILE.properties]
//	chronik-testbed chaos [-brokers 3] [-partitions 12] [-rf 3] [-min-insync 2]
//	                [-rate 300] [-faults 20] [-seed N] [-duration D] [-kinds k,...] [-out DIR]
//
// It writes a cluster config (free 127.0.0.1 ports for replication and
// Raft, and for Kafka unless -kafka-ports fixes them), starts one
// `chronik serve --cluster` per node with its own data directory under
// DIR, waits until every broker lists all of them, prints the addresses,
// and on SIGINT/SIGTERM stops every broker it started (by pid). Without
// -dir the cluster lives in a temporary directory removed at exit; with
// -dir a later run reuses its cluster config and data.
//
// chaos runs a proxied cluster under a seeded fault schedule with a
// checked workload (package testbed/chaos) and writes results.json and
// REPORT.md; it exits 1 when a check fails.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/testbed"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "chaos" {
		if err := runChaos(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "chronik-testbed chaos:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chronik-testbed:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 3, "number of brokers (1, 3 or 5)")
	bin := flag.String("bin", defaultBin(), "the chronik binary")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed at exit)")
	ports := flag.String("kafka-ports", "", "comma-separated Kafka ports, one per node (default: free ports)")
	racks := flag.String("racks", "", "comma-separated racks, one per node")
	props := flag.String("config", "", "broker properties file passed to every node")
	flag.Parse()

	cfg := testbed.Config{Bin: *bin, Nodes: *n, Dir: *dir}
	if cfg.Dir == "" {
		tmp, err := os.MkdirTemp("", "chronik-testbed-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.Dir = tmp
	}
	if err := parseList(*ports, &cfg.KafkaPorts); err != nil {
		return fmt.Errorf("-kafka-ports: %w", err)
	}
	if *racks != "" {
		cfg.Racks = strings.Split(*racks, ",")
	}
	if *props != "" {
		if err := loadProperties(*props, &cfg); err != nil {
			return err
		}
	}
	start := time.Now()
	c, err := testbed.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("chronik cluster of %d ready in %v (work dir %s)\n", *n, time.Since(start).Round(time.Millisecond), cfg.Dir)
	for _, nd := range c.Nodes {
		fmt.Printf("  node %d  kafka %s  replication %s  raft %s  pid %d  log %s\n",
			nd.ID, nd.KafkaAddr, nd.ReplicationAddr, nd.RaftAddr, nd.Proc.Pid(), nd.Proc.LogPath)
	}
	fmt.Printf("bootstrap servers: %s\nCtrl-C stops the cluster.\n", strings.Join(c.Addrs(), ","))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping")
	var errs []error
	for _, nd := range c.Nodes {
		if err := nd.Proc.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", nd.ID, err))
		}
	}
	errs = append(errs, c.Close())
	return errors.Join(errs...)
}

// defaultBin is chronik beside this executable (make build puts both in
// bin/), else bin/chronik.
func defaultBin() string { return besideMe("chronik") }

// besideMe is the binary name in this executable's directory if it is
// there, else bin/name.
func besideMe(name string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "bin/" + name
}

func parseList(s string, out *[]int) error {
	if s == "" {
		return nil
	}
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("bad port %q", f)
		}
		*out = append(*out, p)
	}
	return nil
}

// loadProperties checks the file with the broker's own parser and passes
// its keys to every node.
func loadProperties(path string, cfg *testbed.Config) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	probe := engine.DefaultConfig()
	if err := probe.ParseProperties(string(body)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg.Properties = map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			cfg.Properties[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return nil
}
