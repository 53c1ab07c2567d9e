package engine_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGroupCommit measures OffsetCommit latency end to end (franz-go
// client -> broker -> __consumer_offsets append + fdatasync -> response),
// one commit in flight at a time. ns/op is the mean; p50/p99 are reported.
//
//	go test -run '^$' -bench BenchmarkGroupCommit -benchtime 2000x ./engine
func BenchmarkGroupCommit(b *testing.B) {
	tb := startBroker(b, fastGroups)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "bench-commit"); err != nil {
		b.Fatal(err)
	}
	commit := func(i int) {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "bench-commit", Partition: 0, At: int64(i), LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, "bench", os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	commit(0) // creates __consumer_offsets and the group
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		commit(i + 1)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkGroupRebalance3 measures, per iteration, the time from starting
// three franz-go members of a new group (range balancer) until each of them
// has consumed its first record: join, sync, offset fetch and first fetch.
// delay is group.initial.rebalance.delay.ms (Kafka's default is 3000).
//
//	go test -run '^$' -bench BenchmarkGroupRebalance3 -benchtime 5x ./engine
func BenchmarkGroupRebalance3(b *testing.B) {
	for _, delay := range []int64{0, 3000} {
		b.Run(fmt.Sprintf("initial-delay-ms=%d", delay), func(b *testing.B) {
			tb := startBroker(b, func(c *engine.Config) { c.GroupInitialRebalanceMs = delay })
			prod, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				b.Fatal(err)
			}
			defer prod.Close()
			ctx := context.Background()
			if _, err := kadm.NewClient(prod).CreateTopics(ctx, 3, 1, nil, "bench-rebalance"); err != nil {
				b.Fatal(err)
			}
			for p := range int32(3) {
				if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "bench-rebalance", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
			var total time.Duration
			b.ResetTimer()
			for i := range b.N {
				total += timeThreeMembers(b, tb.addr, fmt.Sprintf("rebalance-%d", i))
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/join-to-first-record")
		})
	}
}

func timeThreeMembers(b *testing.B, addr, group string) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	clients := make([]*kgo.Client, 3)
	for m := range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("bench-rebalance"),
			kgo.Balancers(kgo.RangeBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit()) // nothing committed: whoever owns a partition reads its record
		if err != nil {
			b.Fatal(err)
		}
		clients[m] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for len(cl.PollFetches(ctx).Records()) == 0 && ctx.Err() == nil {
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, cl := range clients {
		cl.Close()
	}
	return elapsed
}
