// Command chronik is the Chronik broker.
//
//	chronik serve [--listen 127.0.0.1:9092] [--data-dir ./data]
//	              [--advertised-listener HOST:PORT] [--config FILE]
//	              [--cluster FILE --node-id N] [--admin-listen 127.0.0.1:PORT]
//	chronik wal dump|verify <dir>
//	chronik wal compare <dirA> <dirB>
//
// With no flags it is a standalone broker on 127.0.0.1:9092 with its data in
// ./data. With --cluster it is node N of the cluster the file lists (see
// cluster.go). The config file holds Kafka-named keys (num.partitions=3, ...);
// flags win over the file. --admin-listen (loopback only) serves pprof and
// Prometheus metrics; see admin.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/internal/serve"
	"github.com/chronik/chronik/netio"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := runServe(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "chronik:", err)
			os.Exit(1)
		}
	case "wal":
		walCommand(os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "chronik: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: chronik serve [flags]   run a standalone broker (see chronik serve -h)
       chronik wal dump|verify <dir>   inspect or check log segments offline
       chronik wal compare <dirA> <dirB>   compare two replicas batch by batch`)
}

// loadConfig builds the config from defaults, the config file, then flags.
func loadConfig(args []string) (engine.Config, clusterFlags, error) {
	cfg := engine.DefaultConfig()
	var cf clusterFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default 127.0.0.1:9092)")
	dataDir := fs.String("data-dir", "", "data directory (default ./data)")
	adv := fs.String("advertised-listener", "", "host:port clients are told to dial (default: the listen address)")
	cfgFile := fs.String("config", "", "properties file with Kafka-named keys")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cf.register(fs)
	admin := fs.String("admin-listen", "", "loopback host:port for /debug/pprof and /metrics (default off)")
	if err := fs.Parse(args); err != nil {
		return cfg, cf, err
	}
	if fs.NArg() > 0 {
		return cfg, cf, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *admin != "" {
		if err := checkLoopback(*admin); err != nil {
			return cfg, cf, err
		}
		cf.adminAddr = *admin
	}
	if *cfgFile != "" {
		body, err := os.ReadFile(*cfgFile)
		if err != nil {
			return cfg, cf, err
		}
		if err := cfg.ParseProperties(string(body)); err != nil {
			return cfg, cf, fmt.Errorf("%s: %w", *cfgFile, err)
		}
	}
	for flagVal, dst := range map[*string]*string{listen: &cfg.Listen, dataDir: &cfg.DataDir, adv: &cfg.AdvertisedListener} {
		if *flagVal != "" {
			*dst = *flagVal
		}
	}
	if err := cf.apply(&cfg, *listen, *adv); err != nil {
		return cfg, cf, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, cf, err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
	return cfg, cf, cfg.Validate()
}

func runServe(args []string) error {
	cfg, cf, err := loadConfig(args)
	if err != nil {
		return err
	}
	userAdvertised := cfg.AdvertisedListener != cfg.Listen
	log := slog.Default()
	node, err := cf.startNode(cfg, log)
	if err != nil {
		return err
	}
	b, err := engine.Open(cfg, nil, log)
	if err != nil {
		node.Close()
		return err
	}
	if err := cf.join(b, node, log); err != nil {
		b.Close()
		node.Close()
		return err
	}
	// Listen before registering: a broker is eligible to lead only once
	// its logs are recovered and clients and followers can reach it.
	opts := serve.Options(cfg)
	opts.Logger = log
	srv := netio.NewServer(opts, serve.Handler(b))
	if err := srv.Start(); err != nil {
		b.Close()
		node.Close()
		return err
	}
	if !userAdvertised {
		b.SetAdvertisedListener(srv.Addr())
	}
	repl, err := startReplicationListener(cf, opts, b, log)
	if err != nil {
		err = errors.Join(err, srv.Stop(context.Background()), b.Close())
		node.Close()
		return err
	}
	var admin *adminServer
	if cf.adminAddr != "" {
		if admin, err = startAdmin(cf.adminAddr, b, srv, log); err != nil {
			err = errors.Join(err, srv.Stop(context.Background()), b.Close())
			node.Close()
			return err
		}
	}
	if err := cf.registerBroker(node, log); err != nil {
		err = errors.Join(err, admin.stop(context.Background()), stopServer(context.Background(), repl), srv.Stop(context.Background()), b.Close())
		node.Close()
		return err
	}
	log.Info("chronik serving", "listen", srv.Addr(), "data_dir", cfg.DataDir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	if cfg.Replication.ControlledShutdown {
		cf.controlledShutdown(node, sig, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errAdmin := admin.stop(ctx)
	errRepl := stopServer(ctx, repl)
	errStop := srv.Stop(ctx)
	errClose := b.Close()
	node.Close()
	if err := errors.Join(errAdmin, errRepl, errStop, errClose); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("shutdown clean")
	return nil
}
