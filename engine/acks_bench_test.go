package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/internal/serve"
	"github.com/chronik/chronik/netio"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkAcksRatio measures, in one run, the throughput of many
// concurrent franz-go producers of 100 B records over 16 partitions with
// acks=1 and with acks=-1 (group commit), alternating 2 s phases, against
// the broker (engine + netio) on loopback. It reports records/s for each,
// their ratio, and the WAL's appends per fsync during the acks=-1 phases.
// Run with -benchtime 1x:
//
//	go test ./engine -run '^$' -bench AcksRatio -benchtime 1x
func BenchmarkAcksRatio(b *testing.B) {
	const partitions, producers, phase = 16, 32, 2 * time.Second
	cfg := engine.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.NumPartitions = b.TempDir(), "127.0.0.1:0", partitions
	br, err := engine.Open(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	opts := serve.Options(cfg)
	opts.IdleTimeout, opts.Logger = time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := netio.NewServer(opts, serve.Handler(br))
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(context.Background())
	br.SetAdvertisedListener(srv.Addr())

	var recs [2]int64 // acks=1, acks=-1
	var syncs, appends int64
	for range b.N {
		for round := range 4 {
			all := round%2 == 1
			before := br.WALStats()
			n := produceFor(b, srv.Addr(), all, producers, phase)
			after := br.WALStats()
			if all {
				recs[1] += n
				syncs += after.Syncs - before.Syncs
				appends += after.SyncedAppends - before.SyncedAppends
			} else {
				recs[0] += n
			}
		}
	}
	secs := float64(b.N) * 2 * phase.Seconds()
	b.ReportMetric(float64(recs[0])/secs, "acks1-rec/s")
	b.ReportMetric(float64(recs[1])/secs, "acksall-rec/s")
	b.ReportMetric(float64(recs[1])/float64(max(recs[0], 1)), "ratio")
	b.ReportMetric(float64(appends)/float64(max(syncs, 1)), "appends/fsync")
}

// produceFor runs producers kgo clients producing 100 B records to topic
// "ratio" (round-robin over its partitions) for d and returns the records
// acknowledged without error.
func produceFor(b *testing.B, addr string, acksAll bool, producers int, d time.Duration) int64 {
	acks := kgo.LeaderAck()
	if acksAll {
		acks = kgo.AllISRAcks()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	for range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite(),
			kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.ProducerLinger(0), kgo.MaxBufferedRecords(2000))
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer cl.Close()
			val := make([]byte, 100)
			for ctx.Err() == nil {
				cl.Produce(ctx, &kgo.Record{Topic: "ratio", Value: val}, func(_ *kgo.Record, err error) {
					if err == nil {
						acked.Add(1)
					} else if ctx.Err() == nil {
						failed.Add(1)
					}
				})
			}
			cl.Flush(context.Background())
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatal(fmt.Sprintf("%d records failed", failed.Load()))
	}
	return acked.Load()
}
