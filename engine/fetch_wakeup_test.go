package engine

import (
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A record appended between a long-poll fetch's last look at the log and
// its registration as a waiter must answer the fetch at once, not after
// MaxWait: the append-count check in park catches it. With registration
// and the check in the old order (look, then register, no check) the fetch
// below waits its whole 60 s MaxWait and the test fails at 20 s.
func TestLongPollFetchSeesAnAppendBeforeItParked(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	defer b.Close()
	if _, kerrv := b.createTopicChecked("w", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	testHookBeforePark = func() {
		testHookBeforePark = nil
		resp := asProduceResponse(t, handleSync(t, b, produceReq("w", 1, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("late")}})})))
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Errorf("produce: error %d", code)
		}
	}
	defer func() { testHookBeforePark = nil }()

	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<20, -1
	req.MinBytes, req.MaxWaitMillis = 1, 60_000
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "w"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := make(chan kmsg.Response, 1)
	if err := b.Handle(&Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}, func(r kmsg.Response) { got <- r }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		resp := decodeFetchResponse(t, r, 12)
		if n := len(resp.Topics[0].Partitions[0].RecordBatches); n == 0 {
			t.Fatal("fetch answered without the record appended before it parked")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long-poll fetch missed the append made before it parked (lost wake-up)")
	}
}

// longPollReq is a v12 fetch of partitions 0..n-1 of topic at offset 0
// (of no topic when n is 0).
func longPollReq(topic string, n int, minBytes, maxWaitMs int32) *Request {
	return &Request{Key: 1, Version: 12, Body: longPollFetch(topic, n, minBytes, maxWaitMs).AppendTo(nil)}
}

func longPollFetch(topic string, n int, minBytes, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<20, -1
	req.MinBytes, req.MaxWaitMillis = minBytes, maxWaitMs
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for i := range n {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = int32(i), 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	if n > 0 {
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// A change that lands while a woken fetch is looking (after it read the
// logs, before it decided) must make it look again: MinBytes needs both
// batches here, and the second one arrives during the look the first one
// started. Without the look-again (parkedFetch.again) the fetch waits its
// whole 60 s MaxWait and the test fails at 20 s.
func TestLongPollFetchSeesAnAppendDuringItsLook(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	defer b.Close()
	if _, kerrv := b.createTopicChecked("w", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	batch := makeBatch(testBatch{values: [][]byte{[]byte("one")}})
	produce := func() {
		resp := asProduceResponse(t, handleSync(t, b, produceReq("w", 1, map[int32][]byte{0: batch})))
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Errorf("produce: error %d", code)
		}
	}
	got := make(chan kmsg.Response, 1)
	if err := b.Handle(longPollReq("w", 1, int32(len(batch)+1), 60_000), func(r kmsg.Response) { got <- r }); err != nil {
		t.Fatal(err)
	}
	looks := 0
	testHookAfterLook = func() {
		if looks++; looks == 1 { // the look the first produce runs
			done := make(chan struct{})
			go func() { defer close(done); produce() }() // another goroutine, as a second producer
			<-done
		}
	}
	defer func() { testHookAfterLook = nil }()
	produce()
	select {
	case r := <-got:
		resp := decodeFetchResponse(t, r, 12)
		if n := len(resp.Topics[0].Partitions[0].RecordBatches); n != 2*len(batch) {
			t.Fatalf("fetch answered %d bytes, want both batches (%d)", n, 2*len(batch))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long-poll fetch missed the append made during its look (lost wake-up)")
	}
}

// One produce request writing to several partitions answers a parked
// fetch of them once, with every batch: the produce handler wakes the
// fetch after all of its appends, not after the first.
func TestLongPollFetchGetsAProduceRequestWhole(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	defer b.Close()
	if _, kerrv := b.createTopicChecked("w", 4, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	got := make(chan kmsg.Response, 2)
	if err := b.Handle(longPollReq("w", 4, 1, 60_000), func(r kmsg.Response) { got <- r }); err != nil {
		t.Fatal(err)
	}
	parts := map[int32][]byte{}
	for i := range int32(4) {
		parts[i] = makeBatch(testBatch{values: [][]byte{[]byte("v")}})
	}
	resp := asProduceResponse(t, handleSync(t, b, produceReq("w", 1, parts)))
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("produce partition %d: error %d", p.Partition, p.ErrorCode)
		}
	}
	select {
	case r := <-got:
		fr := decodeFetchResponse(t, r, 12)
		for _, p := range fr.Topics[0].Partitions {
			if len(p.RecordBatches) == 0 {
				t.Fatalf("fetch answered without partition %d's batch of the same produce request", p.Partition)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("parked fetch not answered after a produce")
	}
}

// Closing the broker answers every parked fetch at once, one watching no
// partition (a fetch naming no topic parks until its max wait) included:
// no goroutine waits on the close for them, Close answers them.
func TestBrokerCloseAnswersParkedFetches(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	if _, kerrv := b.createTopicChecked("w", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	got := make(chan kmsg.Response, 2)
	for _, n := range []int{1, 0} {
		if err := b.Handle(longPollReq("w", n, 1, 60_000), func(r kmsg.Response) { got <- r }); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case r := <-got:
			decodeFetchResponse(t, r, 12)
		case <-time.After(20 * time.Second):
			t.Fatal("parked fetch not answered by Close")
		}
	}
}

// A parked fetch's max-wait timer is reused by a later fetch once stopped
// (maxWait): the later fetch must still be answered after its own
// MaxWait, not never (a reused timer not re-armed, or still pointing at
// the fetch it was stopped for) and not at once.
func TestLongPollFetchKeepsItsOwnMaxWaitOnAReusedTimer(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	defer b.Close()
	if _, kerrv := b.createTopicChecked("w", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	for round := range 5 {
		// A fetch at the log end parks, and a produce answers it before
		// its 60 s: its timer is stopped, for the next fetch to reuse.
		first := make(chan kmsg.Response, 1)
		end := int64(round)
		req := longPollFetch("w", 1, 1, 60_000)
		req.Topics[0].Partitions[0].FetchOffset = end
		if err := b.Handle(&Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}, func(r kmsg.Response) { first <- r }); err != nil {
			t.Fatal(err)
		}
		handleSync(t, b, produceReq("w", 1, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("x")}})}))
		select {
		case r := <-first:
			r.(*fetchResponse).ReleaseBody()
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: long-poll fetch not answered by a produce", round)
		}
		// The next fetch at the new log end has nothing to wait for but
		// its 300 ms.
		next := make(chan kmsg.Response, 1)
		req = longPollFetch("w", 1, 1, 300)
		req.Topics[0].Partitions[0].FetchOffset = end + 1
		start := time.Now()
		if err := b.Handle(&Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}, func(r kmsg.Response) { next <- r }); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-next:
			if waited := time.Since(start); waited < 250*time.Millisecond {
				t.Fatalf("round %d: fetch with a 300 ms max wait answered after %v", round, waited)
			}
			r.(*fetchResponse).ReleaseBody()
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: fetch with a 300 ms max wait not answered after 10 s", round)
		}
	}
}
