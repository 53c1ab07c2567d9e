package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A server stop answers the long-poll fetches parked on the broker when it
// begins (netio.Drainer), instead of waiting out the max wait the clients
// asked for: a consumer with a 60 s fetch max wait on an empty topic does
// not hold a stop with a 5 s deadline (the harness's; before the drain it
// failed "context deadline exceeded" whenever a kgo consumer, max wait
// 5 s, was parked when a test restarted its broker). A fetch that comes
// after the drain began is answered at once too.
func TestStopAnswersParkedFetches(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb.client(), "idle", 1, nil)
	cl := tb.client(kgo.ConsumeTopics("idle"), kgo.FetchMaxWait(60*time.Second))
	go cl.PollFetches(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for engine.ParkedFetches(tb.b) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the consumer's fetch never parked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := tb.b
	tb.stop() // fails the test if Stop misses its 5 s deadline
	if n := engine.ParkedFetches(b); n != 0 {
		t.Fatalf("%d fetches still parked after the stop", n)
	}
}
