package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

var poolModes = []FlushMode{FlushEachLog, FlushSyncFS}

func newPool(t testing.TB, fsys FS, mode FlushMode, workers int) *FlushPool {
	t.Helper()
	p, err := NewFlushPool(FlushPoolOptions{Workers: workers, Mode: mode, FS: fsys, Dir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openLogs(t testing.TB, fsys FS, n int, opts Options) []*Log {
	t.Helper()
	logs := make([]*Log, n)
	for i := range logs {
		l, err := Open(fsys, fmt.Sprintf("/data/t-%d", i), opts)
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = l
	}
	return logs
}

func TestFlushPoolCommitsManyLogsWithFewerSyscallsThanWaiters(t *testing.T) {
	for _, mode := range poolModes {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := memfs.New()
			fsys.MkdirAll("/data", 0o755)
			fsys.SetSyncDelay(200 * time.Microsecond) // disk-like: batching must not hang on the scheduler
			pool := newPool(t, fsys, mode, 2)
			logs := openLogs(t, fsys, 12, Options{SegmentBytes: 3000, Flusher: pool})
			const writers, perWriter = 48, 20
			var wg sync.WaitGroup
			var bad atomic.Int64
			for w := range writers {
				wg.Go(func() {
					l := logs[w%len(logs)]
					for i := range perWriter {
						off, err := l.Append(makeBatch(1+i%3, 20, int64(i)), 0)
						if err != nil {
							t.Error(err)
							return
						}
						through := off + 1
						done := make(chan struct{})
						l.Sync(through, func(err error) {
							if err != nil || l.DurableOffset() < through {
								bad.Add(1)
							}
							close(done)
						})
						<-done
					}
				})
			}
			wg.Wait()
			var waiters, syncs int64
			for _, l := range logs {
				st := l.Stats()
				waiters += st.SyncedWaiters
				syncs += st.Syncs
				if l.DurableOffset() != l.LogEndOffset() {
					t.Errorf("%s: durable %d leo %d", l.Dir(), l.DurableOffset(), l.LogEndOffset())
				}
				if st.SyncLatency.Count != st.Syncs && mode == FlushEachLog {
					t.Errorf("latency samples %d for %d syncs", st.SyncLatency.Count, st.Syncs)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			pool.Close()
			ps := pool.Stats()
			if bad.Load() != 0 || waiters != writers*perWriter {
				t.Fatalf("bad %d, released %d of %d", bad.Load(), waiters, writers*perWriter)
			}
			if ps.Syscalls >= waiters || ps.Syscalls == 0 {
				t.Fatalf("%d sync syscalls for %d waiters: no group commit", ps.Syscalls, waiters)
			}
			t.Logf("%s: %d waiters, %d log syncs, %d syscalls, p50 %v", mode, waiters, syncs, ps.Syscalls, ps.Latency.Quantile(0.5))
		})
	}
}

func TestFlushPoolSyncErrorIsStickyPerLog(t *testing.T) {
	for _, mode := range poolModes {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := memfs.New()
			fsys.MkdirAll("/data", 0o755)
			pool := newPool(t, fsys, mode, 2)
			defer pool.Close()
			logs := openLogs(t, fsys, 2, Options{Flusher: pool})
			defer logs[0].Close()
			defer logs[1].Close()
			sub := "t-0/"
			if mode == FlushSyncFS {
				sub = "/data" // syncfs fails for the whole file system
			}
			mustAppend(t, logs[0], makeBatch(1, 1, 0), 0)
			fsys.InjectError(memfs.OpSync, sub, errors.New("EIO"))
			done := make(chan error, 1)
			logs[0].Sync(1, func(err error) { done <- err })
			if err := <-done; !errors.Is(err, ErrStorage) {
				t.Fatalf("sync with failing disk: %v", err)
			}
			fsys.ClearErrors()
			if _, err := logs[0].Append(makeBatch(1, 1, 0), 0); !errors.Is(err, ErrStorage) {
				t.Fatalf("append after sync error: %v", err)
			}
			mustAppend(t, logs[1], makeBatch(1, 1, 0), 0)
			syncNow(t, logs[1]) // the other log keeps working
		})
	}
}

// TestAckedBatchesSurviveCrashesAcrossLogs crashes (with torn tails) at a
// random moment while writers append and sync concurrently to many logs
// sharing a pool, then checks after recovery that every acknowledged batch
// is there byte-exact, offsets are dense, and each log continues.
func TestAckedBatchesSurviveCrashesAcrossLogs(t *testing.T) {
	rounds := crashRounds(t, 20)
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		mode := poolModes[round%2]
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		crashRound(t, rng, mode)
	}
}

