package wal

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

func BenchmarkAppend(b *testing.B) {
	for _, fsName := range []string{"mem", "os"} {
		for _, size := range []int{100, 1 << 10, 16 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("fs=%s/size=%d", fsName, size), func(b *testing.B) {
				var fsys FS = memfs.New()
				dir := "/bench"
				if fsName == "os" {
					fsys, dir = OSFS(), filepath.Join(b.TempDir(), "p")
				}
				l, err := Open(fsys, dir, Options{SegmentBytes: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Delete()
				batch := makeBatch(1, size, 0)
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := l.Append(batch, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRead compares Read (a copy) with ReadView (mapped slices, no
// copy) and ReadRanges (file ranges for sendfile, no copy): B/op divided
// by bytes/op is the bytes allocated per byte fetched.
func BenchmarkRead(b *testing.B) {
	for _, api := range []string{"copy", "view", "ranges"} {
		for _, maxBytes := range []int32{4 << 10, 64 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("fs=os/api=%s/maxBytes=%d", api, maxBytes), func(b *testing.B) {
				benchRead(b, api, maxBytes)
			})
		}
	}
}

func benchRead(b *testing.B, api string, maxBytes int32) {
	l, err := Open(OSFS(), filepath.Join(b.TempDir(), "p"), Options{SegmentBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Delete()
	for range 20000 {
		if _, err := l.Append(makeBatch(4, 250, 0), 0); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	var v View
	var r Ranges
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	off := int64(0)
	for b.Loop() {
		switch api {
		case "view":
			if err := l.ReadView(off, maxBytes, leo, &v); err != nil {
				b.Fatal(err)
			}
			n += v.Len
			v.Release()
		case "ranges":
			if err := l.ReadRanges(off, maxBytes, leo, &r); err != nil {
				b.Fatal(err)
			}
			n += r.Len
			r.Release()
		default:
			buf, err := l.Read(off, maxBytes, leo)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(buf))
		}
		off = (off + 997) % leo
	}
	b.SetBytes(n / int64(max(b.N, 1)))
}

func BenchmarkAppendSync(b *testing.B) {
	l, err := Open(OSFS(), filepath.Join(b.TempDir(), "p"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Delete()
	batch := makeBatch(10, 100, 0)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.SetParallelism(16) // 32 producers on 2 cores: lets group commit show
	b.RunParallel(func(pb *testing.PB) {
		own := append([]byte(nil), batch...)
		done := make(chan error, 1)
		for pb.Next() {
			off, err := l.Append(own, 0)
			if err != nil {
				b.Fatal(err)
			}
			l.Sync(off+10, func(err error) { done <- err })
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(l.Stats().SyncedWaiters)/float64(max(l.Stats().Syncs, 1)), "waiters/sync")
}

// BenchmarkGroupCommit compares the flush strategies across partitions:
// every op is one acks=-1 style append + Sync of a 10-record batch of 100 B
// values by one of many concurrent producers, spread over the partitions.
// flusher=per-log is one goroutine per log; pool-N a shared FlushPool of N
// workers running per-log fdatasync; syncfs one syncfs(2) per pool round.
func BenchmarkGroupCommit(b *testing.B) {
	type mode struct {
		name string
		pool *FlushPoolOptions
	}
	modes := []mode{
		{"per-log", nil},
		{"pool-4", &FlushPoolOptions{Workers: 4}},
		{"pool-8", &FlushPoolOptions{Workers: 8}},
		{"pool-16", &FlushPoolOptions{Workers: 16}},
		{"syncfs", &FlushPoolOptions{Workers: 1, Mode: FlushSyncFS}},
	}
	for _, parts := range []int{1, 16, 64} {
		for _, producers := range []int{16, 128} {
			for _, m := range modes {
				b.Run(fmt.Sprintf("partitions=%d/producers=%d/flusher=%s", parts, producers, m.name), func(b *testing.B) {
					benchGroupCommit(b, parts, producers, m.pool)
				})
			}
		}
	}
}

func benchGroupCommit(b *testing.B, parts, producers int, popts *FlushPoolOptions) {
	dir := b.TempDir()
	var pool *FlushPool
	if popts != nil {
		o := *popts
		o.FS, o.Dir = OSFS(), dir
		var err error
		if pool, err = NewFlushPool(o); err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
	}
	logs := make([]*Log, parts)
	for i := range logs {
		l, err := Open(OSFS(), filepath.Join(dir, fmt.Sprint(i)), Options{Flusher: pool})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Delete()
		logs[i] = l
	}
	batch := makeBatch(10, 100, 0)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.SetParallelism(max(producers/runtime.GOMAXPROCS(0), 1))
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		l := logs[int(next.Add(1))%parts]
		own := append([]byte(nil), batch...)
		done := make(chan error, 1)
		cb := func(err error) { done <- err }
		for pb.Next() {
			off, err := l.Append(own, 0)
			if err != nil {
				b.Fatal(err)
			}
			l.Sync(off+10, cb)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	var syncs, appends int64
	var lat LatencyHistogram
	for _, l := range logs {
		st := l.Stats()
		syncs += st.Syncs
		appends += st.SyncedAppends
		lat.Merge(st.SyncLatency)
	}
	syscalls := syncs
	if pool != nil && pool.Options().Mode == FlushSyncFS {
		syscalls = pool.Stats().Syscalls
	}
	b.ReportMetric(float64(appends)/float64(max(syscalls, 1)), "appends/fsync")
	b.ReportMetric(float64(syscalls)/b.Elapsed().Seconds(), "fsyncs/s")
	b.ReportMetric(float64(lat.Quantile(0.5).Microseconds()), "p50-sync-us")
}

// BenchmarkAppendRoll appends 1 KiB batches to logs with small segments,
// so a roll happens every segBytes/1 KiB appends. Besides ns/op it reports
// the mean duration of the appends that rolled (roll-append-us): what a
// roll costs on the append path (segment and index file creation and
// sizing, or the rename of a prepared segment), and the fraction of rolls
// that found the next segment prepared.
func BenchmarkAppendRoll(b *testing.B) {
	for _, segBytes := range []int64{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("fs=os/segment.bytes=%d/size=1024", segBytes), func(b *testing.B) {
			l, err := Open(OSFS(), filepath.Join(b.TempDir(), "p"), Options{SegmentBytes: segBytes, MaxIndexBytes: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Delete()
			batch := makeBatch(1, 1024-BatchHeaderSize-8, 0)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var rollTime time.Duration
			for b.Loop() {
				rolls := l.stats.rolls.Load()
				start := time.Now()
				if _, err := l.Append(batch, 0); err != nil {
					b.Fatal(err)
				}
				if l.stats.rolls.Load() != rolls {
					rollTime += time.Since(start)
				}
			}
			st := l.Stats()
			b.ReportMetric(float64(st.Rolls)/float64(b.N), "rolls/op")
			b.ReportMetric(float64(rollTime.Microseconds())/float64(max(st.Rolls, 1)), "roll-append-us")
			b.ReportMetric(float64(st.PreparedRolls)/float64(max(st.Rolls, 1)), "prepared/roll")
		})
	}
}
