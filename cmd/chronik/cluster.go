package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/internal/serve"
	"github.com/chronik/chronik/netio"
	"github.com/chronik/chronik/raftmeta"
)

// clusterFlags are serve's cluster options. Without --cluster the broker is
// standalone and none of this runs.
type clusterFlags struct {
	file    *string
	nodeID  *int
	members []raftmeta.Member
	self    raftmeta.Member

	adminAddr string // --admin-listen; carried with the other flags that are not engine.Config

	// --replication-listen, --raft-listen: where this node binds its
	// replication and Raft listeners when that is not the address the
	// cluster config gives its peers (a proxy in between, e.g. the chaos
	// testbed's fault-injecting links). Empty: the cluster config's.
	replListen *string
	raftListen *string
}

func (cf *clusterFlags) register(fs *flag.FlagSet) {
	cf.file = fs.String("cluster", "", "cluster config file listing every node (id kafka replication raft [rack]); empty: standalone")
	cf.nodeID = fs.Int("node-id", -1, "this broker's id in the cluster config (with --cluster)")
	cf.replListen = fs.String("replication-listen", "", "host:port the replication listener binds (default: this node's replication address in the cluster config, which peers dial)")
	cf.raftListen = fs.String("raft-listen", "", "host:port the Raft transport binds (default: this node's Raft address in the cluster config, which peers dial)")
}

func (cf *clusterFlags) on() bool { return cf.file != nil && *cf.file != "" }

// apply reads the cluster config and sets this node's id and Kafka address
// (flags given explicitly win).
func (cf *clusterFlags) apply(cfg *engine.Config, listenFlag, advFlag string) error {
	if !cf.on() {
		if *cf.nodeID >= 0 || *cf.replListen != "" || *cf.raftListen != "" {
			return errors.New("--node-id, --replication-listen and --raft-listen need --cluster")
		}
		return nil
	}
	body, err := os.ReadFile(*cf.file)
	if err != nil {
		return err
	}
	if cf.members, err = raftmeta.ParseClusterConfig(string(body)); err != nil {
		return fmt.Errorf("%s: %w", *cf.file, err)
	}
	found := false
	for _, m := range cf.members {
		if int(m.ID) == *cf.nodeID {
			cf.self, found = m, true
		}
	}
	if !found {
		return fmt.Errorf("--node-id %d is not in %s", *cf.nodeID, *cf.file)
	}
	cfg.NodeID = cf.self.ID
	cfg.Clustered = true
	if cfg.Rack != "" && cfg.Rack != cf.self.Rack {
		// The metadata (and so every client and the replica placement)
		// knows the rack from the cluster config only.
		return fmt.Errorf("broker.rack=%q but %s gives node %d rack %q: set the rack in the cluster config", cfg.Rack, *cf.file, cf.self.ID, cf.self.Rack)
	}
	cfg.Rack = cf.self.Rack
	if listenFlag == "" {
		cfg.Listen = cf.self.KafkaAddr
	}
	if advFlag == "" {
		cfg.AdvertisedListener = cf.self.KafkaAddr
	}
	return nil
}

