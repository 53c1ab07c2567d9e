package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// A follower's cycle: a few batches appended to each of many logs, then
// one SyncLogs. Its done runs once, when every log is durable through the
// LEO it had; in syncfs mode one syncfs covers every log of the cycle, in
// each-log mode each log gets one round (fdatasync): nothing per batch.
func TestSyncLogsMakesEveryLogDurableInOneRound(t *testing.T) {
	for _, mode := range poolModes {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := memfs.New()
			fsys.MkdirAll("/data", 0o755)
			if mode == FlushSyncFS { // the loop of Syncs this replaces takes several
				fsys.SetSyncDelay(100 * time.Microsecond)
			}
			pool := newPool(t, fsys, mode, 4)
			defer pool.Close()
			logs := openLogs(t, fsys, 24, Options{Flusher: pool})
			const cycles, batchesPerLog = 20, 3
			before := pool.Stats()
			for c := range cycles {
				for _, l := range logs {
					for range batchesPerLog { // still one round per log, not per batch
						mustAppend(t, l, makeBatch(1, 10, int64(c)), 0)
					}
				}
				done := make(chan error, 2)
				pool.SyncLogs(logs, func(err error) {
					for _, l := range logs {
						if l.DurableOffset() < int64(batchesPerLog*(c+1)) {
							err = fmt.Errorf("%s durable through %d in cycle %d", l.Dir(), l.DurableOffset(), c)
						}
					}
					done <- err
				})
				if err := waitDone(t, done); err != nil {
					t.Fatal(err)
				}
				select {
				case <-done:
					t.Fatal("done called twice")
				default:
				}
			}
			got := pool.Stats().Syscalls - before.Syscalls
			want := int64(cycles)
			if mode == FlushEachLog {
				want *= int64(len(logs))
			}
			if got != want {
				t.Fatalf("%d syscalls for %d cycles of %d logs, want %d", got, cycles, len(logs), want)
			}
			for _, l := range logs {
				l.Close()
			}
		})
	}
}

// SyncLogs reports the first error any log's waiter got, after all of
// them were released, and serves logs of no pool or of another pool too.
func TestSyncLogsReportsTheFirstErrorAfterAll(t *testing.T) {
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	pool := newPool(t, fsys, FlushEachLog, 2)
	defer pool.Close()
	other := newPool(t, fsys, FlushEachLog, 1)
	defer other.Close()
	logs := openLogs(t, fsys, 3, Options{Flusher: pool})
	own, err := Open(fsys, "/data/own", Options{})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := Open(fsys, "/data/foreign", Options{Flusher: other})
	if err != nil {
		t.Fatal(err)
	}
	all := append(logs, own, foreign)
	for _, l := range all {
		mustAppend(t, l, makeBatch(1, 10, 0), 0)
	}
	syncAllNow := func() error {
		done := make(chan error, 1)
		pool.SyncLogs(all, func(err error) { done <- err })
		return waitDone(t, done)
	}
	if err := syncAllNow(); err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.DurableOffset() != 1 {
			t.Fatalf("%s durable through %d", l.Dir(), l.DurableOffset())
		}
	}
	fsys.InjectError(memfs.OpSync, "t-1/", errors.New("EIO"))
	for _, l := range all {
		mustAppend(t, l, makeBatch(1, 10, 0), 0)
	}
	if err := syncAllNow(); !errors.Is(err, ErrStorage) {
		t.Fatalf("a failing log: %v", err)
	}
	if logs[0].DurableOffset() != 2 || own.DurableOffset() != 2 {
		t.Fatal("the healthy logs were not synced")
	}
	fsys.ClearErrors()
	logs[1].Close()
	all[1] = logs[1]
	if err := syncAllNow(); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed log: %v", err)
	}
	done := make(chan error, 1)
	pool.SyncLogs(nil, func(err error) { done <- err })
	if err := waitDone(t, done); err != nil {
		t.Fatalf("no logs: %v", err)
	}
	for _, l := range []*Log{logs[0], logs[2], own, foreign} {
		l.Close()
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

// BenchmarkFollowerCycle is a follower's fetch cycle: one small
// AppendReplica (a batch of one 100 B record) on each of N partition
// logs, then all of them made durable before the next cycle (the fetch
// offsets it reports must be durable). api=sync-loop calls Log.Sync on
// each log and waits for every callback; api=synclogs one
// FlushPool.SyncLogs. The pool has the broker's default 8 workers.
// syscalls/cycle counts fdatasync rounds (each-log) or syncfs calls.
func BenchmarkFollowerCycle(b *testing.B) {
	for _, mode := range poolModes {
		for _, n := range []int{16, 64} {
			for _, api := range []string{"sync-loop", "synclogs"} {
				b.Run(fmt.Sprintf("mode=%s/logs=%d/api=%s", mode, n, api), func(b *testing.B) {
					benchFollowerCycle(b, mode, n, api == "synclogs")
				})
			}
		}
	}
}

func benchFollowerCycle(b *testing.B, mode FlushMode, n int, together bool) {
	dir := b.TempDir()
	pool, err := NewFlushPool(FlushPoolOptions{Workers: 8, Mode: mode, FS: OSFS(), Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	logs := make([]*Log, n)
	for i := range logs {
		l, err := Open(OSFS(), filepath.Join(dir, fmt.Sprint(i)), Options{SegmentBytes: 64 << 20, Flusher: pool})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Delete()
		logs[i] = l
	}
	batch := makeBatch(1, 100, 0)
	done := make(chan error, n)
	before := pool.Stats()
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range logs {
			SetBaseOffset(batch, l.LogEndOffset())
			if _, err := l.AppendReplica(batch, nil); err != nil {
				b.Fatal(err)
			}
		}
		waits := 1
		if together {
			pool.SyncLogs(logs, func(err error) { done <- err })
		} else {
			waits = n
			for _, l := range logs {
				l.Sync(l.LogEndOffset(), func(err error) { done <- err })
			}
		}
		for range waits {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	after := pool.Stats()
	cycles := float64(b.N)
	b.ReportMetric(float64(after.Syscalls-before.Syscalls)/cycles, "syscalls/cycle")
	b.ReportMetric(float64(after.Rounds-before.Rounds)/cycles, "rounds/cycle")
	b.ReportMetric(cycles/b.Elapsed().Seconds(), "cycles/s")
}
