package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Follower bandwidth: ISR-filtered fetching (each follower fetches only
// the partitions it is a replica of) against the lab's whole-node mode
// (replica.fetch.whole.node.enable: each follower also reads, and
// discards, every other partition of its leaders; the seeds' phase 1).

// bandwidth is one cluster's follower traffic after a produce run.
type bandwidth struct {
	received, owned, notLed map[int32]int64 // per broker: socket bytes, followed record bytes, record bytes of every partition led elsewhere
	observed                map[int32]float64
}

// measureBandwidth creates topic (parts partitions, rf replicas) on a
// fresh cluster of nodes brokers with props, produces n acks=-1 records of 100 B
// round-robin, waits until every replica equals its leader, and returns
// what each broker read as a follower.
func measureBandwidth(t testing.TB, ctx context.Context, nodes int, props map[string]string, parts int32, rf int16, n int) bandwidth {
	t.Helper()
	c := startTestbed(t, testbed.Config{Nodes: nodes, Properties: clusterProps(props), Admin: true})
	const topic = "bandwidth"
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, parts, rf, replicatedTopicConfigs, nil)
	waitPartitions(t, ctx, c.Node(1).KafkaAddr, topic, "created", fullISR)
	before := receivedBytes(t, ctx, c)
	cl := newClient(t, c.Node(1).KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	book := newAckBook()
	produceRoundRobin(ctx, book, cl, topic, 0, 0, n, int(parts))
	book.wait(t, ctx)
	ps := waitReplicasEqual(t, ctx, c, topic, nil)
	// The last fetches of observed partitions may still be in flight.
	time.Sleep(time.Second)
	after := receivedBytes(t, ctx, c)
	bw := bandwidth{received: map[int32]int64{}, owned: map[int32]int64{}, notLed: map[int32]int64{}, observed: map[int32]float64{}}
	for _, node := range c.Nodes {
		bw.received[node.ID] = after[node.ID] - before[node.ID]
		bw.owned[node.ID] = followedBytes(t, node, topic, ps)
		for p, st := range ps {
			if st.Leader == node.ID {
				continue
			}
			if _, err := eachBatch(partitionDir(c.Node(st.Leader), topic, p), func(h wal.BatchHeader) { bw.notLed[node.ID] += h.Size() }); err != nil {
				t.Fatal(err)
			}
		}
		bw.observed[node.ID] = scrape(t, ctx, c, node.ID)["chronik_replication_observed_bytes_total"]
	}
	return bw
}

func sum[V int64 | float64](m map[int32]V) V {
	var s V
	for _, v := range m {
		s += v
	}
	return s
}

// With RF=2 on 3 brokers each broker follows half of the partitions led
// elsewhere. ISR-filtered, a follower reads about its owned share;
// whole-node, every byte led elsewhere, the part it holds no replica of
// counted as observed. Fails if whole-node fetches only what it owns
// (the switch ignored) or if ISR-filtered fetching reads partitions it
// does not own.
func TestFollowerBandwidthWholeNodeVersusISRFiltered(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	const parts, rf, n = 6, 2, 3000
	filtered := measureBandwidth(t, ctx, 3, nil, parts, rf, n)
	whole := measureBandwidth(t, ctx, 3, wholeNode, parts, rf, n)
	for id := int32(1); id <= 3; id++ {
		f, w := filtered, whole
		t.Logf("broker %d: filtered read %d for %d owned; whole-node read %d for %d owned, %d led elsewhere, %.0f observed",
			id, f.received[id], f.owned[id], w.received[id], w.owned[id], w.notLed[id], w.observed[id])
		if r := float64(f.received[id]) / float64(f.owned[id]); r > 1.3 {
			t.Errorf("ISR-filtered broker %d read %.2fx its owned bytes", id, r)
		}
		if f.observed[id] != 0 {
			t.Errorf("ISR-filtered broker %d observed %v bytes", id, f.observed[id])
		}
		if w.received[id] < w.notLed[id] {
			t.Errorf("whole-node broker %d read %d bytes, less than the %d record bytes led elsewhere", id, w.received[id], w.notLed[id])
		}
		if want := float64(w.notLed[id] - w.owned[id]); w.observed[id] < want {
			t.Errorf("whole-node broker %d observed %v record bytes, want the %v it holds no replica of", id, w.observed[id], want)
		}
	}
}

var wholeNode = map[string]string{"replica.fetch.whole.node.enable": "true"}

// BenchmarkFollowerBandwidth: the seeds' phase 3 table measured: bytes
// each follower read from its leaders' sockets over the record bytes it
// owns, ISR-filtered and whole-node, and the saving (1 - filtered /
// whole-node), on 3 brokers with 9 partitions at RF=2 and RF=3, and on 5
// brokers with 30 partitions at RF=3.
//
//	make build && CHRONIK_BIN=$PWD/bin/chronik go test -run '^$' -bench FollowerBandwidth -benchtime 1x ./itest
func BenchmarkFollowerBandwidth(b *testing.B) {
	ctx := context.Background()
	const n = 20_000
	for _, row := range []struct {
		nodes int
		parts int32
		rf    int16
	}{{3, 9, 2}, {3, 9, 3}, {5, 30, 3}} {
		b.Run(fmt.Sprintf("brokers=%d/partitions=%d/rf=%d", row.nodes, row.parts, row.rf), func(b *testing.B) {
			var f, w bandwidth
			for i := 0; i < b.N; i++ {
				f = measureBandwidth(b, ctx, row.nodes, nil, row.parts, row.rf, n)
				w = measureBandwidth(b, ctx, row.nodes, wholeNode, row.parts, row.rf, n)
			}
			fr, wr := float64(sum(f.received)), float64(sum(w.received))
			b.ReportMetric(fr/float64(sum(f.owned)), "filtered-read/owned")
			b.ReportMetric(wr/float64(sum(w.owned)), "whole-node-read/owned")
			b.ReportMetric(1-fr/wr, "saving")
			for id := int32(1); id <= int32(row.nodes); id++ {
				b.Logf("broker %d: filtered %d B for %d owned, whole-node %d B", id, f.received[id], f.owned[id], w.received[id])
			}
		})
	}
}