func crashRound(t *testing.T, rng *rand.Rand, mode FlushMode) {
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	pool := newPool(t, fsys, mode, 3)
	opts := Options{SegmentBytes: 2000, IndexIntervalBytes: 200, Flusher: pool}
	logs := openLogs(t, fsys, 6, opts)
	var mu sync.Mutex
	acked := map[string]map[int64][]byte{} // dir -> base offset -> batch
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			l := logs[w%len(logs)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := makeBatch(1+i%4, 10+(w*7+i)%50, int64(i))
				off, err := l.Append(b, 0)
				if err != nil {
					return // crashed
				}
				done := make(chan error, 1)
				l.Sync(off+int64(1+i%4), func(err error) { done <- err })
				if <-done != nil {
					return
				}
				mu.Lock()
				if acked[l.Dir()] == nil {
					acked[l.Dir()] = map[int64][]byte{}
				}
				acked[l.Dir()][off] = b // Append stamped the offset in b
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Duration(1+rng.IntN(15)) * time.Millisecond)
	mu.Lock() // no ack is recorded from here on: the crash happens now
	after := fsys.Reboot(rng)
	close(stop)
	mu.Unlock()
	wg.Wait()
	for _, l := range logs {
		l.Close() // fails on the dead FS; must not disturb the successor
	}
	pool.Close()
	checkAckedRecovered(t, after, acked, len(logs), mode)
}

func checkAckedRecovered(t *testing.T, fsys *memfs.FS, acked map[string]map[int64][]byte, n int, mode FlushMode) {
	t.Helper()
	pool := newPool(t, fsys, mode, 1)
	defer pool.Close()
	logs := openLogs(t, fsys, n, Options{SegmentBytes: 2000, IndexIntervalBytes: 200, Flusher: pool})
	for _, l := range logs {
		all := readAll(t, l)
		got := map[int64][]byte{}
		next := int64(0)
		err := ForEachBatch(all, func(h BatchHeader, b []byte) bool {
			if h.BaseOffset != next || !CheckBatchCRC(b) {
				t.Fatalf("%s: batch at %d (want %d) crc ok %v", l.Dir(), h.BaseOffset, next, CheckBatchCRC(b))
			}
			got[h.BaseOffset] = b
			next = h.NextOffset()
			return true
		})
		if err != nil || next != l.LogEndOffset() {
			t.Fatalf("%s: walk to %d, leo %d: %v", l.Dir(), next, l.LogEndOffset(), err)
		}
		for off, want := range acked[l.Dir()] {
			if !bytes.Equal(got[off], want) {
				t.Fatalf("%s: acked batch at %d lost or changed (%d bytes, want %d)", l.Dir(), off, len(got[off]), len(want))
			}
		}
		off := mustAppend(t, l, makeBatch(1, 5, 0), 0)
		if off != next {
			t.Fatalf("%s: append after recovery at %d, want %d", l.Dir(), off, next)
		}
		syncNow(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRounds is CHRONIK_CRASH_ROUNDS (make crash-soak sets it) or def.
func crashRounds(t *testing.T, def int) int {
	v := os.Getenv("CHRONIK_CRASH_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("CHRONIK_CRASH_ROUNDS=%q: want a positive integer", v)
	}
	return n
}
