package itest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkReplicatedProduce: the same franz-go producer workload (the
// default idempotent acks=-1 producer, 100 B values, round-robin over 9
// partitions, 20,000 records per op) against one standalone broker and a
// 3-broker cluster (RF=3, min.insync.replicas=2), alternating in one run.
// It reports both rates, their ratio (goal >= 0.6), and for each follower
// the bytes it read from its leaders' replication sockets over the record
// bytes of the partitions it follows (goal <= 1.05).
//
//	make build && CHRONIK_BIN=$PWD/bin/chronik go test -run '^$' -bench ReplicatedProduce -benchtime 5x ./itest
func BenchmarkReplicatedProduce(b *testing.B) {
	const parts, perOp = 9, 20_000
	ctx := context.Background()
	single := StartBroker(b, Options{})
	c := startClusterWith(b, clusterProps(nil), true)
	const topic = "bench-replicated"
	createTopicWith(b, ctx, single.Addr(), topic, parts, 1, nil, nil)
	createTopicWith(b, ctx, c.Node(1).KafkaAddr, topic, parts, 3, replicatedTopicConfigs, nil)
	waitPartitions(b, ctx, c.Node(1).KafkaAddr, topic, "created", fullISR)
	newProducer := func(addr string) *kgo.Client {
		return newClient(b, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	singleCl, clusterCl := newProducer(single.Addr()), newProducer(c.Node(1).KafkaAddr)
	// Warm up both (connections, metadata, producer ids).
	produceTimed(b, ctx, singleCl, topic, parts, 0, 1000)
	produceTimed(b, ctx, clusterCl, topic, parts, 0, 1000)
	ps := waitReplicasEqual(b, ctx, c, topic, nil)
	recvBefore := receivedBytes(b, ctx, c)
	ownedBefore := map[int32]int64{}
	for _, n := range c.Nodes {
		ownedBefore[n.ID] = followedBytes(b, n, topic, ps)
	}

	var singleDur, clusterDur time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := 1000 + i*perOp
		if i%2 == 0 {
			singleDur += produceTimed(b, ctx, singleCl, topic, parts, seq, perOp)
			clusterDur += produceTimed(b, ctx, clusterCl, topic, parts, seq, perOp)
		} else {
			clusterDur += produceTimed(b, ctx, clusterCl, topic, parts, seq, perOp)
			singleDur += produceTimed(b, ctx, singleCl, topic, parts, seq, perOp)
		}
	}
	b.StopTimer()
	n := float64(b.N * perOp)
	b.ReportMetric(n/singleDur.Seconds(), "standalone-msg/s")
	b.ReportMetric(n/clusterDur.Seconds(), "cluster-msg/s")
	b.ReportMetric(singleDur.Seconds()/clusterDur.Seconds(), "cluster/standalone")

	if after := waitReplicasEqual(b, ctx, c, topic, nil); fmt.Sprint(after) != fmt.Sprint(ps) {
		b.Fatalf("leadership moved during the run: %v, then %v", ps, after)
	}
	recvAfter := receivedBytes(b, ctx, c)
	worst := 0.0
	for _, n := range c.Nodes {
		owned := followedBytes(b, n, topic, ps) - ownedBefore[n.ID]
		got := recvAfter[n.ID] - recvBefore[n.ID]
		ratio := float64(got) / float64(owned)
		b.Logf("broker %d read %d bytes from its leaders for %d record bytes it follows (%.4f)", n.ID, got, owned, ratio)
		worst = max(worst, ratio)
	}
	b.ReportMetric(worst, "follower-read/owned")
}

// produceTimed produces n records (seqs from seq) round-robin over parts
// partitions and returns how long until the last acknowledgement.
func produceTimed(b *testing.B, ctx context.Context, cl *kgo.Client, topic string, parts, seq, n int) time.Duration {
	b.Helper()
	book := newAckBook()
	start := time.Now()
	produceRoundRobin(ctx, book, cl, topic, 0, seq, n, parts)
	book.wait(b, ctx)
	return time.Since(start)
}

// receivedBytes sums chronik_replication_received_bytes_total (bytes read
// from leaders' replication sockets) of each broker's /metrics.
func receivedBytes(b *testing.B, ctx context.Context, c *testbed.Cluster) map[int32]int64 {
	b.Helper()
	out := map[int32]int64{}
	for _, n := range c.Nodes {
		text, err := c.Metrics(ctx, n.ID)
		if err != nil {
			b.Fatalf("metrics of broker %d: %v", n.ID, err)
		}
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "chronik_replication_received_bytes_total{") {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				b.Fatalf("metrics line %q: %v", line, err)
			}
			out[n.ID] += int64(v)
		}
	}
	return out
}

// followedBytes is the record bytes, on broker n's disk, of the
// partitions of topic it follows (is a replica of and does not lead).
func followedBytes(b *testing.B, n *testbed.Node, topic string, ps map[int32]partState) int64 {
	b.Helper()
	var total int64
	for p, st := range ps {
		if st.Leader == n.ID || !slices.Contains(st.Replicas, n.ID) {
			continue
		}
		if _, err := eachBatch(partitionDir(n, topic, p), func(h wal.BatchHeader) { total += h.Size() }); err != nil {
			b.Fatal(err)
		}
	}
	if total == 0 {
		b.Fatalf("broker %d follows no bytes of %s", n.ID, topic)
	}
	return total
}
