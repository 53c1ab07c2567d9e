package wal

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

func TestGroupCommitReleasesEveryWaiterWithFewerSyncs(t *testing.T) {
	l, fsys := openMem(t, Options{SegmentBytes: 20000})
	defer l.Close()
	// An instant sync would leave batching to the scheduler's mercy on a
	// loaded box; a disk-like one makes appends overlap every sync.
	fsys.SetSyncDelay(200 * time.Microsecond)
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	var released, failed atomic.Int64
	var mu sync.Mutex
	maxThrough := int64(0)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				b := makeBatch(1+(w+i)%3, 20, int64(i))
				off, err := l.Append(b, 0)
				if err != nil {
					t.Error(err)
					return
				}
				h, _ := ParseBatchHeader(b)
				through := off + int64(h.LastOffsetDelta) + 1
				done := make(chan struct{})
				l.Sync(through, func(err error) {
					if err != nil || l.DurableOffset() < through {
						failed.Add(1)
					}
					released.Add(1)
					close(done)
				})
				<-done
				mu.Lock()
				maxThrough = max(maxThrough, through)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	if released.Load() != writers*perWriter || failed.Load() != 0 || st.SyncedWaiters != writers*perWriter {
		t.Fatalf("released %d failed %d stats %+v", released.Load(), failed.Load(), st)
	}
	if l.DurableOffset() != l.LogEndOffset() || l.DurableOffset() != maxThrough {
		t.Fatalf("durable %d leo %d max through %d", l.DurableOffset(), l.LogEndOffset(), maxThrough)
	}
	if st.Syncs >= writers*perWriter {
		t.Fatalf("%d fdatasync rounds for %d waiters: no batching", st.Syncs, writers*perWriter)
	}
	t.Logf("%d waiters, %d sync rounds, %d file syncs, %d rolls", released.Load(), st.Syncs, fsys.Syncs(), st.Rolls)
}

func TestSyncCallbacksAfterCloseGetErrClosed(t *testing.T) {
	l, _ := openMem(t, Options{})
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	pending := make(chan error, 1)
	l.Sync(1000, func(err error) { pending <- err }) // beyond LEO: waits
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-pending; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending waiter got %v", err)
	}
	after := make(chan error, 1)
	l.Sync(1, func(err error) { after <- err })
	if err := <-after; !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close got %v", err)
	}
	if _, err := l.Append(makeBatch(1, 1, 0), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 100, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	l, fsys := openMem(t, Options{})
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	boom := errors.New("disk on fire")
	fsys.InjectError(memfs.OpWrite, ".log", boom)
	if _, err := l.Append(makeBatch(1, 1, 0), 0); !errors.Is(err, ErrStorage) || !errors.Is(err, boom) {
		t.Fatalf("append with failing disk: %v", err)
	}
	fsys.ClearErrors()
	if _, err := l.Append(makeBatch(1, 1, 0), 0); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after a write error must keep failing, got %v", err)
	}
	done := make(chan error, 1)
	l.Sync(1, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrStorage) {
		t.Fatalf("sync after write error: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrStorage) {
		t.Fatalf("close after write error: %v", err)
	}
	if ok, _ := exists(fsys, "/data/t-0/.clean"); ok {
		t.Fatal("clean marker written after a storage error")
	}
}

func TestSyncErrorIsSticky(t *testing.T) {
	l, fsys := openMem(t, Options{})
	defer l.Close()
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	fsys.InjectError(memfs.OpSync, ".log", errors.New("EIO"))
	done := make(chan error, 1)
	l.Sync(1, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrStorage) {
		t.Fatalf("sync: %v", err)
	}
	if l.DurableOffset() != 0 {
		t.Fatalf("durable %d after failed sync", l.DurableOffset())
	}
	fsys.ClearErrors()
	if _, err := l.Append(makeBatch(1, 1, 0), 0); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after sync error: %v", err)
	}
}

// TestAFailedSyncIsNeverRetriedIntoSuccess ("fsyncgate"): after one
// failed fdatasync the kernel may have dropped the dirty pages and cleared
// the error, so a later fdatasync that succeeds proves nothing. The log
// must never report the records durable: every later Sync fails, the
// durable offset stays put, and the owner hears of the failure once
// (OnStorageError), with the error Err returns.
func TestAFailedSyncIsNeverRetriedIntoSuccess(t *testing.T) {
	heard := make(chan error, 4)
	l, fsys := openMem(t, Options{OnStorageError: func(_ *Log, err error) { heard <- err }})
	defer l.Close()
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	sync := func() error {
		done := make(chan error, 1)
		l.Sync(l.LogEndOffset(), func(err error) { done <- err })
		return <-done
	}
	if err := sync(); err != nil || l.Failed() {
		t.Fatalf("first sync: %v (failed %v)", err, l.Failed())
	}
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	fsys.InjectError(memfs.OpSync, ".log", errors.New("EIO"))
	if err := sync(); !errors.Is(err, ErrStorage) {
		t.Fatalf("sync on a failing disk: %v", err)
	}
	fsys.ClearErrors()
	for i := range 3 {
		if err := sync(); !errors.Is(err, ErrStorage) {
			t.Fatalf("sync %d after the disk came back: %v, want the sticky ErrStorage", i, err)
		}
	}
	if l.DurableOffset() != 1 {
		t.Fatalf("durable offset %d, want 1 (the failed sync covered offset 1)", l.DurableOffset())
	}
	if !l.Failed() || !errors.Is(l.Err(), ErrStorage) {
		t.Fatalf("Failed %v, Err %v", l.Failed(), l.Err())
	}
	if err := <-heard; err != l.Err() {
		t.Fatalf("OnStorageError got %v, Err is %v", err, l.Err())
	}
	select {
	case err := <-heard:
		t.Fatalf("OnStorageError called twice (second: %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRolledSegmentCreationIsDurable(t *testing.T) {
	opts := Options{SegmentBytes: 500}
	l, fsys := openMem(t, opts)
	for range 10 {
		mustAppend(t, l, makeBatch(1, 100, 0), 0)
	}
	syncNow(t, l)
	leo := l.LogEndOffset()
	fsys.Crash()
	l.Close()
	l = reopen(t, fsys, nil, opts)
	defer l.Close()
	if l.LogEndOffset() != leo {
		t.Fatalf("leo %d after crash, synced %d", l.LogEndOffset(), leo)
	}
}

func TestRollByTime(t *testing.T) {
	clk := &fakeClock{ms: 1000}
	l, _ := openMem(t, Options{SegmentMs: time.Second, Now: clk.now})
	defer l.Close()
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	clk.ms += 1001
	mustAppend(t, l, makeBatch(1, 1, 0), 0)
	if l.NumSegments() != 2 {
		t.Fatalf("segments %d", l.NumSegments())
	}
}
