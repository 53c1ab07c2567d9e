package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Stress: many clients issuing admin, metadata, produce and fetch requests
// at once must all be answered. A request that waits longer than
// stallLimit means the broker stopped answering (a deadlock, a lost
// wake-up): the watchdog prints every goroutine and panics, ending the test
// binary at once (a hung broker cannot be closed).
//
// CHRONIK_STRESS_SECONDS lengthens the run (default 4 s in make test).

const (
	stallLimit      = 5 * time.Second
	stressClients   = 16
	stressTopicPool = 6 // topic names the clients fight over
)

// watchdog tracks requests in flight and fails the test when one of them
// has waited longer than limit.
type watchdog struct {
	t       *testing.T
	limit   time.Duration
	mu      sync.Mutex
	next    int
	started map[int]inFlight
	tripped atomic.Bool // set once the watchdog fired (it then panics)
}

type inFlight struct {
	what string
	at   time.Time
}

func newWatchdog(t *testing.T, limit time.Duration) *watchdog {
	return &watchdog{t: t, limit: limit, started: map[int]inFlight{}}
}

// begin registers a request; the returned func marks it answered.
func (w *watchdog) begin(what string) func() {
	w.mu.Lock()
	id := w.next
	w.next++
	w.started[id] = inFlight{what, time.Now()}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.started, id)
		w.mu.Unlock()
	}
}

// run checks every 100 ms until stop is closed.
func (w *watchdog) run(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			w.mu.Lock()
			var stalled []string
			for _, f := range w.started {
				if d := now.Sub(f.at); d > w.limit {
					stalled = append(stalled, fmt.Sprintf("%s waiting %v", f.what, d.Round(time.Millisecond)))
				}
			}
			w.mu.Unlock()
			if len(stalled) > 0 && w.tripped.CompareAndSwap(false, true) {
				// A hung broker cannot be shut down (Close would wait on
				// the same locks), so the test cannot clean up and end:
				// print every goroutine and stop the test binary now.
				buf := make([]byte, 8<<20)
				n := runtime.Stack(buf, true)
				fmt.Fprintf(os.Stderr, "--- %s: goroutines of the stalled broker:\n%s\n", w.t.Name(), buf[:n])
				panic(fmt.Sprintf("%s: broker stopped answering: %d requests over %v, e.g. %v", w.t.Name(), len(stalled), w.limit, stalled[:min(len(stalled), 5)]))
			}
		}
	}
}

// TestConcurrentClientsAreAllAnswered drives a standalone broker (auto
// create on) with clients that create, grow, describe and delete topics
// while others fetch metadata (all topics, named topics, unknown names that
// auto-create), produce and fetch. Every request must be answered within
// stallLimit. It deadlocked when Metadata read-locked Broker.mu twice on
// one path and a CreateTopics asked for the write lock in between.
func TestConcurrentClientsAreAllAnswered(t *testing.T) {
	dur := 4 * time.Second
	if s, err := strconv.Atoi(os.Getenv("CHRONIK_STRESS_SECONDS")); err == nil && s > 0 {
		dur = time.Duration(s) * time.Second
	}
	tb := startBroker(t, func(c *engine.Config) {
		c.AutoCreateTopics = true
		c.NumPartitions = 2
	})
	wd := newWatchdog(t, stallLimit)
	stop := make(chan struct{})
	wdDone := make(chan struct{})
	go func() { defer close(wdDone); wd.run(stop) }()

	deadline := time.Now().Add(dur)
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range stressClients {
		cl := tb.client(kgo.RequestRetries(0), kgo.RetryTimeout(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			br := cl.SeedBrokers()[0]
			for time.Now().Before(deadline) && !wd.tripped.Load() {
				req, what := stressRequest(rng, i)
				done := wd.begin(what)
				ctx, cancel := context.WithTimeout(context.Background(), 3*stallLimit)
				_, err := br.Request(ctx, req)
				cancel()
				done()
				if err != nil {
					failed.Add(1)
					t.Errorf("client %d: %s: %v", i, what, err)
					return
				}
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-wdDone
	t.Logf("%d requests answered in %v by %d clients (%d failed)", answered.Load(), dur, stressClients, failed.Load())
	if answered.Load() < stressClients {
		t.Fatalf("only %d requests answered", answered.Load())
	}
}

// stressRequest picks one request at random. Topic names come from a small
// pool so that creates, deletes, growth and reads collide.
func stressRequest(rng *rand.Rand, client int) (kmsg.Request, string) {
	name := "stress-" + strconv.Itoa(rng.IntN(stressTopicPool))
	switch rng.IntN(10) {
	case 0:
		req := kmsg.NewPtrMetadataRequest() // null topics: all
		return req, "Metadata(all)"
	case 1, 2:
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		for range 1 + rng.IntN(3) {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("stress-" + strconv.Itoa(rng.IntN(stressTopicPool)))
			req.Topics = append(req.Topics, rt)
		}
		return req, "Metadata(named, auto-create)"
	case 3:
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, int32(1+rng.IntN(3)), 1
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 5000
		return req, "CreateTopics(" + name + ")"
	case 4:
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{name}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 5000
		return req, "DeleteTopics(" + name + ")"
	case 5:
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, int32(2+rng.IntN(6))
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 5000
		return req, "CreatePartitions(" + name + ")"
	case 6:
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		req.Resources = append(req.Resources, rr)
		return req, "DescribeConfigs(" + name + ")"
	case 7, 8:
		return stressProduce(name, int32(rng.IntN(2)), client), "Produce(" + name + ")"
	default:
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 50, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = name
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(rng.IntN(2)), 0, 1<<20
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req, "Fetch(" + name + ")"
	}
}

func stressProduce(topic string, partition int32, client int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("client " + strconv.Itoa(client))}, BaseTs: time.Now().UnixMilli()})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
