package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Other clients through a failover: librdkafka (confluent-kafka-python)
// and kafkajs recover from a leader kill on their own.

// interopDelivery is what the failover producer scripts print.
type interopDelivery struct {
	Delivered [][3]any `json:"delivered"` // key, partition, offset
	Errors    []string `json:"errors"`
}

// testLibrdkafkaProducesThroughLeaderKill: an idempotent acks=all
// confluent-kafka-python producer streams 6,000 records at 1,000 a second
// to a partition (RF=3, min.insync.replicas=2) whose leader is killed
// with SIGKILL a quarter of the way in and restarted. Every record is
// delivered without an error, each exactly once, at its reported offset,
// in produce order.
func testLibrdkafkaProducesThroughLeaderKill(t *testing.T, c *testbed.Cluster) {
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	const topic, n = "fo-librdkafka", 6000
	produceThroughLeaderKill(t, c, topic, n, func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, "/usr/bin/python3", "testdata/confluent_failover.py", "--bootstrap",
			strings.Join(c.Addrs(), ","), "--topic", topic, "--count", fmt.Sprint(n), "--rate", "1000", "--timeout", "60")
	})
}

// testKafkaJSProducesThroughLeaderKill is
// testLibrdkafkaProducesThroughLeaderKill with an idempotent kafkajs
// producer (sends of 10 records, one at a time).
func testKafkaJSProducesThroughLeaderKill(t *testing.T, c *testbed.Cluster) {
	nodePath := requireKafkaJS(t)
	const topic, n = "fo-kafkajs", 6000
	produceThroughLeaderKill(t, c, topic, n, func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "node", "testdata/kafkajs_failover.js", strings.Join(c.Addrs(), ","), topic, fmt.Sprint(n), "1000", "60000")
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath, "KAFKAJS_NO_PARTITIONER_WARNING=1")
		return cmd
	})
}

// produceThroughLeaderKill runs the producer script script makes (it
// writes n records "key-%06d"/"value-%06d" to topic-0 and prints an
// interopDelivery), kills topic-0's leader once a quarter of them are
// stored, restarts it, and checks the deliveries and the log.
func produceThroughLeaderKill(t *testing.T, c *testbed.Cluster, topic string, n int, script func(context.Context) *exec.Cmd) {
	ctx := testContext(t, 90*time.Second)
	foCreateTopic(t, ctx, c, topic, 1, map[string]string{"min.insync.replicas": "2"})
	leader := foMustMetadata(t, ctx, c, topic)[0].Leader
	cmd := script(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	watcher := foOther(leader)
	waitHighWatermark(t, ctx, c.Node(watcher).KafkaAddr, topic, int64(n/4))
	kill := time.Now()
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	md := foWaitPartition(t, ctx, c, watcher, topic, 0, "a new leader after the kill", func(pi partState) bool {
		return pi.Leader >= 0 && pi.Leader != leader
	})
	t.Logf("killed leader %d of %s-0 with a quarter of the records stored; broker %d leads %v later",
		leader, topic, md.Leader, time.Since(kill).Round(time.Millisecond))
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatalf("restart broker %d: %v", leader, err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", cmd.Path, err, stderr.String())
	}
	var d interopDelivery
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		t.Fatalf("producer output is not the JSON summary: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if len(d.Errors) > 0 || len(d.Delivered) != n {
		t.Fatalf("%d deliveries of %d, %d errors (first: %v)", len(d.Delivered), n, len(d.Errors), d.Errors[:min(len(d.Errors), 5)])
	}
	foWaitFullISR(t, ctx, c, "the killed leader back in every ISR")
	waitReplicasEqual(t, ctx, c, topic, map[int32]int64{0: int64(n)})
	recs, _ := consumeTopic(t, ctx, c.Node(watcher).KafkaAddr, topic)
	checkInteropLog(t, recs, d.Delivered, n)
}

// waitHighWatermark waits until topic-0's high watermark, through addr,
// reaches at least n.
func waitHighWatermark(t *testing.T, ctx context.Context, addr, topic string, n int64) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if o, ok := ends.Lookup(topic, 0); err == nil && ok && o.Err == nil && o.Offset >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s-0 never reached %d records", topic, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkInteropLog checks that recs (topic-0 from offset 0) hold exactly
// "value-%06d" for 0..n-1, each at the offset its delivery report named.
func checkInteropLog(t *testing.T, recs []streamcheck.Rec, delivered [][3]any, n int) {
	t.Helper()
	at := map[string]int64{}
	for _, d := range delivered {
		at[fmt.Sprint(d[0])] = int64(d[2].(float64))
	}
	if len(recs) != n {
		t.Errorf("the log holds %d records, want the %d delivered, once each", len(recs), n)
	}
	for i, r := range recs {
		want := fmt.Sprintf("value-%06d", i)
		if r.Offset != int64(i) || string(r.Value) != want {
			t.Fatalf("record %d: offset %d value %q, want offset %d value %q (lost, duplicated or reordered)", i, r.Offset, r.Value, i, want)
		}
		if key := fmt.Sprintf("key-%06d", i); at[key] != r.Offset {
			t.Fatalf("%s delivered at offset %d, found at %d", key, at[key], r.Offset)
		}
	}
}
