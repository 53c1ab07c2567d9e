package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupConfig keeps group tests fast: a short initial rebalance delay.
var groupConfig = map[string]string{"group.initial.rebalance.delay.ms": "100"}

// produceValues produces "<prefix>-<i>" for i in [from, from+n) round-robin
// over parts partitions and waits for every ack.
func produceValues(t *testing.T, ctx context.Context, addr, topic, prefix string, from, n, parts int, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// groupLag returns the group's total committed lag on topic, and the number
// of partitions with a commit.
func groupLag(t *testing.T, ctx context.Context, addr, group, topic string) (int64, int) {
	t.Helper()
	lag, err := kadm.NewClient(newClient(t, addr)).Lag(ctx, group)
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	gl := lag[group]
	if gl.Error() != nil {
		t.Fatalf("lag of %s: %v", group, gl.Error())
	}
	committed := 0
	for _, l := range gl.Lag[topic] {
		if l.Commit.At >= 0 {
			committed++
		}
	}
	return gl.Lag.TotalByTopic()[topic].Lag, committed
}

// TestKcatBalancedConsumerGroup: kcat -G (librdkafka's balanced consumer)
// reads a topic to its end and commits; the next kcat in the same group
// resumes after the commits and reads only what was produced since.
func TestKcatBalancedConsumerGroup(t *testing.T) {
	requireInterop(t, "kcat", "kcat", "-V")
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{Config: groupConfig})
	const topic, group, parts = "kcat-group", "kcat-g", 3
	createTopic(t, ctx, b.Addr(), topic, parts, -1)
	produceValues(t, ctx, b.Addr(), topic, "first", 0, 300, parts)

	kcat := func() []string {
		out := run(t, ctx, "", "kcat", "-b", b.Addr(), "-X", "broker.address.family=v4", "-G", group,
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-e", "-q", "-f", "%s\n", topic)
		return strings.Fields(out)
	}
	got := kcat()
	if len(got) != 300 || !distinct(got) {
		t.Fatalf("first kcat -G read %d values (%d distinct), want the 300 produced", len(got), len(setOf(got)))
	}
	if lag, n := groupLag(t, ctx, b.Addr(), group, topic); lag != 0 || n != parts {
		t.Fatalf("after kcat -G: committed lag %d over %d partitions, want 0 over %d", lag, n, parts)
	}
	produceValues(t, ctx, b.Addr(), topic, "second", 300, 60, parts)
	got = kcat()
	if len(got) != 60 || !distinct(got) || !strings.HasPrefix(got[0], "second-") {
		t.Fatalf("second kcat -G read %v, want only the 60 new values", got)
	}
}

func distinct(vs []string) bool { return len(setOf(vs)) == len(vs) }

func setOf(vs []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}

type confluentGroupSummary struct {
	Records      [][3]any         `json:"records"` // partition, offset, value
	Errors       []string         `json:"errors"`
	CommitErrors []string         `json:"commit_errors"`
	Committed    map[string]int64 `json:"committed"`
}

// TestConfluentKafkaPythonGroupManualCommit: a confluent-kafka consumer in a
// group commits by hand; committed() returns the end offsets; a second run
// of the group reads only the records produced after the commits.
func TestConfluentKafkaPythonGroupManualCommit(t *testing.T) {
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	ctx := testContext(t, 3*time.Minute)
	b := StartBroker(t, Options{Config: groupConfig})
	const topic, group, parts = "confluent-group", "py-g", 2
	createTopic(t, ctx, b.Addr(), topic, parts, -1)
	consume := func(count int) confluentGroupSummary {
		out := run(t, ctx, "", "/usr/bin/python3", "testdata/confluent_group.py", "--bootstrap", b.Addr(),
			"--topic", topic, "--group", group, "--count", fmt.Sprint(count), "--partitions", fmt.Sprint(parts))
		var s confluentGroupSummary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("script output is not the JSON summary: %v\n%s", err, out)
		}
		if len(s.Errors)+len(s.CommitErrors) > 0 {
			t.Fatalf("consumer errors %v, commit errors %v", s.Errors, s.CommitErrors)
		}
		return s
	}
	produceValues(t, ctx, b.Addr(), topic, "a", 0, 200, parts)
	s := consume(200)
	if len(s.Records) != 200 {
		t.Fatalf("consumed %d records, want 200", len(s.Records))
	}
	for p, want := range map[string]int64{"0": 100, "1": 100} {
		if s.Committed[p] != want {
			t.Errorf("committed() partition %s = %d, want %d", p, s.Committed[p], want)
		}
	}
	produceValues(t, ctx, b.Addr(), topic, "b", 200, 50, parts)
	s = consume(50)
	if len(s.Records) != 50 {
		t.Fatalf("second run consumed %d records, want the 50 new ones", len(s.Records))
	}
	for _, r := range s.Records {
		if !strings.HasPrefix(r[2].(string), "b-") {
			t.Fatalf("second run re-read %v, which was committed", r)
		}
	}
	if lag, _ := groupLag(t, ctx, b.Addr(), group, topic); lag != 0 {
		t.Errorf("committed lag %d, want 0", lag)
	}
}

