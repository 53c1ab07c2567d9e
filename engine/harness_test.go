package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/internal/serve"
	"github.com/chronik/chronik/netio"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testBroker is an in-process broker: engine + netio on a free port.
type testBroker struct {
	t    testing.TB
	cfg  engine.Config
	fs   wal.FS
	b    *engine.Broker
	srv  *netio.Server
	addr string
}

// startBroker opens an engine on a fresh data dir (or the one in a mutator)
// and serves it on 127.0.0.1:0. It is stopped at test cleanup.
func startBroker(t testing.TB, mutators ...func(*engine.Config)) *testBroker {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	for _, m := range mutators {
		m(&cfg)
	}
	tb := &testBroker{t: t, cfg: cfg, fs: wal.OSFS()}
	tb.start()
	t.Cleanup(tb.stop)
	return tb
}

func (tb *testBroker) start() {
	tb.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	b, err := engine.Open(tb.cfg, tb.fs, logger)
	if err != nil {
		tb.t.Fatalf("open engine: %v", err)
	}
	addr := tb.cfg.Listen
	if tb.addr != "" {
		addr = tb.addr // restart on the same port
	}
	opts := serve.Options(tb.cfg)
	opts.Addr, opts.IdleTimeout, opts.Logger = addr, time.Minute, logger
	srv := netio.NewServer(opts, serve.Handler(b))
	if err := srv.Start(); err != nil {
		b.Close()
		tb.t.Fatalf("start server: %v", err)
	}
	b.SetAdvertisedListener(srv.Addr())
	tb.b, tb.srv, tb.addr = b, srv, srv.Addr()
}

// stop shuts the server and engine down cleanly (idempotent).
func (tb *testBroker) stop() {
	if tb.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tb.srv.Stop(ctx); err != nil {
		tb.t.Errorf("stop server: %v", err)
	}
	if err := tb.b.Close(); err != nil {
		tb.t.Errorf("close engine: %v", err)
	}
	tb.srv, tb.b = nil, nil
}

// restart stops cleanly and starts again on the same data dir and port.
func (tb *testBroker) restart() {
	tb.t.Helper()
	tb.stop()
	tb.start()
}

// client returns a kgo client for the broker, closed at cleanup.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(tb.addr), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
