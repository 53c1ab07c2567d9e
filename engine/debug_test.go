//go:build chronikdebug

package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// These tests need -tags chronikdebug (make test runs them so).

func TestDebugKeysAreHiddenButSettable(t *testing.T) {
	cfg := engine.DefaultConfig()
	props := "debug.append.burn.ns.per.kib=7\ndebug.fetch.burn.ns.per.kib=3\n" +
		"debug.append.delay.ns.per.kib=5\ndebug.fetch.delay.ns.per.kib=1\ndebug.replica.fetch.delay.ns.per.kib=2\n" +
		"debug.append.burn.ns.per.partition=4\ndebug.append.stall.every=100\ndebug.append.stall.us=3000\n"
	if err := cfg.ParseProperties(props); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, k := range engine.BrokerConfigKeys() {
		if strings.HasPrefix(k, "debug.") {
			t.Fatalf("BrokerConfigKeys lists test hook %q", k)
		}
	}
	for _, k := range []string{"debug.fetch.burn.ns.per.kib", "debug.append.delay.ns.per.kib", "debug.replica.fetch.delay.ns.per.kib",
		"debug.append.burn.ns.per.partition", "debug.append.stall.every", "debug.append.stall.us"} {
		c := cfg
		if err := c.Set(k, "-1"); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil {
			t.Fatalf("negative %s accepted", k)
		}
	}
}

// processCPU is this test process's CPU time: broker and client both.
func processCPU(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

func setKey(t *testing.T, key, value string) func(*engine.Config) {
	return func(c *engine.Config) {
		if err := c.Set(key, value); err != nil {
			t.Fatal(err)
		}
	}
}

// produceKiB writes kib records of 1 KiB (one batch of more than kib KiB) and returns the process CPU
// it took (a lower bound on the hook's cost: the burn is CPU, not sleep).
func produceKiB(ctx context.Context, t *testing.T, cl *kgo.Client, kib int) time.Duration {
	var rs []*kgo.Record
	for i := 0; i < kib; i++ {
		rs = append(rs, &kgo.Record{Value: make([]byte, 1024)})
	}
	before := processCPU(t)
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return processCPU(t) - before
}

func TestDebugAppendBurnCostsCPUPerKiB(t *testing.T) {
	tb := startBroker(t, setKey(t, "debug.append.burn.ns.per.kib", "2000000")) // 2 ms per KiB
	cl := tb.client(producerOpts("slow")...)
	ctx := ctxT(t, 30*time.Second)
	produceKiB(ctx, t, cl, 1)
	if got := produceKiB(ctx, t, cl, 100); got < 200*time.Millisecond {
		t.Fatalf("a 100 KiB batch at 2 ms CPU per KiB cost the process %v of CPU", got)
	}
}

func TestDebugFetchBurnCostsCPUPerKiB(t *testing.T) {
	tb := startBroker(t, setKey(t, "debug.fetch.burn.ns.per.kib", "2000000"))
	ctx := ctxT(t, 30*time.Second)
	produceKiB(ctx, t, tb.client(producerOpts("slowread")...), 100)
	before := processCPU(t)
	fetchAll(ctx, t, tb.client(consumerOpts("slowread")...), 100)
	if got := processCPU(t) - before; got < 200*time.Millisecond {
		t.Fatalf("fetching 100 KiB at 2 ms CPU per KiB cost the process %v of CPU", got)
	}
}

func producerOpts(topic string) []kgo.Opt {
	return []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(50 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
}

func consumerOpts(topic string) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
}

// fetchAll polls cl until it has n records.
func fetchAll(ctx context.Context, t *testing.T, cl *kgo.Client, n int) {
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
}

// TestDebugDelaysSleepTheirShareOfTime: 1 ms per KiB over the 100+ KiB
// appended, then fetched, sleeps at least 99 ms each way (a lower bound:
// a delay only adds time; it credits its sleeps' overshoot, so it may
// sleep up to debugSleepMin less than owed).
func TestDebugDelaysSleepTheirShareOfTime(t *testing.T) {
	tb := startBroker(t, setKey(t, "debug.append.delay.ns.per.kib", "1000000"), setKey(t, "debug.fetch.delay.ns.per.kib", "1000000"))
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	produceKiB(ctx, t, tb.client(producerOpts("late")...), 100)
	if d := time.Since(start); d < 99*time.Millisecond {
		t.Fatalf("100 KiB appended at 1 ms per KiB took %v", d)
	}
	start = time.Now()
	fetchAll(ctx, t, tb.client(consumerOpts("late")...), 100)
	if d := time.Since(start); d < 99*time.Millisecond {
		t.Fatalf("100 KiB fetched at 1 ms per KiB took %v", d)
	}
}

// produceOneByOne appends n single-record batches, one request at a time.
func produceOneByOne(ctx context.Context, t *testing.T, cl *kgo.Client, n int) {
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDebugAppendBurnPerPartitionCostsCPUPerPartitionHeld: at 20 us per
// partition, each append to a broker holding a 100-partition topic burns
// at least 2 ms of CPU, so 50 appends at least 100 ms (a lower bound: what
// the hook owes).
func TestDebugAppendBurnPerPartitionCostsCPUPerPartitionHeld(t *testing.T) {
	tb := startBroker(t, setKey(t, "debug.append.burn.ns.per.partition", "20000"), setKey(t, "num.partitions", "100"))
	cl := tb.client(append(producerOpts("wide"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	ctx := ctxT(t, 60*time.Second)
	produceOneByOne(ctx, t, cl, 1) // creates the topic
	before := processCPU(t)
	produceOneByOne(ctx, t, cl, 50)
	if got := processCPU(t) - before; got < 100*time.Millisecond {
		t.Fatalf("50 appends at 20 us per partition of 100 cost the process %v of CPU", got)
	}
}

// TestDebugAppendStallSleepsEveryNthAppend: every 4th append sleeps 100
// ms, so 8 appends one after another take at least 200 ms.
func TestDebugAppendStallSleepsEveryNthAppend(t *testing.T) {
	tb := startBroker(t, setKey(t, "debug.append.stall.every", "4"), setKey(t, "debug.append.stall.us", "100000"))
	cl := tb.client(producerOpts("stall")...)
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	produceOneByOne(ctx, t, cl, 8)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("8 appends with a 100 ms stall every 4th took %v", d)
	}
}