// startNode starts this broker's metadata node (nil standalone). A data
// directory that already served a standalone broker is refused: its topics
// are not in the cluster metadata and joining would delete them.
func (cf *clusterFlags) startNode(cfg engine.Config, log *slog.Logger) (*raftmeta.Node, error) {
	if !cf.on() {
		return nil, nil
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if _, err := os.Stat(raftDir); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "meta.json")); err == nil {
			return nil, fmt.Errorf("data dir %s holds a standalone broker's data; use a fresh one for a cluster node", cfg.DataDir)
		}
	}
	start := time.Now()
	node, err := raftmeta.Start(raftmeta.Options{
		NodeID:                       cf.self.ID,
		Members:                      cf.members,
		Dir:                          raftDir,
		ListenAddr:                   *cf.raftListen,
		HeartbeatInterval:            time.Duration(cfg.BrokerHeartbeatMs) * time.Millisecond,
		SessionTimeout:               time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond,
		ElectionTimeout:              time.Duration(cfg.ControllerElectionTimeoutMs) * time.Millisecond,
		AutoLeaderRebalance:          cfg.Replication.AutoLeaderRebalance,
		LeaderImbalanceCheckInterval: time.Duration(cfg.Replication.LeaderImbalanceCheckSeconds) * time.Second,
		Logger:                       log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("metadata node started", "node", cf.self.ID, "raft", cf.self.RaftAddr, "voters", len(cf.members), "took", time.Since(start))
	return node, nil
}

// join waits until this broker's metadata node has applied every committed
// change (a quorum of the cluster is up) and hands the metadata to the
// engine: it opens its replicas, takes their leaderships and starts
// following the others. The broker is not yet eligible to lead anything
// new (register does that). It waits as long as it takes: a broker of a
// cluster without quorum has nothing to serve. SIGINT/SIGTERM abort it.
func (cf *clusterFlags) join(b *engine.Broker, node *raftmeta.Node, log *slog.Logger) error {
	if node == nil {
		return nil
	}
	start := time.Now()
	ctx, stop := signalContext()
	defer stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := node.Sync(sctx)
		cancel()
		if err == nil {
			log.Info("metadata caught up", "node", cf.self.ID, "waited", time.Since(start))
			return b.JoinCluster(node, clusterID(cf.members))
		}
		if ctx.Err() != nil {
			return errors.New("interrupted while waiting for a metadata quorum")
		}
		log.Info("waiting for a metadata quorum", "node", cf.self.ID, "waited", time.Since(start).Round(time.Second), "err", err)
	}
}

// registerBroker makes this broker eligible to lead (a new registration epoch)
// and starts its heartbeats to the controller.
func (cf *clusterFlags) registerBroker(node *raftmeta.Node, log *slog.Logger) error {
	if node == nil {
		return nil
	}
	ctx, stop := signalContext()
	defer stop()
	start := time.Now()
	if err := node.Register(ctx); err != nil {
		return err
	}
	log.Info("joined cluster", "node", cf.self.ID, "registration", time.Since(start))
	return nil
}

// controlledShutdownTimeout bounds how long SIGTERM waits for the
// controller to move this broker's leaderships away before stopping anyway.
const controlledShutdownTimeout = 30 * time.Second

// controlledShutdown asks the controller to move this broker's
// leaderships to other in-sync replicas and take it out of the ISRs, and
// waits until it leads nothing (clients and followers move over while it
// still serves). A second signal stops at once.
func (cf *clusterFlags) controlledShutdown(node *raftmeta.Node, sig <-chan os.Signal, log *slog.Logger) {
	if node == nil {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := node.ControlledShutdown(ctx); err != nil {
		log.Warn("controlled shutdown incomplete; stopping anyway", "err", err, "waited", time.Since(start))
		return
	}
	log.Info("controlled shutdown: leaderships moved", "took", time.Since(start))
}

// clusterID derives the Kafka cluster id from the cluster config, so every
// node reports the same one: 16 bytes of its SHA-256, URL-safe base64.
func clusterID(ms []raftmeta.Member) string {
	sum := sha256.Sum256([]byte(raftmeta.FormatClusterConfig(ms)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// startReplicationListener serves Kafka on this node's replication address
// (cluster config) for the followers' fetches: the same engine and
// handler as the client listener, so one fetch path serves consumers and
// followers. nil standalone.
func startReplicationListener(cf clusterFlags, opts netio.Options, b *engine.Broker, log *slog.Logger) (*netio.Server, error) {
	if !cf.on() || cf.self.ReplicationAddr == "" || cf.self.ReplicationAddr == cf.self.KafkaAddr {
		return nil, nil
	}
	opts.Addr = cf.self.ReplicationAddr
	if *cf.replListen != "" {
		opts.Addr = *cf.replListen
	}
	srv := netio.NewServer(opts, serve.Handler(b))
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("replication listener %s: %w", opts.Addr, err)
	}
	log.Info("replication listener", "addr", srv.Addr())
	return srv, nil
}

// stopServer stops srv if there is one.
func stopServer(ctx context.Context, srv *netio.Server) error {
	if srv == nil {
		return nil
	}
	return srv.Stop(ctx)
}
