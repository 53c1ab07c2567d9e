package engine_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/netio"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminHandler adapts an engine.Broker to netio.Handler. It stands in for
// netio.BrokerHandler until that lands.
type adminHandler struct{ b *engine.Broker }

func (h adminHandler) Handle(r *netio.Request, respond netio.Responder) error {
	return h.b.Handle(&engine.Request{
		Key: r.Key, Version: r.Version, CorrelationID: r.CorrelationID,
		ClientID: r.ClientID, Body: r.Body,
	}, func(resp kmsg.Response) { respond(resp) })
}

// adminBroker is a broker served over TCP on 127.0.0.1 for one test.
type adminBroker struct {
	addr string
	b    *engine.Broker
	srv  *netio.Server
	dir  string
}

// startAdminBroker opens an engine on dir (a new temp dir when "") and
// serves it; the broker stops at the end of the test unless stopped before.
func startAdminBroker(t *testing.T, dir string, mut ...func(*engine.Config)) *adminBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := engine.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	for _, m := range mut {
		m(&cfg)
	}
	b, err := engine.Open(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	srv := netio.NewServer(netio.Options{Addr: "127.0.0.1:0", Multicore: true}, adminHandler{b})
	if err := srv.Start(); err != nil {
		b.Close()
		t.Fatalf("netio start: %v", err)
	}
	b.SetAdvertisedListener(srv.Addr())
	ab := &adminBroker{addr: srv.Addr(), b: b, srv: srv, dir: dir}
	t.Cleanup(ab.stop)
	return ab
}

func (ab *adminBroker) stop() {
	if ab.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ab.srv.Stop(ctx)
	ab.b.Close()
	ab.srv = nil
}
