package itest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cluster side of the failover scenarios: starting the shared
// cluster, reading partition state from Metadata, waiting for elections
// and for a healthy cluster, and what to print when a scenario fails.

// foClusterProps are the brokers' settings in the failover scenarios:
// Chronik's liveness defaults (heartbeat 100 ms, session 1 s, preferred
// leaders checked every 5 s), a small __consumer_offsets with three
// replicas per partition, quick first rebalances, and follower fetches of
// 64 KiB per partition (1 MiB by default): plenty for the load, and a
// replica catching up on 5 MB takes tens of round trips instead of a
// handful, so the catch-up can be watched (LostLogDirRejoinsISROnlyCaughtUp).
var foClusterProps = map[string]string{
	"offsets.topic.num.partitions":     "6",
	"offsets.topic.replication.factor": "3",
	"group.initial.rebalance.delay.ms": "100",
	"replica.fetch.max.bytes":          "65536",
}

// startFailoverCluster starts 3 brokers with admin listeners, reaped at
// test end. On failure the live brokers' goroutine dumps are taken, every
// broker's log tail is printed, and the cluster directory (whole logs,
// data) is kept for diagnosis; otherwise it is removed, unless
// CHRONIK_FAILOVER_KEEP=1. With CHRONIK_FAILOVER_KGO_LOG=1 the load's
// clients log (info level) into the cluster directory, kgo-<topic>.log;
// CHRONIK_FAILOVER_LOG_LEVEL sets the brokers' --log-level.
func startFailoverCluster(t *testing.T) *testbed.Cluster {
	t.Helper()
	return startFailoverClusterOf(t, binaryPath(t))
}

// startFailoverClusterOf is startFailoverCluster running bin.
func startFailoverClusterOf(t *testing.T, bin string) *testbed.Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "chronik-failover-")
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	if lvl := os.Getenv("CHRONIK_FAILOVER_LOG_LEVEL"); lvl != "" {
		extra = []string{"--log-level", lvl}
	}
	c, err := testbed.Start(testbed.Config{Bin: bin, Nodes: 3, Dir: dir, Properties: foClusterProps, Admin: true, ExtraArgs: extra})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpGoroutines(t, c)
		}
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs())
		}
		if t.Failed() || os.Getenv("CHRONIK_FAILOVER_KEEP") == "1" {
			t.Logf("cluster directory kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return c
}

// dumpGoroutines writes every live broker's goroutine dump next to its
// log, and names the files.
func dumpGoroutines(t *testing.T, c *testbed.Cluster) {
	for _, n := range c.Nodes {
		if n.Proc.Pid() == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr+"/debug/pprof/goroutine?debug=2", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			path := filepath.Join(filepath.Dir(n.Proc.LogPath), "goroutines.txt")
			if os.WriteFile(path, body, 0o644) == nil {
				t.Logf("broker %d goroutines: %s", n.ID, path)
			}
		}
		cancel()
	}
}

// foMustMetadata is partitionsAt through any live broker, failing the test
// on error.
func foMustMetadata(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string) map[int32]partState {
	t.Helper()
	var err error
	for _, n := range c.Nodes {
		if n.Proc.Pid() == 0 {
			continue
		}
		var md map[int32]partState
		if md, err = partitionsAt(ctx, n.KafkaAddr, topic); err == nil {
			return md
		}
	}
	t.Fatalf("metadata of %s: %v", topic, err)
	return nil
}

// foWaitPartition polls broker from's Metadata every 5 ms until cond
// holds for topic-p, and returns that state.
func foWaitPartition(t *testing.T, ctx context.Context, c *testbed.Cluster, from int32, topic string, p int32, what string, cond func(partState) bool) partState {
	t.Helper()
	var last partState
	var err error
	for {
		var md map[int32]partState
		if md, err = partitionsAt(ctx, c.Node(from).KafkaAddr, topic); err == nil {
			if last = md[p]; cond(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s-%d as broker %d sees it: %+v (err %v)", what, topic, p, from, last, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// foLedBy returns the partitions of md that broker id leads, sorted.
func foLedBy(md map[int32]partState, id int32) []int32 {
	var ps []int32
	for p, pi := range md {
		if pi.Leader == id {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// foOther returns a node id other than those listed.
func foOther(not ...int32) int32 {
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(not, id) {
			return id
		}
	}
	return -1
}

// foHeal brings the cluster back to health before a scenario: every node
// running and every partition of every topic led, with its whole replica
// set in the ISR, as every broker sees it.
func foHeal(t *testing.T, ctx context.Context, c *testbed.Cluster) {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Proc.Pid() == 0 {
			if err := c.Restart(ctx, n.ID); err != nil {
				t.Fatalf("restart broker %d: %v", n.ID, err)
			}
		}
	}
	foWaitFullISR(t, ctx, c, "every replica back in the ISR")
}

// foWaitFullISR waits until every broker reports every partition of
// every topic led and with its whole replica set in the ISR.
func foWaitFullISR(t *testing.T, ctx context.Context, c *testbed.Cluster, what string) {
	t.Helper()
	var last string
	for {
		if last = notFullISR(ctx, c); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", what, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// notFullISR returns "" if every broker reports every partition led and
// fully in sync, else the first that is not.
func notFullISR(ctx context.Context, c *testbed.Cluster) string {
	for _, n := range c.Nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr), kgo.RequestRetries(0))
		if err != nil {
			return err.Error()
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl) // nil topics: all of them
		cancel()
		cl.Close()
		if err != nil {
			return fmt.Sprintf("broker %d: %v", n.ID, err)
		}
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
					return fmt.Sprintf("broker %d: %s-%d leader %d ISR %v replicas %v (%v)", n.ID, *tp.Topic, p.Partition,
						p.Leader, p.ISR, p.Replicas, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
	}
	return ""
}

// foCreateTopic creates topic with parts partitions of 3 replicas and the
// given configs through broker 1, and waits until every broker knows it.
func foCreateTopic(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, parts int32, configs map[string]string) {
	t.Helper()
	createTopicWith(t, ctx, c.Node(1).KafkaAddr, topic, parts, 3, configs, nil)
	waitAllKnow(t, ctx, c, topic, int(parts))
}

// foController is the controller's id as a live broker reports it.
func foController(t *testing.T, c *testbed.Cluster) int32 {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Proc.Pid() != 0 {
			return controllerOf(t, n.KafkaAddr)
		}
	}
	t.Fatal("no live broker")
	return -1
}

// foMetric returns the value of the metric line starting with name (and
// its labels) in broker id's /metrics, false if absent.
func foMetric(t *testing.T, ctx context.Context, c *testbed.Cluster, id int32, name string) (string, bool) {
	t.Helper()
	body, err := c.Metrics(ctx, id)
	if err != nil {
		t.Fatalf("metrics of broker %d: %v", id, err)
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return rest, true
		}
	}
	return "", false
}