// kafkajsDir is where `make deps` installs kafkajs (never committed).
func kafkajsDir(t *testing.T) string {
	dir, err := filepath.Abs("js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKafkaJSConsumerGroup: two kafkajs consumers share a topic through a
// group, every record is read once, and their commits leave no lag.
func TestKafkaJSConsumerGroup(t *testing.T) {
	if os.Getenv("CHRONIK_SKIP_INTEROP") == "1" {
		t.Skip("CHRONIK_SKIP_INTEROP=1")
	}
	nodePath := kafkajsDir(t)
	probe := exec.Command("node", "-e", "require('kafkajs')")
	probe.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("kafkajs is not available (%v: %.300s); run `make deps` to install it", err, out)
	}
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{Config: map[string]string{"group.initial.rebalance.delay.ms": "1500"}})
	const topic, group, parts, n = "kafkajs-group", "js-g", 4, 400
	createTopic(t, ctx, b.Addr(), topic, parts, -1)
	// kafkajs reads gzip without a codec plugin (franz-go's default is snappy).
	produceValues(t, ctx, b.Addr(), topic, "js", 0, n, parts, kgo.ProducerBatchCompression(kgo.GzipCompression()))

	cmd := exec.CommandContext(ctx, "node", "testdata/kafkajs_group.js", b.Addr(), topic, group, fmt.Sprint(n), "60000")
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kafkajs: %v\n%s", err, stderr.String())
	}
	var s struct {
		Records    [][3]any `json:"records"`
		ByConsumer []int    `json:"byConsumer"`
		Crashes    []string `json:"crashes"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("kafkajs output is not JSON: %v\n%s", err, out)
	}
	values := make([]string, 0, len(s.Records))
	for _, r := range s.Records {
		values = append(values, r[2].(string))
	}
	if len(values) != n || !distinct(values) || len(s.Crashes) > 0 {
		t.Fatalf("kafkajs group read %d records (%d distinct), crashes %v; want %d once each", len(values), len(setOf(values)), s.Crashes, n)
	}
	t.Logf("records per kafkajs consumer: %v", s.ByConsumer)
	if lag, committed := groupLag(t, ctx, b.Addr(), group, topic); lag != 0 || committed != parts {
		t.Fatalf("after kafkajs: committed lag %d over %d partitions, want 0 over %d", lag, committed, parts)
	}
}

// ackedCommits tracks, per partition, the highest commit the broker
// acknowledged and flags records consumed below it.
type ackedCommits struct {
	mu         sync.Mutex
	acked      map[int32]int64
	seen       map[string]bool
	violations []string
}

func (a *ackedCommits) consumed(recs []*kgo.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range recs {
		if r.Offset < a.acked[r.Partition] {
			a.violations = append(a.violations, fmt.Sprintf("p%d@%d consumed after offset %d was committed", r.Partition, r.Offset, a.acked[r.Partition]))
		}
		a.seen[string(r.Value)] = true
	}
}

func (a *ackedCommits) committed(recs []*kgo.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range recs {
		a.acked[r.Partition] = max(a.acked[r.Partition], r.Offset+1)
	}
}

func (a *ackedCommits) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

// runGroupMember polls, commits each poll synchronously, and only then lets
// the group rebalance, until the client is closed.
func runGroupMember(cl *kgo.Client, a *ackedCommits) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			recs := fs.Records()
			a.consumed(recs)
			if len(recs) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if cl.CommitRecords(ctx, recs...) == nil {
					a.committed(recs)
				}
				cancel()
			}
			cl.AllowRebalance()
		}
	}()
	return done
}

// TestGroupResumesFromCommittedOffsetsAfterKill9: a two-member franz-go
// group is consuming when the broker is killed with SIGKILL. After the
// restart every acknowledged commit is there, the members carry on without
// reading a committed record again, and a new member of the group starts
// exactly after the commits.
func TestGroupResumesFromCommittedOffsetsAfterKill9(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{Config: groupConfig})
	const topic, group, parts, n = "kill-group", "kill-g", 4, 2000
	createTopic(t, ctx, b.Addr(), topic, parts, -1)
	produceValues(t, ctx, b.Addr(), topic, "k", 0, n, parts)
	a := &ackedCommits{acked: map[int32]int64{}, seen: map[string]bool{}}
	member := func(id string) (*kgo.Client, <-chan struct{}) {
		cl := newClient(t, b.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(id),
			kgo.FetchMaxPartitionBytes(2000), kgo.HeartbeatInterval(300*time.Millisecond))
		return cl, runGroupMember(cl, a)
	}
	c1, d1 := member("m1")
	c2, d2 := member("m2")
	waitFor(t, ctx, func() bool { return a.count() >= n/4 })
	b.Kill()
	a.mu.Lock()
	acked := map[int32]int64{}
	for p, o := range a.acked {
		acked[p] = o
	}
	a.mu.Unlock()
	b.Restart()

	fetched, err := kadm.NewClient(newClient(t, b.Addr())).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets after restart: %v", err)
	}
	for p, o := range acked {
		if r, _ := fetched.Lookup(topic, p); r.At < o {
			t.Errorf("partition %d: committed offset after kill -9 is %d, below the acknowledged %d", p, r.At, o)
		}
	}
	waitFor(t, ctx, func() bool { return a.count() == n })
	// BlockRebalanceOnPoll: plain Close can wait on a rebalance the poll
	// loop blocks; CloseAllowingRebalance is kgo's way out.
	c1.CloseAllowingRebalance()
	c2.CloseAllowingRebalance()
	<-d1
	<-d2
	produceValues(t, ctx, b.Addr(), topic, "after", n, 40, parts)
	c3, d3 := member("m3")
	waitFor(t, ctx, func() bool { return a.count() == n+40 })
	c3.CloseAllowingRebalance()
	<-d3
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.violations {
		t.Error(v)
	}
}

func waitFor(t testing.TB, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached before the deadline")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
