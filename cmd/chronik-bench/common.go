package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chronik/chronik/benchmarks"
)

// peerFlags are the flags every command that starts brokers takes.
type peerFlags struct {
	chronikBin    string
	workDir       string
	chronikConfig keyValues
}

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.chronikBin, "chronik-bin", "bin/chronik", "chronik binary to start")
	fs.StringVar(&p.workDir, "work-dir", "", "where brokers keep their data during a run (default: a temp dir)")
	fs.Var(&p.chronikConfig, "chronik-config", "KEY=VALUE broker setting for Chronik's --config file (repeatable); "+
		"the debug.* test hooks need --chronik-bin bin/chronik-debug (make build-debug)")
}

// keyValues is a repeatable KEY=VALUE flag.
type keyValues map[string]string

func (kv *keyValues) String() string { return fmt.Sprint(map[string]string(*kv)) }

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if *kv == nil {
		*kv = keyValues{}
	}
	(*kv)[k] = v
	return nil
}

// peers builds the Peers; cleanup removes the work dir it made.
func (p *peerFlags) peers() (benchmarks.Peers, func(), error) {
	bin, err := filepath.Abs(p.chronikBin)
	if err != nil {
		return benchmarks.Peers{}, nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return benchmarks.Peers{}, nil, fmt.Errorf("chronik binary: %w (run make build)", err)
	}
	self, err := os.Executable()
	if err != nil {
		return benchmarks.Peers{}, nil, fmt.Errorf("find own executable for kfake-serve: %w", err)
	}
	dir, err := os.MkdirTemp(p.workDir, "chronik-bench-")
	if err != nil {
		return benchmarks.Peers{}, nil, fmt.Errorf("work dir: %w", err)
	}
	peers := benchmarks.Peers{ChronikBin: bin, KfakeCmd: []string{self, "kfake-serve"}, WorkDir: dir, ChronikConfig: p.chronikConfig}
	return peers, func() { os.RemoveAll(dir) }, nil
}

// signalContext ends on SIGINT/SIGTERM so brokers are stopped on Ctrl-C.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// resultsDir makes bench-results/<timestamp>/ (or uses out).
func resultsDir(out, root string) (string, error) {
	if out == "" {
		out = filepath.Join(root, time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("results dir: %w", err)
	}
	return out, nil
}

// suiteRunner starts the peers and returns a Runner for them with the lab's
// progress and log output, a context cancelled by SIGINT/SIGTERM, and one
// cleanup that undoes both.
func (p *peerFlags) suiteRunner() (benchmarks.Runner, context.Context, func(), error) {
	peers, cleanup, err := p.peers()
	if err != nil {
		return benchmarks.Runner{}, nil, nil, err
	}
	ctx, stop := signalContext()
	done := func() { stop(); cleanup() }
	return benchmarks.Runner{Peers: peers, Progress: os.Stderr, Log: logger()}, ctx, done, nil
}
