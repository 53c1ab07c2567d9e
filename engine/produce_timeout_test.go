package engine

import (
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

// An acks=-1 produce whose fsync hangs is answered REQUEST_TIMED_OUT after
// the request's timeout_ms, while the sync is still running, instead of
// waiting for the disk (before: it waited as long as the fsync took).
func TestAcksAllProduceTimesOutWhileTheSyncHangs(t *testing.T) {
	fsys := memfs.New()
	b := openMemBroker(t, fsys)
	defer b.Close()
	if _, kerrv := b.createTopicChecked("slow", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	_, p := b.lookupPartition("slow", [16]byte{}, 0)
	fsys.SetSyncDelay(time.Second)
	defer fsys.SetSyncDelay(0)
	resp := asProduceResponse(t, handleSync(t, b, produceReqTimeout("slow", -1, 100, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("a")}})})))
	pr := resp.Topics[0].Partitions[0]
	if pr.ErrorCode != kerr.RequestTimedOut.Code || pr.BaseOffset != -1 {
		t.Fatalf("hung fsync: error %v base %d, want REQUEST_TIMED_OUT, -1", kerr.ErrorForCode(pr.ErrorCode), pr.BaseOffset)
	}
	if d := p.Log().DurableOffset(); d != 0 {
		t.Fatalf("answered after the sync finished (durable offset %d): the timeout did not fire first", d)
	}
}

// Timed-out requests whose Sync callbacks arrive later must not disturb the
// pooled calls reused by the requests after them: every answer is a
// success (durable in time) or REQUEST_TIMED_OUT, and the race detector
// sees the late callbacks.
func TestLateSyncCallbacksDoNotCorruptLaterProduces(t *testing.T) {
	fsys := memfs.New()
	b := openMemBroker(t, fsys)
	defer b.Close()
	if _, kerrv := b.createTopicChecked("late", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	fsys.SetSyncDelay(3 * time.Millisecond)
	defer fsys.SetSyncDelay(0)
	var wg sync.WaitGroup
	timedOut, ok := 0, 0
	var mu sync.Mutex
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := int32(1 + i%4) // 1-4 ms against a 3 ms sync: both outcomes
			resp := asProduceResponse(t, handleSync(t, b, produceReqTimeout("late", -1, timeout, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("x")}})})))
			pr := resp.Topics[0].Partitions[0]
			mu.Lock()
			defer mu.Unlock()
			switch {
			case pr.ErrorCode == 0 && pr.BaseOffset >= 0:
				ok++
			case pr.ErrorCode == kerr.RequestTimedOut.Code && pr.BaseOffset == -1:
				timedOut++
			default:
				t.Errorf("answer %d: error %v base %d", i, kerr.ErrorForCode(pr.ErrorCode), pr.BaseOffset)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d durable in time, %d timed out", ok, timedOut)
}
