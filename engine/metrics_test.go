package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetricsCountProducedRecordsAndWALAppends(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client(kgo.DefaultProduceTopic("m"), kgo.AllowAutoTopicCreation())
	ctx := ctxT(t, 20*time.Second)
	for i := 0; i < 3; i++ {
		rs := []*kgo.Record{{Value: []byte("a")}, {Value: []byte("b")}}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	m := tb.b.Metrics()
	if m.ProducedRecords != 6 || m.ProducedBatches < 3 || m.WAL.Appends != int64(m.ProducedBatches) {
		t.Fatalf("metrics after 6 records: %+v", m)
	}
	if m.Topics != 1 || m.Partitions != 1 || m.ProduceRequests < 3 || m.ProduceErrors != 0 {
		t.Fatalf("metrics: %+v", m)
	}
}

func TestDebugAppendDelayIsAHiddenKey(t *testing.T) {
	cfg := engine.DefaultConfig()
	if err := cfg.ParseProperties("debug.append.delay.ms=7\n"); err != nil {
		t.Fatal(err)
	}
	if cfg.DebugAppendDelayMs != 7 {
		t.Fatalf("DebugAppendDelayMs = %d, want 7", cfg.DebugAppendDelayMs)
	}
	for _, k := range engine.BrokerConfigKeys() {
		if strings.HasPrefix(k, "debug.") {
			t.Fatalf("BrokerConfigKeys lists test hook %q", k)
		}
	}
	cfg.DebugAppendDelayMs = -1
	if err := cfg.Validate(); err == nil {
		t.Fatal("negative debug.append.delay.ms accepted")
	}
}

func TestDebugAppendDelaySlowsEachProduce(t *testing.T) {
	tb := startBroker(t, func(c *engine.Config) { c.DebugAppendDelayMs = 100 })
	cl := tb.client(kgo.DefaultProduceTopic("slow"), kgo.AllowAutoTopicCreation())
	ctx := ctxT(t, 20*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the hook sleeps at least this long per append.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("produce with a 100 ms append delay took %v", d)
	}
}
