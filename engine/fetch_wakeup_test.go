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
