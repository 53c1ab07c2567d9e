package wal

import (
	"fmt"
	"path/filepath"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	for _, fsName := range []string{"mem", "os"} {
		for _, size := range []int{100, 1 << 10, 16 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("fs=%s/size=%d", fsName, size), func(b *testing.B) {
				var fsys FS = NewMemFS()
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

func BenchmarkRead(b *testing.B) {
	for _, maxBytes := range []int32{4 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("fs=os/maxBytes=%d", maxBytes), func(b *testing.B) {
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
			b.ReportAllocs()
			b.ResetTimer()
			var n int64
			off := int64(0)
			for b.Loop() {
				buf, err := l.Read(off, maxBytes, leo)
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(buf))
				off = (off + 997) % leo
			}
			b.SetBytes(n / int64(max(b.N, 1)))
		})
	}
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
