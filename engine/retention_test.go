package engine_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRetentionBySizeAdvancesLogStartInTheBackground(t *testing.T) {
	tb := startBroker(t, func(c *engine.Config) { c.RetentionCheckMs = 50 })
	cl := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "ret", 1, map[string]*string{
		"segment.bytes":   kadm.StringPtr("4096"),
		"retention.bytes": kadm.StringPtr("8192"),
	})
	for i := 0; i < 40; i++ { // ~40 KiB in ~10 segments
		if err := cl.ProduceSync(ctxT(t, 5*time.Second), &kgo.Record{Topic: "ret", Value: bytes.Repeat([]byte{'r'}, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second) // a bound, not a speed claim
	for {
		start, _ := listOffset(t, cl, "ret", -2)
		end, _ := listOffset(t, cl, "ret", -1)
		if start > 0 {
			if end != 40 {
				t.Fatalf("retention moved the log end to %d", end)
			}
			if p := fetchOnce(t, tb, "ret", 0, 1<<20, 1<<20); p.ErrorCode == 0 {
				t.Fatalf("fetch below the log start offset %d succeeded", start)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention.bytes never deleted a segment")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogAppendTimeTopicStampsBrokerTime(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "lat", 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")})
	before := time.Now().Add(-time.Second)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := cl.ProduceSync(ctxT(t, 5*time.Second), &kgo.Record{Topic: "lat", Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, tb, "lat", 1)
	if ts := recs[0].Timestamp; ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("record timestamp %v, want the broker's append time (~now), not the producer's %v", ts, old)
	}
	if recs[0].Attrs.TimestampType() != 1 {
		t.Fatal("record does not carry the LogAppendTime timestamp type")
	}
}
