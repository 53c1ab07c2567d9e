package engine_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReleasedProduceFramesKeepEveryRecord: netio reuses a produce
// request's frame for later requests once the engine releases it
// (Request.BodyOwner). Released too early — before the batches are in the
// log, or before the response copied the topic names out of the request —
// a later request overwrites those bytes. Producers of large requests at
// acks=1 and acks=-1 on four connections, each spreading its records over
// four long-named topics (so that requests differ in which topics they
// hold, and where), make the reuse constant; every record must come back
// exactly once and as sent, and every produce must succeed.
func TestReleasedProduceFramesKeepEveryRecord(t *testing.T) {
	tb := startBroker(t)
	admin := tb.client()
	const producers, perProducer = 4, 20000
	topics := make([]string, producers)
	for i := range topics {
		topics[i] = fmt.Sprintf("frames-%d-%s", i, strings.Repeat(string(rune('a'+i)), 180))
		createTopic(t, admin, topics[i], 2, nil)
	}
	value := func(p, i int) []byte {
		v := bytes.Repeat([]byte{byte('A' + p)}, 400+i%300)
		copy(v, fmt.Sprintf("%d/%d/", p, i))
		return v
	}
	ctx := ctxT(t, 90*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, producers*perProducer)
	for p := range producers {
		acks := kgo.LeaderAck()
		opts := []kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond),
			kgo.ProducerBatchMaxBytes(32 << 10), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}
		if p%2 == 1 {
			acks = kgo.AllISRAcks()
		} else {
			opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
		}
		cl := tb.client(append(opts, kgo.RequiredAcks(acks))...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				rec := &kgo.Record{Topic: topics[(p+i*i)%producers], Key: fmt.Appendf(nil, "%d/%d", p, i), Value: value(p, i)}
				cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
					if err != nil {
						errs <- fmt.Errorf("produce %s: %w", r.Key, err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[[2]int]bool, producers*perProducer)
	for ti, topic := range topics {
		n := 0
		for p := range producers {
			for i := range perProducer {
				if (p+i*i)%producers == ti {
					n++
				}
			}
		}
		for _, r := range consumeAll(t, tb, topic, n) {
			var p, i int
			if _, err := fmt.Sscanf(string(r.Key), "%d/%d", &p, &i); err != nil || seen[[2]int{p, i}] || (p+i*i)%producers != ti {
				t.Fatalf("%s: key %q (duplicate %v): %v", topic[:10], r.Key, seen[[2]int{p, i}], err)
			}
			seen[[2]int{p, i}] = true
			if !bytes.Equal(r.Value, value(p, i)) {
				t.Fatalf("%s: record %d/%d changed: %.40q", topic[:10], p, i, r.Value)
			}
		}
	}
	if len(seen) != producers*perProducer {
		t.Fatalf("%d records read, want %d", len(seen), producers*perProducer)
	}
}

// scribbler is a BodyOwner that overwrites the body when it is released,
// as a reused frame would be: any read of the body after Release sees it.
type scribbler struct {
	body     []byte
	released atomic.Int32
}

func (s *scribbler) Release() {
	for i := range s.body {
		s.body[i] = 0xAA
	}
	s.released.Add(1)
}

// TestProduceReleasesTheBodyAfterItsLastUse drives Produce through
// Broker.Handle with a body that is destroyed the moment it is released:
// the batches must be stored and the response must name its topics as
// the request did, and the release must come exactly once, when the
// response's bytes have been taken (ReleaseBody), not before.
func TestProduceReleasesTheBodyAfterItsLastUse(t *testing.T) {
	tb := startBroker(t)
	admin := tb.client()
	names := []string{"release-a", "release-" + strings.Repeat("b", 100)}
	for _, n := range names {
		createTopic(t, admin, n, 1, nil)
	}
	for round, c := range []struct {
		acks    int16
		version int16
	}{{1, 12}, {-1, 12}, {1, 9}, {-1, 9}, {0, 12}} {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = c.version, c.acks, 5000
		var want [][]byte
		for ti, n := range names {
			v := fmt.Appendf(nil, "round %d topic %d %s", round, ti, strings.Repeat("v", 300))
			batch := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{v}})
			want = append(want, append([]byte(nil), batch...))
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = n
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		owner := &scribbler{body: req.AppendTo(nil)}
		got := make(chan kmsg.Response, 1)
		err := tb.b.Handle(&engine.Request{Key: 0, Version: c.version, CorrelationID: 1, ClientID: "t",
			Body: owner.body, BodyOwner: owner}, func(r kmsg.Response) { got <- r })
		if err != nil {
			t.Fatalf("acks=%d v%d: %v", c.acks, c.version, err)
		}
		var r kmsg.Response
		select {
		case r = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("acks=%d v%d: no response", c.acks, c.version)
		}
		if c.acks == 0 {
			if r != nil {
				t.Fatalf("acks=0: response %T", r)
			}
		} else {
			if n := owner.released.Load(); n != 0 {
				t.Fatalf("acks=%d v%d: body released %d times before the response was written", c.acks, c.version, n)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = c.version
			if err := resp.ReadFrom(r.AppendTo(nil)); err != nil {
				t.Fatalf("acks=%d v%d: decode response: %v", c.acks, c.version, err)
			}
			for ti, rt := range resp.Topics {
				if ti >= len(names) || rt.Topic != names[ti] || len(rt.Partitions) != 1 || rt.Partitions[0].ErrorCode != 0 {
					t.Fatalf("acks=%d v%d: response topic %d: %q %+v", c.acks, c.version, ti, rt.Topic, rt.Partitions)
				}
			}
			r.(interface{ ReleaseBody() }).ReleaseBody() // as netio does once it wrote the bytes
		}
		// An acks=-1 wait's callback drops its hold just after it answered.
		for deadline := time.Now().Add(5 * time.Second); owner.released.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := owner.released.Load(); n != 1 {
			t.Fatalf("acks=%d v%d: body released %d times, want 1", c.acks, c.version, n)
		}
		for ti, n := range names {
			// Stored byte-exact but for baseOffset (0-7) and the
			// partition leader epoch (12-15), neither under the CRC.
			got := fetchOnce(t, tb, n, int64(round), 1<<20, 1<<20).RecordBatches
			if len(got) < len(want[ti]) || !bytes.Equal(got[16:len(want[ti])], want[ti][16:]) {
				t.Fatalf("acks=%d v%d: %s at %d: stored batch differs", c.acks, c.version, n[:10], round)
			}
		}
	}
}
