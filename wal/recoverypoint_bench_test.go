package wal

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkOpenAfterCrash opens a log on the real file system as after a
// kill -9 that left a 1 MiB tail past the last recovery point, for logs
// of several sizes: with the point (what CheckpointRecoveryPoint leaves)
// and without one (the whole active segment scanned, as before recovery
// points). ns/op should not grow with the size in the first case.
func BenchmarkOpenAfterCrash(b *testing.B) {
	for _, mib := range []int{16, 128, 512} {
		for _, withPoint := range []bool{true, false} {
			b.Run(fmt.Sprintf("size=%dMiB/point=%v", mib, withPoint), func(b *testing.B) {
				dir := filepath.Join(b.TempDir(), "p-0")
				opts := Options{}
				l, err := Open(OSFS(), dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				batch := makeBatch(16, 1000, 0) // ~16 KiB
				for l.Size() < int64(mib)<<20 {
					mustAppend(b, l, append([]byte(nil), batch...), 0)
				}
				if _, err := l.CheckpointRecoveryPoint(); err != nil {
					b.Fatal(err)
				}
				for range (1 << 20) / len(batch) {
					mustAppend(b, l, append([]byte(nil), batch...), 0)
				}
				syncNow(b, l)
				point, err := readCheckpoint(OSFS(), dir, recoveryPointCheckpoint)
				if err != nil {
					b.Fatal(err)
				}
				if !withPoint {
					point = []string{"0"}
				}
				crash := func(l *Log) { // what a kill -9 leaves: no marker, the point of before
					if err := l.Close(); err != nil {
						b.Fatal(err)
					}
					OSFS().Remove(filepath.Join(dir, cleanMarker))
					if err := writeCheckpoint(OSFS(), dir, recoveryPointCheckpoint, point); err != nil {
						b.Fatal(err)
					}
				}
				crash(l)
				b.SetBytes(int64(mib) << 20)
				b.ResetTimer()
				for b.Loop() {
					l, err := Open(OSFS(), dir, opts)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if rs := l.Stats().Recovery; withPoint && rs.ScannedBytes > 2<<20 {
						b.Fatalf("scanned %d bytes", rs.ScannedBytes)
					}
					crash(l)
					b.StartTimer()
				}
			})
		}
	}
}
