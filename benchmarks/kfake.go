package benchmarks

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// ServeKfake runs a one-broker kfake cluster until SIGTERM or SIGINT. It is
// the body of `chronik-bench kfake-serve`: the lab runs kfake as its own
// process so that its CPU time and RSS can be read from /proc exactly as
// Chronik's are.
//
//	--listen 127.0.0.1:PORT   address (kfake always binds 127.0.0.1)
//	--data-dir DIR            persist to DIR (kfake.DataDir); default in memory
//	--sync                    fsync every batch (kfake.SyncWrites); needs --data-dir
//
// Once listening it prints "kfake listening ADDR" on stdout.
func ServeKfake(args []string) error {
	fs := flag.NewFlagSet("kfake-serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "127.0.0.1:PORT to listen on")
	dataDir := fs.String("data-dir", "", "persistence directory (default: in memory)")
	sync := fs.Bool("sync", false, "fsync every produced batch (needs --data-dir)")
	partitions := fs.Int("num-partitions", 1, "partitions of an auto-created topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("--listen %q: want 127.0.0.1:PORT", *listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	if *sync && *dataDir == "" {
		return fmt.Errorf("--sync needs --data-dir")
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions)}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *sync {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	fmt.Printf("kfake listening %s\n", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
	return nil
}
